/**
 * What the API serves: per bridged table, its endpoint (its own name, in its schema's profile), access,
 * where it reads and what a client may write — as pgapp_private.sync_api() recorded it
 * (sql/custom/api/050_api.sql). `dev`'s summary, `status` and `verify` read it here.
 */
import type pg from 'pg';
import type { Access, Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';

export interface ApiTable {
  /** The rds table or view, `schema.name`. */
  rel: string;
  /** What it is on rds. */
  kind: 'table' | 'view' | 'materialized view';
  /** Its endpoint (`/<apiName>`, the table's name); null when served to nobody ("access": "none"). */
  apiName: string | null;
  /** Its profile: rds's schema (`Accept-Profile`/`Content-Profile`; the first schema needs none). */
  profile: string;
  /** Whether its profile is the default one (the first of the mirrored schemas). */
  defaultProfile: boolean;
  access: Access;
  /**
   * Where its rows are read: the local replica, or rds through postgres_fdw (a view made on custom
   * reads what its tables read); 'rds': rds's own view, read as it is through postgres_fdw.
   */
  reads: 'replica' | 'fdw' | 'rds' | null;
  /** Its size on rds when `dev` last read the catalog (the rows are the planner's estimate). */
  size: { rows: number | null; bytes: number | null } | null;
  /** Its last copy to the replica: size on rds then, and seconds it took. */
  copy: { rows: number | null; bytes: number | null; seconds: number | null } | null;
  key: string[];
  /** The columns a client may write; empty: read-only. */
  writable: string[];
  /** The columns rds fills when a write leaves them out (identity, serial, the clock, its functions). */
  assigned: string[];
  /** Its to-one relationships, each by a name PostgREST embeds it by (`select=*,<name>(*)`). */
  embeds: string[];
  /** Why it is read-only or not served. */
  note: string | null;
  /** Column sets no two rows share: its primary key, unique constraints and indexes. */
  uniques: string[][];
  /** Columns with a default custom evaluates (a client may leave them out). */
  defaults: string[];
}

/** The api's tables, on an open connection to custom (empty before the first `dev`). */
export async function readApiTables(db: pg.ClientBase): Promise<ApiTable[]> {
  const r = await db
    .query<ApiTable>(
      `SELECT a.rel, a.kind, a.api_name AS "apiName", a.schema AS profile,
              a.schema = (SELECT doc -> 'schemas' ->> 0 FROM pgapp_private.catalog) AS "defaultProfile",
              a.access, a.reads, coalesce(a.key, '{}') AS key, a.writable, coalesce(a.assigned, '{}') AS assigned, a.embeds,
              a.note, a.uniques, a.defaults,
              (SELECT jsonb_build_object('rows', c.rows, 'bytes', c.bytes, 'seconds', c.seconds)
                 FROM pgapp_private.replica_copies c WHERE c.rel = a.rel AND a.reads = 'replica') AS copy,
              (SELECT jsonb_build_object('rows', (t.def ->> 'rows')::float8, 'bytes', (t.def ->> 'bytes')::float8)
                 FROM pgapp_private.catalog_tables() t WHERE t.rel = a.rel) AS size
     FROM pgapp_private.api_tables a
     ORDER BY (SELECT i FROM pgapp_private.catalog, jsonb_array_elements_text(doc -> 'schemas') WITH ORDINALITY AS s(n, i)
               WHERE n = a.schema), a.rel`,
    )
    .catch((err: { code?: string }) => {
      // Before the first `dev` (or of an older pgapp's, until the next one).
      if (err.code === '42P01' || err.code === '3F000' || err.code === '42703')
        return { rows: [] as ApiTable[] };
      throw err;
    });
  return r.rows;
}

export async function apiTables(config: Config, secrets: Secrets, signal?: AbortSignal): Promise<ApiTable[]> {
  return withClient(connectionConfig('custom', config, secrets), readApiTables, signal);
}

/** What rds's bridged schemas hold besides their tables, which pgapp does not serve, and why. */
/** The profile PostgREST serves without an Accept-Profile header: rds's first bridged schema (none yet: null). */
export async function readDefaultProfile(db: pg.ClientBase): Promise<string | null> {
  const r = await db.query<{ s: string | null }>(
    `SELECT doc -> 'schemas' ->> 0 AS s FROM pgapp_private.catalog`,
  );
  return r.rows[0]?.s ?? null;
}

/** rds's functions served at /rpc/<name>, by where they run (sql/custom/bridge/080_functions.sql). */
export interface ApiFunctions {
  /** Made on custom from rds's definition: local speed. */
  custom: number;
  /** Calling rds's own (they write, or read what custom cannot). */
  rds: number;
}

/** How many of rds's functions run where, on an open connection to custom (none before the first `dev`). */
export async function readApiFunctions(db: pg.ClientBase): Promise<ApiFunctions> {
  const r = await db
    .query<ApiFunctions>(
      `SELECT count(*) FILTER (WHERE runs = 'custom')::int AS custom, count(*) FILTER (WHERE runs = 'rds')::int AS rds
       FROM pgapp_private.functions WHERE made`,
    )
    .catch((err: { code?: string }) => {
      if (err.code === '42P01' || err.code === '3F000') return { rows: [{ custom: 0, rds: 0 }] };
      throw err;
    });
  return r.rows[0] ?? { custom: 0, rds: 0 };
}

export async function apiFunctions(
  config: Config,
  secrets: Secrets,
  signal?: AbortSignal,
): Promise<ApiFunctions> {
  return withClient(connectionConfig('custom', config, secrets), readApiFunctions, signal);
}

export interface Unserved {
  schema: string;
  /** A relation's name, or a function's with its arguments. */
  name: string;
  kind: 'view' | 'materialized view' | 'foreign table' | 'partition' | 'function' | 'procedure';
  why: string;
}

/** The objects not served, on an open connection to custom (empty before the first `dev`). */
export async function readUnserved(db: pg.ClientBase): Promise<Unserved[]> {
  const r = await db
    .query<Unserved>(
      'SELECT schema, name, kind, why FROM pgapp_private.api_unserved ORDER BY schema, kind, name',
    )
    .catch((err: { code?: string }) => {
      if (err.code === '42P01' || err.code === '3F000') return { rows: [] as Unserved[] };
      throw err;
    });
  return r.rows;
}

export async function apiUnserved(
  config: Config,
  secrets: Secrets,
  signal?: AbortSignal,
): Promise<Unserved[]> {
  return withClient(connectionConfig('custom', config, secrets), readUnserved, signal);
}
