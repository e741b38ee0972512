/**
 * The oracle: PostgREST — the image pgapp runs — pointed straight at rds, serving the mirrored schemas
 * of a copy of the stack's database, with the same API roles and the visibility pgapp's access
 * settings give them there. A request sent to it and to pgapp must get the same answer
 * (test/integration/oracle.test.ts); `runCorpus` sends a corpus to both and tallies.
 *
 * Why a copy: the oracle's rules (grants, row-level security) must not change what pgapp's own rds
 * serves, and both sides then start from the same rows and sequence values, so a write made on both
 * gives the same ids. The copy is `CREATE DATABASE … TEMPLATE` of a database nobody is connected to:
 * a pgapp snapshot (its template database), or the source before pgapp was pointed at it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type StartedTestContainer, Wait } from 'testcontainers';
import { makeToken } from '../../src/auth/jwt.ts';
import { POSTGREST_IMAGE } from '../../src/config/schema.ts';
import { API_ROLES, MAX_ROWS } from '../../src/spec/stack.ts';
import { BoundContainer } from '../bound-container.ts';
import {
  type Answer,
  compareAnswers,
  type OracleRequest,
  type Outcome,
  requestLabel,
  verdictOf,
} from './compare.ts';

export interface OracleSource {
  /** rds as a role that may create databases and roles: the stand-in's master user, a server's superuser. */
  admin: pg.ClientConfig;
  /** The database to copy; nobody may be connected to it. */
  template: string;
  /** The copy's name. */
  database: string;
  /** How the oracle's container reaches rds: a Docker network to join (else the default bridge), host and port. */
  network?: string;
  host: string;
  port: number;
  /** PostgREST's db-schemas, in pgapp's order (the first is the default profile). */
  schemas: string[];
  jwtSecret: string;
  /** Statements run in the copy, as `admin`, once the API roles exist: the visibility pgapp's settings give. */
  access: string[];
}

export interface Oracle {
  url: string;
  stop(): Promise<void>;
}

/**
 * The oracle for a running stack: PostgREST over a copy of `template` on the stack's rds, with the
 * schemas pgapp serves (rds's, in order) and the very rules pgapp gave its tables on custom — the
 * statements recorded in pgapp_private.generated, and the functions they call (who the caller is).
 */
export async function oracleOnStack(opts: {
  custom: pg.ClientConfig;
  rds: pg.ClientConfig;
  template: string;
  database: string;
  network?: string;
  host: string;
  port: number;
  jwtSecret: string;
}): Promise<Oracle> {
  const { schemas, access, identity } = await withClient(opts.custom, async (c) => ({
    schemas: (
      await c.query<{ s: string[] }>(
        `SELECT ARRAY(SELECT jsonb_array_elements_text(doc -> 'schemas')) AS s FROM pgapp_private.catalog`,
      )
    ).rows[0]?.s as string[],
    access: (
      await c.query<{ ddl: string }>(
        `SELECT ddl FROM pgapp_private.generated WHERE kind IN ('access', 'function access') ORDER BY object`,
      )
    ).rows.map((r) => r.ddl),
    // Who the caller is, and whom a write stamps: the functions the rules call.
    identity: (
      await c.query<{ d: string }>(
        `SELECT pg_get_functiondef(p.oid) AS d FROM pg_proc p WHERE p.pronamespace = 'rds_bridge'::regnamespace ORDER BY p.proname`,
      )
    ).rows.map((r) => r.d),
  }));
  return startOracle({
    admin: opts.rds,
    template: opts.template,
    database: opts.database,
    network: opts.network,
    host: opts.host,
    port: opts.port,
    schemas,
    jwtSecret: opts.jwtSecret,
    access: [
      'CREATE SCHEMA IF NOT EXISTS rds_bridge',
      ...identity,
      'GRANT USAGE ON SCHEMA rds_bridge TO web_anon, web_user, api_owner',
      'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rds_bridge TO web_anon, web_user, api_owner',
      ...access,
    ],
  });
}

/** The authenticator the oracle logs in as (NOINHERIT, like pgapp's). */
const ORACLE_LOGIN = 'pgapp_oracle';
/** The roles pgapp's access rules name besides the API's own (api_owner: its views and functions run for a request). */
const RULE_ROLES = [...API_ROLES, 'api_owner'];

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

