/**
 * `pgapp dev`: bring the whole stack up and prove it. Each phase is a listr2 task with its timing;
 * a warm re-run reuses every container and applies no SQL twice. Ctrl-C rolls back what this run
 * created; another failure rolls back what never became ready, and says why.
 */
import { Listr, PRESET_TIMER } from 'listr2';
import { lockProject } from '../config/lock.ts';
import type { PromptContext } from '../config/prompts.ts';
import { confirmPrompt } from '../config/prompts.ts';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { readSecrets, secretsFile } from '../config/secrets.ts';
import { ensureTls, installRemoteCa } from '../config/tls.ts';
import { type Action, projectVolumes, rollback } from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { imageId } from '../docker/images.ts';
import { stackBaseImages } from '../docker/pg-images.ts';
import { InterruptedError, PgappError } from '../errors.ts';
import { projectSqlRoot } from '../paths.ts';
import type { Service } from '../spec/stack.ts';
import type { ApiFunctions, ApiTable, Unserved } from '../stack/api.ts';
import { ensureParameterGroupFile } from '../stack/parameters.ts';
import { CopyNeedsYes, describeSize } from '../stack/replica.ts';
import type { Phase } from '../stack/sql.ts';
import { refuseEarlierFolders } from '../stack/sql.ts';
import type { Hop } from '../stack/verify.ts';
import {
  devConfig,
  ensureSecrets,
  type GlobalOptions,
  isInteractive,
  type StackImagesEnsured,
} from './common.ts';
import { type Ctx, devPhases, newCtx, type Reads, type TaskDef } from './dev-phases.ts';

export interface DevResult {
  config: Config;
  secrets: Secrets;
  actions: Partial<Record<Service, Action>>;
  sql: Record<Phase, { applied: string[]; changed: string[] }>;
  images: StackImagesEnsured;
  hops: Hop[];
  /** Where the API reads, and why when it is not what was asked (a remote that cannot publish). */
  reads: Reads;
  ms: number;
  /** Milliseconds per phase, by the phase's first title. */
  phases: Record<string, number>;
  /** The rds schemas the stack mirrors, and what each of their tables became in the api. */
  schemas: string[];
  api: ApiTable[];
  /** What those schemas hold that the API does not serve, and why. */
  unserved: Unserved[];
  /** rds's functions served at /rpc/<name>, by where they run. */
  functions: ApiFunctions;
  /** Whether the project's SQL is pgapp's example (no db/ of its own yet). */
  example: boolean;
}

/**
 * Data volumes of this project exist, but this directory holds no secrets for it: they were made
 * from another checkout (or the secrets file was lost). New secrets would lock us out of that data.
 */
async function refuseForeignProject(project: string): Promise<void> {
  if (readSecrets(project)) return;
  const volumes = await projectVolumes(project);
  if (volumes.length === 0) return;
  throw new PgappError(
    `Project "${project}" already has data in Docker (${volumes.join(', ')}), but ${secretsFile(project)} does not exist`,
    [
      'Its passwords were generated elsewhere (another checkout?) and cannot be recovered from here. Either:',
      `  - run pgapp from the directory that created it, or copy its .pgapp/${project}/secrets.json here;`,
      '  - choose another name: --project <name>;',
      `  - or start it over (deletes its data): pgapp reset --yes --project ${project}`,
    ].join('\n'),
  );
}

export type DevOptions = GlobalOptions & {
  prompt?: PromptContext;
  renderer?: 'default' | 'simple' | 'silent';
  signal?: AbortSignal;
  /** Issue a new CA and rds certificate (clients must then trust the new root.crt). */
  rotateCa?: boolean;
};

/**
 * `signal`: aborting it (the CLI does on Ctrl-C) stops the run and removes everything this run
 * created. dev itself installs no process-wide handlers.
 */
