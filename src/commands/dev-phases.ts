/**
 * The phases of `pgapp dev`, in order: each a titled task (listr2) over the run's context. dev.ts
 * prepares the run and its context, runs these, and rolls back on failure; the phases do the work.
 */
import { envOnly } from '../config/options.ts';
import { anyReplica, type Config, fdwOnly, type RemoteRds } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import type { TlsState } from '../config/tls.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import {
  type Action,
  type Created,
  ensureContainer,
  ensureNetwork,
  ensureVolume,
  keep,
  newCreated,
  restartContainer,
  waitReady,
} from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { retryUntil, sleep } from '../net/time.ts';
import {
  networkName,
  SERVICES,
  type Service,
  type StackImages,
  stackFiles,
  stackSpec,
} from '../spec/stack.ts';
import {
  type ApiFunctions,
  type ApiTable,
  apiFunctions,
  apiTables,
  apiUnserved,
  type Unserved,
} from '../stack/api.ts';
import { applyParameterGroup } from '../stack/parameters.ts';
import {
  CopyNeedsYes,
  describeSize,
  dropReplica,
  type ReplicaSync,
  slotLeftHint,
  syncReplica,
  type TableSize,
  type TablesSync,
} from '../stack/replica.ts';
import { applyPhase, type Phase, type PhaseResult } from '../stack/sql.ts';
import { writeTypes } from '../stack/typegen.ts';
import { type Hop, verifyStack } from '../stack/verify.ts';
import { ensureOptions, ensureStackImages, type StackImagesEnsured } from './common.ts';

/** What the phases read and fill in. */
export interface Ctx {
  config: Config;
  secrets: Secrets;
  created: Created;
  images?: StackImagesEnsured;
  ids: Partial<Record<Service, string>>;
  actions: Partial<Record<Service, Action>>;
  sql: Record<Phase, { applied: string[]; changed: string[] }>;
  /** The schemas rds mirrors, as its prepare() settled them. */
  schemas?: string[];
  /** rds's tables on custom, as the bridge phase left them (what the replica copies). */
  tables?: TablesSync;
  /** What each table serves (read-only and unserved ones carry a note). */
  api?: ApiTable[];
  /** What rds's schemas hold besides tables, which the API does not serve (and why). */
  unserved?: Unserved[];
  /** rds's functions at /rpc/<name>, by where they run. */
  functions?: ApiFunctions;
  hops: Hop[];
  phases: Record<string, number>;
  reads: Reads;
  /** The project's CA and rds's certificate (the local stack's containers mount them). */
  tls?: TlsState;
}

