/**
 * Security checks on the shared stack: generated secrets (strength, file, never in logs), the
 * bridge role's reach on rds, authentication lines of both servers, and tokens for roles
 * PostgREST must not switch to.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { makeToken } from '../../src/auth/jwt.ts';
import type { Secrets } from '../../src/config/secrets.ts';
import { PACKAGE_ROOT, workDir } from '../../src/paths.ts';
import { BRIDGE_USER } from '../../src/spec/stack.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { cli, loginAs, query, rdsFromUrl } from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available ? 'security (shared stack)' : `security — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  let secrets: Secrets;
  const home = workDir();
  const secretsPath = () => join(home, '.pgapp', stack.project, 'secrets.json');
  /** psql inside custom's container as its superuser (peer: no password). */
  const psqlIn = async (service: 'custom', sql: string) => {
    const { stdout } = await run('docker', [
      'exec',
      '-u',
      'postgres',
      `${stack.project}-${service}`,
      'psql',
      '-d',
      stack.project,
      '-XtAF|',
      '-c',
      sql,
    ]);
    return stdout.trim().split('\n');
  };
  /** rds as the bridge role (a connection string would override user and password: none here). */
  const asBridge = (): pg.ClientConfig => loginAs(stack.rdsUrl, BRIDGE_USER, secrets.bridgePassword);
  /** The SQLSTATE a statement fails with as the bridge role (or 'ok'). */
  const bridgeTries = async (sql: string) => {
    const c = new pg.Client(asBridge());
    await c.connect();
    try {
      await c.query(sql);
      return 'ok';
    } catch (err) {
      return (err as { code?: string }).code;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    stack = await useStack();
    secrets = JSON.parse(readFileSync(secretsPath(), 'utf8'));
  });

  it('generates every secret from at least 32 random bytes, distinct, in a git-ignored file', async () => {
    const values = Object.values(secrets);
    expect(values).toHaveLength(7);
    for (const v of values) expect(Buffer.from(v, 'base64url').length).toBeGreaterThanOrEqual(32);
    expect(new Set(values).size).toBe(values.length);
    const ignored = await run('git', ['check-ignore', '-q', secretsPath()], { cwd: PACKAGE_ROOT }).then(
      () => true,
      () => false,
    );
    expect(ignored).toBe(true);
  });

  it('never prints a secret in container logs or in `pgapp status` / `pgapp logs`', async () => {
    const outputs: string[] = [];
    for (const svc of ['rds', 'custom', 'postgrest', 'gateway']) {
      const { stdout, stderr } = await run('docker', ['logs', `${stack.project}-${svc}`], {
        maxBuffer: 64 * 1024 * 1024,
      });
      outputs.push(stdout + stderr);
      expect(stdout + stderr).not.toBe('');
      const viaCli = await cli(['logs', svc, '--project', stack.project], { home });
      outputs.push(viaCli.output);
    }
    outputs.push((await cli(['status', '--project', stack.project], { home })).output);
    for (const out of outputs) for (const s of Object.values(secrets)) expect(out).not.toContain(s);
  });

  it('the bridge role on rds reads and writes crm, and nothing else', async () => {
    expect(await query(asBridge(), 'SELECT current_user AS u')).toEqual([{ u: BRIDGE_USER }]);
    expect(await bridgeTries('SELECT count(*) FROM crm.companies')).toBe('ok');
    // Data outside crm, made by the master user, is out of its reach.
    await query(rdsFromUrl(stack.rdsUrl), 'CREATE TABLE IF NOT EXISTS public.sec_probe (x int)');
    try {
      expect(await bridgeTries('SELECT * FROM public.sec_probe')).toBe('42501');
    } finally {
      await query(rdsFromUrl(stack.rdsUrl), 'DROP TABLE public.sec_probe');
    }
    expect(await bridgeTries('SELECT * FROM pgapp_ledger.applied')).toBe('42501');
    expect(await bridgeTries('SELECT * FROM pg_authid')).toBe('42501');
    expect(await bridgeTries("SELECT pg_read_file('postgresql.conf')")).toBe('42501');
  });

  it("the bridge role's one-statement write (pgapp_bridge.writes) reaches the bridged tables only", async () => {
    const write = (request: object) =>
      bridgeTries(
        `UPDATE pgapp_bridge.writes SET request = '${JSON.stringify(request).replace(/'/g, "''")}'::jsonb WHERE slot = 0`,
      );
    const names = (
      await query<{ n: string }>(
        rdsFromUrl(stack.rdsUrl),
        `SELECT attname AS n FROM pg_attribute WHERE attrelid = 'crm.companies'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      )
    ).map((r) => r.n);
    const none = `(-1${','.repeat(names.length - 1)})`; // a row whose id is -1: no row matches it
    // A bridged table: allowed (nothing matches, so nothing changes).
    expect(await write({ op: 'DELETE', table: 'crm.companies', names, old: none, match: ['id'] })).toBe('ok');
    // pgapp's own tables and the master user's, even ones the role could reach: refused by name.
    expect(
      await write({
        op: 'DELETE',
        table: 'pgapp_bridge.bridged',
        names: ['schema_name', 'position'],
        old: '(crm,1)',
        match: ['schema_name'],
      }),
    ).toBe('42501');
    expect(await write({ op: 'DELETE', table: 'pgapp_ledger.applied', match: ['file'] })).toBe('42501');
    expect(await write({ op: 'INSERT', table: 'pg_catalog.pg_class', columns: [] })).toBe('42501');
    // A row that is not that table's shape is refused, not read into the wrong columns.
    expect(
      await write({
        op: 'DELETE',
        table: 'crm.companies',
        names: [...names].reverse(),
        old: none,
        match: ['id'],
      }),
    ).toBe('55000');
    // A write with no row named is refused, not turned into a whole-table UPDATE or DELETE.
    expect(await write({ op: 'DELETE', table: 'crm.companies', names, old: none, match: [] })).toBe('22023');
    expect(
      await query(rdsFromUrl(stack.rdsUrl), 'SELECT count(*)::int AS n FROM pgapp_bridge.bridged'),
    ).toEqual([{ n: 1 }]);
  });

  it.each([
    ['a table in crm', 'CREATE TABLE crm.sneaky (x int)'],
    ['a table in public', 'CREATE TABLE public.sneaky (x int)'],
    ['a temporary table', 'CREATE TEMP TABLE sneaky (x int)'],
    ['a schema', 'CREATE SCHEMA sneaky'],
    ['a function', 'CREATE FUNCTION crm.sneaky() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$'],
    ['a role', 'CREATE ROLE sneaky'],
    ['a database', 'CREATE DATABASE sneaky'],
  ])('the bridge role on rds cannot create %s', async (_what, sql) => {
    expect(await bridgeTries(sql)).toBe('42501');
  });

  it('no server accepts TCP connections without a password (no trust line), and rds refuses plain text', async () => {
    // custom: the rules as the server parsed them (its superuser, peer, inside the container).
    const customRules = (
      await psqlIn('custom', "SELECT type, auth_method, coalesce(error, '') FROM pg_hba_file_rules")
    ).map((l) => l.split('|'));
    // rds: nobody may reach its superuser, so its rules are read from the file the server loads.
    const { stdout } = await run('docker', [
      'exec',
      `${stack.project}-rds`,
      'cat',
      '/var/lib/postgresql/data/pgdata/pg_hba.conf',
    ]);
    const rdsRules = stdout
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
      .filter((f) => f[0])
      .map((f) => [f[0] as string, (f[0] === 'local' ? f[3] : f[4]) as string, '']);
    for (const rules of [customRules, rdsRules]) {
      expect(rules.length).toBeGreaterThan(0);
      for (const [type, method, error] of rules) {
        expect(error).toBe('');
        expect(method).not.toBe('trust');
        if (type !== 'local') expect(['scram-sha-256', 'reject']).toContain(method);
      }
    }
    expect(rdsRules.filter(([t]) => t?.startsWith('host')).map(([t, m]) => `${t} ${m}`)).toEqual([
      'host reject', // rdsadmin, from anywhere
      'host scram-sha-256', // TLS forced by the parameter group's rds.force_ssl = 1 (the guard)
    ]);
    // Plain text is refused with the right password, in stock Postgres's words; TLS gets in.
    const master = loginAs(stack.rdsUrl, 'postgres', secrets.rdsMasterPassword);
    await expect(query({ ...master, ssl: false }, 'SELECT 1')).rejects.toThrow(
      /no pg_hba.conf entry .* no encryption/,
    );
    expect(await query(master, "SELECT current_setting('rds.force_ssl') AS v")).toEqual([{ v: '1' }]);
  });

  it('refuses tokens for roles PostgREST must not take: unknown, not granted, the login role', async () => {
    const get = async (role: string) => {
      const t = makeToken(stack.jwtSecret, { role, expiresIn: 60, claims: { sub: 'x' } });
      const res = await fetch(`${stack.apiUrl}/companies?select=id&limit=1`, {
        headers: { Authorization: `Bearer ${t}` },
      });
      return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
    };
    // PostgREST 12.2.3 answers an unknown role with 400 (upstream PostgREST#3601, 401 from v13).
    expect(await get('no_such_role')).toMatchObject({
      status: 400,
      body: { code: '22023', message: 'role "no_such_role" does not exist' },
    });
    expect(await get('postgres')).toMatchObject({
      status: 403,
      body: { code: '42501', message: 'permission denied to set role "postgres"' },
    });
    expect(await get(BRIDGE_USER)).toMatchObject({ status: 400, body: { code: '22023' } });
    expect(await get('authenticator')).toMatchObject({ status: 403, body: { code: '42501' } });
  });

  it('`pgapp token` will not mint a token for a role PostgREST cannot switch to', async () => {
    for (const role of ['no_such_role', 'postgres', 'authenticator']) {
      const r = await cli(['token', '--project', stack.project, '--role', role], { home });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`No API role "${role}" on custom`);
      expect(r.stderr).toMatch(/hint: Roles PostgREST can switch to: web_anon, web_user\./);
    }
    const ok = await cli(['token', '--project', stack.project, '--role', 'web_anon'], { home });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^eyJ/);
  });
});
