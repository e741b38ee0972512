/**
 * The SQL phases of a stack: which directory runs where, with which settings, and the steps every
 * run calls after a phase's files (the functions that build custom from rds's catalog).
 */
import type pg from 'pg';
import {
  anyReplica,
  type Config,
  ownsRdsRoles,
  type ReadsMode,
  type RemoteRds,
  SEED_SIZES,
  type TableSettings,
} from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { rdsRootCert } from '../config/tls.ts';
import { connectionConfig, type Target, withClient } from '../db/connect.ts';
import { type ApplyResult, applySqlFiles, readSqlDir, sqlFileError } from '../db/ledger.ts';
import { extensionsCreatedIn, type ImageNeeds } from '../docker/extensions.ts';
import { PgappError } from '../errors.ts';
import { PACKAGE_ROOT, projectSqlRoot, SQL_DIR, workDir } from '../paths.ts';
import { BRIDGE_USER, PG_PORT, REPLICATOR_USER } from '../spec/stack.ts';

export type Phase = 'seed' | 'bridge' | 'api' | 'app';

/**
 * A phase's directory, applied in order through the ledger. pgapp's own are under its sql/; the
 * project's (`project`) under the directory holding db/ (paths.projectSqlRoot: yours, or the example).
 */
export interface PhaseDir {
  dir: string;
  /** The project's own SQL (db/…), not pgapp's. */
  project?: boolean;
  /** On a real remote (--rds-url) only with --seed-remote: the project's migrations and seed. */
  seed?: boolean;
  /** Where pgapp makes rds's roles (the stand-in, an rds it deployed), never on someone's rds. */
  ownRoles?: boolean;
}

export const PHASES: Record<Phase, { target: Target; dirs: PhaseDir[]; steps: string[] }> = {
  seed: {
    target: 'rds',
    dirs: [
      { dir: 'rds-standin', ownRoles: true },
      { dir: 'db/rds/migrations', project: true, seed: true },
      { dir: 'db/rds/seed', project: true, seed: true },
      { dir: 'rds-bridge' },
    ],
    // Which schemas are mirrored, the stand-in's grants, and publication pgapp (sql/rds-bridge).
    steps: ['pgapp_bridge.prepare'],
  },
  bridge: {
    target: 'custom',
    dirs: [{ dir: 'custom/bridge' }],
    // rds's catalog read; its types, its tables as foreign tables, then each as a table on custom
    // (the replica's, or an fdw one over its foreign table) with rds's keys (sql/custom/bridge).
    steps: [
      'pgapp_private.sync_types',
      'pgapp_private.sync_foreign_tables',
      'pgapp_private.sync_tables',
      'pgapp_private.sync_views',
      'pgapp_private.sync_functions',
    ],
  },
  api: {
    target: 'custom',
    dirs: [{ dir: 'custom/api' }],
    // What each table serves: access, write triggers, embed names, profiles (sql/custom/api/050_api.sql).
    steps: ['pgapp_private.sync_api'],
  },
  app: {
    target: 'custom',
    dirs: [{ dir: 'custom/app' }, { dir: 'db/custom', project: true }],
    // Again after the project's own SQL, which may have replaced a generated view (then it is theirs)
    // or dropped what pgapp made on top of one. Nothing changed: a hash compared.
    steps: ['pgapp_private.sync_api'],
  },
};

/** What the SQL settings are made from: a Config, or compose.yaml's placeholders. */
export interface SettingsParams {
  project: string;
  seed: string;
  seedRows: number | string;
  cronJobs: boolean | string;
  reads: ReadsMode | string;
  /** Bytes: a larger table's first copy to the replica waits for a yes. */
  copyLimit: number | string;
  /** Comma-separated, or '*' for every schema of rds that holds tables. */
  schemas: string;
  access: string;
  ownerColumn: string;
  tables: Record<string, TableSettings> | string;
  remote?: RemoteRds;
}

export const settingsParams = (config: Config): SettingsParams => ({
  project: config.project,
  seed: config.seed,
  seedRows: SEED_SIZES[config.seed],
  cronJobs: config.cronJobs,
  reads: config.reads,
  copyLimit: config.copyLimit,
  schemas: config.schemas?.join(',') ?? '*',
  access: config.access,
  ownerColumn: config.ownerColumn,
  tables: config.tables,
  remote: config.remote,
});

/** Which of a phase's directories run for this stack. */
export function phaseDirs(phase: Phase, remote: RemoteRds | undefined): PhaseDir[] {
  return PHASES[phase].dirs.filter(
    (d) => !remote || ((!d.ownRoles || ownsRdsRoles(remote)) && (!d.seed || remote.seed)),
  );
}

