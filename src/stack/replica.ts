/**
 * The colocated read path (reads: replica): rds publishes the bridged schemas' tables (publication
 * pgapp, sql/rds-bridge), custom subscribes into local tables of the same schema and name (logical
 * replication matches tables by name), and the api views read them (sql/custom/api/050_api.sql).
 *
 * Logical replication carries rows, not DDL: each `dev` brings the local tables in line with rds's
 * catalog (pgapp_private.sync_replica_tables, sql/custom/bridge/050_replica_tables.sql) and then the
 * subscription, here — a new table is copied (REFRESH PUBLICATION), a new column means copying again
 * (the subscription is re-made: rows replicated before the column existed hold no value for it).
 */
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { PUBLICATION } from '../spec/stack.ts';
import { callStep } from './sql.ts';
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

/** What pgapp_private.sync_replica_tables() did (sql/custom/bridge/050_replica_tables.sql). */
interface ReplicaTables {
  /** Every local table the subscription fills (the fence included), schema-qualified. */
  tables: string[];
  /** The local tables this run made (their copy follows), as qualified, quoted names. */
  made: string[];
  /** Columns added locally by this run (`schema.table.column`). */
  columns: string[];
  /** Indexes that could not be copied, and why. */
  skipped: string[];
}

export interface ReplicaSync {
  tables: number;
  /** Tables created on custom by this run. */
  created: string[];
  /** Columns added on custom by this run (`table.column`). */
  columns: string[];
  /** How the subscription was brought up: made (and every table copied), refreshed, or kept. */
  subscription: 'created' | 'refreshed' | 'kept';
}

/** Bring custom's local tables and subscription in line with what rds publishes; wait for the copy. */
export async function syncReplica(
  config: Config,
  secrets: Secrets,
  progress: (line: string) => void = () => {},
  signal?: AbortSignal,
  timeoutMs = 120_000,
): Promise<ReplicaSync> {
  const local = (await callStep(
    'custom',
    'pgapp_private.sync_replica_tables',
    config,
    secrets,
    signal,
  )) as ReplicaTables;
  for (const line of local.skipped) progress(`not copied: ${line}`);
  return withClient(
    connectionConfig('custom', config, secrets),
    async (db) => {
      const sub = await readSubscription(db);
      const slot = slotName(config, secrets);
      const slotLost = sub ? !(await slotExists(config, secrets, sub.slot ?? slot)) : false;
      const { made: created, columns } = local;
      // Rows replicated before a column existed hold nothing for it: copy everything again.
      const remake = !sub || slotLost || columns.length > 0 || sub.unfinished;
      const conninfo = subscriptionConninfo(config, secrets);
      let how: ReplicaSync['subscription'] = 'kept';
      if (remake) {
        if (sub) {
          progress(
            slotLost
              ? 'the replication slot on rds is gone: subscribing again'
              : columns.length > 0
                ? 'columns changed: copying again'
                : 'a subscription an interrupted run left: subscribing again',
          );
          await dropSubscription(db, slotLost);
        }
        // Made (and its slot on rds) before anything local is emptied: if rds cannot be reached, the
        // replica keeps what it had.
        await createSubscription(db, conninfo, slot, { enabled: false, copy: true });
        progress('copying the published tables');
        await db.query(`TRUNCATE ${local.tables.join(', ')}`);
        await enableSubscription(db, true);
        how = 'created';
      } else {
        if (sub?.conninfo !== conninfo) await setSubscriptionConninfo(db, conninfo);
        await enableSubscription(db, true);
        // New tables to copy, or tables no longer published to let go of.
        if (created.length > 0 || (await subscribedTables(db)) !== local.tables.length) {
          if (created.length > 0) progress(`copying ${created.join(', ')}`);
          await refreshSubscription(db);
          how = 'refreshed';
        }
      }
      await waitSynced(db, local.tables.length, progress, signal, timeoutMs);
      // What was just copied, vacuumed: its visibility map set (index-only scans read no heap, as on
      // a table rds has had for a while) and its statistics fresh for the planner. Measured: a count
      // over the copied rows was 1.25× a local table's before, with every row fetched from the heap.
      const copied = how === 'created' ? local.tables : created;
      if (copied.length > 0) {
        progress(`vacuuming what was copied (${copied.length} tables)`);
        await db.query(`VACUUM (ANALYZE) ${copied.join(', ')}`);
      }
      return { tables: local.tables.length - 1, created, columns, subscription: how };
    },
    signal,
  );
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

async function waitSynced(
  db: pg.Client,
  want: number,
  progress: (line: string) => void,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<void> {
  let r: { ready: number; total: number; running: boolean; copying: string | null } | undefined;
  await retryUntil(
    async () => {
      r = (
        await db.query<{ ready: number; total: number; running: boolean; copying: string | null }>(
          `SELECT count(*) FILTER (WHERE sr.srsubstate = 'r')::int AS ready, count(*)::int AS total,
                EXISTS (SELECT 1 FROM pg_stat_subscription st WHERE st.subid = s.oid AND st.relid IS NULL AND st.pid IS NOT NULL) AS running,
                string_agg(sr.srrelid::regclass::text, ', ') FILTER (WHERE sr.srsubstate <> 'r') AS copying
         FROM pg_subscription s LEFT JOIN pg_subscription_rel sr ON sr.srsubid = s.oid
         WHERE s.subname = $1 GROUP BY s.oid`,
          [PUBLICATION],
        )
      ).rows[0];
      if (r && r.total >= want && r.ready === r.total && r.running) return true;
      if (r) progress(`copying: ${r.ready} of ${want} tables ready${r.copying ? ` (${r.copying})` : ''}`);
      return undefined;
    },
    {
      timeoutMs,
      intervalMs: 100,
      signal,
      timedOut: () =>
        new PgappError(
          `The replica on custom did not catch up with rds within ${Math.round(timeoutMs / 1000)} s (${r?.ready ?? 0} of ${want} tables copied${r?.copying ? `; waiting for ${r.copying}` : ''})`,
          'See `pgapp logs custom` and `pgapp logs rds` for replication errors; `pgapp dev` resumes, `--reads fdw` reads without the replica.',
        ),
    },
  );
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
