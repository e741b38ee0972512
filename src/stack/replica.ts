/**
 * The colocated read path (reads: replica): rds publishes the bridged schemas' tables (publication
 * pgapp, sql/rds-bridge), custom subscribes into its tables of the same schema and name (logical
 * replication matches tables by name), which PostgREST serves (sql/custom/bridge/050_tables.sql).
 *
 * Logical replication carries rows, not DDL: each `dev` brings the tables in line with rds's catalog
 * (pgapp_private.sync_tables, a step of the bridge phase) and then the subscription, here — a new
 * table is copied (REFRESH PUBLICATION), a table made again is copied again alone.
 */
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { PUBLICATION } from '../spec/stack.ts';
import {
  createSubscription,
  dropSubscription,
  enableSubscription,
  readSubscription,
  refreshSubscription,
  setSubscriptionConninfo,
  slotName,
  subscribedTables,
  subscriptionConninfo,
} from './subscription.ts';

export { slotName, subscriptionConninfo };

/** A table's size on rds, as prepare() and the replica plan give it (the rows are an estimate). */
export interface TableSize {
  rel: string;
  rows: number | null;
  bytes: number | null;
}

/**
 * What emptying the replica's tables for a first copy must name: each of them (a partitioned one
 * with its partitions: ONLY would leave them, and Postgres refuses it), and pgapp's fdw tables whose
 * foreign keys point at them (their own part is always empty: Postgres refuses to empty a table
 * another still references). A table of yours referencing one still stops it: nothing of yours is emptied.
 */
async function truncateTargets(
  db: pg.ClientBase,
  tables: string[],
): Promise<{ rel: string; whole: boolean }[]> {
  const r = await db.query<{ rel: string; whole: boolean }>(
    `SELECT t AS rel, (SELECT c.relkind FROM pg_class c WHERE c.oid = t::regclass) = 'p' AS whole FROM unnest($1::text[]) AS t
     UNION
     SELECT format('%I.%I', n.nspname, c.relname), false
     FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE co.contype = 'f' AND co.confrelid = ANY (SELECT t::regclass FROM unnest($1::text[]) AS t)
       AND NOT co.conrelid = ANY (SELECT t::regclass FROM unnest($1::text[]) AS t)
       AND c.relkind = 'r' AND NOT c.relispartition
       AND EXISTS (SELECT 1 FROM pgapp_private.generated g WHERE g.object = format('table %I.%I', n.nspname, c.relname))`,
    [tables],
  );
  return r.rows;
}

const truncateSql = (targets: { rel: string; whole: boolean }[]): string =>
  `TRUNCATE ${targets.map((t) => (t.whole ? t.rel : `ONLY ${t.rel}`)).join(', ')}`;

/** What pgapp_private.sync_tables() did (sql/custom/bridge/050_tables.sql), the bridge phase's last step. */
export interface TablesSync {
  /** How many of rds's tables custom has. */
  count: number;
  /** Every local table the subscription fills (the fence included), schema-qualified. */
  tables: string[];
  /** The replica tables this run made, new or made again (their copy follows), as qualified, quoted names. */
  made: string[];
  /** rds tables made again: their columns, the columns' types or how they are read changed. */
  changed: string[];
  /** Of those, the ones the replica held before too (copied again; the others are new to it). */
  recopied: string[];
  /** rds tables gone (their tables here dropped). */
  gone: string[];
  /** Indexes that could not be copied, and why. */
  skipped: string[];
  /** What is copied now, with its size on rds. */
  copies: CopyPlan[];
}

/** A table about to be copied: its size on rds, and its local table (quoted, qualified). */
type CopyPlan = TableSize & { table: string };

/** One table's copy: its size on rds and how long it took. */
export interface Copy extends TableSize {
  seconds: number;
}

export interface ReplicaSync {
  tables: number;
  /** rds tables copied by this run (new, or made again). */
  copied: Copy[];
  /** Of those, the ones copied again (their shape changed; the others are new to the replica). */
  changed: string[];
  /** How the subscription was brought up: made (and every table copied), refreshed, or kept. */
  subscription: 'created' | 'refreshed' | 'kept';
}

