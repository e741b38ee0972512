/** The project lock (src/config/lock.ts): exclusive across processes, re-entrant within one, stale locks taken over. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockProject } from '../../src/config/lock.ts';

describe('project lock', () => {
  const home = mkdtempSync(join(tmpdir(), 'pgapp-lock-'));
  const before = process.env.PGAPP_HOME;
  const file = (project: string) => join(home, '.pgapp', project, 'dev.lock');
  beforeAll(() => {
    process.env.PGAPP_HOME = home;
  });
  afterAll(() => {
    process.env.PGAPP_HOME = before;
  });

  it('holds the pid, is re-entrant within the process, and is gone after the last release', async () => {
    const a = await lockProject('p1');
    expect(readFileSync(file('p1'), 'utf8')).toBe(String(process.pid));
    const b = await lockProject('p1'); // the same process: at once
    b.release();
    expect(existsSync(file('p1'))).toBe(true);
    a.release();
    expect(existsSync(file('p1'))).toBe(false);
  });

  it('waits while another live process holds it, and says who', async () => {
    const other = spawn('sleep', ['30']);
    try {
      mkdirSync(join(home, '.pgapp', 'p2'), { recursive: true });
      writeFileSync(file('p2'), String(other.pid));
      const waited: number[] = [];
      await expect(lockProject('p2', { timeoutMs: 500, onWait: (pid) => waited.push(pid) })).rejects.toThrow(
        new RegExp(`Another pgapp \\(pid ${other.pid}\\)`),
      );
      expect(waited).toEqual([other.pid]);
      // Aborting stops the wait at once, with the signal's reason, not at the timeout.
      const abort = new AbortController();
      const t0 = Date.now();
      setTimeout(() => abort.abort(new Error('stopped by the caller')), 100);
      await expect(lockProject('p2', { timeoutMs: 10_000, signal: abort.signal })).rejects.toThrow(
        'stopped by the caller',
      );
      expect(Date.now() - t0).toBeLessThan(5_000);
      // Released by its holder meanwhile: the waiter gets it.
      const waiting = lockProject('p2', { timeoutMs: 10_000 });
      setTimeout(() => writeFileSync(file('p2'), ''), 300); // (an empty lock younger than 5 s is held)
      setTimeout(() => rmSync(file('p2')), 500);
      const got = await waiting;
      expect(readFileSync(file('p2'), 'utf8')).toBe(String(process.pid));
      got.release();
    } finally {
      other.kill();
    }
  });

  it('takes over a lock whose process is gone, or that never got its pid', async () => {
    const gone = spawnSync('true').pid;
    mkdirSync(join(home, '.pgapp', 'p3'), { recursive: true });
    writeFileSync(file('p3'), String(gone));
    (await lockProject('p3', { timeoutMs: 2_000 })).release();

    writeFileSync(file('p3'), '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file('p3'), old, old);
    const taken = await lockProject('p3', { timeoutMs: 2_000 });
    expect(readFileSync(file('p3'), 'utf8')).toBe(String(process.pid));
    taken.release();
  });
});
