/**
 * PostgREST on your database is the oracle: the cinema fixture (test/fixtures/cinema, in the image
 * of the sakila sample database: a column named like its table, two keys to one table, keys both
 * ways, a self-reference, many-to-many, one-to-one, composite keys, a schema of its own) served by
 * pgapp in both read modes and by PostgREST pointed straight at a copy of the same rds, and every
 * request of the corpus (test/oracle/corpus/cinema.ts) answered the same by both. The desk fixture's
 * runs (both modes, and over --rds-url) share schema.test.ts's stacks; the example's, api.test.ts's.
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { query, replicaCaughtUp, ThrowawayStack } from '../helpers.ts';
import { cinemaCorpus } from '../oracle/corpus/cinema.ts';
import { expectOracleEqual, oracleRun } from '../oracle/stack.ts';

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'PostgREST on your database is the oracle (the cinema fixture)'
  : `PostgREST on your database is the oracle — SKIPPED: ${postgrest.reason}`;

const CINEMA = join(PACKAGE_ROOT, 'test', 'fixtures', 'cinema');

describe.skipIf(!postgrest.available)(title, () => {
  const stack = new ThrowawayStack('cinema');

  beforeAll(async () => {
    cpSync(CINEMA, stack.home, { recursive: true });
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
  });
  afterAll(async () => {
    await stack.reset();
  });

  for (const reads of ['replica', 'fdw'] as const) {
    it(`answers every request as PostgREST on rds does (reads: ${reads})`, async () => {
      if (reads === 'fdw') {
        const r = await stack.dev(['--reads', 'fdw']);
        expect(r.code, r.output).toBe(0);
      }
      const outcomes = await oracleRun(stack, reads, cinemaCorpus);
      expectOracleEqual(`cinema, reads: ${reads}`, outcomes);
      // The corpus reaches what it means to: most answers are rows, not errors.
      expect(outcomes.filter((o) => o.oracle.status === 200).length).toBeGreaterThan(90);
    });
  }

  it('runs each function where it can: stable ones on custom, writing ones (and one reading what is not mirrored) on rds', async () => {
    const runs = await query<{ rel: string; runs: string }>(
      stack.custom(),
      `SELECT rel, runs FROM pgapp_private.functions
       WHERE rel IN ('public.films_by_rating', 'public.rental_total', 'public.add_actor', 'public.promo_discount',
                     'public.bump_rentals', 'public.film_count') ORDER BY rel, call_as`,
    );
    expect(runs).toEqual([
      { rel: 'public.add_actor', runs: 'rds' },
      { rel: 'public.bump_rentals', runs: 'rds' },
      { rel: 'public.film_count', runs: 'custom' },
      { rel: 'public.film_count', runs: 'custom' },
      { rel: 'public.films_by_rating', runs: 'custom' },
      { rel: 'public.promo_discount', runs: 'rds' },
      { rel: 'public.rental_total', runs: 'custom' },
    ]);
    // A writing function rds runs as pgapp's bridge user, not as the caller: nobody may call it
    // until "tables" says who (add_actor and touch_film are "write" in the fixture's config).
    const unserved = await query<{ name: string; why: string }>(
      stack.custom(),
      "SELECT name, why FROM pgapp_private.api_unserved WHERE kind = 'function' ORDER BY name",
    );
    expect(unserved.map((u) => u.name)).toEqual(['reset_stats()']);
    expect(unserved[0]?.why).toMatch(
      /runs on rds as pgapp's bridge user.*"public\.reset_stats": \{"access": "write"\}/,
    );
  });

  it("follows rds's views and functions on the next dev — redefined, added, dropped — and leaves yours at the same name alone", async () => {
    const get = async (path: string) => {
      const res = await fetch(stack.api(path));
      return { status: res.status, body: await res.json() };
    };
    await query(
      stack.rds(),
      `CREATE OR REPLACE VIEW public.film_rank AS
         SELECT film_id, title, length, rank() OVER (ORDER BY length DESC NULLS LAST, film_id) AS longest,
                sum(length) OVER (PARTITION BY rating ORDER BY film_id) AS running_length, rating
         FROM public.film;
       CREATE VIEW public.g_film AS SELECT film_id, title FROM public.film WHERE rating = 'G';
       DROP VIEW public.payroll;
       CREATE OR REPLACE FUNCTION public.sum_of(VARIADIC nums integer[]) RETURNS integer LANGUAGE sql IMMUTABLE AS
         $$ SELECT 1000 + sum(n)::integer FROM unnest(nums) n $$;
       CREATE FUNCTION public.twice(n integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT 2 * n $$;`,
    );
    // Yours (db/custom), at the name of rds's long_film: from then on it is yours.
    mkdirSync(join(stack.home, 'db', 'custom'), { recursive: true });
    writeFileSync(
      join(stack.home, 'db', 'custom', '010_long_film.sql'),
      'CREATE OR REPLACE VIEW public.long_film AS SELECT film_id, title, length, language_id FROM public.film WHERE length > 170;\n' +
        // and yours at the signature of rds's film_count().
        'CREATE OR REPLACE FUNCTION public.film_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT 42::bigint $$;\n',
    );
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect((await get('/film_rank?select=film_id,rating&order=longest&limit=1')).body).toEqual(
      (
        await query(
          stack.rds(),
          'SELECT film_id, rating::text FROM public.film_rank ORDER BY longest LIMIT 1',
        )
      ).map((x) => ({ film_id: x.film_id, rating: x.rating })),
    );
    const g = await get('/g_film?order=film_id');
    expect(g.status).toBe(200);
    expect(g.body.length).toBeGreaterThan(0);
    expect((await get('/payroll')).status).toBe(404);
    // A function replaced on rds, and a new one.
    expect((await get('/rpc/sum_of?nums=1&nums=2')).body).toBe(1003);
    expect((await get('/rpc/twice?n=21')).body).toBe(42);
    expect((await get('/rpc/film_count')).body).toBe(42);
    const mine = await get('/long_film?select=length&order=length');
    expect(mine.body.length).toBeGreaterThan(0);
    expect(mine.body.every((x: { length: number }) => x.length > 170)).toBe(true);
    // The next dev changes nothing of yours, and the view stays yours when rds's changes.
    await query(
      stack.rds(),
      "CREATE OR REPLACE VIEW public.g_film AS SELECT film_id, title FROM public.film WHERE rating IN ('G', 'PG')",
    );
    const again = await stack.dev();
    expect(again.code, again.output).toBe(0);
    expect((await get('/long_film?select=length&length=lte.170')).body).toEqual([]);
    expect((await get('/rpc/film_count')).body).toBe(42);
    const both = (await get('/g_film?select=film_id')).body.length;
    expect(both).toBeGreaterThan(g.body.length);
  });

  it('keeps replicating a partitioned table when rds adds a partition, which is an endpoint from the next dev on', async () => {
    const back = await stack.dev(['--reads', 'replica']);
    expect(back.code, back.output).toBe(0);
    await query(
      stack.rds(),
      `CREATE TABLE public.payment_p_2024_03 PARTITION OF public.payment_p FOR VALUES FROM ('2024-03-01 00:00+00') TO ('2024-04-01 00:00+00');
       INSERT INTO public.payment_p (customer_id, amount, paid_at) VALUES (4, 9.99, '2024-03-05 10:00+00');`,
    );
    // The row is in the new partition on rds; custom's replica, which has no such partition yet, still
    // receives it (in a default partition of pgapp's own: rds's table has none) and serves it.
    await replicaCaughtUp(stack.rds(), stack.custom());
    const before = await fetch(
      stack.api('/payment_p?select=amount&paid_at=gte.2024-03-01&paid_at=lt.2024-04-01'),
    );
    expect(await before.json()).toEqual([{ amount: 9.99 }]);
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    const part = await fetch(stack.api('/payment_p_2024_03?select=amount'));
    expect(part.status).toBe(200);
    expect(await part.json()).toEqual([{ amount: 9.99 }]);
  });

  it("serves nothing of custom's own in a schema it shares with rds (public): postgres_fdw's and dblink's functions are no endpoints", async () => {
    for (const fn of ['postgres_fdw_disconnect_all', 'dblink_get_connections']) {
      const res = await fetch(stack.api(`/rpc/${fn}`), { method: 'POST' });
      expect(res.status, await res.text()).toBe(404);
    }
    // Its functions are rds's own (test/fixtures/cinema/db/rds/migrations/030_functions.sql).
    const doc = (await (await fetch(stack.api('/'))).json()) as { paths: Record<string, unknown> };
    const rpc = Object.keys(doc.paths).filter((p) => p.startsWith('/rpc/'));
    expect(rpc).toContain('/rpc/films_by_rating');
    expect(rpc.filter((p) => /fdw|dblink|pgapp/.test(p))).toEqual([]);
  });
});