/** Values the SQL files and steps read as current_setting('pgapp.<name>'). */
export function sqlSettings(config: SettingsParams, secrets: Secrets): Record<string, string> {
  return {
    seed: config.seed,
    seed_rows: String(config.seedRows),
    // Someone's rds (--rds-url): its URL's user is the bridge user (pgapp creates no role there).
    bridge_user: rdsLogins(config.remote, secrets).bridge.user,
    bridge_password: rdsLogins(config.remote, secrets).bridge.password,
    // Inside the project network, the stand-in is reached by its service name.
    rds_host: config.remote?.host ?? 'rds',
    rds_port: String(config.remote?.port ?? PG_PORT),
    rds_dbname: config.remote?.database ?? config.project,
    // Verified as clients verify RDS: the project's CA, or --rds-url's sslrootcert (copied beside it).
    rds_sslmode: config.remote?.sslmode ?? 'verify-full',
    rds_sslrootcert: rdsRootCert(config.remote) ?? 'none',
    own_roles: String(ownsRdsRoles(config.remote)),
    authenticator_password: secrets.authenticatorPassword,
    cron_jobs: String(config.cronJobs),
    // The default mode; "tables" may read some tables elsewhere. `replica`: whether any table reads
    // the replica (compose's placeholders: never, its tables say nothing of reads).
    reads: String(config.reads),
    replica: String(
      typeof config.tables === 'string'
        ? config.reads === 'replica'
        : anyReplica({ reads: config.reads as ReadsMode, tables: config.tables }),
    ),
    copy_limit: String(config.copyLimit),
    schemas: config.schemas,
    access: config.access,
    owner_column: config.ownerColumn,
    tables: typeof config.tables === 'string' ? config.tables : JSON.stringify(config.tables),
    // Who custom's subscription logs in as: on someone's rds, the URL's user (it needs rds_replication).
    replicator_user: rdsLogins(config.remote, secrets).replicator.user,
    replicator_password: rdsLogins(config.remote, secrets).replicator.password,
  };
}

/**
 * Who custom logs in to rds as: pgapp's own least-privileged roles where it makes them (the
 * stand-in, an rds it deployed), the URL's user on someone else's.
 */
export function rdsLogins(
  remote: RemoteRds | undefined,
  secrets: Pick<Secrets, 'bridgePassword' | 'replicatorPassword'>,
): Record<'bridge' | 'replicator', { user: string; password: string }> {
  if (remote && !ownsRdsRoles(remote)) {
    const login = { user: remote.user, password: remote.password };
    return { bridge: login, replicator: login };
  }
  return {
    bridge: { user: BRIDGE_USER, password: secrets.bridgePassword },
    replicator: { user: REPLICATOR_USER, password: secrets.replicatorPassword },
  };
}

/**
 * SQL in the folders an earlier pgapp read a project's own SQL from (sql/rds/local, sql/custom/local):
 * never silently left out — `dev` stops and says where it goes now.
 */
export function refuseEarlierFolders(): void {
  if (workDir() === PACKAGE_ROOT) return;
  const moves = [
    ['sql/rds/local', 'db/rds/migrations'],
    ['sql/custom/local', 'db/custom'],
  ].filter(([from]) => readSqlDir(workDir(), from as string).length > 0);
  if (moves.length === 0) return;
  throw new PgappError(
    `${moves.map(([from]) => `${from}/`).join(' and ')} hold SQL, but pgapp now reads a project's SQL from db/`,
    [
      'Move it (the files run in name order, once each, as before):',
      ...moves.map(([from, to]) => `  mkdir -p ${to} && git mv ${from}/*.sql ${to}/`),
      'A seed (data for the stand-in only, run again by `pgapp reset`) goes to db/rds/seed. `pgapp init` makes the folders.',
    ].join('\n'),
  );
}

/**
 * The files of a phase, in order, named in the ledger by their path (db/… for the project's own).
 * The example's app layer (its db/custom) reads the example's own tables: over a real rds it did not
 * seed (--rds-url without --seed-remote) they are not there, so it is left out with them.
 */
export function phaseFiles(phase: Phase, remote: RemoteRds | undefined) {
  const { root, example } = projectSqlRoot();
  return phaseDirs(phase, remote)
    .filter((d) => !(d.project && example && remote && !remote.seed))
    .flatMap((d) => readSqlDir(d.project ? root : SQL_DIR, d.dir));
}

/**
 * The extensions the project needs in its images: "extensions" in pgapp.config.json, and those its
 * rds SQL creates (CREATE EXTENSION in db/rds): a schema that says what it needs gets it.
 */
function projectExtensions(config: Config): string[] {
  const created = phaseFiles('seed', undefined)
    .filter((f) => f.name.startsWith('db/'))
    .flatMap((f) => extensionsCreatedIn(f.sql));
  return [...new Set([...config.extensions, ...created])].sort();
}

