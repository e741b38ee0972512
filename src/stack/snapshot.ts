/**
 * Snapshots of a running stack: rds's database (the source of truth) and custom's (its local tables,
 * the cache, pg_cron's jobs, the replica) copied together as template databases in the same servers —
 * `CREATE DATABASE … TEMPLATE`, which the RDS master user may run (CREATEDB), as on RDS.
 *
 * Both copies are of one moment: new connections are refused and open ones ended (so no writer is
 * half-way), the replica has caught up with rds (a fence bump reached it), and the subscription is
 * paused while rds is copied. A restore swaps both databases back the same way — the current ones are
 * renamed aside until the copies are in place, and put back if anything fails — re-subscribes without
 * copying (custom's replica came back equal to rds), and returns once every hop answers: a write on rds
 * reaches custom, PostgREST has its connections back.
 *
 * A snapshot records a fingerprint of both schemas: restoring one taken before a schema change (a new
 * column, another reads mode, a newer image's SQL) is refused, as it would undo the change.
 */
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connect, connectionConfig, type Target } from '../db/connect.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { apiReadyUrl } from '../spec/stack.ts';
import { fenceLag, measureReplicaLag } from './replica.ts';
import {
  createSubscription,
  dropSubscription,
  enableSubscription,
  readSubscription,
  type Subscription,
  slotName,
  subscriptionConninfo,
} from './subscription.ts';

const PREFIX = 'pgapp_snapshot_';
/** Where a snapshot is built before it replaces one of the same name. */
const BUILDING = 'pgapp_snapbuild_';
/** Where a restore copies the snapshot before the swap, and where the current database then goes. */
const NEXT = 'pgapp_restore_next_';
const ASIDE = 'pgapp_restore_old_';
const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const TARGETS: Target[] = ['rds', 'custom'];

