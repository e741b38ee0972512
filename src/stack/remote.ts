/**
 * What pgapp keeps on a real rds (--rds-url), and taking it away again: schema pgapp_bridge (the
 * catalog view, prepare(), the read-your-writes fence), schema pgapp_ledger (which of pgapp's files
 * ran there) and publication pgapp (reads: replica). The replication slot is the stack's own and
 * goes with it (stack/replica.ts dropReplica). Nothing else: the user's schemas and data stay.
 */
import type { Config, RemoteRds } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, remoteConnectionConfig, withClient } from '../db/connect.ts';
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

/**
 * The schemas of a real rds that hold tables of their own, with how many: what `dev` offers to mirror
 * when it asks (on a terminal, "schemas" unset). The list shown; which are mirrored is settled on rds
 * by pgapp_bridge.resolve_schemas (sql/rds-bridge/010_bridge.sql), from the answer.
 */
export async function remoteSchemas(
  project: string,
  remote: RemoteRds,
): Promise<{ name: string; tables: number }[]> {
  return withClient(
    remoteConnectionConfig(project, remote),
    async (db) =>
      (
        await db.query<{ name: string; tables: number }>(
          `SELECT n.nspname AS name, count(*)::int AS tables
           FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
           WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'pgapp_bridge', 'pgapp_ledger')
             AND has_schema_privilege(n.oid, 'USAGE')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
           GROUP BY n.nspname ORDER BY n.nspname`,
        )
      ).rows,
    undefined,
    5_000,
  );
}
