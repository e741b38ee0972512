/**
 * The colocated read path (reads: replica): rds publishes crm's tables (sql/rds-replica), custom
 * subscribes into local tables with the same columns, keys and indexes (schema `crm` on custom, as
 * logical replication matches tables by name), and the api views read them (sql/custom/api).
 *
 * Logical replication carries rows, not DDL: each `dev` compares the published tables with the local
 * ones and brings custom up to date — a new table is created and copied (REFRESH PUBLICATION), a new
 * column is added and the data copied again (the subscription is re-made: rows replicated before
 * the column existed hold no value for it), new keys and indexes are added.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { rdsRootCert } from '../config/tls.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { PG_PORT, PUBLICATION, REPLICATOR_USER } from '../spec/stack.ts';

interface Column {
  name: string;
  type: string;
  notnull: boolean;
}
interface Definition {
  name: string;
  def: string;
  /** A foreign key's referenced table. */
  ref?: string;
}
/** One published table, as rds defines it (names schema-qualified). */
export interface PublishedTable {
  rel: string;
  columns: Column[];
  constraints: Definition[];
  indexes: Definition[];
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

/**
 * The replication slot on rds: one per stack (slots are server-wide, and several projects, or several
 * developers' stacks, may subscribe to the same rds).
 */
export function slotName(config: Config, secrets: Secrets): string {
  const id = createHash('sha256').update(secrets.customPassword).digest('hex').slice(0, 8);
  return `pgapp_${config.project}_${id}`;
}

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** What rds publishes, with the definitions custom needs (search_path pg_catalog: qualified names). */
const CATALOG_SQL = `
SELECT c.oid::regclass::text AS rel,
  (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                     'notnull', a.attnotnull) ORDER BY a.attnum)
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT coalesce(json_agg(json_build_object('name', co.conname, 'def', pg_get_constraintdef(co.oid),
                                              'ref', nullif(co.confrelid, 0)::regclass::text)
                            ORDER BY co.contype = 'f', co.conname), '[]')
     FROM pg_constraint co WHERE co.conrelid = c.oid AND co.contype IN ('p', 'u', 'f')) AS constraints,
  (SELECT coalesce(json_agg(json_build_object('name', ic.relname, 'def', pg_get_indexdef(i.indexrelid))), '[]')
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
    WHERE i.indrelid = c.oid AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid)) AS indexes
FROM pg_publication_tables pt
JOIN pg_namespace n ON n.nspname = pt.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
WHERE pt.pubname = $1
ORDER BY 1`;

/** libpq connection string custom's subscription uses to reach rds, from inside the network. */
export function subscriptionConninfo(config: Config, secrets: Secrets): string {
  const r = config.remote;
  const parts: Record<string, string | undefined> = r
    ? {
        host: r.host,
        port: String(r.port),
        dbname: r.database,
        user: r.user,
        password: r.password,
        sslmode: r.sslmode,
        sslrootcert: rdsRootCert(r),
      }
    : {
        host: 'rds',
        port: String(PG_PORT),
        dbname: config.project,
        user: REPLICATOR_USER,
        password: secrets.replicatorPassword,
        sslmode: 'verify-full',
        sslrootcert: rdsRootCert(undefined),
      };
  parts.application_name = PUBLICATION;
  parts.connect_timeout = '5';
  return Object.entries(parts)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${q(v)}`)
    .join(' ');
}

/**
 * A real rds (--rds-url) may not publish: why not, in words with the setting to change, or
 * undefined when it can. The stand-in always can (its parameter group sets it).
 */
export async function replicaUnsupported(config: Config, secrets: Secrets): Promise<string | undefined> {
  if (!config.remote) return undefined;
  const user = config.remote.user;
  return withClient(connectionConfig('rds', config, secrets), async (db) => {
    const r = await db.query<{
      wal_level: string;
      can_replicate: boolean;
      owns_all: boolean;
      published: boolean;
    }>(
      `SELECT current_setting('wal_level') AS wal_level,
              (SELECT rolreplication FROM pg_roles WHERE rolname = current_user)
                OR coalesce((SELECT pg_has_role(current_user, 'rds_replication', 'MEMBER')
                             FROM pg_roles WHERE rolname = 'rds_replication'), false) AS can_replicate,
              NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = to_regnamespace('crm')
                          AND c.relkind IN ('r', 'p') AND NOT pg_has_role(current_user, c.relowner, 'USAGE')) AS owns_all,
              EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS published`,
      [PUBLICATION],
    );
    const s = r.rows[0];
    if (!s) return 'cannot read its settings';
    if (s.wal_level !== 'logical')
      return `it does not publish logical replication (wal_level = ${s.wal_level}): set rds.logical_replication = 1 in its DB parameter group and reboot it`;
    if (!s.can_replicate)
      return `${user} may not replicate: as the master user, GRANT rds_replication TO ${ident(user)}`;
    if (!s.owns_all && !s.published)
      return `${user} does not own every crm table, so it cannot publish them: as their owner, CREATE PUBLICATION ${PUBLICATION} FOR TABLE <crm's tables>, pgapp_bridge.replica_fence`;
    return undefined;
  });
}

