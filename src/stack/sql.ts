/** The SQL phases of a stack: which directory runs where, with which settings. */
import { join } from 'node:path';
import { type Config, SEED_SIZES } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, type Target, withClient } from '../db/connect.ts';
import { type ApplyResult, applySqlFiles, readSqlDir } from '../db/ledger.ts';
import { SQL_DIR } from '../paths.ts';
import { BRIDGE_USER, PG_PORT } from './spec.ts';

export type Phase = 'seed' | 'bridge' | 'api' | 'app';

export const PHASES: Record<Phase, { target: Target; dir: string }> = {
  seed: { target: 'rds', dir: 'rds' },
  bridge: { target: 'custom', dir: 'custom/bridge' },
  api: { target: 'custom', dir: 'custom/api' },
  app: { target: 'custom', dir: 'custom/app' },
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
  const { target, dir } = PHASES[phase];
  const files = readSqlDir(join(SQL_DIR, dir));
  return withClient(
    connectionConfig(target, config, secrets),
    async (client) => {
      const result = await applySqlFiles(client, files, sqlSettings(settingsParams(config), secrets), onFile);
      // PostgREST caches the schema: tell it whenever the api may have changed.
      if ((phase === 'bridge' || phase === 'api') && result.applied.length > 0)
        await client.query(`NOTIFY pgrst, 'reload schema'`);
      return result;
    },
    signal,
  );
}
