/** What the commands share: interactivity, the project's config and secrets, image ensuring. */
import { configFromEnv, loadConfig, readConfigFile, saveConfigFile, unsetFields } from '../config/load.ts';
import { confirmPrompt, type PromptContext, promptConfig } from '../config/prompts.ts';
import { type Config, type RawConfig, resolveConfig } from '../config/schema.ts';
import { ensureSecrets, readSecrets, type Secrets } from '../config/secrets.ts';
import { findContainer, projectContainers, projectPorts } from '../docker/containers.ts';
import {
  type EnsuredImage,
  type EnsureOptions,
  ensurePgImage,
  ensurePostgrestImage,
  type Progress,
} from '../docker/images.ts';
import { PgappError } from '../errors.ts';
import { SERVICES, type Service } from '../spec/stack.ts';

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

/** Config for `dev`: the layers, then prompts for what they leave unset (saved for next time). */
export async function devConfig(opts: GlobalOptions, ctx?: PromptContext): Promise<Config> {
  if (opts.hermetic) return resolveConfig(opts.flags);
  const layers = [readConfigFile(), configFromEnv(), opts.flags];
  const base = resolveConfig(...layers); // validates the layers before anything is asked
  if (!isInteractive(opts.yes) && !ctx) return base;
  const unset = unsetFields(layers);
  if (!unset.project && unset.ports.size === 0 && !unset.seed && !unset.cronJobs && !unset.reads) return base;
  const own = new Set<number>();
  for (const c of await projectContainers(base.project).catch(() => []))
    for (const p of c.Ports) if (p.PublicPort) own.add(p.PublicPort);
  const answers = await promptConfig(unset, { ...base }, ctx, own);
  const config = resolveConfig(...layers, answers);
  saveConfigFile(answers);
  return config;
}

export function commandConfig(opts: GlobalOptions): Config {
  return opts.hermetic ? resolveConfig(opts.flags) : loadConfig(opts.flags);
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
  const custom = await ensurePgImage('postgres', opts);
  const rds = await ensurePgImage('rds', opts);
  const gateway = await ensurePgImage('gateway', opts);
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