/** The same step on both servers at once (they are independent: two containers). */
async function onBoth(s: Servers, step: (c: pg.Client, t: Target) => Promise<unknown>): Promise<void> {
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

interface Meta {
  pgapp: 'snapshot';
  project: string;
  name: string;
  takenAt: string;
  fingerprint: Record<Target, string>;
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

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
interface Servers {
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

const appDb = (target: Target, config: Config, secrets: Secrets) =>
  connect(connectionConfig(target, config, secrets));

/** A connection to the app database on each server (both or neither). */
async function appPair(config: Config, secrets: Secrets): Promise<{ rds: pg.Client; custom: pg.Client }> {
  const rds = await appDb('rds', config, secrets);
  const custom = await appDb('custom', config, secrets).catch(async (err) => {
    await rds.end();
    throw err;
  });
  return { rds, custom };
}

async function withServers<T>(config: Config, secrets: Secrets, fn: (s: Servers) => Promise<T>): Promise<T> {
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

async function metaOf(client: pg.Client, db: string): Promise<{ meta?: Meta; bytes: number } | undefined> {
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

async function snapshotNames(client: pg.Client): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `SELECT substr(datname, length($1) + 1) AS name FROM pg_database WHERE starts_with(datname, $1)`,
    [PREFIX],
  );
  return r.rows.map((x) => x.name);
}

async function describe(s: Servers, name: string): Promise<(SnapshotInfo & { meta?: Meta }) | undefined> {
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

async function fingerprint(client: pg.Client): Promise<string> {
  return (await client.query<{ fp: string }>(FINGERPRINT_SQL)).rows[0]?.fp ?? '';
}

/**
 * End the sessions of `db` on one server that `where` picks, and wait until they are gone (a template
 * in use cannot be copied). Without pg_terminate_backend's own wait, which sleeps 100 ms per session.
 */
async function endSessions(c: pg.Client, db: string, where: string, params: unknown[] = []): Promise<void> {
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
async function alone(c: pg.Client, db: string, sql: string): Promise<void> {
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
async function holdWriters(s: Servers, db: string, keep: number[]): Promise<() => Promise<void>> {
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
const REPLICATION_WORKER = "backend_type LIKE 'logical replication %worker'";

/**
 * Pause the subscription and end both ends of it at once: disabled, it is not started again; its
 * slot on rds keeps its place.
 */
async function pauseSubscription(s: Servers, custom: pg.Client, db: string): Promise<void> {
  await enableSubscription(custom, false);
  await onBoth(s, (c) => endSessions(c, db, `(backend_type = 'walsender' OR ${REPLICATION_WORKER})`));
}

/**
 * pg_cron's scheduler is a session of the app database too. pg_cron 1.4 (PostgreSQL 15's, Debian
 * bookworm) never comes back once ended: custom's image carries pgapp_cron to start it again. Checked
 * before anything is ended, so an older image stops the snapshot with nothing changed. pg_cron 1.5 and
 * later (17's 1.6) end with an error, and the postmaster starts them again within a second: starting
 * one here too would run every job twice. Returns what starts it again, if that is needed.
 */
async function cronRestarter(custom: pg.Client): Promise<() => Promise<void>> {
  const { rows } = await custom.query(
    `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher') AS n,
            (SELECT extversion FROM pg_extension WHERE extname = 'pg_cron') AS v`,
  );
  const restartsItself = !/^1\.[0-4](\.|$)/.test(String(rows[0]?.v));
  if (!Number(rows[0]?.n) || restartsItself) return async () => {};
  try {
    await custom.query(
      "CREATE OR REPLACE FUNCTION pg_temp.start_cron() RETURNS int LANGUAGE c AS 'pgapp_cron', 'pgapp_start_cron'",
    );
  } catch (err) {
    throw new PgappError(
      `custom's image cannot restart pg_cron after a snapshot (${errorMessage(err)})`,
      'Nothing was changed. Run `npm run dev` to bring custom onto the current image, then try again.',
    );
  }
  return async () => {
    await custom.query(
      "SELECT pg_temp.start_cron() WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher')",
    );
  };
}

/** Re-open the app database and wait for PostgREST to have its connections back (its first try answers 503). */
async function apiBack(config: Config, signal?: AbortSignal): Promise<void> {
  let last = '';
  await retryUntil(
    async () => {
      try {
        const res = await fetch(apiReadyUrl(config.ports.postgrest), { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return true;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = errorMessage(err);
      }
      return undefined;
    },
    {
      timeoutMs: 15_000,
      intervalMs: 50,
      signal,
      timedOut: () =>
        new PgappError(
          `The API did not answer after the databases were swapped (${last})`,
          'See `pgapp logs postgrest`; `pgapp dev` repairs the stack.',
        ),
    },
  );
}

export interface SavedSnapshot {
  name: string;
  takenAt: string;
  /** A snapshot of that name existed and was replaced. */
  replaced: boolean;
  ms: number;
}

/** Save both databases as snapshot `name` (replacing one of that name only when `replace`). */
export async function saveSnapshot(
  config: Config,
  secrets: Secrets,
  name: string,
  opts: { replace?: boolean; signal?: AbortSignal } = {},
): Promise<SavedSnapshot> {
  checkSnapshotName(name);
  const t0 = performance.now();
  const db = config.project;
  return withServers(config, secrets, async (s) => {
    const existing = await describe(s, name);
    if (existing && !opts.replace)
      throw new PgappError(
        `Snapshot "${name}" already exists (taken ${existing.takenAt})`,
        `Pass --force to replace it, or choose another name (\`pgapp snapshot list\` shows them).`,
      );
    opts.signal?.throwIfAborted();
    const { rds, custom } = await appPair(config, secrets);
    const apps = [rds, custom];
    const meta: Meta = {
      pgapp: 'snapshot',
      project: config.project,
      name,
      takenAt: new Date().toISOString(),
      fingerprint: { rds: await fingerprint(rds), custom: await fingerprint(custom) },
    };
    const sub = await readSubscription(custom);
    const pids = [await backendPid(rds), await backendPid(custom)];
    const startCron = await cronRestarter(s.custom);
    const release = await holdWriters(s, db, pids);
    const building = BUILDING + name;
    try {
      if (sub?.enabled) {
        // Everything rds committed is on custom before either is copied.
        await fenceLag(rds, custom, 10_000);
        await pauseSubscription(s, custom, db);
      }
      for (const c of apps) await c.end();
      await onBoth(s, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${ident(building)}`);
        await alone(c, db, `CREATE DATABASE ${ident(building)} TEMPLATE ${ident(db)}`);
        // Nobody connects to a snapshot: a template in use cannot be copied.
        await c.query(`ALTER DATABASE ${ident(building)} ALLOW_CONNECTIONS false`);
        await c.query(`COMMENT ON DATABASE ${ident(building)} IS ${literal(JSON.stringify(meta))}`);
      });
      // Both copies are whole: only now does the old snapshot of that name go.
      await onBoth(s, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${ident(PREFIX + name)}`);
        await c.query(`ALTER DATABASE ${ident(building)} RENAME TO ${ident(PREFIX + name)}`);
      });
    } catch (err) {
      await onBoth(s, (c) => c.query(`DROP DATABASE IF EXISTS ${ident(building)}`)).catch(() => {});
      throw new PgappError(
        `Snapshot "${name}" was not saved: ${errorMessage(err)}`,
        'Nothing was changed; see `pgapp status`.',
      );
    } finally {
      for (const c of apps) await c.end().catch(() => {});
      await release();
      await startCron();
      if (sub?.enabled) await resume(config, secrets);
    }
    await apiBack(config, opts.signal);
    return {
      name,
      takenAt: meta.takenAt,
      replaced: Boolean(existing),
      ms: Math.round(performance.now() - t0),
    };
  });
}

async function backendPid(c: pg.Client): Promise<number> {
  return Number((await c.query('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
}

async function resume(config: Config, secrets: Secrets): Promise<void> {
  const custom = await appDb('custom', config, secrets);
  try {
    await enableSubscription(custom, true);
  } finally {
    await custom.end();
  }
}

/** Grants and per-database settings live outside a database (in shared catalogs): read them to copy. */
interface Outside {
  /** The database's grants; null when it never had any (the default: PUBLIC may connect). */
  acl: { grantee: string | null; privilege: string; grantable: boolean }[] | null;
  settings: { role: string | null; config: string[] }[];
}

async function outsideOf(c: pg.Client, db: string): Promise<Outside> {
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

async function applyOutside(c: pg.Client, db: string, o: Outside): Promise<void> {
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

export interface RestoredSnapshot {
  name: string;
  takenAt: string;
  /** The replica's subscription was made again (without copying), and a write on rds reached custom. */
  replica: boolean;
  /** Until the stack answers again. */
  ms: number;
  /**
   * The tidying after it: the databases it replaced are dropped (and, with `stageNext`, the next
   * restore's copy made). The stack works meanwhile; await it before the next snapshot call.
   */
  settled: Promise<void>;
}

/** Put both databases back as they were at snapshot `name`; every hop answers when it returns. */
export async function restoreSnapshot(
  config: Config,
  secrets: Secrets,
  name: string,
  opts: {
    signal?: AbortSignal;
    /** After the swap, copy the snapshot again for the next restore (a per-test restore loop). */
    stageNext?: boolean;
    /**
     * Restore even when the schema changed since the snapshot: for a caller that made the changes
     * itself after taking it (`pgapp test`: pgTAP, its helpers, what a test file creates).
     */
    undoSchemaChanges?: boolean;
  } = {},
): Promise<RestoredSnapshot> {
  checkSnapshotName(name);
  const t0 = performance.now();
  const db = config.project;
  return withServers(config, secrets, async (s) => {
    const snap = await describe(s, name);
    if (!snap) {
      const names = await snapshotNames(s.rds);
      throw new PgappError(
        `No snapshot "${name}" in project "${config.project}"`,
        names.length
          ? `Its snapshots: ${names.join(', ')}. Snapshots belong to the project that took them (--project).`
          : `It has none: \`pgapp snapshot save ${name}\` takes one. Snapshots belong to the project that took them (--project).`,
      );
    }
    if (!snap.meta)
      throw new PgappError(
        `Snapshot "${name}" is incomplete (a save was interrupted): it cannot be restored`,
        `Remove it with \`pgapp snapshot rm ${name}\` and save it again.`,
      );
    if (snap.meta.project !== config.project)
      throw new PgappError(
        `Snapshot "${name}" belongs to project "${snap.meta.project}", not "${config.project}"`,
        `Restore it there (--project ${snap.meta.project}).`,
      );
    opts.signal?.throwIfAborted();
    const { rds, custom } = await appPair(config, secrets);
    const now = { rds: await fingerprint(rds), custom: await fingerprint(custom) };
    const differs = TARGETS.filter((t) => now[t] !== snap.meta?.fingerprint[t]);
    if (differs.length && !opts.undoSchemaChanges) {
      await rds.end();
      await custom.end();
      throw new PgappError(
        `Snapshot "${name}" was taken (${snap.takenAt}) before a schema change on ${differs.join(' and ')}: restoring it would undo that change`,
        `Nothing was changed. Take a new snapshot after the change (\`pgapp snapshot save ${name} --force\`), or \`pgapp reset\` to start over.`,
      );
    }
    const sub = await readSubscription(custom);
    const outside = { rds: await outsideOf(s.rds, db), custom: await outsideOf(s.custom, db) };
    const pids = [await backendPid(rds), await backendPid(custom)];
    const startCron = await cronRestarter(s.custom);
    // What to undo, newest first, if a step fails: the stack must come out as it went in.
    const undo: (() => Promise<unknown>)[] = [];
    let replica = false;
    let release = async () => {};
    try {
      // The copies first, while the stack runs on: the slow part costs no one anything. Only their
      // owners get in until the replica is subscribed again; then the databases' own grants.
      // A copy the last restore staged is used when it is of this very snapshot.
      undo.push(() => onBoth(s, (c) => c.query(`DROP DATABASE IF EXISTS ${ident(NEXT + db)}`)));
      await onBoth(s, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${ident(ASIDE + db)}`);
        const staged = (await metaOf(c, NEXT + db))?.meta;
        if (staged?.name !== name || staged.takenAt !== snap.takenAt)
          await stageCopy(c, db, snap.meta as Meta);
      });
      // From here to release() the app database takes no one (PostgREST answers 503 meanwhile).
      release = await holdWriters(s, db, pids);
      if (sub) {
        if (sub.enabled) {
          // Caught up first: if the restore fails, the pair is put back as one moment.
          await fenceLag(rds, custom, 10_000);
          await pauseSubscription(s, custom, db);
        }
        await dropSubscription(custom, true);
        undo.push(async () => {
          await createSlot(config, secrets, sub);
          await subscribeAgain(config, secrets, sub);
        });
        await s.rds.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
          [sub.slot ?? slotName(config, secrets)],
        );
      }
      await rds.end();
      await custom.end();
      // The current databases aside, the copies in their place: renames, instant.
      for (const t of TARGETS) {
        await alone(s[t], db, `ALTER DATABASE ${ident(db)} RENAME TO ${ident(ASIDE + db)}`);
        undo.push(async () => {
          await s[t].query(`DROP DATABASE IF EXISTS ${ident(db)}`);
          await s[t].query(`ALTER DATABASE ${ident(ASIDE + db)} RENAME TO ${ident(db)}`);
          await s[t].query(`ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS true`);
        });
        await s[t].query(`ALTER DATABASE ${ident(NEXT + db)} RENAME TO ${ident(db)}`);
        await s[t].query(`ALTER DATABASE ${ident(db)} ALLOW_CONNECTIONS true`);
        await s[t].query(`COMMENT ON DATABASE ${ident(db)} IS NULL`);
      }
      // The slot before anyone but the owners gets in: every write from then on reaches the replica.
      if (sub) await createSlot(config, secrets, sub);
      await onBoth(s, (c, t) => applyOutside(c, db, outside[t]));
      if (sub) {
        await subscribeAgain(config, secrets, sub);
        replica = sub.enabled;
      }
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => {});
      throw new PgappError(
        `Snapshot "${name}" was not restored: ${errorMessage(err)}`,
        'The databases were put back as they were; `pgapp dev` checks every hop.',
      );
    } finally {
      await rds.end().catch(() => {});
      await custom.end().catch(() => {});
      await release();
      await startCron();
    }
    await Promise.all([
      // Proof the replica streams again: a write on rds reaches custom.
      replica ? measureReplicaLag(config, secrets, 15_000) : undefined,
      apiBack(config, opts.signal),
    ]);
    const ms = Math.round(performance.now() - t0);
    const meta = snap.meta;
    const settled = withServers(config, secrets, (s2) =>
      onBoth(s2, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${ident(ASIDE + db)}`);
        if (opts.stageNext && meta) await stageCopy(c, db, meta);
      }),
    );
    return { name, takenAt: snap.takenAt, replica, ms, settled };
  });
}

/**
 * A copy of a snapshot beside the app database, for a restore to rename into place. Only its owner
 * gets in until the restore has subscribed the replica again; then the database's own grants.
 */
async function stageCopy(c: pg.Client, db: string, meta: Meta): Promise<void> {
  await c.query(`DROP DATABASE IF EXISTS ${ident(NEXT + db)}`);
  await c.query(`CREATE DATABASE ${ident(NEXT + db)} TEMPLATE ${ident(PREFIX + meta.name)}`);
  await c.query(`REVOKE ALL ON DATABASE ${ident(NEXT + db)} FROM PUBLIC`);
  await c.query(`ALTER DATABASE ${ident(NEXT + db)} ALLOW_CONNECTIONS false`);
  await c.query(`COMMENT ON DATABASE ${ident(NEXT + db)} IS ${literal(JSON.stringify(meta))}`);
}

/** The subscription's slot on rds, made as rds's master user in the (restored) database. */
async function createSlot(config: Config, secrets: Secrets, sub: Subscription): Promise<void> {
  const rds = await appDb('rds', config, secrets);
  try {
    await rds.query(
      `SELECT pg_create_logical_replication_slot($1, 'pgoutput')
       WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [sub.slot ?? slotName(config, secrets)],
    );
  } finally {
    await rds.end();
  }
}

/** The subscription again, on that slot, copying nothing: custom's replica came back equal to rds. */
async function subscribeAgain(config: Config, secrets: Secrets, sub: Subscription): Promise<void> {
  const custom = await appDb('custom', config, secrets);
  try {
    // The snapshot's copy still lists the tables of the subscription it was taken under.
    await custom.query(
      'DELETE FROM pg_subscription_rel WHERE srsubid NOT IN (SELECT oid FROM pg_subscription)',
    );
    await createSubscription(
      custom,
      subscriptionConninfo(config, secrets),
      sub.slot ?? slotName(config, secrets),
      {
        enabled: sub.enabled,
        copy: false,
      },
    );
  } finally {
    await custom.end();
  }
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
