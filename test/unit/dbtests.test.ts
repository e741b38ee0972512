import { describe, expect, it } from 'vitest';
import { junitXml, parseProve, psqlError } from '../../src/stack/dbtests.ts';

// What pg_prove --verbose printed for this file with psql echoing every line (ECHO=all), verbatim.
const SQL =
  "SELECT plan(2);\n-- note\nSELECT ok(true, 'a');\n\nSELECT is(\n  1, 2, 'b');\nSELECT * FROM finish();\n";
const OUT = [
  '/tmp/x/t.sql .. ',
  'SELECT plan(2);',
  '1..2',
  '-- note',
  "SELECT ok(true, 'a');",
  'ok 1 - a',
  'SELECT is(',
  "  1, 2, 'b');",
  'not ok 2 - b',
  '# Failed test 2: "b"',
  '#         have: 1',
  '#         want: 2',
  'SELECT * FROM finish();',
  '# Looks like you failed 1 test of 2',
  'Failed 1/2 subtests ',
  '',
  'Test Summary Report',
  '-------------------',
  '/tmp/x/t.sql (Wstat: 0 Tests: 2 Failed: 1)',
  '  Failed test:  2',
  'Files=1, Tests=2,  0 wallclock secs ( 0.02 usr +  0.00 sys =  0.02 CPU)',
  'Result: FAIL',
].join('\n');

describe('pgapp test: reading pg_prove', () => {
  it('finds each result, the line of the statement that made it, and the diagnostics of a failure', () => {
    const { results, planned } = parseProve(OUT, SQL);
    expect(planned).toBe(2);
    expect(results).toEqual([
      { n: 1, ok: true, description: 'a', line: 3, diag: [] },
      {
        n: 2,
        ok: false,
        description: 'b',
        line: 5,
        diag: [
          'Failed test 2: "b"',
          '        have: 1',
          '        want: 2',
          'Looks like you failed 1 test of 2',
        ],
      },
    ]);
  });

  it("says psql's error with the project's file name and line", () => {
    const file = { target: 'custom' as const, name: 'db/tests/custom/x.sql', sql: '' };
    expect(
      psqlError(
        'psql:/tmp/pgapp-tests/001-custom-x.sql:3: ERROR:  syntax error at or near "SELEC"\nLINE 1: SELEC oops;',
        file,
        '/tmp/pgapp-tests/001-custom-x.sql',
      ),
    ).toBe('db/tests/custom/x.sql:3: ERROR:  syntax error at or near "SELEC"');
    expect(psqlError('', file, '/x')).toBeUndefined();
  });

  it('writes JUnit XML: a suite per file, a failure with its file and line, escaped', () => {
    const file = { target: 'custom' as const, name: 'db/tests/custom/x.sql', sql: SQL };
    const { results } = parseProve(OUT, SQL);
    const xml = junitXml([{ file, results, passed: false, ms: 1500, tap: [] }]);
    expect(xml).toMatch(
      /<testsuite name="db\/tests\/custom\/x\.sql" tests="2" failures="1" errors="0" time="1\.500">/,
    );
    expect(xml).toMatch(/<testcase classname="db\/tests\/custom\/x\.sql" name="1 - a"\/>/);
    expect(xml).toMatch(/<failure message="db\/tests\/custom\/x\.sql:5: 2 - b">Failed test 2: &quot;b&quot;/);
  });
});
