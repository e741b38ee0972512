/**
 * startDisposableStack(): a fresh stack per suite on testcontainers (DockerComposeEnvironment over
 * compose.yaml), bound to 127.0.0.1, removed at the end — and removed by the next start when the
 * process that made it was killed mid-suite (no Ryuk).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { processAlive } from '../../src/config/lock.ts';
import { docker } from '../../src/docker/engine.ts';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { type DisposableStack, startDisposableStack } from '../../src/testing/index.ts';
import { query, rdsFromUrl, tempHome } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'disposable stacks (testcontainers)'
  : `disposable stacks (testcontainers) — SKIPPED: ${postgrest.reason}`;

const COMPOSE_PROJECT = 'com.docker.compose.project';

async function left(project: string) {
  const containers = await docker().listContainers({
    all: true,
    filters: { label: [`${COMPOSE_PROJECT}=${project}`] },
  });
  const volumes =
    (await docker().listVolumes({ filters: { label: [`pgapp.project=${project}`] } })).Volumes ?? [];
  const networks = await docker().listNetworks({ filters: { label: [`${COMPOSE_PROJECT}=${project}`] } });
  return { containers: containers.length, volumes: volumes.length, networks: networks.length };
}

describe.skipIf(!postgrest.available)(title, () => {
  let stack: DisposableStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('a test process killed mid-suite leaves a stack the next start removes', async () => {
    const home = tempHome();
    const script = join(home, 'suite.mts');
    writeFileSync(
      script,
      `import { startDisposableStack } from ${JSON.stringify(join(PACKAGE_ROOT, 'src/testing/index.ts'))};
const s = await startDisposableStack();
console.log('UP ' + s.project);
setInterval(() => {}, 1000); // the suite runs on … until it is killed
`,
    );
    const child = spawn(
      process.execPath,
      [join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), script],
      {
        cwd: home,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const project = await new Promise<string>((resolve, reject) => {
      const onData = (d: Buffer) => {
        output += d;
        const m = /UP (\S+)/.exec(output);
        if (m) resolve(m[1] as string);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', (code) =>
        reject(new Error(`the suite exited (${code}) before its stack was up:\n${output}`)),
      );
    });
    // SIGKILL the process that made the stack (tsx runs the script in a child of its own: the pid
    // in the project's name), then its launcher.
    const suitePid = Number(/^pgapp_disposable_(\d+)_/.exec(project)?.[1]);
    process.kill(suitePid, 'SIGKILL');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await expect.poll(() => processAlive(suitePid)).toBe(false);
    // Killed: no afterAll ran, its stack is still there.
    expect((await left(project)).containers).toBeGreaterThanOrEqual(4);

    // The next run's start removes it before making its own.
    stack = await startDisposableStack();
    expect(await left(project)).toEqual({ containers: 0, volumes: 0, networks: 0 });
    expect(stack.project).not.toBe(project);
  });

  it('serves the API from a fresh seed, every host port on 127.0.0.1 only, and stop() removes it all', async () => {
    const s = stack as DisposableStack;
    const res = await fetch(`${s.apiUrl}/contacts?select=id,company(name)&order=id&limit=2`);
    expect(res.status).toBe(200);
    const rows = (await res.json()) as { id: number; company: { name: string } }[];
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
    expect(await query(rdsFromUrl(s.rdsUrl), 'SELECT count(*)::int AS n FROM crm.contacts')).toEqual([
      { n: 1000 },
    ]);
    const write = await fetch(`${s.apiUrl}/companies`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${s.token()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'Disposable Co',
        domain: 'd.example.com',
        industry: 'software',
        employees: 1,
      }),
    });
    expect(write.status).toBe(201);
    const list = await docker().listContainers({ filters: { label: [`${COMPOSE_PROJECT}=${s.project}`] } });
    const bound = list.flatMap((c) => c.Ports.filter((p) => p.PublicPort).map((p) => p.IP));
    expect(bound.length).toBe(3);
    expect(new Set(bound)).toEqual(new Set(['127.0.0.1']));

    await s.stop();
    expect(await left(s.project)).toEqual({ containers: 0, volumes: 0, networks: 0 });
    stack = undefined;
  });
});
