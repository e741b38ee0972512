/**
 * `pgapp test`: pgTAP files against the running stack with pg_prove, each from the same snapshot of
 * both servers. pgapp's own SQL layer is tested this way (the example's db/tests, through
 * pgapp/testing on the shared stack); the CLI's output, exit code, JUnit XML and its messages for a
 * failing assertion, a syntax error and an empty folder on a stack of its own.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { cli, query, rdsFromUrl, ThrowawayStack } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'pgapp test (pgTAP)'
  : `pgapp test (pgTAP) — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  describe("pgapp's own SQL, as the example's pgTAP tests (shared stack, through pgapp/testing)", () => {
    let stack: TestStack;
    beforeAll(async () => {
      stack = await useStack();
    });
    afterAll(async () => {
      await stack?.[Symbol.asyncDispose]();
    });

    it('passes every file, leaves nothing behind on either server, and writes JUnit XML', async () => {
      const junit = join(tmpdir(), `pgapp-junit-${process.pid}.xml`);
      const run = await stack.dbTests({ junit });
      for (const f of run.files)
        expect(f.passed, `${f.file.name}: ${f.error ?? JSON.stringify(f.results.filter((t) => !t.ok))}`).toBe(
          true,
        );
      expect(run.files.map((f) => f.file.name)).toEqual([
        'db/tests/rds/010_guard.sql',
        'db/tests/custom/010_owner_rules.sql',
        'db/tests/custom/020_write_through.sql',
        'db/tests/custom/030_cache.sql',
      ]);
      expect(run.files.reduce((a, f) => a + f.results.length, 0)).toBeGreaterThan(20);
      // The rows the tests wrote through the bridge are gone from rds, pgTAP and the helpers too.
      const [left] = await query<{ n: string }>(
        rdsFromUrl(stack.rdsUrl),
        `SELECT count(*)::text AS n FROM crm.companies WHERE domain IN ('alice.example.com', 'through.example.com')`,
      );
      expect(left?.n).toBe('0');
      for (const url of [stack.customUrl, stack.rdsUrl]) {
        const cfg = url === stack.rdsUrl ? rdsFromUrl(url) : { connectionString: url };
        const [ext] = await query<{ n: string }>(
          cfg,
          `SELECT count(*)::text AS n FROM pg_extension WHERE extname = 'pgtap'`,
        );
        expect(ext?.n).toBe('0');
      }
      expect((await stack.snapshots()).map((s) => s.name)).not.toContain('pgapp_test_run');
      const xml = readFileSync(junit, 'utf8');
      expect(xml).toMatch(
        /<testsuite name="db\/tests\/custom\/010_owner_rules.sql" tests="8" failures="0" errors="0"/,
      );
    });
  });

  describe('the command: TAP, a summary, exit 1 and where a failure is (a stack of its own)', () => {
    const stack = new ThrowawayStack('pgtap');
    const tests = join(stack.home, 'db', 'tests', 'custom');
    const run = (extra: string[] = []) =>
      cli(['test', '--project', stack.project, ...extra], { home: stack.home });

    beforeAll(async () => {
      const up = await stack.dev();
      expect(up.code, up.output).toBe(0);
      // From here the project's SQL root is this db/ (its tests only; the stack was made from the example).
      mkdirSync(tests, { recursive: true });
    });
    afterAll(async () => {
      await stack.reset();
    });

    it('an empty folder is a message with an example, not a stack trace', async () => {
      const r = await run();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /No database tests: the project's db\/tests\/rds and db\/tests\/custom hold no \.sql file/,
      );
      expect(r.stderr).toMatch(/hint: Write one, e\.g\. db\/tests\/custom\/010_hello\.sql/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it('a failing assertion: TAP, the file and line, the summary, exit 1, JUnit XML', async () => {
      writeFileSync(
        join(tests, '010_mixed.sql'),
        [
          'SELECT plan(3);',
          "SELECT ok(true, 'the first holds');",
          '-- the second does not',
          'SELECT is(',
          "  (SELECT 1 + 1), 3, 'arithmetic is what it was');",
          "SELECT pgapp_test.as_user('carol');",
          "INSERT INTO crm.companies (name, domain, industry, employees) VALUES ('Carol Co', 'carol.example.com', 'energy', 2);",
          "SELECT ok(true, 'the third holds');",
          'SELECT * FROM finish();',
          '',
        ].join('\n'),
      );
      const r = await run(['--junit', 'out/junit.xml']);
      expect(r.code, r.output).toBe(1);
      expect(r.stdout).toMatch(/db\/tests\/custom\/010_mixed\.sql \.\. FAILED/);
      expect(r.stdout).toMatch(/ok 1 - the first holds/);
      expect(r.stdout).toMatch(
        /not ok 2 - arithmetic is what it was\n\s+at db\/tests\/custom\/010_mixed\.sql:4\n/,
      );
      expect(r.stdout).toMatch(/# +have: 2\n.*# +want: 3/);
      expect(r.stdout).toMatch(/Failed: 1 assertion\. Files=1, Tests=3, .* Result: FAIL/);
      const xml = readFileSync(join(stack.home, 'out', 'junit.xml'), 'utf8');
      expect(xml).toMatch(
        /<failure message="db\/tests\/custom\/010_mixed\.sql:4: 2 - arithmetic is what it was">/,
      );
      // Carol's company went to rds through the bridge, and is gone again.
      const [left] = await query<{ n: string }>(
        stack.rds(),
        `SELECT count(*)::text AS n FROM crm.companies WHERE domain = 'carol.example.com'`,
      );
      expect(left?.n).toBe('0');
    });

    it("a syntax error names the file and line in psql's words", async () => {
      rmSync(join(tests, '010_mixed.sql'));
      writeFileSync(
        join(tests, '020_syntax.sql'),
        "SELECT plan(1);\nSELECT ok(true, 'fine');\nSELEC oops;\nSELECT * FROM finish();\n",
      );
      const r = await run();
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(
        /db\/tests\/custom\/020_syntax\.sql:3: ERROR: +syntax error at or near "SELEC"/,
      );
      expect(r.stdout).toMatch(/Result: FAIL/);
    });

    it('all passing: exit 0 and "All tests successful"', async () => {
      rmSync(join(tests, '020_syntax.sql'));
      writeFileSync(
        join(tests, '030_ok.sql'),
        "SELECT plan(1);\nSELECT ok(true, 'fine');\nSELECT * FROM finish();\n",
      );
      const r = await run();
      expect(r.code, r.output).toBe(0);
      expect(r.stdout).toMatch(/All tests successful\. Files=1, Tests=1/);
    });
  });
});
