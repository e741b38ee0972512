/** The SQL phases of a stack: which directory runs where, with which settings. */
import { join } from 'node:path';
import { type Config, type ReadsMode, type RemoteRds, SEED_SIZES } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { rdsRootCert } from '../config/tls.ts';
import { connectionConfig, type Target, withClient } from '../db/connect.ts';
import { type ApplyResult, applySqlFiles, readSqlDir } from '../db/ledger.ts';
import { SQL_DIR, workDir } from '../paths.ts';
import { BRIDGE_USER, PG_PORT, REPLICATOR_USER } from '../spec/stack.ts';

export type Phase = 'seed' | 'bridge' | 'api' | 'app';

/**
 * Each phase's directories, in order. `*\/local` holds the user's own SQL: read from the working
 * directory (PGAPP_HOME), applied after the built-in files of the same server, same ledger.
 */
export interface PhaseDir {
  dir: string;
  /** The user's own SQL, read from the working directory. */
  local?: boolean;
  /** Seeding: on a real remote (--rds-url) only with --seed-remote. */
  seed?: boolean;
  /** The stand-in only, never a real remote (it creates the bridge role). */
  standin?: boolean;
  /** Only when the API reads from the local replica (reads: replica). */
  replica?: boolean;
}

export const PHASES: Record<Phase, { target: Target; dirs: PhaseDir[] }> = {
  seed: {
    target: 'rds',
    dirs: [
      { dir: 'rds', seed: true },
      { dir: 'rds-standin', standin: true },
      { dir: 'rds/local', local: true, seed: true },
      { dir: 'rds-bridge' },
      { dir: 'rds-replica', replica: true },
    ],
  },
  bridge: { target: 'custom', dirs: [{ dir: 'custom/bridge' }] },
  api: { target: 'custom', dirs: [{ dir: 'custom/api' }] },
  app: { target: 'custom', dirs: [{ dir: 'custom/app' }, { dir: 'custom/local', local: true }] },
};

/** What the SQL settings are made from: a Config, or compose.yaml's placeholders. */
export interface SettingsParams {
  project: string;
  seedContacts: number | string;
  cronJobs: boolean | string;
  reads: ReadsMode | string;
  remote?: RemoteRds;
}

export const settingsParams = (config: Config): SettingsParams => ({
  project: config.project,
  seedContacts: SEED_SIZES[config.seed],
  cronJobs: config.cronJobs,
  reads: config.reads,
  remote: config.remote,
});

/** Which of a phase's directories run for this stack. */
export function phaseDirs(phase: Phase, remote: RemoteRds | undefined, reads: ReadsMode): PhaseDir[] {
  return PHASES[phase].dirs.filter(
    (d) => (!d.replica || reads === 'replica') && (!remote || (!d.standin && (!d.seed || remote.seed))),
  );
}

/** Values the SQL files read as current_setting('pgapp.<name>'). */
export function sqlSettings(config: SettingsParams, secrets: Secrets): Record<string, string> {
  return {
    seed_contacts: String(config.seedContacts),
    // A real remote: its URL's user is the bridge user (pgapp creates no role there).
    bridge_user: config.remote?.user ?? BRIDGE_USER,
    bridge_password: config.remote?.password ?? secrets.bridgePassword,
    // Inside the project network, the stand-in is reached by its service name.
    rds_host: config.remote?.host ?? 'rds',
    rds_port: String(config.remote?.port ?? PG_PORT),
    rds_dbname: config.remote?.database ?? config.project,
    // Verified as clients verify RDS: the project's CA, or --rds-url's sslrootcert (copied beside it).
    rds_sslmode: config.remote?.sslmode ?? 'verify-full',
    rds_sslrootcert: rdsRootCert(config.remote) ?? 'none',
    authenticator_password: secrets.authenticatorPassword,
    cron_jobs: String(config.cronJobs),
    reads: String(config.reads),
    // Who custom's subscription logs in as: on a real remote, the URL's user (it needs rds_replication).
    replicator_user: config.remote?.user ?? REPLICATOR_USER,
    replicator_password: config.remote?.password ?? secrets.replicatorPassword,
  };
}

export async function applyPhase(
  phase: Phase,
  config: Config,
  secrets: Secrets,
  onFile?: (name: string, state: 'applying' | 'skipped' | 'changed') => void | Promise<void>,
  signal?: AbortSignal,
): Promise<ApplyResult> {
  const { target } = PHASES[phase];
  const files = phaseDirs(phase, config.remote, config.reads).flatMap((d) =>
    readSqlDir(d.local ? join(workDir(), 'sql') : SQL_DIR, d.dir),
  );
  return withClient(
    connectionConfig(target, config, secrets),
    async (client) => {
      const result = await applySqlFiles(client, files, sqlSettings(settingsParams(config), secrets), onFile);
      // PostgREST caches the schema: tell it whenever anything on custom (api, RPC, …) changed.
      if (target === 'custom' && result.applied.length > 0)
        await client.query(`NOTIFY pgrst, 'reload schema'`);
      return result;
    },
    signal,
  );
}
