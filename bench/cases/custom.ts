/**
 * Compute on custom, next to the data (examples/crm/db/custom/022_deal_scores.sql, 024_similar_contacts.sql):
 * the scikit-learn job reading the local replica against the same job reading the foreign tables
 * (every row fetched from rds), and the trigram search RPC over the replica against the same query
 * on a local table of the same rows.
 */
import type autocannon from 'autocannon';
import type { TestStack } from '../../src/testing/index.ts';
import { load, median, SECONDS, timeIt, withDb } from '../lib.ts';
import { fmt, notes, report } from '../report.ts';

export async function benchCustom(stack: TestStack) {
  // The ML job: the same function, reading crm (the replica) or rds_crm (postgres_fdw to rds).
  const job = { replica: [] as number[], fdw: [] as number[] };
  let deals = 0;
  await withDb(stack.customUrl, async (c) => {
    const train = (source: string) =>
      c.query<{ r: { deals: number } }>('SELECT ml.train_deal_model($1) AS r', [source]);
    deals = (await train('crm')).rows[0]?.r.deals ?? 0; // warm: the libraries imported in this backend
    await train('rds_crm');
    for (let i = 0; i < 5; i++) {
      job.replica.push(await timeIt(() => train('crm')));
      job.fdw.push(await timeIt(() => train('rds_crm')));
    }
    await train('crm'); // the model the stack serves, from the replica again
  });
  const [replica, fdw] = [median(job.replica), median(job.fdw)];
  report({
    benchmark: 'ML job (scikit-learn) over the replica',
    measured: `replica ${fmt(replica)} ms (median of 5, ${deals.toLocaleString('en')} closed deals)`,
    baseline: `the same job over the foreign tables ${fmt(fdw)} ms (every row fetched from rds)`,
    ratio: `${fmt(replica / fdw, 2)}×`,
    target: '—',
    verdict: 'reported',
  });

  // The similarity RPC against the same function over a local table holding the same rows, behind a
  // view with crm.contacts' per-user rule and with the same trigram indexes: the function's own
  // definition, read from custom, with crm.contacts swapped for it (made again each run).
  await withDb(stack.customUrl, async (c) => {
    const def = (
      await c.query<{ d: string }>(
        `SELECT pg_get_functiondef('crm.similar_contacts(text, integer)'::regprocedure) AS d`,
      )
    ).rows[0]?.d as string;
    if (!def.includes('FROM crm.contacts c'))
      throw new Error(
        'crm.similar_contacts no longer reads "FROM crm.contacts c": update bench/cases/custom.ts',
      );
    await c.query(`
      CREATE SCHEMA IF NOT EXISTS bench AUTHORIZATION api_owner;
      DROP FUNCTION IF EXISTS crm.similar_contacts_local(text, integer);
      DROP TABLE IF EXISTS bench.contacts_local CASCADE;
      CREATE TABLE bench.contacts_local AS SELECT * FROM rds_crm.contacts;
      ALTER TABLE bench.contacts_local ADD PRIMARY KEY (id);
      CREATE INDEX ON bench.contacts_local USING gin (lower(first_name || ' ' || last_name) public.gin_trgm_ops);
      CREATE INDEX ON bench.contacts_local USING gin (lower(split_part(email, '@', 1)) public.gin_trgm_ops);
      ANALYZE bench.contacts_local;
      CREATE VIEW bench.contacts_view AS SELECT * FROM bench.contacts_local
        WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id());
      ${def
        .replace('crm.similar_contacts(', 'crm.similar_contacts_local(')
        .replace('FROM crm.contacts c', 'FROM bench.contacts_view c')};
      GRANT USAGE ON SCHEMA bench TO web_anon;
      GRANT SELECT ON bench.contacts_local, bench.contacts_view TO web_anon;
      GRANT EXECUTE ON FUNCTION crm.similar_contacts_local(text, integer) TO web_anon;
      NOTIFY pgrst, 'reload schema';`);
  });
  await new Promise((r) => setTimeout(r, 1000));
  // Misspelt names from the seed's (a letter changed), so each request finds some.
  const names = [
    'ada lovlace',
    'grace hoper',
    'alan turring',
    'edsger dijkstr',
    'barbara liscov',
    'linus torvals',
  ];
  const path = (fn: string) => (n: number) =>
    `/rpc/${fn}?q=${encodeURIComponent(names[n % names.length] as string)}&max_results=10`;
  const results = {} as Record<'local' | 'api', { many: autocannon.Result; one: autocannon.Result }>;
  for (const [side, fn] of [
    ['local', 'similar_contacts_local'],
    ['api', 'similar_contacts'],
  ] as const) {
    await load(stack.apiUrl, path(fn), stack.jwtSecret, { seconds: 2 }); // warm
    const many = await load(stack.apiUrl, path(fn), stack.jwtSecret);
    const one = await load(stack.apiUrl, path(fn), stack.jwtSecret, { connections: 1, seconds: SECONDS / 2 });
    results[side] = { many, one };
  }
  const { local, api } = results;
  const describe = (r: { many: autocannon.Result; one: autocannon.Result }) =>
    `p50 ${fmt(r.many.latency.p50)} ms at 20 conn., ${fmt(r.many.requests.average, 0)} req/s; 1 conn. p50 ${fmt(r.one.latency.p50)} ms`;
  const errors = [local.many, local.one, api.many, api.one].reduce((a, x) => a + x.errors + x.non2xx, 0);
  const ratio = api.many.latency.p50 / Math.max(local.many.latency.p50, 0.01);
  report({
    benchmark: 'similarity RPC (pg_trgm) over the replica',
    measured: describe(api),
    baseline: `the same query on a local table: ${describe(local)}`,
    ratio: `${fmt(ratio, 2)}× (1 conn. ${fmt(api.one.latency.p50 / Math.max(local.one.latency.p50, 0.01), 2)}×)`,
    target: '—',
    verdict: errors ? `FAILED: ${errors} errors/non-2xx` : 'reported',
  });
  notes.push(
    '**Compute on custom.** The ML job is `ml.train_deal_model()` (plpython3u with numpy and scikit-learn, examples/crm/db/custom/022_deal_scores.sql):',
    'the same function reading the replica (`crm`) or the foreign tables (`rds_crm`, every closed shared deal fetched from rds), 5 runs each in one',
    'backend, median. The similarity RPC is `/rpc/similar_contacts` (pg_trgm over crm.contacts, the replica) against the same SQL over a local',
    "copy of the contacts (the function's own definition over a view with the same visibility filter) with the same two trigram indexes",
    '(pg_trgm `%`: the contacts sharing enough trigrams with the query, then scored and sorted).',
    '',
  );
}
