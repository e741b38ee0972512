/**
 * Where snapshots live: template databases beside the app database on both servers
 * (`pgapp_snapshot_<name>`), each carrying its metadata as the database's comment, and the moves on
 * those databases that saving and restoring are made of — listing and describing them, the schema
 * fingerprint, ending sessions, holding writers off, the grants and settings kept outside a database,
 * the copy staged for the next restore, removing one. stack/snapshot.ts puts them together with the
 * rest of the stack (the subscription, pg_cron, PostgREST).
 */
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connect, connectionConfig, type Target } from '../db/connect.ts';
import { PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';

export const PREFIX = 'pgapp_snapshot_';
/** Where a snapshot is built before it replaces one of the same name. */
export const BUILDING = 'pgapp_snapbuild_';
/** Where a restore copies the snapshot before the swap, and where the current database then goes. */
export const NEXT = 'pgapp_restore_next_';
export const ASIDE = 'pgapp_restore_old_';
const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
export const TARGETS: Target[] = ['rds', 'custom'];

/** The same step on both servers at once (they are independent: two containers). */
export async function onBoth(s: Servers, step: (c: pg.Client, t: Target) => Promise<unknown>): Promise<void> {
  const results = await Promise.allSettled(TARGETS.map((t) => step(s[t], t)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export interface SnapshotInfo {
  name: string;
  project: string;
  takenAt: string;
  /** Bytes of both copies. */
  bytes: number;
  /** Whether both copies are there and of one moment (a save that was killed can leave one). */
  complete: boolean;
}

/** One line of `pgapp snapshot list`: a snapshot in the servers, or one `reset` saved. */
export type SnapshotRow = Omit<SnapshotInfo, 'project'> & {
  /** In the stack's servers, or saved by `reset` in .pgapp/ (restoring it replaces the stack). */
  kind: 'servers' | 'saved';
};

export interface Meta {
  pgapp: 'snapshot';
  project: string;
  name: string;
  takenAt: string;
  fingerprint: Record<Target, string>;
}

export const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
export const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export function checkSnapshotName(name: string | undefined): string {
  if (!name || !NAME.test(name))
    throw new PgappError(
      `Snapshot name ${JSON.stringify(name ?? '')} is not valid`,
      'Use 1–40 lowercase letters, digits, _ or -, starting with a letter or digit (e.g. `seeded`).',
    );
  return name;
}

/** Every schema's tables, views (with their definitions) and functions (with their source). */
const FINGERPRINT_SQL = `
SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) AS fp FROM (
  SELECT format('%s.%s %s %s %s', n.nspname, c.relname, c.relkind,
           (SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN '!' ELSE '' END, ',' ORDER BY a.attnum)
              FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           CASE WHEN c.relkind IN ('v', 'm') THEN md5(pg_get_viewdef(c.oid)) END) AS x
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  UNION ALL
  SELECT format('%s.%s(%s) %s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
) s`;

/** One connection to each server's maintenance database (`postgres`), where databases are made and dropped. */
export interface Servers {
  rds: pg.Client;
  custom: pg.Client;
}

function standInOnly(config: Config): void {
  if (config.remote)
    throw new PgappError(
      `Snapshots cover the rds stand-in, and "${config.project}" is bridged to ${config.remote.host}`,
      'On a real RDS use its own snapshots (`aws rds create-db-snapshot`); `pgapp snapshot` works on stacks that run the stand-in.',
    );
}

export const appDb = (target: Target, config: Config, secrets: Secrets) =>
  connect(connectionConfig(target, config, secrets));

/** A connection to the app database on each server (both or neither). */
export async function appPair(
  config: Config,
  secrets: Secrets,
): Promise<{ rds: pg.Client; custom: pg.Client }> {
  const rds = await appDb('rds', config, secrets);
  const custom = await appDb('custom', config, secrets).catch(async (err) => {
    await rds.end();
    throw err;
  });
  return { rds, custom };
}

export async function withServers<T>(
  config: Config,
  secrets: Secrets,
  fn: (s: Servers) => Promise<T>,
): Promise<T> {
  standInOnly(config);
  const maintenance = (t: Target) =>
    connect({ ...connectionConfig(t, config, secrets), database: 'postgres' });
  const rds = await maintenance('rds');
  try {
    const custom = await maintenance('custom');
    try {
      return await fn({ rds, custom });
    } finally {
      await custom.end().catch(() => {});
    }
  } finally {
    await rds.end().catch(() => {});
  }
}

export async function metaOf(
  client: pg.Client,
  db: string,
): Promise<{ meta?: Meta; bytes: number } | undefined> {
  const r = await client.query<{ comment: string | null; bytes: number }>(
    `SELECT shobj_description(oid, 'pg_database') AS comment, pg_database_size(oid)::float8 AS bytes
     FROM pg_database WHERE datname = $1`,
    [db],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  try {
    const meta = JSON.parse(row.comment ?? '') as Meta;
    return { meta: meta.pgapp === 'snapshot' ? meta : undefined, bytes: row.bytes };
  } catch {
    return { bytes: row.bytes };
  }
}

export async function snapshotNames(client: pg.Client): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `SELECT substr(datname, length($1) + 1) AS name FROM pg_database WHERE starts_with(datname, $1)`,
    [PREFIX],
  );
  return r.rows.map((x) => x.name);
}

export async function describe(
  s: Servers,
  name: string,
): Promise<(SnapshotInfo & { meta?: Meta }) | undefined> {
  const rds = await metaOf(s.rds, PREFIX + name);
  const custom = await metaOf(s.custom, PREFIX + name);
  if (!rds && !custom) return undefined;
  const meta = rds?.meta ?? custom?.meta;
  const complete = Boolean(
    rds?.meta &&
      custom?.meta &&
      rds.meta.takenAt === custom.meta.takenAt &&
      rds.meta.project === custom.meta.project,
  );
  return {
    name,
    project: meta?.project ?? '?',
    takenAt: meta?.takenAt ?? '?',
    bytes: (rds?.bytes ?? 0) + (custom?.bytes ?? 0),
    complete,
    meta: complete ? meta : undefined,
  };
}

export async function listSnapshots(config: Config, secrets: Secrets): Promise<SnapshotInfo[]> {
  return withServers(config, secrets, async (s) => {
    const names = [...new Set([...(await snapshotNames(s.rds)), ...(await snapshotNames(s.custom))])].sort();
    const out: SnapshotInfo[] = [];
    for (const n of names) {
      const d = await describe(s, n);
      if (d)
        out.push({
          name: d.name,
          project: d.project,
          takenAt: d.takenAt,
          bytes: d.bytes,
          complete: d.complete,
        });
    }
    return out;
  });
}

export async function fingerprint(client: pg.Client): Promise<string> {
  return (await client.query<{ fp: string }>(FINGERPRINT_SQL)).rows[0]?.fp ?? '';
}

/**
 * End the sessions of `db` on one server that `where` picks, and wait until they are gone (a template
 * in use cannot be copied). Without pg_terminate_backend's own wait, which sleeps 100 ms per session.
 */
export async function endSessions(
  c: pg.Client,
  db: string,
  where: string,
  params: unknown[] = [],
): Promise<void> {
  const sessions = `FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND ${where}`;
  await c.query(`SELECT pg_terminate_backend(pid) ${sessions}`, [db, ...params]);
  let left: string | null | undefined;
  await retryUntil(
    async () => {
      left = (
        await c.query<{ who: string | null }>(`SELECT string_agg(backend_type, ', ') AS who ${sessions}`, [
          db,
          ...params,
        ])
      ).rows[0]?.who;
      return left ? undefined : true;
    },
    {
      timeoutMs: 10_000,
      intervalMs: 10,
      timedOut: () =>
        new PgappError(
          `Sessions of ${db} did not end within 10 s (${left})`,
          'See `pgapp logs custom` and `pgapp logs rds`; try again.',
        ),
    },
  );
}

/**
 * Run `sql`, which needs `db` to have no sessions (a template copy, a rename). A client that had passed
 * the connection check just before connections were refused can still arrive after the sessions were
 * ended (PostgREST reconnects at once): end the sessions again and retry.
 */
export async function alone(c: pg.Client, db: string, sql: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await c.query(sql);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 5) throw err;
      await endSessions(c, db, 'true');
    }
  }
}

