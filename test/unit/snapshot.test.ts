import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../../src/config/lock.ts';
import { checkSnapshotName } from '../../src/stack/snapshot.ts';

describe('snapshot names', () => {
  it('takes short lowercase names that are safe as part of a database name', () => {
    for (const ok of ['seeded', 'before-reset-20261125-2200', 'a', 'x_1', '9lives', 'a'.repeat(40)])
      expect(checkSnapshotName(ok)).toBe(ok);
  });
  it('refuses anything else, saying what a name may be', () => {
    for (const bad of [
      undefined,
      '',
      'Seeded',
      'has space',
      '-lead',
      '_lead',
      'a"b',
      "a'b",
      'a;drop',
      'é',
      'a'.repeat(41),
    ])
      expect(() => checkSnapshotName(bad)).toThrow(/not valid/);
  });
});

describe('processAlive', () => {
  it('is true for a running process and false once it is killed', async () => {
    expect(processAlive(process.pid)).toBe(true);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid as number;
    expect(processAlive(pid)).toBe(true);
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(processAlive(pid)).toBe(false);
  });
});
