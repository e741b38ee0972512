/** What the commands share: interactivity, the project's config and secrets, image ensuring. */
import { configFromEnv, exampleConfig, readConfigFile, saveConfigFile, unsetFields } from '../config/load.ts';
import { confirmPrompt, type PromptContext, promptConfig } from '../config/prompts.ts';
import { type Config, type RawConfig, resolveConfig, validatePostgres } from '../config/schema.ts';
import { ensureSecrets, readSecrets, type Secrets } from '../config/secrets.ts';
import { dataPgMajor, findContainer, projectContainers, projectPorts } from '../docker/containers.ts';
import type { EnsuredImage, EnsureOptions, Progress } from '../docker/images.ts';
import { ensurePgImage } from '../docker/pg-images.ts';
import { ensurePostgrestImage } from '../docker/postgrest-image.ts';
import { PgappError } from '../errors.ts';
import { SERVICES, type Service } from '../spec/stack.ts';
import { remoteSchemas } from '../stack/remote.ts';
import { imageNeeds } from '../stack/sql.ts';

export interface GlobalOptions {
  flags: RawConfig;
  yes: boolean;
  /**
   * Only `flags` (and the defaults): the caller's pgapp.config.json and PGAPP_* environment are not
   * read, nothing is asked or saved. pgapp/testing's stacks are made this way.
   */
  hermetic?: boolean;
}

/** Prompts only on a TTY, never with --yes or in CI. */
export function isInteractive(yes: boolean): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY && !yes && !process.env.CI);
}

/** The layers a command's config comes from: the example's (when it runs), then flags alone when hermetic. */
const configLayers = (opts: GlobalOptions): RawConfig[] =>
  opts.hermetic
    ? [exampleConfig(), opts.flags]
    : [exampleConfig(), readConfigFile(), configFromEnv(), opts.flags];

/**
 * The PostgreSQL major version, settled against the project's data: a project with data keeps its
 * version unless one is asked for (flag, env, file, prompt); asking for another one than the data's
 * stops with nothing changed, as a major upgrade needs a dump and restore (the image could not read it).
 */
export async function settlePostgres(config: Config, asked: boolean): Promise<Config> {
  const data = await dataMajor(config.project);
  if (data === undefined || data === config.postgres) return config;
  if (!asked) return { ...config, postgres: validatePostgres(data) };
  throw new PgappError(
    `Project "${config.project}" holds PostgreSQL ${data} data, but PostgreSQL ${config.postgres} was asked for`,
    [
      `A server cannot read another major version's data: going from ${data} to ${config.postgres} needs a dump and restore, as on RDS. Nothing was changed. Either:`,
      `  - keep ${data}: drop the version you gave (the project keeps its own), or say --postgres ${data} ("postgres": ${data} in pgapp.config.json);`,
      `  - start over on ${config.postgres} (deletes the data; seed and sql/ are applied again): pgapp reset --project ${config.project}, then pgapp dev --postgres ${config.postgres};`,
      `  - or carry data over: pg_dump what you need from the ${data} stack (\`pgapp env\` prints its URLs), reset, \`pgapp dev --postgres ${config.postgres}\`, then restore it with psql or pg_restore.`,
    ].join('\n'),
  );
}

/** dataPgMajor, or undefined when no engine answers (no data to keep then; images check it too). */
const dataMajor = (project: string) => dataPgMajor(project).catch(() => undefined);

/** Whether the command was asked for a PostgreSQL version (by a flag, env, or the config file). */
export const postgresAsked = (opts: GlobalOptions): boolean =>
  configLayers(opts).some((l) => l.postgres !== undefined);

