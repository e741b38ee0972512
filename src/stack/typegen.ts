/**
 * TypeScript types for the schemas the API serves (rds's, one profile each), read from custom's
 * catalog, in the `Database` shape @supabase/postgrest-js takes as its generic (the convention
 * TypeScript users of PostgREST know): every table/view with Row, Insert/Update as far as
 * PostgREST's user (web_user) may write each column, and Relationships (its foreign keys, as
 * PostgREST embeds them); RPC functions with Args and Returns; computed relationships (a function of
 * one row returning rows: pgapp's extra embed names) as embeddable functions; enums.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { writeInPlace } from '../files.ts';
import { workDir } from '../paths.ts';

export interface CatalogColumn {
  name: string;
  type: TypeRef;
  notNull: boolean;
  hasDefault: boolean;
  canInsert: boolean;
  canUpdate: boolean;
}
export interface TypeRef {
  name: string;
  schema: string;
  /** Postgres typtype: b(ase), e(num), c(omposite), d(omain), p(seudo)… */
  kind: string;
  /** The element type of an array. */
  element?: TypeRef;
  /** A composite's relation (its row type), when that relation is in the schema. */
  relation?: string;
  /** A domain's base type (e.g. text for crm."text/html"). */
  base?: string;
}
/** A foreign key of a relation, as postgrest-js's Relationships list it. */
export interface CatalogRelationship {
  foreignKeyName: string;
  columns: string[];
  isOneToOne: boolean;
  referencedRelation: string;
  referencedColumns: string[];
}
export interface CatalogRelation {
  name: string;
  /** r, p, f: tables; v, m: views. */
  kind: string;
  columns: CatalogColumn[];
  relationships: CatalogRelationship[];
}
export interface CatalogFunction {
  name: string;
  args: { name: string; type: TypeRef; hasDefault: boolean }[];
  /** RETURNS TABLE (…) columns, when it returns a table. */
  table?: { name: string; type: TypeRef }[];
  returns: TypeRef;
  setof: boolean;
  rows: number;
}
export interface ApiCatalog {
  schema: string;
  relations: CatalogRelation[];
  functions: CatalogFunction[];
  enums: { name: string; schema: string; labels: string[] }[];
}

/** A type as JSON carries it through PostgREST. */
const SCALARS: Record<string, string> = {
  bool: 'boolean',
  int2: 'number',
  int4: 'number',
  int8: 'number',
  float4: 'number',
  float8: 'number',
  numeric: 'number',
  oid: 'number',
  money: 'string',
  text: 'string',
  varchar: 'string',
  bpchar: 'string',
  name: 'string',
  citext: 'string',
  uuid: 'string',
  date: 'string',
  time: 'string',
  timetz: 'string',
  timestamp: 'string',
  timestamptz: 'string',
  interval: 'string',
  inet: 'string',
  cidr: 'string',
  bytea: 'string',
  json: 'Json',
  jsonb: 'Json',
  // Extension types a schema commonly uses: as PostgREST's JSON carries them (text).
  vector: 'string',
  halfvec: 'string',
  sparsevec: 'string',
  geometry: 'string',
  geography: 'string',
  ltree: 'string',
  hstore: 'Record<string, string | null>',
  void: 'undefined',
  record: 'Record<string, unknown>',
};

const key = (k: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k));

