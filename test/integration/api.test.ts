/**
 * The API over the bridge, on the shared test stack (`useStack()`: created once, reused by every
 * run): reads with embedding, writes landing in rds, auth refused where it must be, the CLI's
 * status/logs/psql/token against it.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv, promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { makeToken } from '../../src/auth/jwt.ts';
import { readSecrets, type Secrets } from '../../src/config/secrets.ts';
import { docker } from '../../src/docker/engine.ts';
import { workDir } from '../../src/paths.ts';
import { LABELS } from '../../src/spec/stack.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { apiClient, cli, postCompany, query, rdsFromUrl } from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'API over the bridge (shared stack)'
  : `API over the bridge — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  let project: string;
  const home = workDir();
  const api = (path: string) => `${stack.apiUrl}${path}`;
  const rdsCfg = () => rdsFromUrl(stack.rdsUrl);
  const send = apiClient(
    () => stack.apiUrl,
    () => stack.token(),
  );

  beforeAll(async () => {
    stack = await useStack(); // made by the global setup: reused here
    project = stack.project;
  });
  // Each test starts from the seed (the snapshot the global setup keeps).
  beforeEach(() => stack.restore('seeded'));
  afterAll(() => stack?.[Symbol.asyncDispose]());

  it('keeps secrets in a 0600 file and binds every host port to 127.0.0.1 only', async () => {
    expect(statSync(join(home, '.pgapp', project, 'secrets.json')).mode & 0o777).toBe(0o600);
    const list = await docker().listContainers({ filters: { label: [`${LABELS.project}=${project}`] } });
    const bound = list.flatMap((c) => c.Ports.filter((p) => p.PublicPort).map((p) => p.IP));
    expect(bound.length).toBe(3);
    expect(new Set(bound)).toEqual(new Set(['127.0.0.1']));
  });

  it('serves FDW-backed rows with embedding both ways', async () => {
    const res = await fetch(api('/contacts?select=id,email,company(id,name)&order=id&limit=2'));
    expect(res.status).toBe(200);
    const rows = (await res.json()) as { id: number; email: string; company: { name: string } }[];
    const [fromRds] = await query<{ email: string; name: string }>(
      rdsCfg(),
      'SELECT c.email, co.name FROM crm.contacts c JOIN crm.companies co ON co.id = c.company_id ORDER BY c.id LIMIT 1',
    );
    expect(rows[0]?.email).toBe(fromRds?.email);
    expect(rows[0]?.company.name).toBe(fromRds?.name);
    const companies = (await (await fetch(api('/companies?select=id,contacts(id)&id=eq.1'))).json()) as {
      contacts: unknown[];
    }[];
    expect(companies[0]?.contacts.length).toBeGreaterThan(0);
  });

  it('POST, PATCH and DELETE through PostgREST land in rds', async () => {
    const created = await postCompany(send, {
      name: 'E2E Co',
      domain: `e2e-${project}.example.com`,
      industry: 'software',
      employees: 3,
    });
    expect(created?.created_at).toBeTruthy();
    expect(
      await query(rdsCfg(), 'SELECT name, employees FROM crm.companies WHERE id = $1', [created?.id]),
    ).toEqual([{ name: 'E2E Co', employees: 3 }]);

    const patch = await send('PATCH', `/companies?id=eq.${created?.id}`, { employees: 42 });
    expect(patch.status).toBe(200);
    expect(await query(rdsCfg(), 'SELECT employees FROM crm.companies WHERE id = $1', [created?.id])).toEqual(
      [{ employees: 42 }],
    );

    const del = await send('DELETE', `/companies?id=eq.${created?.id}`);
    expect(del.status).toBe(200);
    expect(await query(rdsCfg(), 'SELECT 1 FROM crm.companies WHERE id = $1', [created?.id])).toEqual([]);
  });

  it("a bulk POST is one rds transaction: a row rds refuses leaves none of the request's rows", async () => {
    const domain = `bulk-${project}`;
    const ok = { name: 'Bulk 1', domain: `${domain}-1.example`, industry: 'software', employees: 1 };
    const refused = { name: 'Bulk 2', domain: `${domain}-2.example`, industry: null, employees: 1 }; // NOT NULL on rds
    const res = await send('POST', '/companies', [ok, refused]);
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe('23502');
    expect(
      await query(rdsCfg(), 'SELECT domain FROM crm.companies WHERE domain LIKE $1', [`${domain}-%`]),
    ).toEqual([]);
  });

  it('refuses writes from anonymous and tokens signed with another secret', async () => {
    const anon = await send(
      'POST',
      '/companies',
      { name: 'x', domain: 'x', industry: 'x', employees: 1 },
      null,
    );
    expect([401, 403]).toContain(anon.status);
    const forged = makeToken('another-secret-that-is-at-least-32-characters', {
      role: 'web_user',
      expiresIn: 600,
    });
    const res = await send(
      'POST',
      '/companies',
      { name: 'x', domain: 'x', industry: 'x', employees: 1 },
      forged,
    );
    expect(res.status).toBe(401);
    const [n] = await query<{ n: number }>(
      rdsCfg(),
      `SELECT count(*)::int AS n FROM crm.companies WHERE domain = 'x'`,
    );
    expect(n?.n).toBe(0);
  });

  it('status lists the four services as JSON', async () => {
    const r = await cli(['status', '--json', '--project', project], { home });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { services: { service: string; state: string }[] };
    expect(s.services.map((x) => [x.service, x.state])).toEqual([
      ['rds', 'running'],
      ['custom', 'running'],
      ['postgrest', 'running'],
      ['gateway', 'running'],
    ]);
  });

  it('status --json says how to connect (passwords redacted unless --show-secrets); pgapp env works as printed', async () => {
    const secrets = readSecrets(project) as Secrets;
    const s = JSON.parse((await cli(['status', '--json', '--project', project], { home })).stdout) as {
      connections: {
        api: string;
        databases: { custom: string; rds: string };
        reads: string;
        tokens?: unknown;
      };
    };
    expect(s.connections.api).toBe(stack.apiUrl);
    expect(s.connections.reads).toBe('replica');
    expect(s.connections.databases.custom).toMatch(/^postgres:\/\/postgres:\*\*\*\*@127\.0\.0\.1:\d+\//);
    expect(JSON.stringify(s)).not.toContain(secrets.customPassword);
    expect(JSON.stringify(s)).not.toContain(secrets.rdsMasterPassword);
    expect(s.connections.tokens).toBeUndefined();
    const shown = JSON.parse(
      (await cli(['status', '--json', '--show-secrets', '--project', project], { home })).stdout,
    ) as { connections: { databases: { custom: string } } };
    expect(shown.connections.databases.custom).toBe(stack.customUrl);

    // `pgapp env > .env.local`: read back as node --env-file reads it.
    const out = await cli(['env', '--project', project], { home });
    expect(out.code).toBe(0);
    const vars = parseEnv(out.stdout);
    expect(Object.keys(vars).sort()).toEqual([
      'DATABASE_URL',
      'PGAPP_ANON_TOKEN',
      'PGAPP_API_URL',
      'PGAPP_RDS_CA',
      'PGAPP_USER_TOKEN',
      'RDS_DATABASE_URL',
    ]);
    // The README's examples that read this file run in tls.test.ts.
    const res = await fetch(`${vars.PGAPP_API_URL}/contacts?limit=1`, {
      headers: { Authorization: `Bearer ${vars.PGAPP_ANON_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const mine = await fetch(`${vars.PGAPP_API_URL}/deals?limit=1`, {
      headers: { Authorization: `Bearer ${vars.PGAPP_USER_TOKEN}` },
    });
    expect(mine.status).toBe(200);
  });

  it('logs and psql reach each service (psql on rds as the master user over TLS, never a superuser)', async () => {
    const logs = await cli(['logs', 'rds', '--project', project, '--tail', '5'], { home });
    expect(logs.code).toBe(0);
    const truth = await run('docker', ['logs', '--tail', '5', `${project}-rds`]);
    expect(logs.output.trim()).toBe(`${truth.stdout}${truth.stderr}`.trim());
    expect(logs.output.trim().split('\n')).toHaveLength(5);
    const rds = await cli(
      [
        'psql',
        'rds',
        '--project',
        project,
        '--',
        '-tAc',
        'SELECT current_user, ssl, usesuper FROM pg_stat_ssl JOIN pg_user ON usename = current_user WHERE pid = pg_backend_pid()',
      ],
      { home },
    );
    expect(rds.code, rds.output).toBe(0);
    expect(rds.stdout.trim()).toBe('postgres|t|f');
    const custom = await cli(
      ['psql', 'custom', '--project', project, '--', '-tAc', 'SELECT count(*) > 0 FROM crm.contacts'],
      { home },
    );
    expect(custom.code, custom.output).toBe(0);
    expect(custom.stdout.trim()).toBe('t');
  });

  it('issues tokens PostgREST accepts, and expired ones it refuses', async () => {
    const ok = (
      await cli(['token', '--project', project, '--role', 'web_user', '--exp', '5m'], { home })
    ).stdout.trim();
    expect((await fetch(api('/deals?limit=1'), { headers: { Authorization: `Bearer ${ok}` } })).status).toBe(
      200,
    );
    const expired = makeToken(stack.jwtSecret, {
      role: 'web_user',
      expiresIn: 1,
      now: Date.now() - 3_600_000,
    });
    expect(
      (await fetch(api('/deals?limit=1'), { headers: { Authorization: `Bearer ${expired}` } })).status,
    ).toBe(401);
  });
});
