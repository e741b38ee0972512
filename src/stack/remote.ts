/**
 * What pgapp keeps on a real rds (--rds-url), and taking it away again: schema pgapp_bridge (the
 * catalog view, prepare(), the read-your-writes fence), schema pgapp_ledger (which of pgapp's files
 * ran there) and publication pgapp (reads: replica). The replication slot is the stack's own and
 * goes with it (stack/replica.ts dropReplica). Nothing else: the user's schemas and data stay.
 */
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { PgappError } from '../errors.ts';
import { PUBLICATION } from '../spec/stack.ts';

export const REMOTE_OBJECTS = [`publication ${PUBLICATION}`, 'schema pgapp_bridge', 'schema pgapp_ledger'];

/** Drop them (those that are there): what was dropped. */
export async function dropRemoteObjects(config: Config, secrets: Secrets): Promise<string[]> {
  if (!config.remote)
    throw new PgappError(`"${config.project}" has no --rds-url: there is no remote rds to tidy`);
  return withClient(connectionConfig('rds', config, secrets), async (db) => {
    const here = (
      await db.query<{ what: string }>(
        `SELECT 'publication ' || pubname AS what FROM pg_publication WHERE pubname = $1
         UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname IN ('pgapp_bridge', 'pgapp_ledger')`,
        [PUBLICATION],
      )
    ).rows.map((r) => r.what);
    await db.query('BEGIN');
    await db.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
    await db.query('DROP SCHEMA IF EXISTS pgapp_bridge, pgapp_ledger CASCADE');
    await db.query('COMMIT');
    return REMOTE_OBJECTS.filter((o) => here.includes(o));
  });
}
