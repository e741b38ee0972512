/**
 * `pgapp dev`: bring the whole stack up and prove it. Each phase is a listr2 task with its timing;
 * a warm re-run reuses every container and applies no SQL twice. Ctrl-C rolls back what this run
 * created; another failure rolls back what never became ready, and says why.
 */
import { Listr, PRESET_TIMER } from 'listr2';
import { lockProject } from '../config/lock.ts';
import { envOnly } from '../config/options.ts';
import type { PromptContext } from '../config/prompts.ts';
import { confirmPrompt } from '../config/prompts.ts';
import type { Config, RemoteRds } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { readSecrets, secretsFile } from '../config/secrets.ts';
import { ensureTls, installRemoteCa, type TlsState } from '../config/tls.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { baseImage, DEBIAN_SUITE, GATEWAY_SUITE } from '../docker/base-image.ts';
import {
  type Action,
  type Created,
  ensureContainer,
  ensureNetwork,
  ensureVolume,
  keep,
  newCreated,
  projectVolumes,
  restartContainer,
  rollback,
  waitReady,
} from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { imageId } from '../docker/images.ts';
import { InterruptedError, PgappError } from '../errors.ts';
import { sleep } from '../net/time.ts';
import {
  networkName,
  SERVICES,
  type Service,
  type StackImages,
  stackFiles,
  stackSpec,
} from '../spec/stack.ts';
import { applyParameterGroup, ensureParameterGroupFile } from '../stack/parameters.ts';
import {
  dropReplica,
  type ReplicaSync,
  replicaUnsupported,
  slotLeftHint,
  syncReplica,
} from '../stack/replica.ts';
import { applyPhase, type Phase } from '../stack/sql.ts';
import { writeTypes } from '../stack/typegen.ts';
import { type Hop, verifyStack } from '../stack/verify.ts';
import {
  devConfig,
  ensureOptions,
  ensureSecrets,
  ensureStackImages,
  type GlobalOptions,
  isInteractive,
  type StackImagesEnsured,
} from './common.ts';

export interface DevResult {
  config: Config;
  secrets: Secrets;
  actions: Partial<Record<Service, Action>>;
  sql: Record<Phase, { applied: string[]; changed: string[] }>;
  images: StackImagesEnsured;
  hops: Hop[];
  /** Where the API reads, and why when it is not what was asked (a remote that cannot publish). */
  reads: { mode: Config['reads']; sync?: ReplicaSync; fallback?: string };
  ms: number;
  /** Milliseconds per phase, by the phase's first title. */
  phases: Record<string, number>;
}

interface Ctx {
  config: Config;
  secrets: Secrets;
  created: Created;
  images?: StackImagesEnsured;
  ids: Partial<Record<Service, string>>;
  actions: Partial<Record<Service, Action>>;
  sql: Record<Phase, { applied: string[]; changed: string[] }>;
  hops: Hop[];
  phases: Record<string, number>;
  reads: DevResult['reads'];
  tls: TlsState;
}

const READY_TIMEOUT_MS = Number(envOnly('PGAPP_READY_TIMEOUT_MS') ?? 120_000);

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

/**
 * Fault injection for the tests of Ctrl-C in each phase: with PGAPP_TEST_HOLD=<a phase's title>,
 * that phase stops half-way (after its container is created, or its first SQL file applied) until
 * interrupted, 60 s at most. Unset, this does nothing.
 */
async function holdIfAsked(title: string, signal: AbortSignal, task: { output: string }): Promise<void> {
  if (envOnly('PGAPP_TEST_HOLD') !== title) return;
  task.output = 'held half-way by PGAPP_TEST_HOLD: waiting for Ctrl-C';
  await sleep(60_000, signal);
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
    return await bringUp(config, opts);
  } finally {
    lock.release();
  }
}