async function publishedTables(config: Config, secrets: Secrets): Promise<PublishedTable[]> {
  return withClient(connectionConfig('rds', config, secrets), async (db) => {
    // Tables added to crm since (user SQL) join the publication.
    await db.query('SELECT pgapp_bridge.publish_crm()');
    await db.query('SET search_path = pg_catalog');
    return (await db.query<PublishedTable>(CATALOG_SQL, [PUBLICATION])).rows;
  });
}

/** Bring custom's local tables and subscription in line with what rds publishes; wait for the copy. */
export async function syncReplica(
  config: Config,
  secrets: Secrets,
  progress: (line: string) => void = () => {},
  signal?: AbortSignal,
  timeoutMs = 120_000,
): Promise<ReplicaSync> {
  const tables = await publishedTables(config, secrets);
  if (tables.length === 0)
    throw new PgappError(
      `rds publishes no tables in ${PUBLICATION}`,
      'Run `pgapp dev` again; see `pgapp logs rds`.',
    );
  return withClient(
    connectionConfig('custom', config, secrets),
    async (db) => {
      const sub = (
        await db.query<{ oid: number; conninfo: string; slot: string | null; unfinished: boolean }>(
          `SELECT oid, subconninfo AS conninfo, subslotname AS slot,
                  -- made by a run interrupted before its first copy began: the local tables may hold anything
                  NOT subenabled AND EXISTS (SELECT 1 FROM pg_subscription_rel WHERE srsubid = s.oid AND srsubstate = 'i') AS unfinished
           FROM pg_subscription s WHERE subname = $1`,
          [PUBLICATION],
        )
      ).rows[0];
      const slot = slotName(config, secrets);
      const slotLost = sub ? !(await slotExists(config, secrets, sub.slot ?? slot)) : false;
      const { created, columns } = await applyDefinitions(db, tables);
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
        await db.query(
          `CREATE SUBSCRIPTION ${PUBLICATION} CONNECTION ${q(conninfo)} PUBLICATION ${PUBLICATION} WITH (slot_name = ${q(slot)}, enabled = false)`,
        );
        progress('copying the published tables');
        await db.query(`TRUNCATE ${tables.map((t) => t.rel).join(', ')}`);
        await db.query(`ALTER SUBSCRIPTION ${PUBLICATION} ENABLE`);
        how = 'created';
      } else {
        if (sub?.conninfo !== conninfo)
          await db.query(`ALTER SUBSCRIPTION ${PUBLICATION} CONNECTION ${q(conninfo)}`);
        await db.query(`ALTER SUBSCRIPTION ${PUBLICATION} ENABLE`);
        if (created.length > 0) {
          progress(`copying ${created.join(', ')}`);
          await db.query(`ALTER SUBSCRIPTION ${PUBLICATION} REFRESH PUBLICATION`);
          how = 'refreshed';
        }
      }
      await waitSynced(db, tables.length, progress, signal, timeoutMs);
      return { tables: tables.length, created, columns, subscription: how };
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

/** Local tables, columns, keys and indexes for what rds publishes (only ever added). */
async function applyDefinitions(
  db: pg.Client,
  tables: PublishedTable[],
): Promise<{ created: string[]; columns: string[] }> {
  const created: string[] = [];
  const columns: string[] = [];
  const local = new Set(tables.map((t) => t.rel));
  await db.query('BEGIN');
  try {
    await db.query('SET LOCAL search_path = pg_catalog');
    const schemas = [...new Set(tables.map((t) => t.rel.split('.')[0] as string))];
    for (const s of schemas) {
      await db.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await db.query(`REVOKE ALL ON SCHEMA ${s} FROM PUBLIC`);
      await db.query(`GRANT USAGE ON SCHEMA ${s} TO api_owner`);
    }
    const exists = async (sql: string, ...args: unknown[]) => ((await db.query(sql, args)).rowCount ?? 0) > 0;
    for (const t of tables) {
      if (!(await exists('SELECT 1 FROM pg_class WHERE oid = to_regclass($1)', t.rel))) {
        const cols = t.columns.map((c) => `${ident(c.name)} ${c.type}${c.notnull ? ' NOT NULL' : ''}`);
        await db.query(`CREATE TABLE ${t.rel} (${cols.join(', ')})`);
        created.push(t.rel);
      } else {
        const local = (
          await db.query<{ name: string; notnull: boolean; type: string }>(
            `SELECT attname AS name, attnotnull AS notnull, format_type(atttypid, atttypmod) AS type FROM pg_attribute
             WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
            [t.rel],
          )
        ).rows;
        const have = new Map(local.map((r) => [r.name, r.notnull]));
        for (const c of t.columns) {
          const mine = local.find((l) => l.name === c.name);
          if (mine && mine.type !== c.type)
            throw new PgappError(
              `${t.rel}.${c.name} is ${c.type} on rds but ${mine.type} in custom's replica: logical replication does not change column types`,
              'Read through postgres_fdw meanwhile (`npm run dev -- --reads fdw`); `npm run reset` then `npm run dev` ' +
                "rebuild the replica (a reset also deletes the stand-in's data: keep your seed in sql/rds/local).",
            );
        }
        for (const c of t.columns.filter((c) => !have.has(c.name))) {
          await db.query(`ALTER TABLE ${t.rel} ADD COLUMN ${ident(c.name)} ${c.type}`);
          columns.push(`${t.rel}.${c.name}`);
        }
        // A column rds dropped: rows arrive without it, so it must accept NULL.
        const gone = [...have].filter(
          ([name, notnull]) => notnull && !t.columns.some((c) => c.name === name),
        );
        for (const [name] of gone)
          await db.query(`ALTER TABLE ${t.rel} ALTER COLUMN ${ident(name)} DROP NOT NULL`);
      }
      await db.query(`GRANT SELECT ON ${t.rel} TO api_owner`);
    }
    // Keys, then indexes, then foreign keys (to tables that are here): by name, once.
    const defs = [
      ...tables.flatMap((t) =>
        t.constraints.filter((c) => !c.ref).map((c) => ({ t, ...c, kind: 'constraint' })),
      ),
      ...tables.flatMap((t) => t.indexes.map((i) => ({ t, ...i, kind: 'index' }))),
      ...tables.flatMap((t) =>
        t.constraints.filter((c) => c.ref && local.has(c.ref)).map((c) => ({ t, ...c, kind: 'constraint' })),
      ),
    ];
    for (const d of defs) {
      if (d.kind === 'constraint') {
        if (
          !(await exists(
            'SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2',
            d.t.rel,
            d.name,
          ))
        )
          await db.query(`ALTER TABLE ${d.t.rel} ADD CONSTRAINT ${ident(d.name)} ${d.def}`);
      } else {
        const schema = d.t.rel.split('.')[0] as string;
        if (
          !(await exists(
            'SELECT 1 FROM pg_class WHERE relnamespace = $1::regnamespace AND relname = $2',
            schema,
            d.name,
          ))
        )
          await db.query(d.def);
      }
    }
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    if (err instanceof PgappError) throw err;
    throw new PgappError(
      `Could not create the local replica tables on custom: ${errorMessage(err)}`,
      'A crm table on rds has a definition custom cannot copy (see the message); fix it in sql/rds/local, or use --reads fdw.',
      undefined,
    );
  }
  return { created, columns };
}

/** Drop the subscription (and its slot on rds, unless that is already gone). */
async function dropSubscription(db: pg.Client, slotLost: boolean): Promise<void> {
  if (slotLost) {
    await db.query(`ALTER SUBSCRIPTION ${PUBLICATION} DISABLE`);
    await db.query(`ALTER SUBSCRIPTION ${PUBLICATION} SET (slot_name = NONE)`);
  }
  await db.query(`DROP SUBSCRIPTION ${PUBLICATION}`);
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
      const r = await db.query<{ slot: string | null }>(
        'SELECT subslotname AS slot FROM pg_subscription WHERE subname = $1',
        [PUBLICATION],
      );
      const sub = r.rows[0];
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
          `SELECT EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_depend d ON d.objid = r.oid
                        WHERE r.ev_class = to_regclass('api.contacts') AND d.refobjid = to_regclass('crm.contacts')) AS r`,
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