const fmtBytes = (n: number | null): string => {
  if (n === null) return 'size unknown';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
};
const fmtRows = (n: number | null): string =>
  n === null ? 'rows unknown' : `~${n.toLocaleString('en-US')} rows`;

/** "~1,200,000 rows, 310 MB". */
export const describeCost = (t: Pick<TableSize, 'rows' | 'bytes'>): string =>
  `${fmtRows(t.rows)}, ${fmtBytes(t.bytes)}`;
/** "public.events (~1,200,000 rows, 310 MB)". */
export const describeSize = (t: TableSize): string => `${t.rel} (${describeCost(t)})`;

/**
 * Tables larger than copyLimit that would be copied to the replica for the first time: rds left them
 * out of the publication (pgapp_bridge.prepare()) until someone says yes.
 */
export class CopyNeedsYes extends PgappError {
  constructor(
    readonly tables: (TableSize & { filtered: boolean })[],
    limit: number,
  ) {
    const many = tables.length > 1;
    const first = tables[0]?.rel ?? 'schema.table';
    // A part already (a filter, a column list): its size is rds's planner estimate of that part.
    const parts = tables.every((t) => t.filtered);
    super(
      `${tables.map(describeSize).join(', ')} ${many ? 'are' : 'is'} over copyLimit (${fmtBytes(limit)}): not copied to the replica without a yes`,
      `Copy ${many ? 'them' : 'it'}: run \`pgapp dev\` on a terminal and answer yes, or pass --yes (or raise "copyLimit"). ` +
        `Or do not: read ${many ? 'them' : 'it'} through postgres_fdw ("tables": {"${first}": {"reads": "fdw"}}), or copy ${parts ? 'a smaller' : 'a'} part ` +
        `("tables": {"${first}": {"where": "<a boolean over its columns>", "columns": ["id", …]}}). Nothing was copied.`,
    );
  }
}

/**
 * Bring custom's subscription in line with what rds publishes, for the tables sync_tables made
 * (`local`); wait for the copies, showing them (tables ready, rows copied) and timing each.
 */
export async function syncReplica(
  config: Config,
  secrets: Secrets,
  local: TablesSync,
  progress: (line: string) => void = () => {},
  signal?: AbortSignal,
  timeoutMs = 120_000,
): Promise<ReplicaSync> {
  for (const line of local.skipped) progress(`not copied: ${line}`);
  return withClient(
    connectionConfig('custom', config, secrets),
    async (db) => {
      const sub = await readSubscription(db);
      const slot = slotName(config, secrets);
      const slotLost = sub ? !(await slotExists(config, secrets, sub.slot ?? slot)) : false;
      const remake = !sub || slotLost || sub.unfinished;
      const conninfo = subscriptionConninfo(config, secrets);
      let how: ReplicaSync['subscription'] = 'kept';
      // What is copied now: every table when the subscription is made, else the new and changed ones.
      let copies = local.copies;
      if (remake) {
        if (sub) {
          progress(
            slotLost
              ? 'the replication slot on rds is gone: subscribing again'
              : 'a subscription an interrupted run left: subscribing again',
          );
          await dropSubscription(db, slotLost);
        }
        // Made (and its slot on rds) before anything local is emptied: if rds cannot be reached, the
        // replica keeps what it had.
        await createSubscription(db, conninfo, slot, { enabled: false, copy: true });
        copies = await tableSizes(db);
        await db.query(truncateSql(await truncateTargets(db, local.tables)));
        how = 'created';
      } else if (sub?.conninfo !== conninfo) await setSubscriptionConninfo(db, conninfo);
      // New tables (or tables made again) to copy, or tables no longer published to let go of.
      const refresh =
        !remake && (local.made.length > 0 || (await subscribedTables(db)) !== local.tables.length);
      if (copies.length > 0) progress(`copying ${copies.map(describeSize).join(', ')}`);
      const started = performance.now();
      await enableSubscription(db, true);
      if (refresh) {
        await refreshSubscription(db);
        how = 'refreshed';
      }
      const readyAt = await waitSynced(db, local.tables.length, copies, progress, signal, timeoutMs);
      const copied = await recordCopies(db, copies, started, readyAt);
      // What was just copied, vacuumed: its visibility map set (index-only scans read no heap, as on
      // a table rds has had for a while) and its statistics fresh for the planner. Measured: a count
      // over the copied rows was 1.25× a local table's before, with every row fetched from the heap.
      const vacuum = how === 'created' ? local.tables : local.made;
      if (vacuum.length > 0) {
        progress(`vacuuming what was copied (${vacuum.length} tables)`);
        await db.query(`VACUUM (ANALYZE) ${vacuum.join(', ')}`);
      }
      return { tables: local.tables.length - 1, copied, changed: local.recopied, subscription: how };
    },
    signal,
  );
}