function tsType(t: TypeRef, catalog: ApiCatalog): string {
  if (t.element) {
    const inner = tsType(t.element, catalog);
    return /^[\w.[\]'"]+$/.test(inner) ? `${inner}[]` : `(${inner})[]`;
  }
  if (t.kind === 'e') {
    const e = catalog.enums.find((x) => x.name === t.name && x.schema === t.schema);
    if (e && t.schema === catalog.schema)
      return `Database[${JSON.stringify(catalog.schema)}]['Enums'][${JSON.stringify(e.name)}]`;
    return e ? e.labels.map((l) => JSON.stringify(l)).join(' | ') : 'string';
  }
  if (t.relation) return `${rowRef(catalog, t.relation)}`;
  return SCALARS[t.kind === 'd' && t.base ? t.base : t.name] ?? 'unknown';
}

function rowRef(catalog: ApiCatalog, relation: string): string {
  const r = catalog.relations.find((x) => x.name === relation);
  const group = r && isTable(r) ? 'Tables' : 'Views';
  return `Database[${JSON.stringify(catalog.schema)}][${JSON.stringify(group)}][${JSON.stringify(relation)}]['Row']`;
}

const isTable = (r: CatalogRelation) => ['r', 'p', 'f'].includes(r.kind);
const nullable = (t: string, notNull: boolean) => (notNull ? t : `${t} | null`);
const pad = (n: number) => ' '.repeat(n);

function objectType(fields: [string, string, boolean][], indent: number): string {
  if (fields.length === 0) return '{ [_ in never]: never }';
  return `{\n${fields.map(([k, t, optional]) => `${pad(indent + 2)}${key(k)}${optional ? '?' : ''}: ${t}`).join('\n')}\n${pad(indent)}}`;
}

function relationType(r: CatalogRelation, catalog: ApiCatalog, indent: number): string {
  const row = r.columns.map((c): [string, string, boolean] => [
    c.name,
    nullable(tsType(c.type, catalog), c.notNull),
    false,
  ]);
  const insertable = r.columns.filter((c) => c.canInsert);
  const updatable = r.columns.filter((c) => c.canUpdate);
  const parts = [`${pad(indent + 2)}Row: ${objectType(row, indent + 2)}`];
  // What web_user may not write (ids, owner, timestamps the database sets) is not in Insert/Update.
  if (isTable(r) || insertable.length > 0 || updatable.length > 0) {
    parts.push(
      `${pad(indent + 2)}Insert: ${objectType(
        insertable.map((c) => [
          c.name,
          nullable(tsType(c.type, catalog), c.notNull),
          !c.notNull || c.hasDefault,
        ]),
        indent + 2,
      )}`,
      `${pad(indent + 2)}Update: ${objectType(
        updatable.map((c) => [c.name, nullable(tsType(c.type, catalog), c.notNull), true]),
        indent + 2,
      )}`,
    );
  }
  parts.push(`${pad(indent + 2)}Relationships: ${relationshipsType(r.relationships ?? [], indent + 2)}`);
  return `{\n${parts.join('\n')}\n${pad(indent)}}`;
}

function relationshipsType(rels: CatalogRelationship[], indent: number): string {
  if (rels.length === 0) return '[]';
  const one = (x: CatalogRelationship) =>
    [
      `${pad(indent + 2)}{`,
      `${pad(indent + 4)}foreignKeyName: ${JSON.stringify(x.foreignKeyName)}`,
      `${pad(indent + 4)}columns: ${JSON.stringify(x.columns)}`,
      `${pad(indent + 4)}isOneToOne: ${x.isOneToOne}`,
      `${pad(indent + 4)}referencedRelation: ${JSON.stringify(x.referencedRelation)}`,
      `${pad(indent + 4)}referencedColumns: ${JSON.stringify(x.referencedColumns)}`,
      `${pad(indent + 2)}},`,
    ].join('\n');
  return `[\n${rels.map(one).join('\n')}\n${pad(indent)}]`;
}

/** An embeddable function (PostgREST's computed relationship): one api row in, api rows out. */
function computed(f: CatalogFunction): { from: string; to: string } | undefined {
  const [only] = f.args;
  if (f.args.length !== 1 || !only?.type.relation || !f.returns.relation) return undefined;
  return { from: only.type.relation, to: f.returns.relation };
}

function functionType(f: CatalogFunction, catalog: ApiCatalog, indent: number): string {
  const rel = computed(f);
  const args = rel
    ? `{ "": ${rowRef(catalog, rel.from)} }`
    : objectType(
        f.args.map((a) => [a.name, tsType(a.type, catalog), a.hasDefault]),
        indent + 2,
      );
  let returns = f.table
    ? objectType(
        f.table.map((c) => [c.name, nullable(tsType(c.type, catalog), false), false]),
        indent + 2,
      )
    : tsType(f.returns, catalog);
  // A set, as an array; a computed one-to-one relationship (ROWS 1) as the one row it embeds.
  if (f.setof && !(rel && f.rows === 1))
    returns = /^[\w.[\]'"]+$/.test(returns) || returns.startsWith('{') ? `${returns}[]` : `(${returns})[]`;
  const lines = [`${pad(indent + 2)}Args: ${args}`, `${pad(indent + 2)}Returns: ${returns}`];
  if (rel)
    lines.push(
      `${pad(indent + 2)}SetofOptions: { from: ${JSON.stringify(rel.from)}; to: ${JSON.stringify(rel.to)}; isOneToOne: ${!f.setof || f.rows === 1}; isSetofReturn: ${f.setof} }`,
    );
  return `{\n${lines.join('\n')}\n${pad(indent)}}`;
}

function group(entries: [string, string][], indent: number): string {
  if (entries.length === 0) return '{ [_ in never]: never }';
  return `{\n${entries.map(([k, v]) => `${pad(indent + 2)}${key(k)}: ${v}`).join('\n')}\n${pad(indent)}}`;
}

/** One schema's part of the Database type. */
function schemaType(catalog: ApiCatalog, i: number): string {
  const byName = <T extends { name: string }>(xs: T[]) =>
    [...xs].sort((a, b) => a.name.localeCompare(b.name));
  const fns = new Map<string, CatalogFunction[]>();
  for (const f of byName(catalog.functions)) fns.set(f.name, [...(fns.get(f.name) ?? []), f]);
  return [
    `${pad(i)}Tables: ${group(
      byName(catalog.relations.filter(isTable)).map((r) => [r.name, relationType(r, catalog, i + 2)]),
      i,
    )}`,
    `${pad(i)}Views: ${group(
      byName(catalog.relations.filter((r) => !isTable(r))).map((r) => [
        r.name,
        relationType(r, catalog, i + 2),
      ]),
      i,
    )}`,
    `${pad(i)}Functions: ${group(
      [...fns].map(([name, overloads]) => [
        name,
        overloads.map((f) => functionType(f, catalog, i + 2)).join(' | '),
      ]),
      i,
    )}`,
    `${pad(i)}Enums: ${group(
      byName(catalog.enums.filter((e) => e.schema === catalog.schema)).map((e) => [
        e.name,
        e.labels.map((l) => JSON.stringify(l)).join(' | '),
      ]),
      i,
    )}`,
    `${pad(i)}CompositeTypes: { [_ in never]: never }`,
  ].join('\n');
}

/** The schemas (the first is the default profile) as a TypeScript module. Pure. */
export function renderDatabaseTypes(catalogs: ApiCatalog[], source: string): string {
  return [
    `// Generated by \`pgapp gen types\` from ${source}: do not edit (run it again, or let \`pgapp dev\` keep it fresh with "typesOut").`,
    '// Use: new PostgrestClient<Database>(url) from @supabase/postgrest-js (another schema than the first: { schema: "<name>" }).',
    'export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[];',
    '',
    'export type Database = {',
    ...catalogs.flatMap((catalog) => [`  ${key(catalog.schema)}: {`, schemaType(catalog, 4), '  };']),
    '};',
    '',
  ].join('\n');
}

/** One schema the API serves, as custom's catalog describes it (connected as its superuser). */
export async function readApiCatalog(
  db: pg.Client,
  schema: string,
  writer = 'web_user',
): Promise<ApiCatalog> {
  const typeSql = (alias: string) => `json_build_object(
      'name', ${alias}.typname, 'schema', ${alias}n.nspname, 'kind', ${alias}.typtype,
      'base', (SELECT bt.typname FROM pg_type bt WHERE bt.oid = ${alias}.typbasetype),
      'relation', (SELECT rc.relname FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                    WHERE rc.oid = ${alias}.typrelid AND rn.nspname = $1 AND rc.relkind IN ('r','p','f','v','m')),
      'element', (SELECT json_build_object('name', et.typname, 'schema', etn.nspname, 'kind', et.typtype)
                    FROM pg_type et JOIN pg_namespace etn ON etn.oid = et.typnamespace
                   WHERE et.oid = ${alias}.typelem AND ${alias}.typcategory = 'A'))`;
  const relations = await db.query<CatalogRelation>(
    `SELECT c.relname AS name, c.relkind AS kind,
            coalesce(json_agg(json_build_object(
              'name', a.attname, 'type', ${typeSql('t')},
              -- A view column's NOT NULL and default come from the base column it shows (same name).
              'notNull', a.attnotnull OR coalesce(b.not_null, false),
              -- A table of rds's: what rds fills may be left out, and what rds refuses a value for
              -- (a generated column, an identity ALWAYS) is not the client's to write.
              'hasDefault', a.atthasdef OR a.attidentity <> '' OR coalesce(b.has_default, false) OR a.attname = ANY (coalesce(x.assigned, '{}')),
              'canInsert', has_column_privilege($2, c.oid, a.attnum, 'INSERT') AND (x.writable IS NULL OR a.attname = ANY (x.writable)),
              'canUpdate', has_column_privilege($2, c.oid, a.attnum, 'UPDATE') AND (x.writable IS NULL OR a.attname = ANY (x.writable))) ORDER BY a.attnum)
              FILTER (WHERE a.attnum IS NOT NULL), '[]') AS columns,
            -- Its foreign keys to relations of the same schema (PostgREST embeds within a schema).
            (SELECT coalesce(json_agg(json_build_object(
                      'foreignKeyName', co.conname,
                      'columns', (SELECT json_agg(ca.attname ORDER BY k.o) FROM unnest(co.conkey) WITH ORDINALITY k(n, o)
                                    JOIN pg_attribute ca ON ca.attrelid = co.conrelid AND ca.attnum = k.n),
                      'isOneToOne', EXISTS (SELECT 1 FROM pg_constraint u WHERE u.conrelid = co.conrelid AND u.contype IN ('p', 'u')
                                              AND u.conkey::int2[] @> co.conkey::int2[] AND u.conkey::int2[] <@ co.conkey::int2[]),
                      'referencedRelation', rc.relname,
                      'referencedColumns', (SELECT json_agg(ra.attname ORDER BY k.o) FROM unnest(co.confkey) WITH ORDINALITY k(n, o)
                                              JOIN pg_attribute ra ON ra.attrelid = co.confrelid AND ra.attnum = k.n))
                      ORDER BY co.conname), '[]')
               FROM pg_constraint co JOIN pg_class rc ON rc.oid = co.confrelid
              WHERE co.conrelid = c.oid AND co.contype = 'f' AND rc.relnamespace = c.relnamespace) AS relationships
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pgapp_private.api_tables x ON x.schema = n.nspname AND x.api_name = c.relname
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_namespace tn ON tn.oid = t.typnamespace
       LEFT JOIN LATERAL (
         SELECT bool_and(ba.attnotnull) AS not_null, bool_or(ba.atthasdef OR ba.attidentity <> '') AS has_default
           FROM information_schema.view_column_usage u
           JOIN pg_namespace bn ON bn.nspname = u.table_schema
           JOIN pg_class bc ON bc.relnamespace = bn.oid AND bc.relname = u.table_name
           JOIN pg_attribute ba ON ba.attrelid = bc.oid AND ba.attname = u.column_name
          WHERE c.relkind = 'v' AND u.view_schema = n.nspname AND u.view_name = c.relname
            AND u.column_name = a.attname) b ON true
      WHERE n.nspname = $1 AND c.relkind IN ('r','p','f','v','m')
      GROUP BY c.oid, c.relname, c.relkind, c.relnamespace`,
    [schema, writer],
  );
  const functions = await db.query<CatalogFunction>(
    `SELECT p.proname AS name, p.proretset AS setof, p.prorows::int AS rows,
            -- proargtypes is an oidvector (zero-based): made one-based like proargnames and proargmodes.
            (SELECT coalesce(json_agg(json_build_object(
                      'name', coalesce(p.proargnames[i], ''), 'type', ${typeSql('at')},
                      'hasDefault', i > p.pronargs - p.pronargdefaults) ORDER BY i), '[]')
               FROM generate_subscripts(coalesce(p.proallargtypes, ARRAY(SELECT unnest(p.proargtypes::oid[]))), 1) i
               JOIN pg_type at ON at.oid = (coalesce(p.proallargtypes, ARRAY(SELECT unnest(p.proargtypes::oid[]))))[i]
               JOIN pg_namespace atn ON atn.oid = at.typnamespace
              WHERE coalesce(p.proargmodes[i], 'i') IN ('i', 'b', 'v')) AS args,
            (SELECT json_agg(json_build_object('name', p.proargnames[i], 'type', ${typeSql('ct')}) ORDER BY i)
               FROM generate_subscripts(p.proallargtypes, 1) i
               JOIN pg_type ct ON ct.oid = p.proallargtypes[i]
               JOIN pg_namespace ctn ON ctn.oid = ct.typnamespace
              WHERE p.proargmodes[i] = 't') AS "table",
            (SELECT ${typeSql('rt')} FROM pg_type rt JOIN pg_namespace rtn ON rtn.oid = rt.typnamespace
              WHERE rt.oid = p.prorettype) AS returns
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1 AND p.prokind = 'f'
        AND (has_function_privilege($2, p.oid, 'EXECUTE') OR has_function_privilege('web_anon', p.oid, 'EXECUTE'))`,
    [schema, writer],
  );
  const enums = await db.query<ApiCatalog['enums'][number]>(
    `SELECT t.typname AS name, n.nspname AS schema, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
      GROUP BY t.typname, n.nspname`,
  );
  return {
    schema,
    relations: relations.rows,
    functions: functions.rows.map((f) => ({ ...f, table: f.table ?? undefined })),
    enums: enums.rows,
  };
}

/** The schemas a running stack's API serves, as a TypeScript module. */
export async function generateTypes(config: Config, secrets: Secrets, signal?: AbortSignal): Promise<string> {
  const catalogs = await withClient(
    connectionConfig('custom', config, secrets),
    async (db) => {
      const schemas = (
        await db.query<{ s: string }>(
          `SELECT jsonb_array_elements_text(doc -> 'schemas') AS s FROM pgapp_private.catalog`,
        )
      ).rows.map((r) => r.s);
      const out: ApiCatalog[] = [];
      for (const schema of schemas) out.push(await readApiCatalog(db, schema));
      return out;
    },
    signal,
  );
  return renderDatabaseTypes(catalogs, `the schemas pgapp project "${config.project}" serves`);
}

/** Write the types to `file` when they differ from what it holds; whether it changed. */
export async function writeTypes(
  config: Config,
  secrets: Secrets,
  file: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const text = await generateTypes(config, secrets, signal);
  const path = resolve(workDir(), file);
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeInPlace(path, text);
  return true;
}
