/** `pgapp jobs`: pg_cron's jobs on custom and their last run. */
import { connectionConfig, withClient } from '../db/connect.ts';
import { checkEngine } from '../docker/engine.ts';
import { type GlobalOptions, liveConfig, requireSecrets } from './common.ts';

export interface JobRow {
  jobname: string;
  schedule: string;
  active: boolean;
  last_status: string | null;
  last_start: Date | null;
  last_message: string | null;
  failures: number;
}

/** pg_cron's jobs and their last run, commands and output included. */
export async function jobs(opts: GlobalOptions): Promise<JobRow[]> {
  await checkEngine();
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  return withClient(connectionConfig('custom', config, secrets), async (c) => {
    const { rows } = await c.query<JobRow>(
      'SELECT jobname, schedule, active, last_status, last_start, last_message, failures FROM pgapp_private.jobs ORDER BY jobname',
    );
    return rows;
  });
}