/** Every published table's size on rds, from the catalog custom read this run. */
async function tableSizes(db: pg.Client): Promise<CopyPlan[]> {
  return (
    await db.query<CopyPlan>(
      `SELECT rel, st AS "table", rows::float8 AS rows, bytes::float8 AS bytes FROM pgapp_private.tables_plan() WHERE mode = 'replica'`,
    )
  ).rows;
}

/** Once every table is ready: how long each copy took, kept for `status` (pgapp_private.replica_copies). */
async function recordCopies(
  db: pg.Client,
  copies: CopyPlan[],
  started: number,
  readyAt: Map<string, number>,
): Promise<Copy[]> {
  const done = copies.map((c) => ({
    rel: c.rel,
    rows: c.rows,
    bytes: c.bytes,
    seconds: Math.round(((readyAt.get(c.table) ?? performance.now()) - started) / 10) / 100,
  }));
  if (done.length > 0)
    await db.query(
      `INSERT INTO pgapp_private.replica_copies AS c (rel, rows, bytes, copied_at, seconds)
       SELECT x.rel, x.rows, x.bytes, now(), x.seconds FROM jsonb_to_recordset($1) AS x(rel text, rows bigint, bytes bigint, seconds numeric)
       ON CONFLICT (rel) DO UPDATE SET rows = excluded.rows, bytes = excluded.bytes, copied_at = excluded.copied_at, seconds = excluded.seconds`,
      [JSON.stringify(done)],
    );
  return done;
}

async function slotExists(config: Config, secrets: Secrets, slot: string): Promise<boolean> {
  return withClient(connectionConfig('rds', config, secrets), async (db) => {
    const r = await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    return (r.rowCount ?? 0) > 0;
  });
}

/**
 * No subscription (reads: fdw, or before `reset`): dropped with its slot on rds, which otherwise keeps
 * WAL for it forever. The local tables stay, unused. When rds cannot be reached the subscription is
 * dropped alone, and `slotLeft` names the slot to drop there.
 */
export async function dropReplica(
  config: Config,
  secrets: Secrets,
  signal?: AbortSignal,
): Promise<{ dropped: boolean; slotLeft?: string }> {
  return withClient(
    connectionConfig('custom', config, secrets),
    async (db) => {
      // Nothing replicates any more: nobody's next request waits for a write to reach a replica.
      await db.query(
        `DO $$ BEGIN IF to_regclass('rds_replica.waits') IS NOT NULL THEN DELETE FROM rds_replica.waits; END IF; END $$`,
      );
      const sub = await readSubscription(db);
      if (!sub) return { dropped: false };
      try {
        await dropSubscription(db, false);
        return { dropped: true };
      } catch {
        await dropSubscription(db, true);
        return { dropped: true, slotLeft: sub.slot ?? undefined };
      }
    },
    signal,
  );
}

/** What to tell someone whose slot was left on rds. */
export const slotLeftHint = (slot: string) =>
  `replication slot ${slot} may remain on rds (it keeps WAL there): as the master user, SELECT pg_drop_replication_slot('${slot}')`;

