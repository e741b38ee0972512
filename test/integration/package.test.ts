/**
 * pgapp as a package, tried as a new user would: `npm pack`, installed into a scratch project, whose
 * own vitest test imports `pgapp/testing` (the built JS and its .d.ts — no TypeScript source ships)
 * and reads the API of the shared test stack; the `pgapp` bin runs the built CLI (no tsx): `init` makes a
 * project in an empty directory and `dev` brings it up.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { PACKAGE_ROOT, workDir } from '../../src/paths.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { freePorts } from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'the packed package'
  : `the packed package — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  const scratch = mkdtempSync(join(tmpdir(), 'pgapp-user-'));
  beforeAll(async () => {
    stack = await useStack();
  });

  it('installs from its tarball, and a test in another project uses pgapp/testing', async () => {
    const npm = (args: string[], cwd: string) =>
      run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, maxBuffer: 1 << 24 });
    const { stdout } = await npm(['pack', '--pack-destination', scratch, '--silent'], PACKAGE_ROOT);
    const tarball = join(scratch, stdout.trim().split('\n').at(-1) as string);
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({ name: 'my-app', type: 'module', private: true }),
    );
    await npm(['install', tarball], scratch);
    const installed = join(scratch, 'node_modules', 'pgapp');
    expect(existsSync(join(installed, 'dist', 'testing', 'index.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'testing', 'index.d.ts'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false); // the built JS only
    // What runs there and nothing else: no TypeScript runner (the bin is built JS), and testcontainers
    // only for those who install it for startDisposableStack().
    // (Checked before the test runner goes in: vitest brings esbuild of its own.)
    for (const dev of ['tsx', 'esbuild', 'testcontainers'])
      expect(existsSync(join(scratch, 'node_modules', dev)), dev).toBe(false);
    const vitestVersion = (await import('vitest/package.json', { with: { type: 'json' } })).default.version;
    await npm(['install', `vitest@${vitestVersion}`], scratch);

    writeFileSync(
      join(scratch, 'api.test.ts'),
      `import { useStack } from 'pgapp/testing';
import { expect, it } from 'vitest';

it('reads a contact through the API of a pgapp stack', async () => {
  const stack = await useStack();
  const rows = await (await fetch(\`\${stack.apiUrl}/contacts?select=id,company(name)&limit=1\`)).json();
  expect(rows).toHaveLength(1);
  expect(rows[0].company.name).toBeTruthy();
});
`,
    );
    // The shared test stack (its secrets are in this checkout): reused, not made again.
    const env = { ...process.env, PGAPP_TEST_PROJECT: stack.project, PGAPP_HOME: workDir(), CI: 'true' };
    const vitest = await run(
      process.execPath,
      [join(scratch, 'node_modules', 'vitest', 'vitest.mjs'), 'run'],
      {
        cwd: scratch,
        env,
        maxBuffer: 1 << 24,
      },
    );
    expect(vitest.stdout).toMatch(/1 passed/);

    // The bin is the built CLI.
    const pgapp = join(scratch, 'node_modules', '.bin', 'pgapp');
    const help = await run(pgapp, ['--help'], { cwd: scratch });
    expect(help.stdout).toMatch(/^pgapp — Postgres as an app/);

    // A new project in an empty directory: init from the example, then dev brings it up.
    const app = mkdtempSync(join(tmpdir(), 'pgapp-new-app-'));
    const project = `pkg_${randomBytes(3).toString('hex')}`;
    const envApp = { ...process.env, PGAPP_HOME: app, CI: 'true' };
    const made = await run(pgapp, ['init', '--example', 'crm', '--project', project], {
      cwd: app,
      env: envApp,
    });
    expect(made.stdout).toContain(`project "${project}"`);
    expect(existsSync(join(app, 'db', 'rds', 'migrations', '010_crm_schema.sql'))).toBe(true);
    const [rds, custom, api] = await freePorts(3);
    const ports = [
      '--rds-port',
      String(rds),
      '--custom-port',
      String(custom),
      '--postgrest-port',
      String(api),
    ];
    try {
      const up = await run(pgapp, ['dev', ...ports], { cwd: app, env: envApp, maxBuffer: 1 << 24 });
      expect(up.stdout).toContain(`pgapp "${project}" is up`);
      expect(up.stdout).toContain('schemas crm');
      const rows = await (
        await fetch(`http://127.0.0.1:${api}/contacts?select=id,company(name)&limit=1`)
      ).json();
      expect(rows[0].company.name).toBeTruthy();
    } finally {
      await run(pgapp, ['reset', '--yes'], { cwd: app, env: envApp });
    }
  }, 400_000);
});