/** What the project asks of its images: its schema's extensions (said, or created in db/rds) and custom's own. */
export function imageNeeds(config: Config): ImageNeeds {
  return { extensions: projectExtensions(config), custom: config.custom };
}

export interface PhaseResult extends ApplyResult {
  /** What each step returned, by its function's name. */
  steps: Record<string, unknown>;
}

/**
 * Entries an earlier pgapp wrote in the ledger, before it read a project's SQL from db/: it applied
 * its demo's schema as rds/…, a user's SQL from sql/*\/local, and imported rds's tables by hand. Their
 * objects are in the way of this layout's (same schema, other ledger names), so such a stack is
 * started over rather than half-upgraded.
 */
const EARLIER_LAYOUT: Record<Target, string> = {
  rds: `file ~ '^rds/'`,
  custom: `file IN ('custom/bridge/030_import.sql', 'custom/api/020_api.sql') OR file ~ '^custom/local/'`,
};

async function refuseEarlierLayout(client: pg.ClientBase, target: Target, config: Config): Promise<void> {
  const ledger = await client.query(`SELECT to_regclass('pgapp_ledger.applied') IS NOT NULL AS here`);
  if (!ledger.rows[0]?.here) return;
  const r = await client.query<{ files: string[] | null }>(
    `SELECT array_agg(file ORDER BY file) AS files FROM pgapp_ledger.applied WHERE ${EARLIER_LAYOUT[target]}`,
  );
  const files = r.rows[0]?.files;
  if (!files?.length) return;
  throw new PgappError(
    `${target} of "${config.project}" was set up by an earlier pgapp (its ledger holds ${files.slice(0, 3).join(', ')}${files.length > 3 ? ', …' : ''})`,
    [
      "pgapp now builds custom and the API from rds's own catalog and reads your SQL from db/ (db/rds/migrations, db/rds/seed, db/custom).",
      'Start the stack over — nothing of it is upgraded in place, so nothing is left half-changed:',
      `  pgapp reset --project ${config.project}   (deletes its data; add --snapshot NAME to keep a copy)`,
      '  then `pgapp dev`. SQL you kept in sql/rds/local goes to db/rds/migrations, sql/custom/local to db/custom.',
      ...(config.remote
        ? [
            `With --rds-url, reset removes custom and the replication slot only; your database keeps its data. If it holds rows named ${files[0]} in pgapp_ledger.applied, those were pgapp's demo: delete them (or the schema pgapp_ledger) there.`,
          ]
        : []),
    ].join('\n'),
  );
}

/** A step: SELECT <fn>() with the settings set, in a transaction of its own; its JSON result. */
async function runStep(
  client: pg.ClientBase,
  fn: string,
  settings: Record<string, string>,
): Promise<unknown> {
  await client.query('BEGIN');
  try {
    const names = Object.keys(settings);
    await client.query(
      `SELECT ${names.map((_, i) => `set_config('pgapp.' || $${2 * i + 1}::text, $${2 * i + 2}::text, true)`).join(', ')}`,
      names.flatMap((k) => [k, settings[k]]),
    );
    const r = await client.query<{ r: unknown }>(`SELECT ${fn}() AS r`);
    await client.query('COMMIT');
    return r.rows[0]?.r;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    if (err instanceof PgappError) throw err;
    const e = sqlFileError({ name: `${fn}()`, sql: '' }, err as Error);
    const own = (err as { hint?: string }).hint;
    throw own
      ? e
      : new PgappError(
          e.message,
          'Nothing of this step was changed (it runs in one transaction); see the message for what stopped it.',
          e.details,
        );
  }
}

export async function applyPhase(
  phase: Phase,
  config: Config,
  secrets: Secrets,
  onFile?: (name: string, state: 'applying' | 'skipped' | 'changed') => void | Promise<void>,
  signal?: AbortSignal,
): Promise<PhaseResult> {
  const { target, steps } = PHASES[phase];
  const files = phaseFiles(phase, config.remote);
  const settings = sqlSettings(settingsParams(config), secrets);
  return withClient(
    connectionConfig(target, config, secrets),
    async (client) => {
      if (phase === 'seed' || phase === 'bridge') await refuseEarlierLayout(client, target, config);
      const result = await applySqlFiles(client, files, settings, onFile);
      const out: PhaseResult = { ...result, steps: {} };
      for (const fn of steps) {
        await onFile?.(`${fn}()`, 'applying');
        out.steps[fn] = await runStep(client, fn, settings);
      }
      // PostgREST caches the schema: tell it whenever anything on custom (api, RPC, …) changed.
      if (target === 'custom' && result.applied.length > 0)
        await client.query(`NOTIFY pgrst, 'reload schema'`);
      return out;
    },
    signal,
  );
}
