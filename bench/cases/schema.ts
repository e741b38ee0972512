/**
 * Your schema, not a demo: the read shapes on a project unlike the CRM — the desk fixture
 * (test/fixtures/desk), medium seed (100k tickets) — its tables as pgapp serves them from rds's
 * catalog (replica reads), against local tables on custom holding the same rows with the same keys,
 * measured in the same run. Its stack is a project of its own (pgapp_bench_desk), brought up by the CLI
 * as a user runs it, from .pgapp/bench-desk (git-ignored: its secrets and ports stay between runs).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { cliStack, load, SECONDS, twins, withDb } from '../lib.ts';
import { fmt, notes, report } from '../report.ts';

const PROJECT = 'pgapp_bench_desk';
export const TICKETS = 100_000;

/**
 * A stack of the fixture: its folder (the fixture, `tables` over its per-table settings, and fixed
 * ports picked once), then `pgapp dev`.
 */
export async function deskStack(
  project = PROJECT,
  tables: Record<string, object> = {},
): Promise<{ api: string; custom: string; jwtSecret: string }> {
  const fixture = JSON.parse(
    readFileSync(join(PACKAGE_ROOT, 'test', 'fixtures', 'desk', 'pgapp.config.json'), 'utf8'),
  );
  for (const [rel, t] of Object.entries(tables)) fixture.tables[rel] = { ...fixture.tables[rel], ...t };
  const { ports, secrets } = await cliStack(
    project,
    { ...fixture, seed: 'medium' },
    join(PACKAGE_ROOT, 'test', 'fixtures', 'desk', 'db'),
  );
  return {
    api: `http://127.0.0.1:${ports.postgrest}`,
    custom: `postgres://postgres:${encodeURIComponent(secrets.customPassword)}@127.0.0.1:${ports.custom}/${project}`,
    jwtSecret: secrets.jwtSecret,
  };
}

/**
 * The baseline on custom: twins of the desk's tables (bench/lib.ts) beside them, local tables with
 * rds's rows, keys and foreign keys and the same per-user rules, served by PostgREST the same way.
 */
export async function ensureLocal(custom: string): Promise<void> {
  await withDb(custom, async (c) => {
    if ((await c.query(`SELECT to_regclass('desk.tickets_local') IS NOT NULL AS e`)).rows[0].e) return;
    await c.query('DROP SCHEMA IF EXISTS bench CASCADE');
    await twins(c, ['desk.agents', 'desk.tickets', 'desk.labels', 'desk.ticket_labels'], '_local', 'local');
    await c.query(`NOTIFY pgrst, 'reload schema'`);
  });
  await new Promise((r) => setTimeout(r, 1000));
}

/**
 * The baseline of rds's views and functions (the issue "the whole schema"): the same definitions over
 * the local twins (`_local`), made on custom the way pgapp makes rds's — views owned by api_owner,
 * functions as written — and served the same.
 */
export async function ensureLocalObjects(custom: string): Promise<void> {
  await withDb(custom, async (c) => {
    // Views are api_owner's, and read what they name as api_owner (as pgapp's access gives rds's).
    await c.query('GRANT SELECT ON desk.tickets_local, desk.agents_local, desk.labels_local TO api_owner');
    if (
      (await c.query(`SELECT to_regprocedure('desk.recolor_label_local(integer, text)') IS NOT NULL AS e`))
        .rows[0].e
    )
      return;
    const local = (sql: string) => sql.replace(/\bdesk\.(tickets|agents|labels)\b/g, 'desk.$1_local');
    const views = ['desk.ticket_board', 'desk.priority_counts'];
    const fns = ['desk.owned_tickets()', 'desk.recolor_label(integer, text)'];
    const sql: string[] = [];
    for (const v of views) {
      const def = (await c.query(`SELECT pg_get_viewdef($1::regclass) AS d`, [v])).rows[0].d as string;
      sql.push(
        `CREATE OR REPLACE VIEW ${v}_local AS ${local(def)}`,
        `ALTER VIEW ${v}_local OWNER TO api_owner`,
        `GRANT SELECT ON ${v}_local TO web_anon, web_user`,
      );
    }
    for (const f of fns) {
      const name = f.slice(0, f.indexOf('('));
      // rds's writing function is a call to rds on custom: its local twin is rds's own definition.
      const def =
        name === 'desk.recolor_label'
          ? `CREATE FUNCTION desk.recolor_label(label_id integer, new_color text) RETURNS desk.labels LANGUAGE sql AS $$ UPDATE desk.labels SET color = new_color WHERE id = label_id RETURNING * $$`
          : ((await c.query(`SELECT pg_get_functiondef($1::regprocedure) AS d`, [f])).rows[0].d as string);
      sql.push(
        local(def)
          .replace(`${name}(`, `${name}_local(`)
          .replace('CREATE OR REPLACE FUNCTION', 'CREATE FUNCTION'),
        `GRANT EXECUTE ON FUNCTION ${name}_local${f.slice(f.indexOf('('))} TO web_anon, web_user`,
      );
    }
    sql.push(`NOTIFY pgrst, 'reload schema'`);
    await c.query(sql.join(';\n'));
  });
  await new Promise((r) => setTimeout(r, 1000));
}

/** A request shape, as a path for either side: `s` is the suffix of its tables ('' or '_local'). */
export interface Shape {
  name: string;
  path: (s: string) => string;
  headers?: Record<string, string>;
  /** A write: its method and body (as web_user). */
  method?: 'POST' | 'PATCH';
  body?: (n: number) => unknown;
}

