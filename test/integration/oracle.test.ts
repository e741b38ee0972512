/**
 * PostgREST on your database is the oracle: the cinema fixture (test/fixtures/cinema, in the image
 * of the sakila sample database: a column named like its table, two keys to one table, keys both
 * ways, a self-reference, many-to-many, one-to-one, composite keys, a schema of its own) served by
 * pgapp in both read modes and by PostgREST pointed straight at a copy of the same rds, and every
 * request of the corpus (test/oracle/corpus/cinema.ts) answered the same by both. The desk fixture's
 * runs (both modes, and over --rds-url) share schema.test.ts's stacks; the example's, api.test.ts's.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { ThrowawayStack } from '../helpers.ts';
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

  it("serves nothing of custom's own in a schema it shares with rds (public): postgres_fdw's functions are no endpoints", async () => {
    const res = await fetch(stack.api('/rpc/postgres_fdw_disconnect_all'), { method: 'POST' });
    expect(res.status, await res.text()).toBe(404);
    const doc = (await (await fetch(stack.api('/'))).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/rpc/'))).toEqual([]);
  });
});
