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
 *
 * This file is the choreography with the rest of the stack (the subscription, pg_cron, PostgREST);
 * the snapshot databases themselves, and the moves made on them, are snapshot-store.ts.
 */
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { apiReadyUrl } from '../spec/stack.ts';
import { readDefaultProfile } from './api.ts';
import { fenceLag, measureReplicaLag } from './replica.ts';
import {
  ASIDE,
  alone,
  appDb,
  applyOutside,
  appPair,
  BUILDING,
  checkSnapshotName,
  describe,
  endSessions,
  fingerprint,
  holdWriters,
  ident,
  literal,
  type Meta,
  metaOf,
  NEXT,
  onBoth,
  outsideOf,
  PREFIX,
  REPLICATION_WORKER,
  type Servers,
  snapshotNames,
  stageCopy,
  TARGETS,
  withServers,
} from './snapshot-store.ts';
import {
  createSubscription,
  dropSubscription,
  enableSubscription,
  readSubscription,
  type Subscription,
  slotName,
  subscriptionConninfo,
} from './subscription.ts';

export {
  checkSnapshotName,
  listSnapshots,
  removeSnapshot,
  type SnapshotInfo,
  type SnapshotRow,
} from './snapshot-store.ts';

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

/**
 * Wait for PostgREST to have its connections back (its first try answers 503) and the schemas it
 * should serve. PostgREST v12 re-reads its in-database config (the authenticator's
 * pgrst.db_schemas) when it reconnects; a read that meets the held database fails, and it carries on
 * with its own default (`public`) and 404s every table. So the default profile is asked for by name,
 * and while PostgREST refuses it (406) it is told to read its config and schema cache again.
 */
async function apiBack(config: Config, secrets: Secrets, signal?: AbortSignal): Promise<void> {
  const custom = await appDb('custom', config, secrets);
  let last = '';
  let told = 0;
  try {
    const first = await readDefaultProfile(custom);
    const headers: Record<string, string> = first ? { 'Accept-Profile': first } : {};
    await retryUntil(
      async () => {
        try {
          const res = await fetch(apiReadyUrl(config.ports.postgrest), {
            headers,
            signal: AbortSignal.timeout(2000),
          });
          await res.arrayBuffer();
          if (res.ok) return true;
          last = `HTTP ${res.status}`;
          if (res.status === 406 && Date.now() - told > 1000) {
            told = Date.now(); // once a second: each reload takes PostgREST a moment
            await custom.query(`NOTIFY pgrst, 'reload config'; NOTIFY pgrst, 'reload schema'`);
          }
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
  } finally {
    await custom.end().catch(() => {});
  }
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
    await apiBack(config, secrets, opts.signal);
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
      apiBack(config, secrets, opts.signal),
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