/**
 * Refuse new connections to the app database on both servers and end the open ones but `keep`
 * (the connections this module works on, and the replica's two ends, which the caller pauses itself).
 * Returns what lets them in again.
 */
export async function holdWriters(s: Servers, db: string, keep: number[]): Promise<() => Promise<void>> {
  const release = () =>
    onBoth(s, (c) => c.query(`ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS true`)).catch(() => {});
  try {
    // Both at once: a writer on custom (PostgREST's sessions write rds through the bridge) is ended
    // with its open transaction on rds.
    await onBoth(s, async (c) => {
      await c.query(`ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS false`);
      await endSessions(
        c,
        db,
        `pid <> ALL($2::int[]) AND backend_type NOT IN ('walsender', 'autovacuum worker') AND NOT ${REPLICATION_WORKER}`,
        [keep],
      );
    });
  } catch (err) {
    await release();
    throw err;
  }
  return release;
}

/**
 * The subscription's workers on custom: 'logical replication worker' up to PostgreSQL 16, 'logical
 * replication apply worker' (and tablesync, parallel apply) from 17.
 */
export const REPLICATION_WORKER = "backend_type LIKE 'logical replication %worker'";

/** Grants and per-database settings live outside a database (in shared catalogs): read them to copy. */
export interface Outside {
  /** The database's grants; null when it never had any (the default: PUBLIC may connect). */
  acl: { grantee: string | null; privilege: string; grantable: boolean }[] | null;
  settings: { role: string | null; config: string[] }[];
}

