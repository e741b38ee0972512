/** The SQL phases of a stack: which directory runs where, with which settings. */
import { join } from 'node:path';
import { type Config, SEED_SIZES } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, type Target, withClient } from '../db/connect.ts';
import { type ApplyResult, applySqlFiles, readSqlDir } from '../db/ledger.ts';
import { SQL_DIR, workDir } from '../paths.ts';
import { BRIDGE_USER, PG_PORT } from './spec.ts';

export type Phase = 'seed' | 'bridge' | 'api' | 'app';

/**
 * Each phase's directories, in order. `*\/local` holds the user's own SQL: read from the working
 * directory (PGAPP_HOME), applied after the built-in files of the same server, same ledger.
 */
export const PHASES: Record<Phase, { target: Target; dirs: { dir: string; local?: boolean }[] }> = {
  seed: { target: 'rds', dirs: [{ dir: 'rds' }, { dir: 'rds/local', local: true }] },
  bridge: { target: 'custom', dirs: [{ dir: 'custom/bridge' }] },
  api: { target: 'custom', dirs: [{ dir: 'custom/api' }] },
  app: { target: 'custom', dirs: [{ dir: 'custom/app' }, { dir: 'custom/local', local: true }] },
};

/** What the SQL settings are made from: a Config, or compose.yaml's placeholders. */
export interface SettingsParams {
  project: string;
  seedContacts: number | string;
  cronJobs: boolean | string;
}

export const settingsParams = (config: Config): SettingsParams => ({
  project: config.project,
  seedContacts: SEED_SIZES[config.seed],
  cronJobs: config.cronJobs,
});

/** Values the SQL files read as current_setting('pgapp.<name>'). */
export function sqlSettings(config: SettingsParams, secrets: Secrets): Record<string, string> {
  return {
    seed_contacts: String(config.seedContacts),
    bridge_user: BRIDGE_USER,
    bridge_password: secrets.bridgePassword,
    // Inside the project network, rds is reached by its service name.
    rds_host: 'rds',
    rds_port: String(PG_PORT),
    rds_dbname: config.project,
    authenticator_password: secrets.authenticatorPassword,
    cron_jobs: String(config.cronJobs),
  };
}

export async function applyPhase(
  phase: Phase,
  config: Config,
  secrets: Secrets,
  onFile?: (name: string, state: 'applying' | 'skipped' | 'changed') => void,
  signal?: AbortSignal,
): Promise<ApplyResult> {
  const { target, dirs } = PHASES[phase];
  const files = dirs.flatMap((d) => readSqlDir(d.local ? join(workDir(), 'sql') : SQL_DIR, d.dir));
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
