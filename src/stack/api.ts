/**
 * What the api became: per bridged table, its endpoint, access, where it reads and what a client may
 * write — as pgapp_private.sync_api() recorded it (sql/custom/api/050_api.sql). `dev`'s summary,
 * `status` and `verify` read it here.
 */
import type pg from 'pg';
import type { Access, Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';

export interface ApiTable {
  /** The rds table, `schema.table`. */
  rel: string;
  /** Its endpoint (`/<apiName>`); null when not published. */
  apiName: string | null;
  access: Access;
  /** Where its view reads: the local replica, or rds through postgres_fdw. */
  reads: 'replica' | 'fdw' | null;
  key: string[];
  /** The columns a client may write; empty: read-only. */
  writable: string[];
  /** Its to-one relationships (`select=*,<name>(*)`). */
  embeds: string[];
  /** Why it is read-only, not published, or left to you. */
  note: string | null;
  /** Whether pgapp made its endpoint (false: api.<apiName> is the project's own view). */
  made: boolean;
  /** Column sets no two rows share: its primary key, unique constraints and indexes. */
  uniques: string[][];
  /** Columns with a default custom evaluates (a client may leave them out). */
  defaults: string[];
}

/** The api's tables, on an open connection to custom (empty before the first `dev`). */
export async function readApiTables(db: pg.ClientBase): Promise<ApiTable[]> {
  const r = await db
    .query<ApiTable>(
      `SELECT rel, api_name AS "apiName", access, reads, coalesce(key, '{}') AS key, writable, embeds, note, made, uniques, defaults
     FROM pgapp_private.api_tables WHERE to_regclass('pgapp_private.api_tables') IS NOT NULL ORDER BY rel`,
    )
    .catch((err: { code?: string }) => {
      if (err.code === '42P01' || err.code === '3F000') return { rows: [] as ApiTable[] };
      throw err;
    });
  return r.rows;
}

export async function apiTables(config: Config, secrets: Secrets, signal?: AbortSignal): Promise<ApiTable[]> {
  return withClient(connectionConfig('custom', config, secrets), readApiTables, signal);
}