/**
 * One shape through the api pgapp made (`table`) against the same request on the local tables, in the
 * same run: the report row, its ratio of p50s and the verdict against `limit` (none: reported).
 */
export async function versusLocal(
  stack: { api: string; jwtSecret: string },
  shape: Shape,
  row: { benchmark: string; limit?: number },
): Promise<void> {
  const results = {} as Record<'local' | 'api', { many: autocannon.Result; one: autocannon.Result }>;
  for (const [side, suffix] of [
    ['local', '_local'],
    ['api', ''],
  ] as const) {
    const path = () => shape.path(suffix);
    const opts = {
      ...(shape.headers ? { headers: shape.headers } : {}),
      ...(shape.method ? { method: shape.method, body: shape.body } : {}),
    };
    await load(stack.api, path, stack.jwtSecret, { ...opts, seconds: 2 }); // warm
    const many = await load(stack.api, path, stack.jwtSecret, opts);
    const one = await load(stack.api, path, stack.jwtSecret, {
      ...opts,
      connections: 1,
      seconds: SECONDS / 2,
    });
    results[side] = { many, one };
  }
  const describe = (r: { many: autocannon.Result; one: autocannon.Result }) =>
    `p50 ${fmt(r.many.latency.p50)} ms, p99 ${fmt(r.many.latency.p99)} ms, ${fmt(r.many.requests.average, 0)} req/s; 1 conn. p50 ${fmt(r.one.latency.p50)} ms`;
  const { local, api } = results;
  const errors = [local.many, local.one, api.many, api.one].reduce((a, x) => a + x.errors + x.non2xx, 0);
  const ratio = api.many.latency.p50 / Math.max(local.many.latency.p50, 0.01);
  report({
    benchmark: row.benchmark,
    measured: describe(api),
    baseline: `local tables ${describe(local)}`,
    ratio: `${fmt(ratio, 2)}× (1 conn. ${fmt(api.one.latency.p50 / Math.max(local.one.latency.p50, 0.01), 2)}×)`,
    target: row.limit ? `≤ ${row.limit}× p50` : '—',
    verdict: errors
      ? `FAILED: ${errors} errors/non-2xx`
      : !row.limit
        ? 'reported'
        : ratio <= row.limit
          ? 'met'
          : 'MISSED',
  });
}

export async function benchSchema() {
  const stack = await deskStack();
  await ensureLocal(stack.custom);
  const id = () => 1 + Math.floor(Math.random() * TICKETS);
  const keyset = () => Math.floor(Math.random() * (TICKETS - 200));
  const shapes: Shape[] = [
    { name: 'read by key', path: (s) => `/tickets${s}?id=eq.${id()}` },
    { name: 'keyset page of 100', path: (s) => `/tickets${s}?order=id&limit=100&id=gt.${keyset()}` },
    {
      name: 'to-one embed (a foreign key), page of 100',
      path: (s) =>
        `/tickets${s}?select=id,subject,assignee:assignee_id(name)&order=id&limit=100&id=gt.${keyset()}`,
    },
    {
      name: 'many-to-many embed, page of 100',
      path: (s) => `/tickets${s}?select=id,labels${s}(name)&order=id&limit=100&id=gt.${keyset()}`,
    },
    {
      name: 'count=exact, page of 10',
      path: (s) => `/tickets${s}?select=id&order=id&limit=10&id=gt.${keyset()}`,
      headers: { Prefer: 'count=exact' },
    },
  ];
  for (const shape of shapes)
    await versusLocal(stack, shape, {
      benchmark: `Your schema (desk fixture): ${shape.name}, replica reads`,
      limit: 1.2,
    });
  // rds's views and functions (the issue "the whole schema"): made on custom from rds's definitions,
  // they read the replica — against the same definitions over local tables.
  await ensureLocalObjects(stack.custom);
  const objects: (Shape & { limit?: number })[] = [
    {
      name: 'a join view (tickets × agents), page of 100',
      path: (s) => `/ticket_board${s}?order=id&limit=100&id=gt.${keyset()}`,
      limit: 1.2,
    },
    { name: 'an aggregate view (tickets by priority)', path: (s) => `/priority_counts${s}`, limit: 1.2 },
    {
      name: 'a reading RPC (SETOF tickets), page of 100',
      path: (s) => `/rpc/owned_tickets${s}?order=id&limit=100`,
      limit: 1.2,
    },
    {
      // On rds, in the request's own rds transaction; the baseline writes a local table.
      name: 'a writing RPC (runs on rds)',
      path: (s) => `/rpc/recolor_label${s}`,
      method: 'POST',
      body: (n) => ({ label_id: 1 + (n % 5), new_color: `c${n % 7}` }),
    },
  ];
  for (const { limit, ...shape } of objects)
    await versusLocal(stack, shape, {
      benchmark: `Your schema (desk fixture): ${shape.name}`,
      ...(limit ? { limit } : {}),
    });
  notes.push(
    '',
    `"Your schema" rows: the desk fixture (test/fixtures/desk: a ticket desk in two schemas, nothing like the CRM), medium seed (${TICKETS.toLocaleString('en')} tickets), on a stack of its own (\`${PROJECT}\`). desk's tables as pgapp serves them from rds's catalog (replica reads) against local tables beside them holding the same rows with the same keys, foreign keys and per-user rules, asked the same requests. Its views and reading function are rds's definitions made on custom (over the replica), against the same definitions over the local tables; its writing function runs on rds (in the request's rds transaction, through pgapp_bridge.writes), against the same function writing a local table: that row is reported, what a call to rds costs.`,
  );
}
