/** `pgapp logs` on the shared stack: without -f, every line asked for, however long the log. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { workDir } from '../../src/paths.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { cli } from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available ? 'pgapp logs (shared stack)' : `pgapp logs — SKIPPED: ${postgrest.reason}`;

const lines = (s: string) => s.split('\n').filter(Boolean);

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await useStack();
  });

  it('prints the whole log without -f (not what a follow stream gave in a moment), and exits', async () => {
    // rds keeps logging while it runs: what pgapp prints lies between docker's counts before and after.
    const dockerLines = async () => {
      const { stdout, stderr } = await run('docker', ['logs', `${stack.project}-rds`], {
        maxBuffer: 1 << 26,
      });
      return { n: lines(stdout).length + lines(stderr).length, first: lines(stdout + stderr)[0] as string };
    };
    const before = await dockerLines();
    expect(before.n).toBeGreaterThan(20);
    const r = await cli(['logs', 'rds', '--tail', '1000000', '--project', stack.project], {
      home: workDir(),
    });
    const after = await dockerLines();
    expect(r.code).toBe(0);
    const got = lines(r.stdout).length + lines(r.stderr).length;
    expect(got).toBeGreaterThanOrEqual(before.n);
    expect(got).toBeLessThanOrEqual(after.n);
    // The oldest lines are there too, not only the last ones.
    expect(r.output).toContain(before.first);
  });
});
