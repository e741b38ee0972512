/**
 * Your schema, not a demo: the read shapes on a project unlike the CRM — the desk fixture
 * (test/fixtures/desk), medium seed (100k tickets) — through the api pgapp generated from rds's
 * catalog (replica reads), against local tables on custom holding the same rows with the same keys,
 * measured in the same run. Its stack is a project of its own (pgapp_bench_desk), brought up by the CLI
 * as a user runs it, from .pgapp/bench-desk (git-ignored: its secrets and ports stay between runs).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { cliStack, load, SECONDS, withDb } from '../lib.ts';
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
 * The baseline on custom: local tables with rds's rows and keys (read through the foreign tables: the
 * same whatever the replica holds), and api views and relationships over them as pgapp makes them
 * over the replica (owner filter, assignee, labels).
 */
export async function ensureLocal(custom: string): Promise<void> {
  await withDb(custom, async (c) => {
    if ((await c.query(`SELECT to_regclass('api.tickets_local') IS NOT NULL AS e`)).rows[0].e) return;
    await c.query(`
      DROP SCHEMA IF EXISTS bench CASCADE;
      CREATE SCHEMA bench AUTHORIZATION api_owner;
      CREATE TABLE bench.agents AS SELECT * FROM rds_desk.agents;
      CREATE TABLE bench.tickets AS SELECT * FROM rds_desk.tickets;
      CREATE TABLE bench.labels AS SELECT * FROM rds_desk.labels;
      CREATE TABLE bench.ticket_labels AS SELECT * FROM rds_desk.ticket_labels;
      ALTER TABLE bench.agents ADD PRIMARY KEY (id);
      ALTER TABLE bench.tickets ADD PRIMARY KEY (id), ADD FOREIGN KEY (assignee_id) REFERENCES bench.agents (id);
      ALTER TABLE bench.labels ADD PRIMARY KEY (id);
      ALTER TABLE bench.ticket_labels ADD PRIMARY KEY (ticket_id, label_id),
        ADD FOREIGN KEY (ticket_id) REFERENCES bench.tickets (id), ADD FOREIGN KEY (label_id) REFERENCES bench.labels (id);
      ALTER TABLE bench.agents OWNER TO api_owner;
      ALTER TABLE bench.tickets OWNER TO api_owner;
      ALTER TABLE bench.labels OWNER TO api_owner;
      ALTER TABLE bench.ticket_labels OWNER TO api_owner;
      ANALYZE bench.agents, bench.tickets, bench.labels, bench.ticket_labels;
      SET ROLE api_owner;
      CREATE VIEW api.agents_local AS SELECT * FROM bench.agents;
      CREATE VIEW api.labels_local AS SELECT * FROM bench.labels;
      CREATE VIEW api.ticket_labels_local AS SELECT * FROM bench.ticket_labels;
      CREATE VIEW api.tickets_local AS SELECT * FROM bench.tickets
        WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id());
      CREATE FUNCTION api.assignee(api.tickets_local) RETURNS SETOF api.agents_local ROWS 1
        LANGUAGE sql STABLE AS $$ SELECT * FROM api.agents_local WHERE id = $1.assignee_id $$;
      CREATE FUNCTION api.labels(api.tickets_local) RETURNS SETOF api.labels_local LANGUAGE sql STABLE AS
        $$ SELECT t.* FROM api.labels_local t WHERE EXISTS (SELECT 1 FROM api.ticket_labels_local j WHERE j.label_id = t.id AND j.ticket_id = $1.id) $$;
      RESET ROLE;
      GRANT USAGE ON SCHEMA bench TO web_anon, web_user;
      GRANT SELECT ON api.agents_local, api.labels_local, api.ticket_labels_local, api.tickets_local TO web_anon, web_user;
      GRANT EXECUTE ON FUNCTION api.assignee(api.tickets_local), api.labels(api.tickets_local) TO web_anon, web_user;
      NOTIFY pgrst, 'reload schema';`);
  });
  await new Promise((r) => setTimeout(r, 1000));
}

/** A request shape, as a path for either side's endpoint of tickets (`tickets_local` or the api's). */
export interface Shape {
  name: string;
  path: (table: string) => string;
  headers?: Record<string, string>;
}

/**
 * One shape through the api pgapp made (`table`) against the same request on the local tables, in the
 * same run: the report row, its ratio of p50s and the verdict against `limit` (none: reported).
 */
export async function versusLocal(
  stack: { api: string; jwtSecret: string },
  shape: Shape,
  row: { benchmark: string; table: string; limit?: number },
): Promise<void> {
  const results = {} as Record<'local' | 'api', { many: autocannon.Result; one: autocannon.Result }>;
  for (const [side, table] of [
    ['local', 'tickets_local'],
    ['api', row.table],
  ] as const) {
    const path = () => shape.path(table);
    const opts = shape.headers ? { headers: shape.headers } : {};
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
    { name: 'read by key', path: (t) => `/${t}?id=eq.${id()}` },
    { name: 'keyset page of 100', path: (t) => `/${t}?order=id&limit=100&id=gt.${keyset()}` },
    {
      name: 'to-one embed (a foreign key), page of 100',
      path: (t) => `/${t}?select=id,subject,assignee(name)&order=id&limit=100&id=gt.${keyset()}`,
    },
    {
      name: 'many-to-many embed, page of 100',
      path: (t) => `/${t}?select=id,labels(name)&order=id&limit=100&id=gt.${keyset()}`,
    },
    {
      name: 'count=exact, page of 10',
      path: (t) => `/${t}?select=id&order=id&limit=10&id=gt.${keyset()}`,
      headers: { Prefer: 'count=exact' },
    },
  ];
  for (const shape of shapes)
    await versusLocal(stack, shape, {
      benchmark: `Your schema (desk fixture): ${shape.name}, replica reads`,
      table: 'tickets',
      limit: 1.2,
    });
  notes.push(
    '',
    `"Your schema" rows: the desk fixture (test/fixtures/desk: a ticket desk in two schemas, nothing like the CRM), medium seed (${TICKETS.toLocaleString('en')} tickets), on a stack of its own (\`${PROJECT}\`). The api pgapp generated from rds's catalog (replica reads) against views of the same shape over local tables holding the same rows with the same keys, and relationships written as pgapp writes them.`,
  );
}