/** Config for `dev`: the layers, then prompts for what they leave unset (saved for next time). */
export async function devConfig(opts: GlobalOptions, ctx?: PromptContext): Promise<Config> {
  const layers = configLayers(opts);
  const base = resolveConfig(...layers); // validates the layers before anything is asked
  const asked = postgresAsked(opts);
  if (opts.hermetic || (!isInteractive(opts.yes) && !ctx)) return settlePostgres(base, asked);
  const unset = unsetFields(layers);
  if (
    ![
      unset.project,
      unset.postgres,
      unset.seed,
      unset.cronJobs,
      unset.reads,
      unset.schemas && base.remote,
    ].some(Boolean) &&
    unset.ports.size === 0
  )
    return settlePostgres(base, asked);
  const own = new Set<number>();
  for (const c of await projectContainers(base.project).catch(() => []))
    for (const p of c.Ports) if (p.PublicPort) own.add(p.PublicPort);
  const remote = base.remote;
  const answers = await promptConfig(
    unset,
    { ...base },
    ctx,
    own,
    dataMajor,
    remote ? () => remoteSchemas(base.project, remote) : undefined,
  );
  const config = await settlePostgres(
    resolveConfig(...layers, answers),
    asked || answers.postgres !== undefined,
  );
  saveConfigFile(answers);
  return config;
}

/** Config without prompts; the PostgreSQL version is the configured one (see settledConfig). */
export function commandConfig(opts: GlobalOptions): Config {
  return resolveConfig(...configLayers(opts));
}

/** Config with the PostgreSQL version settled against the project's data (settlePostgres). */
export async function settledConfig(opts: GlobalOptions): Promise<Config> {
  return settlePostgres(commandConfig(opts), postgresAsked(opts));
}

/** The config with the host ports the project's containers really publish (for connecting to them). */
export async function liveConfig(opts: GlobalOptions): Promise<Config> {
  const config = commandConfig(opts);
  return { ...config, ports: { ...config.ports, ...(await projectPorts(config.project)) } };
}

export function requireSecrets(project: string): Secrets {
  const s = readSecrets(project);
  if (!s)
    throw new PgappError(
      `Project "${project}" has no secrets yet (it was never started here)`,
      'Run `npm run dev` first (or pass --project).',
    );
  return s;
}

export { ensureSecrets };

export interface StackImagesEnsured {
  custom: EnsuredImage;
  rds: EnsuredImage;
  postgrest: EnsuredImage;
  gateway: EnsuredImage;
}

export function ensureOptions(yes: boolean, progress: Progress, ctx?: PromptContext): EnsureOptions {
  return {
    progress,
    confirm: async (q) => (isInteractive(yes) ? confirmPrompt(q, ctx) : true),
  };
}

export async function ensureStackImages(config: Config, opts: EnsureOptions): Promise<StackImagesEnsured>;
export async function ensureStackImages(
  config: Config,
  opts: EnsureOptions,
  which: { postgrest: boolean },
): Promise<Partial<StackImagesEnsured>>;
export async function ensureStackImages(
  config: Config,
  opts: EnsureOptions,
  which = { postgrest: true },
): Promise<Partial<StackImagesEnsured>> {
  const needs = imageNeeds(config);
  const custom = await ensurePgImage('postgres', config.postgres, opts, needs);
  const rds = await ensurePgImage('rds', config.postgres, opts, needs);
  const gateway = await ensurePgImage('gateway', config.postgres, opts);
  if (!which.postgrest) return { custom, rds, gateway };
  const postgrest = await ensurePostgrestImage(config.postgrestImage, config.postgrestTarball, opts);
  return { custom, rds, postgrest, gateway };
}
/** A service named on the command line (logs, psql). */
export function serviceArg(arg: string | undefined): Service {
  if (!arg || !(SERVICES as readonly string[]).includes(arg)) {
    throw new PgappError(
      `Which service? Got ${JSON.stringify(arg ?? '')}`,
      `Name one of: ${SERVICES.join(', ')} (e.g. \`pgapp logs rds\`).`,
    );
  }
  return arg as Service;
}

export async function containerOf(project: string, service: Service): Promise<string> {
  const c = await findContainer(project, service);
  if (!c) throw new PgappError(`${service} of "${project}" does not exist`, 'Run `npm run dev` first.');
  return c.Id;
}