export async function dev(opts: DevOptions): Promise<DevResult> {
  await checkEngine(); // before any prompt: nothing to ask if Docker is not there
  const config = await devConfig(opts, opts.prompt);
  // One dev per project at a time (parallel test workers, two terminals): the others wait, then reuse.
  const lock = await lockProject(config.project, {
    signal: opts.signal,
    onWait: (pid) => {
      if (opts.renderer !== 'silent')
        process.stderr.write(
          `Waiting for another pgapp (pid ${pid}) that is bringing up "${config.project}"…\n`,
        );
    },
  });
  try {
    // --yes: every first copy to the replica goes ahead, whatever its size.
    const run = opts.yes ? { ...config, copyLimit: Number.MAX_SAFE_INTEGER } : config;
    try {
      return await bringUp(run, opts);
    } catch (err) {
      // A table over copyLimit, on a terminal: asked once (every such table at once); a yes runs
      // again without the limit (what the first run made is ready and reused).
      if (!(err instanceof CopyNeedsYes) || !isInteractive(opts.yes)) throw err;
      const many = err.tables.length > 1;
      const yes = await confirmPrompt(
        `Copy ${err.tables.map(describeSize).join(', ')} to the replica? (over copyLimit; otherwise read ${many ? 'them' : 'it'} through postgres_fdw or copy a part: "tables" in pgapp.config.json)`,
        opts.prompt,
      );
      if (!yes) throw err;
      return await bringUp({ ...config, copyLimit: Number.MAX_SAFE_INTEGER }, opts);
    }
  } finally {
    lock.release();
  }
}

async function bringUp(config: Config, opts: DevOptions): Promise<DevResult> {
  const started = performance.now(); // time the stack, not the questions
  refuseEarlierFolders();
  await refuseForeignProject(config.project);
  const secrets = ensureSecrets(config.project);
  // A real RDS's CA bundle is checked before anything changes; then the project's CA and rds's certificate.
  if (config.remote?.sslrootcert) installRemoteCa(config.project, config.remote.sslrootcert);
  const tls = ensureTls(config.project, { rotate: opts.rotateCa });
  if (!config.remote) ensureParameterGroupFile(config.project);

  // The one question a run may need mid-way (building the base image) is asked before rendering starts.
  let baseAnswer = true;
  const missing = [];
  for (const ref of stackBaseImages(config.postgres)) if (!(await imageId(ref))) missing.push(ref);
  if (isInteractive(opts.yes) && missing.length > 0) {
    baseAnswer = await confirmPrompt(
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not here. If ${missing.length > 1 ? 'they' : 'it'} cannot be pulled, build ${missing.length > 1 ? 'them' : 'it'} with debootstrap from a Debian mirror?`,
      opts.prompt,
    );
  }

  const abort = new AbortController();
  const onAbort = () => abort.abort(opts.signal?.reason ?? new InterruptedError());
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const ctx = newCtx(config, secrets, tls);
  const signal = abort.signal;
  const renderer = opts.renderer ?? (process.stdout.isTTY ? 'default' : 'simple');
  // Each phase's duration, kept for the caller (benchmarks) as the renderer shows it to people.
  const timed = (t: TaskDef): TaskDef => ({
    ...t,
    task: async (c, task) => {
      const t0 = performance.now();
      try {
        await t.task(c, task);
      } finally {
        c.phases[t.title] = Math.round(performance.now() - t0);
      }
    },
  });
  const tasks = new Listr<Ctx, 'default' | 'simple' | 'silent', 'simple'>(
    devPhases(config, signal, baseAnswer).map(timed),
    {
      renderer,
      fallbackRenderer: 'simple',
      rendererOptions: { timer: PRESET_TIMER, collapseSubtasks: false },
      fallbackRendererOptions: { timer: PRESET_TIMER },
      registerSignalListeners: false,
      exitOnError: true,
    },
  );

  try {
    await tasks.run(ctx);
  } catch (err) {
    // Nothing half-done: Ctrl-C removes everything this run created; another failure removes what
    // never became ready (a ready, seeded rds stays for the next run). Earlier runs' work stays.
    await rollback(ctx.created, { all: signal.aborted });
    if (signal.aborted) throw signal.reason instanceof PgappError ? signal.reason : new InterruptedError();
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return {
    config: ctx.config,
    secrets,
    actions: ctx.actions,
    sql: ctx.sql,
    images: ctx.images as StackImagesEnsured,
    hops: ctx.hops,
    phases: ctx.phases,
    reads: ctx.reads,
    ms: Math.round(performance.now() - started),
    schemas: ctx.schemas ?? [],
    api: ctx.api ?? [],
    unserved: ctx.unserved ?? [],
    functions: ctx.functions ?? { custom: 0, rds: 0 },
    // The example runs when the project has no db/ of its own — on a real rds, only if pgapp seeded it there.
    example: projectSqlRoot().example && (!ctx.config.remote || ctx.config.remote.seed),
  };
}