/** A run's context before its first phase. */
export function newCtx(config: Config, secrets: Secrets, tls?: TlsState): Ctx {
  return {
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
}

/** Where the API reads, and why when it is not what was asked (a remote that cannot publish). */
export type Reads = { mode: Config['reads']; sync?: ReplicaSync; fallback?: string };

/** What pgapp_bridge.prepare() settled on rds (sql/rds-bridge/010_bridge.sql). */
export interface Prepared {
  schemas: string[];
  replica: {
    ok: boolean;
    why?: string;
    unpublishable?: string[];
    /** Tables whose first copy is over copyLimit: not published until a yes. */
    heldBack?: (TableSize & { filtered: boolean })[];
  };
}

export type TaskDef = {
  title: string;
  task: (c: Ctx, t: { title: string; output: string }) => Promise<void>;
  rendererOptions?: { outputBar?: number };
};

const READY_TIMEOUT_MS = Number(envOnly('PGAPP_READY_TIMEOUT_MS') ?? 120_000);
/** The cloud's custom: an instance booting, installing Docker and pulling the image from ECR. */
const CUSTOM_BOOT_TIMEOUT_MS = 15 * 60_000;

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

/**
 * The phases for `config`, in order. `signal` stops them (the caller rolls back); `baseAnswer` is the
 * answer, asked before rendering, to building a missing base image. `cloud`: the SQL phases only,
 * for the cloud's bootstrap task (`pgapp deploy apply`): its servers are already running (CloudFormation
 * made them), custom at config.customHost, and its API is deployed afterwards.
 */
export function devPhases(
  config: Config,
  signal: AbortSignal,
  baseAnswer: boolean,
  target: 'local' | 'cloud' = 'local',
): TaskDef[] {
  const specFor = (c: Ctx) => {
    const imgs = c.images as StackImagesEnsured;
    const refs: StackImages = {
      rds: imgs.rds.ref,
      custom: imgs.custom.ref,
      postgrest: imgs.postgrest.ref,
      gateway: imgs.gateway.ref,
    };
    return stackSpec(c.config, c.secrets, refs, stackFiles(c.config.project, c.tls as TlsState));
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
    title: `rds: ${r.owned ? 'deployed' : 'remote'} ${r.host}:${r.port}/${r.database}`,
    task: async (c: Ctx, task: { title: string; output: string }) => {
      const version = await withClient(
        connectionConfig('rds', c.config, c.secrets),
        async (db) =>
          (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v,
        signal,
        // Someone's server: no waiting for it to start. One pgapp deployed: CloudFormation waited.
        r.owned ? 60_000 : 3_000,
      );
      task.title = `rds: ${r.owned ? 'deployed' : 'remote'} ${r.host}:${r.port}/${r.database} (PostgreSQL ${version}, sslmode=${r.sslmode})`;
    },
  });

  /**
   * The cloud's custom, at its host inside the VPC: its instance may still be starting Docker and
   * pulling its image when the bootstrap task runs, so it is waited for (CUSTOM_BOOT_TIMEOUT_MS).
   */
  const customAtHost = (host: string): TaskDef => ({
    title: `custom: ${host}`,
    task: async (c, task) => {
      task.output = 'waiting until it answers (its instance may still be starting)';
      // Not listening yet (refused) is retried by connect itself; an instance still booting may not
      // answer at all (a timeout, no route) — retried here. A wrong password is the answer at once.
      let last: unknown;
      const version = await retryUntil(
        () =>
          withClient(
            connectionConfig('custom', c.config, c.secrets),
            async (db) =>
              (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v,
            signal,
            60_000,
          ).catch((err: PgappError) => {
            if (!/timeout|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNREFUSED/i.test(err.message)) throw err;
            last = err;
            task.output = `not answering yet: ${err.message}`;
            return undefined;
          }),
        { timeoutMs: CUSTOM_BOOT_TIMEOUT_MS, intervalMs: 5_000, signal, timedOut: () => last as Error },
      );
      task.title = `custom: ${host} (PostgreSQL ${version})`;
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

  /** A phase's SQL files and steps; `after` reads what the steps returned and may say more. */
  const sqlTask = (
    phase: Phase,
    title: string,
    after?: (c: Ctx, r: PhaseResult, task: { title: string; output: string }) => Promise<string | undefined>,
  ) => ({
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
        await after?.(c, r, task),
      ];
      task.title = `${title}: ${parts.filter(Boolean).join(', ')}`;
    },
  });

  /**
   * rds settled which schemas it mirrors and whether it can feed a replica. Never half-configured: a
   * real RDS that cannot publish gets FDW reads, and says why.
   */
  const afterSeed = async (c: Ctx, r: PhaseResult, task: { output: string }) => {
    const p = r.steps['pgapp_bridge.prepare'] as Prepared;
    c.schemas = p.schemas;
    if (anyReplica(c.config) && !p.replica.ok) {
      const why = p.replica.why ?? 'it cannot publish';
      if (!c.config.remote)
        throw new PgappError(`rds cannot feed the replica: ${why}`, 'See `pgapp logs rds`.');
      c.config = fdwOnly(c.config);
      c.reads = { mode: 'fdw', fallback: `reads: fdw — the remote cannot feed a local replica: ${why}` };
      task.output = c.reads.fallback as string;
    }
    // A first copy over copyLimit: rds left the table out of the publication; nothing is copied
    // until someone says yes (dev asks on a terminal and runs again; --yes lifts the limit).
    if (p.replica.heldBack?.length) throw new CopyNeedsYes(p.replica.heldBack, c.config.copyLimit);
    return p.schemas.length ? `schemas ${p.schemas.join(', ')}` : 'no schema with tables yet';
  };

  /** rds's tables as foreign tables and as tables on custom: how many, and what changed. */
  const afterBridge = async (c: Ctx, r: PhaseResult, task: { output: string }) => {
    const t = r.steps['pgapp_private.sync_foreign_tables'] as {
      tables: number;
      made: string[];
      changed: string[];
      gone: string[];
    };
    c.tables = r.steps['pgapp_private.sync_tables'] as TablesSync;
    if (c.tables.changed.length) task.output = `made again: ${c.tables.changed.join(', ')}`;
    const changes = [
      t.made.length ? `${t.made.length} new` : '',
      t.changed.length ? `${t.changed.length} columns changed` : '',
      t.gone.length ? `${t.gone.length} gone` : '',
    ].filter(Boolean);
    return `${t.tables} foreign table${t.tables === 1 ? '' : 's'}${changes.length ? ` (${changes.join(', ')})` : ''}`;
  };

  /** The API: how many endpoints, and what is read-only, not published or left to you. */
  const afterApi = async (c: Ctx, r: PhaseResult, task: { output: string }) => {
    const sync = r.steps['pgapp_private.sync_api'] as { changed: boolean; notes?: string[] };
    const before = c.api;
    c.api = await apiTables(c.config, c.secrets, signal);
    c.unserved = await apiUnserved(c.config, c.secrets, signal);
    c.functions = await apiFunctions(c.config, c.secrets, signal);
    if (before && !sync.changed) return undefined; // the app phase's second look: nothing new
    const notes = [...(sync.notes ?? []), ...c.api.filter((t) => t.note).map((t) => `${t.rel}: ${t.note}`)];
    if (notes.length) task.output = notes.join('\n');
    const published = c.api.filter((t) => t.apiName);
    const fns = c.functions.custom + c.functions.rds;
    return `${published.length} endpoint${published.length === 1 ? '' : 's'}${
      fns ? `, ${fns} function${fns === 1 ? '' : 's'} (${c.functions.rds} run on rds)` : ''
    }${sync.changed ? '' : ' (unchanged)'}`;
  };

  const seedTitle = !config.remote
    ? 'rds: migrations, seed, bridge'
    : config.remote.owned
      ? 'rds (deployed): migrations, seed, bridge'
      : config.remote.seed
        ? 'Remote rds: migrations, seed, bridge'
        : 'Remote rds: bridge only (no migrations, no seed)';
  const seed = sqlTask('seed', seedTitle, afterSeed);
  const bridge = sqlTask('bridge', 'Bridge custom → rds (postgres_fdw)', afterBridge);
  const replica: TaskDef = {
    title: 'Replica custom ← rds',
    task: async (c, task) => {
      signal.throwIfAborted();
      if (!anyReplica(c.config)) {
        const { dropped, slotLeft } = await dropReplica(c.config, c.secrets, signal);
        task.title = `Replica: off (reads: fdw${dropped ? '; subscription dropped' : ''})`;
        if (slotLeft) task.output = slotLeftHint(slotLeft);
        return;
      }
      await holdIfAsked('Replica custom ← rds', signal, task);
      const sync = await syncReplica(
        c.config,
        c.secrets,
        c.tables as TablesSync,
        (line) => (task.output = line),
        signal,
        READY_TIMEOUT_MS,
      );
      c.reads = { ...c.reads, sync };
      const fresh = sync.copied.filter((x) => !sync.changed.includes(x.rel));
      const changes = [
        sync.subscription !== 'created' && fresh.length ? `${fresh.length} new` : '',
        sync.changed.length ? `${sync.changed.length} copied again (${sync.changed.join(', ')})` : '',
      ].filter(Boolean);
      task.title = `Replica custom ← rds (logical replication): ${sync.tables} tables, subscription ${sync.subscription}${changes.length ? `, ${changes.join(', ')}` : ''}`;
      // What each copy cost: the tables that took a while, by name.
      const slow = sync.copied.filter((x) => x.seconds >= 1).sort((a, b) => b.seconds - a.seconds);
      if (slow.length)
        task.output = `copied ${slow.map((x) => `${describeSize(x)} in ${x.seconds} s`).join(', ')}`;
    },
  };
  const api = sqlTask('api', 'API schema', afterApi);
  const app = sqlTask('app', 'App layer', afterApi);
  const verify = (opts: { api: boolean }): TaskDef => ({
    title: 'Verify every hop',
    task: async (c, task) => {
      signal.throwIfAborted();
      await holdIfAsked('Verify every hop', signal, task);
      c.hops = await verifyStack(c.config, c.secrets, opts);
      task.title = `Verify every hop: ${c.hops.map((h) => `${h.ms} ms`).join(' / ')}`;
    },
  });

  if (target === 'cloud') {
    if (!config.remote || !config.customHost)
      throw new Error('the cloud phases need config.remote and config.customHost');
    return [
      remoteTask(config.remote),
      customAtHost(config.customHost),
      seed,
      bridge,
      replica,
      api,
      app,
      verify({ api: false }),
    ];
  }
  return [
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
    seed,
    serviceTask('custom'),
    bridge,
    replica,
    api,
    app,
    ...(config.typesOut ? [typesTask(config.typesOut)] : []),
    serviceTask('postgrest'),
    serviceTask('gateway'),
    verify({ api: true }),
  ];
}