export async function outsideOf(c: pg.Client, db: string): Promise<Outside> {
  const dflt = (await c.query('SELECT datacl IS NULL AS d FROM pg_database WHERE datname = $1', [db])).rows[0]
    ?.d;
  const acl = await c.query<NonNullable<Outside['acl']>[number]>(
    `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE a.grantee::regrole::text END AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
     FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 AND a.grantee <> d.datdba`,
    [db],
  );
  const settings = await c.query<Outside['settings'][number]>(
    `SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE s.setrole::regrole::text END AS role, s.setconfig AS config
     FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1`,
    [db],
  );
  return { acl: dflt ? null : acl.rows, settings: settings.rows };
}

export async function applyOutside(c: pg.Client, db: string, o: Outside): Promise<void> {
  const d = ident(db);
  if (o.acl === null) await c.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${d} TO PUBLIC`);
  else await c.query(`REVOKE ALL ON DATABASE ${d} FROM PUBLIC`);
  for (const a of o.acl ?? [])
    await c.query(
      `GRANT ${a.privilege} ON DATABASE ${d} TO ${a.grantee ?? 'PUBLIC'}${a.grantable ? ' WITH GRANT OPTION' : ''}`,
    );
  for (const s of o.settings)
    for (const kv of s.config) {
      const i = kv.indexOf('=');
      const [key, value] = [kv.slice(0, i), kv.slice(i + 1)];
      // The value as the server parses it (lists included), then stored FROM CURRENT.
      await c.query('SELECT set_config($1, $2, false)', [key, value]);
      await c.query(
        s.role
          ? `ALTER ROLE ${s.role} IN DATABASE ${d} SET ${ident(key)} FROM CURRENT`
          : `ALTER DATABASE ${d} SET ${ident(key)} FROM CURRENT`,
      );
      await c.query(`RESET ${ident(key)}`);
    }
}

/**
 * A copy of a snapshot beside the app database, for a restore to rename into place. Only its owner
 * gets in until the restore has subscribed the replica again; then the database's own grants.
 */
export async function stageCopy(c: pg.Client, db: string, meta: Meta): Promise<void> {
  await c.query(`DROP DATABASE IF EXISTS ${ident(NEXT + db)}`);
  await c.query(`CREATE DATABASE ${ident(NEXT + db)} TEMPLATE ${ident(PREFIX + meta.name)}`);
  await c.query(`REVOKE ALL ON DATABASE ${ident(NEXT + db)} FROM PUBLIC`);
  await c.query(`ALTER DATABASE ${ident(NEXT + db)} ALLOW_CONNECTIONS false`);
  await c.query(`COMMENT ON DATABASE ${ident(NEXT + db)} IS ${literal(JSON.stringify(meta))}`);
}

/** Remove snapshot `name` from both servers; false when there was none. */
export async function removeSnapshot(config: Config, secrets: Secrets, name: string): Promise<boolean> {
  checkSnapshotName(name);
  return withServers(config, secrets, async (s) => {
    if (!(await describe(s, name))) return false;
    await onBoth(s, async (c) => {
      // A copy staged for the next restore of it goes too (it would hold the template in use).
      if ((await metaOf(c, NEXT + config.project))?.meta?.name === name)
        await c.query(`DROP DATABASE IF EXISTS ${ident(NEXT + config.project)}`);
      await c.query(`DROP DATABASE IF EXISTS ${ident(PREFIX + name)}`);
    });
    return true;
  });
}