/**
 * Until every table the subscription fills is ready and its apply worker runs. Shows the copies (tables
 * ready, rows copied so far by each table's sync worker) and returns when each got ready. The timeout
 * counts from the last sign of progress: a long copy that keeps copying is waited for.
 */
async function waitSynced(
  db: pg.Client,
  want: number,
  copies: CopyPlan[],
  progress: (line: string) => void,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<Map<string, number>> {
  type Row = {
    ready: number;
    total: number;
    running: boolean;
    copying: { table: string; rows: number | null }[] | null;
    done: string[];
  };
  let r: Row | undefined;
  const readyAt = new Map<string, number>();
  let seen = '';
  let moved = false;
  let lastReady = -1;
  let lastSaid = 0;
  await retryUntil(
    async () => {
      r = (
        await db.query<Row>(
          `SELECT count(*) FILTER (WHERE sr.srsubstate = 'r')::int AS ready, count(*)::int AS total,
                EXISTS (SELECT 1 FROM pg_stat_subscription st WHERE st.subid = s.oid AND st.relid IS NULL AND st.pid IS NOT NULL) AS running,
                jsonb_agg(jsonb_build_object('table', format('%I.%I', n.nspname, c.relname),
                                             'rows', (SELECT p.tuples_processed FROM pg_stat_progress_copy p WHERE p.relid = sr.srrelid))
                          ORDER BY c.relname) FILTER (WHERE sr.srsubstate <> 'r') AS copying,
                coalesce(array_agg(format('%I.%I', n.nspname, c.relname)) FILTER (WHERE sr.srsubstate = 'r'), '{}') AS done
         FROM pg_subscription s LEFT JOIN pg_subscription_rel sr ON sr.srsubid = s.oid
         LEFT JOIN pg_class c ON c.oid = sr.srrelid LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE s.subname = $1 GROUP BY s.oid`,
          [PUBLICATION],
        )
      ).rows[0];
      const now = performance.now();
      for (const t of r?.done ?? []) if (!readyAt.has(t)) readyAt.set(t, now);
      if (r && r.total >= want && r.ready === r.total && r.running) return true;
      const state = JSON.stringify([r?.ready, r?.copying]);
      moved = state !== seen;
      seen = state;
      // Said when a table gets ready, else once a second (a terminal's line, or a line of a log).
      if (r && (r.ready !== lastReady || now - lastSaid >= 1000)) {
        lastReady = r.ready;
        lastSaid = now;
        const rows = (r.copying ?? [])
          .map((c) => {
            const size = copies.find((x) => x.table === c.table);
            return `${c.table}${c.rows !== null ? `: ${c.rows.toLocaleString('en-US')}${size?.rows ? ` of ~${size.rows.toLocaleString('en-US')}` : ''} rows` : ''}`;
          })
          .join(', ');
        progress(`copying: ${r.ready} of ${want} tables ready${rows ? ` (${rows})` : ''}`);
      }
      return undefined;
    },
    {
      timeoutMs,
      intervalMs: 100,
      signal,
      moving: () => moved,
      timedOut: () =>
        new PgappError(
          `The replica on custom did not catch up with rds: nothing moved for ${Math.round(timeoutMs / 1000)} s (${r?.ready ?? 0} of ${want} tables copied${r?.copying ? `; waiting for ${r.copying.map((c) => c.table).join(', ')}` : ''})`,
          'See `pgapp logs custom` and `pgapp logs rds` for replication errors; `pgapp dev` resumes, `--reads fdw` reads without the replica.',
        ),
    },
  );
  return readyAt;
}

export interface ReplicaStatus {
  /** Whether the api views read the local replica (reads: replica) or the foreign tables. */
  readsReplica: boolean;
  subscription: 'streaming' | 'stopped' | 'disabled' | 'missing';
  tablesReady: number;
  tables: number;
  /** Seconds since custom last heard from rds. */
  lastMessageAgoS: number | null;
  /** WAL rds keeps for the subscription that it has not confirmed applied. */
  slotLagBytes: number | null;
  slotActive: boolean | null;
}

/** The subscription as custom and rds see it (nothing written). */
export async function replicaStatus(config: Config, secrets: Secrets): Promise<ReplicaStatus> {
  let readsReplica = false;
  const local = await withClient(connectionConfig('custom', config, secrets), async (db) => {
    readsReplica =
      (
        await db.query<{ r: boolean }>(
          `SELECT to_regclass('pgapp_private.api_tables') IS NOT NULL
                  AND EXISTS (SELECT 1 FROM pgapp_private.api_tables WHERE reads = 'replica') AS r`,
        )
      ).rows[0]?.r === true;
    return (
      await db.query<{
        enabled: boolean;
        slot: string | null;
        pid: number | null;
        ago: number | null;
        ready: number;
        total: number;
      }>(
        `SELECT s.subenabled AS enabled, s.subslotname AS slot,
                (SELECT st.pid FROM pg_stat_subscription st WHERE st.subid = s.oid AND st.relid IS NULL) AS pid,
                (SELECT extract(epoch FROM now() - st.last_msg_receipt_time)::float8 FROM pg_stat_subscription st
                  WHERE st.subid = s.oid AND st.relid IS NULL) AS ago,
                (SELECT count(*) FILTER (WHERE srsubstate = 'r')::int FROM pg_subscription_rel WHERE srsubid = s.oid) AS ready,
                (SELECT count(*)::int FROM pg_subscription_rel WHERE srsubid = s.oid) AS total
         FROM pg_subscription s WHERE s.subname = $1`,
        [PUBLICATION],
      )
    ).rows[0];
  });
  const slot = local?.slot
    ? await withClient(connectionConfig('rds', config, secrets), async (db) => {
        return (
          await db.query<{ lag: number | null; active: boolean }>(
            `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag, active
             FROM pg_replication_slots WHERE slot_name = $1`,
            [local.slot],
          )
        ).rows[0];
      }).catch(() => undefined)
    : undefined;
  return {
    readsReplica,
    subscription: !local ? 'missing' : !local.enabled ? 'disabled' : local.pid ? 'streaming' : 'stopped',
    tablesReady: local?.ready ?? 0,
    tables: local?.total ?? 0,
    lastMessageAgoS: local?.ago ?? null,
    slotLagBytes: slot?.lag ?? null,
    slotActive: slot?.active ?? null,
  };
}

/**
 * A write on rds, timed until custom has it: a bump of a fence slot. Harmless to the API's readers
 * waiting on that slot: bumps of one row commit in order, so the counter only ever grows.
 */
export async function measureReplicaLag(
  config: Config,
  secrets: Secrets,
  timeoutMs = 10_000,
): Promise<number> {
  return withClient(connectionConfig('rds', config, secrets), (rds) =>
    withClient(connectionConfig('custom', config, secrets), (custom) => fenceLag(rds, custom, timeoutMs)),
  );
}

/**
 * The same on open connections (rds as a user who may update the fence: the master user or the
 * remote's bridge user; custom as its superuser), in milliseconds. Once it returns, everything rds
 * committed before is on custom too (one row's updates commit in order).
 */
export async function fenceLag(rds: pg.Client, custom: pg.Client, timeoutMs = 10_000): Promise<number> {
  const n = Number(
    (await rds.query('UPDATE pgapp_bridge.replica_fence SET n = n + 1 WHERE slot = 63 RETURNING n')).rows[0]
      ?.n,
  );
  const t0 = performance.now();
  return retryUntil(
    async () => {
      const got = (await custom.query('SELECT n FROM pgapp_bridge.replica_fence WHERE slot = 63')).rows[0]?.n;
      return got !== undefined && Number(got) >= n
        ? Math.round((performance.now() - t0) * 10) / 10
        : undefined;
    },
    {
      timeoutMs,
      intervalMs: 2,
      timedOut: () =>
        new PgappError(
          `A write on rds did not reach custom's replica within ${timeoutMs / 1000} s`,
          'Replication is stopped or far behind: see `pgapp status` and `pgapp logs custom`.',
        ),
    },
  );
}
