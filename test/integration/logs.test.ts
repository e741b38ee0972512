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

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await useStack();
  });

  it('prints the whole log without -f (not what a follow stream gave in a moment), and exits', async () => {
    const { stdout, stderr } = await run('docker', ['logs', `${stack.project}-rds`], { maxBuffer: 1 << 26 });
    const lines = (s: string) => s.split('\n').filter(Boolean);
    const want = lines(stdout).length + lines(stderr).length;
    expect(want).toBeGreaterThan(20);
    const r = await cli(['logs', 'rds', '--tail', '1000000', '--project', stack.project], {
      home: workDir(),
    });
    expect(r.code).toBe(0);
    expect(lines(r.stdout).length + lines(r.stderr).length).toBe(want);
    // The oldest lines are there too, not only the last ones.
    expect(r.output).toContain(lines(stdout + stderr)[0]);
  });
});
