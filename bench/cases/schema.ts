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

/** A request shape, as a path for either side: `s` is the suffix of its tables ('' or '_local'). */
export interface Shape {
  name: string;
  path: (s: string) => string;
  headers?: Record<string, string>;
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
  notes.push(
    '',
    `"Your schema" rows: the desk fixture (test/fixtures/desk: a ticket desk in two schemas, nothing like the CRM), medium seed (${TICKETS.toLocaleString('en')} tickets), on a stack of its own (\`${PROJECT}\`). desk's tables as pgapp serves them from rds's catalog (replica reads) against local tables beside them holding the same rows with the same keys, foreign keys and per-user rules, asked the same requests.`,
  );
}
