/**
 * The Docker engine restarted under a running stack (a throwaway project): the next `dev` brings
 * everything back, and what was written before is still there. Restarting the engine needs to
 * control it: systemd's docker unit, or a dockerd this machine runs as root (CI's, see
 * .ci/provision). Anywhere else the test is skipped and says why.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker } from '../../src/docker/engine.ts';
import { useStack } from '../../src/testing/index.ts';
import { postCompany, query, ThrowawayStack } from '../helpers.ts';

type Control = { how: string; restart: () => Promise<void> } | { reason: string };

const sh = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};

async function engineAnswers(withinMs: number, want: boolean): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const up = await docker()
      .ping()
      .then(
        () => true,
        () => false,
      );
    if (up === want) return;
    if (Date.now() > deadline) throw new Error(`the engine did not ${want ? 'come back' : 'stop'} in time`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** How this machine's engine can be restarted, or why it cannot be from here. */
function engineControl(): Control {
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://'))
    return { reason: `the engine is remote (DOCKER_HOST=${host}): it cannot be restarted from here` };
  if (existsSync('/run/systemd/system') && sh('systemctl', ['is-active', 'docker']) === 'active') {
    return {
      how: 'systemctl restart docker',
      restart: async () => {
        execFileSync('systemctl', ['restart', 'docker']);
        await engineAnswers(60_000, true);
      },
    };
  }
  const pid = sh('pgrep', ['-xo', 'dockerd']);
  if (!pid) return { reason: 'no dockerd process on this machine (Docker Desktop or rootless?)' };
  if (process.getuid?.() !== 0) return { reason: 'restarting dockerd needs root' };
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  return {
    how: `SIGTERM to dockerd (pid ${pid}), then \`${argv.join(' ')}\` again`,
    restart: async () => {
      process.kill(Number(pid), 'SIGTERM');
      const deadline = Date.now() + 60_000;
      while (existsSync(`/proc/${pid}`) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 250));
      await engineAnswers(5_000, false);
      const log = openSync('/var/log/dockerd.log', 'a');
      const d = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
      d.unref();
      await engineAnswers(60_000, true);
    },
  };
}

const postgrest = inject('postgrest');
const control = engineControl();
const skipReason = !postgrest.available ? postgrest.reason : 'reason' in control ? control.reason : undefined;
const title = skipReason
  ? `Docker engine restart — SKIPPED: ${skipReason}`
  : `Docker engine restart (${'how' in control ? control.how : ''})`;

describe.skipIf(Boolean(skipReason))(title, () => {
  const stack = new ThrowawayStack('engine');
  const { project, send } = stack;

  beforeAll(async () => {
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
  });
  afterAll(async () => {
    await stack.reset();
    // The shared stack went down with the engine too: ready again for the tests after this one.
    await useStack();
  });

  it('the next dev brings everything back, with data written before the restart intact', async () => {
    const { id } = await postCompany(send, {
      name: 'Before the restart',
      domain: `engine-${project}.example.com`,
      industry: 'media',
      employees: 7,
    });
    const containerIds = (await docker().listContainers({ filters: { name: [project] } }))
      .map((c) => c.Id)
      .sort();
    expect(containerIds).toHaveLength(4);

    await (control as { restart: () => Promise<void> }).restart();

    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    for (const hop of [
      'custom → rds (postgres_fdw)',
      'PostgREST GET → custom (replica)',
      'PostgREST POST → rds',
    ])
      expect(r.output).toContain(`✔ ${hop}`);
    // The same containers and volumes: brought back, not made anew.
    expect((await docker().listContainers({ filters: { name: [project] } })).map((c) => c.Id).sort()).toEqual(
      containerIds,
    );
    const rows = (await (await send('GET', `/companies?id=eq.${id}&select=name`)).json()) as unknown[];
    expect(rows).toEqual([{ name: 'Before the restart' }]);
    expect(await query(stack.rds(), 'SELECT employees FROM crm.companies WHERE id = $1', [id])).toEqual([
      { employees: 7 },
    ]);
  }, 240_000);
});
