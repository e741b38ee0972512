/**
 * compose.yaml brings up the same stack as `pgapp dev`: FDW-backed rows through PostgREST, and the
 * same ledger (dev on the volumes compose made applies nothing).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { apiReadyUrl } from '../../src/spec/stack.ts';
import { cli, portFlags, tempHome } from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available ? 'docker compose' : `docker compose — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  const home = tempHome();
  const project = `e2e_compose_${randomBytes(3).toString('hex')}`;
  let portArgs: string[] = [];
  const compose = (...args: string[]) =>
    run(
      'docker',
      ['compose', '-f', join(PACKAGE_ROOT, 'compose.yaml'), '--env-file', join(home, '.env'), ...args],
      {
        cwd: PACKAGE_ROOT,
        maxBuffer: 20 * 1024 * 1024,
      },
    );

  afterAll(async () => {
    await compose('down', '-v').catch(() => {});
    await cli(['reset', '--yes', '--project', project], { home });
  });

  it('comes up with `docker compose up --wait` and serves FDW-backed rows', async () => {
    const { ports, args } = await portFlags();
    const { api } = ports;
    portArgs = args;
    const env = await cli(['compose-env', '--project', project, ...portArgs], { home });
    expect(env.code, env.output).toBe(0);
    await compose('up', '-d', '--wait');
    const setup = await compose('logs', '--no-color', 'setup');
    expect(setup.stdout).toContain('setup: applied db/rds/seed/010_crm_seed.sql');
    // The steps that build custom and the api from rds's catalog ran too.
    expect(setup.stdout).toContain('setup: pgapp_private.sync_api() {"made"');
    expect(setup.stdout).toContain('setup: applied custom/api/050_api.sql');
    expect(setup.stdout).toContain('setup: done');
    // PostgREST has no healthcheck (no shell in its image): ask its API from here.
    for (let i = 0; i < 50; i++) {
      if ((await fetch(apiReadyUrl(api)).catch(() => undefined))?.ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const res = await fetch(
      `http://127.0.0.1:${api}/contacts?select=id,email,company(name)&order=id&limit=3`,
    );
    expect(res.status).toBe(200);
    const rows = (await res.json()) as { id: number; company: { name: string } }[];
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(rows[0]?.company.name).toBeTruthy();
  });

  it('shares the ledger with dev: dev on the same project afterwards applies nothing', async () => {
    await compose('down'); // keep the volumes
    // compose.yaml reads over FDW (the replica is set up by `pgapp dev` only): the same mode here.
    const r = await cli(['dev', '--project', project, '--reads', 'fdw', ...portArgs], { home });
    expect(r.code, r.output).toBe(0);
    for (const phase of [
      'rds: migrations, seed, bridge',
      'Bridge custom → rds (postgres_fdw)',
      'API schema',
      'App layer',
    ]) {
      expect(r.output).toContain(`${phase}: nothing to apply`);
    }
  });
});