async function bringUp(config: Config, opts: DevOptions): Promise<DevResult> {
  const started = performance.now(); // time the stack, not the questions
  await refuseForeignProject(config.project);
  const secrets = ensureSecrets(config.project);
  // A real RDS's CA bundle is checked before anything changes; then the project's CA and rds's certificate.
  if (config.remote?.sslrootcert) installRemoteCa(config.project, config.remote.sslrootcert);
  const tls = ensureTls(config.project, { rotate: opts.rotateCa });
  if (!config.remote) ensureParameterGroupFile(config.project);

  // The one question a run may need mid-way (building the base image) is asked before rendering starts.
  let baseAnswer = true;
  const bases = [...new Set([baseImage(DEBIAN_SUITE[config.postgres]), baseImage(GATEWAY_SUITE)])];
  const missing = [];
  for (const ref of bases) if (!(await imageId(ref))) missing.push(ref);
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

  const ctx: Ctx = {
    config,
    secrets,
    created: newCreated(),
    ids: {},
    actions: {},
    sql: {
      seed: { applied: [], changed: [] },
      bridge: { applied: [], changed: [] },
      api: { applied: [], changed: [] },
      app: { applied: [], changed: [] },
    },
    hops: [],
    phases: {},
    reads: { mode: config.reads },
    tls,
  };
  const signal = abort.signal;
  const specFor = (c: Ctx) => {
    const imgs = c.images as StackImagesEnsured;
    const refs: StackImages = {
      rds: imgs.rds.ref,
      custom: imgs.custom.ref,
      postgrest: imgs.postgrest.ref,
      gateway: imgs.gateway.ref,
    };
    return stackSpec(c.config, c.secrets, refs, stackFiles(c.config.project, c.tls));
  };

  const serviceTask = (service: Service) => ({
    title: `${service}: start`,
    task: async (c: Ctx, task: { title: string; output: string }) => {
      signal.throwIfAborted();
      const spec = specFor(c)[service];
      for (const v of spec.volumes)
        await ensureVolume(c.config.project, service, v.name, c.config.postgres, c.created);
      const image = (c.images as StackImagesEnsured)[service];
      const { id, action } = await ensureContainer(c.config.project, spec, image.id, c.created);
      c.ids[service] = id;
      c.actions[service] = action;
      await holdIfAsked(`${service}: start`, signal, task);
      task.output = `${action}; waiting until ready`;
      await waitReady(id, spec, { timeoutMs: READY_TIMEOUT_MS, signal });
      // Ready and complete: a later failure leaves it (and its data) for the next run to reuse.
      keep(c.created, id, networkName(c.config.project), ...spec.volumes.map((v) => v.name));
      task.title = `${service}: ready (${action})`;
    },
  });

  /** A real rds (--rds-url): nothing to start, but reachable, with these credentials, over TLS. */
  const remoteTask = (r: RemoteRds) => ({
    title: `rds: remote ${r.host}:${r.port}/${r.database}`,
    task: async (c: Ctx, task: { title: string; output: string }) => {
      const version = await withClient(
        connectionConfig('rds', c.config, c.secrets),
        async (db) =>
          (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v,
        signal,
        3_000, // a server that is not ours: no waiting for it to start
      );
      task.title = `rds: remote ${r.host}:${r.port}/${r.database} (PostgreSQL ${version}, sslmode=${r.sslmode})`;
      if (c.config.reads === 'replica') {
        // Never half-configured: a server that cannot publish gets FDW reads, and says why.
        const why = await replicaUnsupported(c.config, c.secrets);
        if (why) {
          c.config = { ...c.config, reads: 'fdw' };
          const fallback = `reads: fdw — the remote cannot feed a local replica: ${why}`;
          c.reads = { mode: 'fdw', fallback };
          task.output = fallback;
        }
      }
    },
  });

  /** The stand-in's parameter group: checked, applied, and rds rebooted for what needs it. */
  const parameterGroupTask = {
    title: 'rds: parameter group',
    task: async (c: Ctx, task: { title: string; output: string }) => {
      signal.throwIfAborted();
      const id = c.ids.rds as string;
      const n = Object.keys(c.config.rdsParameters).length;
      const r = await applyParameterGroup(
        c.config,
        id,
        connectionConfig('rds', c.config, c.secrets),
        async () => {
          task.output = 'rebooting rds for the parameters that need it (pending-reboot)';
          await restartContainer(id);
          await waitReady(id, specFor(c).rds, { timeoutMs: READY_TIMEOUT_MS, signal });
        },
      );
      const what = n === 0 ? "RDS's defaults" : `${n} parameter${n === 1 ? '' : 's'}`;
      task.title = `rds: parameter group (${what}${r.changed ? ', applied' : ''}${
        r.rebooted.length ? `; rebooted for ${r.rebooted.join(', ')}` : ''
      })`;
    },
  };

  /** "typesOut": the api schema's TypeScript types, kept fresh (written only when they change). */
  const typesTask = (file: string) => ({
    title: `Types → ${file}`,
    task: async (c: Ctx, task: { title: string; output: string }) => {
      const changed = await writeTypes(c.config, c.secrets, file, signal);
      task.title = `Types → ${file} (${changed ? 'written' : 'unchanged'})`;
    },
  });

  const sqlTask = (phase: Phase, title: string) => ({
    title,
    task: async (c: Ctx, task: { title: string; output: string }) => {
      signal.throwIfAborted();
      let applying = 0;
      const r = await applyPhase(
        phase,
        c.config,
        c.secrets,
        async (name, state) => {
          if (state !== 'applying') return;
          if (applying++ === 1) await holdIfAsked(title, signal, task);
          task.output = `applying ${name}`;
        },
        signal,
      );
      c.sql[phase] = { applied: r.applied, changed: r.changed };
      const parts = [
        r.applied.length ? `${r.applied.length} applied` : 'nothing to apply',
        r.changed.length ? `${r.changed.length} changed since applied` : '',
      ];
      task.title = `${title}: ${parts.filter(Boolean).join(', ')}`;
    },
  });

  const renderer = opts.renderer ?? (process.stdout.isTTY ? 'default' : 'simple');
  // Each phase's duration, kept for the caller (benchmarks) as the renderer shows it to people.
  type TaskDef = { title: string; task: (c: Ctx, t: { title: string; output: string }) => Promise<void> };
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
    (
      [
        {
          title: 'Docker engine',
          task: async (_c, task) => {
            await holdIfAsked('Docker engine', signal, task);
            const { version } = await checkEngine();
            task.title = `Docker engine ${version}`;
          },
        },
        {
          title: 'Images',
          task: async (c, task) => {
            await holdIfAsked('Images', signal, task);
            const eo = ensureOptions(true, (line) => (task.output = line));
            eo.confirm = async () => baseAnswer;
            c.images = await ensureStackImages(c.config, eo);
            signal.throwIfAborted();
            task.title = `Images (PostgreSQL ${c.config.postgres}): ${SERVICES.map((k) => `${k} ${(c.images as StackImagesEnsured)[k].source}`).join(', ')}`;
          },
          rendererOptions: { outputBar: 8 },
        },
        {
          title: 'Network',
          task: async (c, task) => {
            const name = await ensureNetwork(c.config.project, c.created);
            await holdIfAsked('Network', signal, task);
            task.title = `Network ${name}`;
          },
        },
        ...(config.remote ? [remoteTask(config.remote)] : [serviceTask('rds'), parameterGroupTask]),
        sqlTask(
          'seed',
          !config.remote
            ? 'Seed rds (crm)'
            : config.remote.seed
              ? 'Seed remote rds (crm) + bridge views'
              : 'Remote rds: bridge views only (no seed)',
        ),
        serviceTask('custom'),
        sqlTask('bridge', 'Bridge custom → rds (postgres_fdw)'),
        {
          title: 'Replica custom ← rds',
          task: async (c, task) => {
            signal.throwIfAborted();
            if (c.config.reads !== 'replica') {
              const { dropped, slotLeft } = await dropReplica(c.config, c.secrets, signal);
              task.title = `Replica: off (reads: fdw${dropped ? '; subscription dropped' : ''})`;
              if (slotLeft) task.output = slotLeftHint(slotLeft);
              return;
            }
            await holdIfAsked('Replica custom ← rds', signal, task);
            const sync = await syncReplica(
              c.config,
              c.secrets,
              (line) => (task.output = line),
              signal,
              READY_TIMEOUT_MS,
            );
            c.reads = { ...c.reads, sync };
            const changes = [
              sync.created.length ? `${sync.created.length} tables new` : '',
              sync.columns.length ? `${sync.columns.length} columns new` : '',
            ].filter(Boolean);
            task.title = `Replica custom ← rds (logical replication): ${sync.tables} tables, subscription ${sync.subscription}${changes.length ? `, ${changes.join(', ')}` : ''}`;
          },
        },
        sqlTask('api', 'API schema'),
        sqlTask('app', 'App layer'),
        ...(config.typesOut ? [typesTask(config.typesOut)] : []),
        serviceTask('postgrest'),
        serviceTask('gateway'),
        {
          title: 'Verify every hop',
          task: async (c, task) => {
            signal.throwIfAborted();
            await holdIfAsked('Verify every hop', signal, task);
            c.hops = await verifyStack(c.config, c.secrets);
            task.title = `Verify every hop: ${c.hops.map((h) => `${h.ms} ms`).join(' / ')}`;
          },
        },
      ] as TaskDef[]
    ).map(timed),
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
  };
}