async function withClient<T>(cfg: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(cfg);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function startOracle(src: OracleSource): Promise<Oracle> {
  const password = randomBytes(18).toString('hex');
  await withClient(src.admin, async (c) => {
    for (const role of RULE_ROLES)
      await c.query(
        `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} NOLOGIN; END IF; END $$`,
      );
    // The views pgapp makes are api_owner's (sql/custom/bridge/070_views.sql): the rules give them to it.
    await c.query('GRANT api_owner TO CURRENT_USER');
    await c.query(
      `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${ORACLE_LOGIN}') THEN CREATE ROLE ${ORACLE_LOGIN} LOGIN NOINHERIT; END IF; END $$`,
    );
    await c.query(`ALTER ROLE ${ORACLE_LOGIN} PASSWORD '${password}'`);
    await c.query(`GRANT ${API_ROLES.join(', ')} TO ${ORACLE_LOGIN}`);
    await c.query(`DROP DATABASE IF EXISTS ${ident(src.database)} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${ident(src.database)} TEMPLATE ${ident(src.template)}`);
  });
  await withClient({ ...src.admin, database: src.database }, async (c) => {
    for (const s of src.schemas) {
      await c.query(`GRANT USAGE ON SCHEMA ${ident(s)} TO ${API_ROLES.join(', ')}`);
      // pgapp's bridge draws numbers from rds's sequences for every writer; here each writer does.
      await c.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${ident(s)} TO ${API_ROLES.join(', ')}`);
    }
    for (const sql of src.access) await c.query(sql);
  });
  const uri = `postgres://${ORACLE_LOGIN}:${password}@${src.host}:${src.port}/${encodeURIComponent(src.database)}?sslmode=require`;
  // Published on 127.0.0.1 only, as everything of pgapp's.
  let container = new BoundContainer(POSTGREST_IMAGE, '127.0.0.1')
    .withEnvironment({
      PGRST_DB_URI: uri,
      PGRST_DB_SCHEMAS: src.schemas.join(','),
      PGRST_DB_ANON_ROLE: 'web_anon',
      PGRST_JWT_SECRET: src.jwtSecret,
      PGRST_DB_MAX_ROWS: String(MAX_ROWS),
      PGRST_DB_TX_END: 'commit-allow-override',
      PGRST_SERVER_PORT: '3000',
    })
    .withExposedPorts(3000)
    .withLabels({ 'pgapp.test': 'oracle' })
    // Ready once its schema cache is loaded (a check over HTTP would ask testcontainers which host
    // reaches the port, and inside a container it answers the bridge's gateway: not 127.0.0.1).
    .withWaitStrategy(Wait.forLogMessage(/Schema cache loaded/))
    .withStartupTimeout(60_000);
  if (src.network) container = container.withNetworkMode(src.network);
  const started: StartedTestContainer = await container.start();
  return {
    url: `http://127.0.0.1:${started.getMappedPort(3000)}`,
    stop: async () => {
      await started.stop({ remove: true }).catch(() => {});
      await withClient(src.admin, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${ident(src.database)} WITH (FORCE)`),
      ).catch(() => {});
    },
  };
}

/** One request, as it is sent to either server. */
export async function send(base: string, req: OracleRequest, jwtSecret: string): Promise<Answer> {
  const headers: Record<string, string> = { ...req.headers };
  if (req.as) {
    const token = makeToken(jwtSecret, { role: 'web_user', expiresIn: 600, claims: { sub: req.as } });
    headers.Authorization = `Bearer ${token}`;
  }
  let body: string | undefined;
  if (req.body !== undefined) {
    body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(`${base}${req.path}`, { method: req.method ?? 'GET', headers, body });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  let parsed: unknown = text === '' ? undefined : text;
  if (text !== '' && /json/.test(type)) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  const kept: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    kept[k] = v;
  });
  return { status: res.status, headers: kept, body: parsed };
}

const writes = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

/**
 * Each request to the oracle, then to pgapp (writes change both: the next request sees the same rows
 * on each side). After a write, `settle` (pgapp's replica catching up with rds) runs before the next.
 */
export async function runCorpus(opts: {
  oracle: string;
  pgapp: string;
  jwtSecret: string;
  requests: OracleRequest[];
  settle?: () => Promise<void>;
  /** Which run this is (reads mode, or "remote"): a difference may be documented for some runs only. */
  run?: string;
}): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const captured: Record<string, string> = {};
  const fill = (text: string) => text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => captured[k] ?? `{{${k}}}`);
  for (const template of opts.requests) {
    const request: OracleRequest = {
      ...template,
      path: fill(template.path),
      ...(template.body === undefined
        ? {}
        : {
            body:
              typeof template.body === 'string'
                ? fill(template.body)
                : JSON.parse(fill(JSON.stringify(template.body))),
          }),
    };
    const oracle = await send(opts.oracle, request, opts.jwtSecret);
    const pgapp = await send(opts.pgapp, request, opts.jwtSecret);
    for (const [name, at] of Object.entries(request.capture ?? {}))
      captured[name] = String(
        at.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], oracle.body),
      );
    if (writes.has(request.method ?? 'GET')) await opts.settle?.();
    const differences = compareAnswers(request, oracle, pgapp);
    out.push({
      request,
      label: requestLabel(request),
      oracle,
      pgapp,
      differences,
      verdict: verdictOf(request, differences, opts.run),
    });
  }
  return out;
}
