/**
 * rds's TLS as an RDS client sees it: the connection string `pgapp env` exports verifies the server
 * (sslmode=verify-full against the project's CA) and works as printed with psql, node-postgres and
 * Python's psycopg; a wrong CA or a name the certificate does not carry is refused; custom's bridge
 * and subscription verify the same way. The README's examples (examples/) run as it says.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv, promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeCa } from '../../src/config/tls.ts';
import { PACKAGE_ROOT, workDir } from '../../src/paths.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { cli, customFromUrl, query } from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available
  ? "rds's TLS, verified by every client"
  : `rds's TLS — SKIPPED: ${postgrest.reason}`;

/** Debian's python3-psycopg2 is for the system Python. */
const PYTHON =
  ['/usr/bin/python3', 'python3'].find((p) => (p.includes('/') ? existsSync(p) : true)) ?? 'python3';

async function have(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    await run(cmd, args);
    return undefined;
  } catch (err) {
    return `${cmd} ${args.join(' ')} failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  let url: string;
  let caFile: string;
  const dir = mkdtempSync(join(tmpdir(), 'pgapp-tls-'));
  const wrongCa = join(dir, 'wrong-ca.crt');
  const envFile = join(dir, '.env.local');
  const withCa = (file: string) => url.replace(/sslrootcert=[^&]*/, `sslrootcert=${file}`);
  // Reasons a client is missing, said when its test skips (CI installs them: .ci/provision).
  let noPsql: string | undefined;
  let noPsycopg: string | undefined;

  beforeAll(async () => {
    stack = await useStack();
    const env = await cli(['env', '--project', stack.project], { home: workDir() });
    expect(env.code, env.output).toBe(0);
    writeFileSync(envFile, env.stdout, { mode: 0o600 });
    const vars = parseEnv(env.stdout);
    url = vars.RDS_DATABASE_URL as string;
    caFile = vars.PGAPP_RDS_CA as string;
    writeFileSync(wrongCa, makeCa('wrong').cert);
    noPsql = await have('psql', ['--version']);
    noPsycopg = await have(PYTHON, ['-c', 'import psycopg2']);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await stack?.[Symbol.asyncDispose]();
  });

  it('exports verify-full with the project CA as sslrootcert, the same as status --json says', async () => {
    expect(url).toMatch(
      /^postgres:\/\/postgres:[^*@]+@127\.0\.0\.1:\d+\/\w+\?sslmode=verify-full&sslrootcert=\//,
    );
    expect(caFile).toBe(join(workDir(), '.pgapp', stack.project, 'tls', 'ca', 'root.crt'));
    const status = await cli(['status', '--json', '--project', stack.project], { home: workDir() });
    expect(JSON.parse(status.stdout).connections.ca).toBe(caFile);
  });

  it('node-postgres: the URL as printed connects over verified TLS; a wrong CA is refused', async () => {
    expect(
      await query({ connectionString: url }, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'),
    ).toEqual([{ ssl: true }]);
    await expect(query({ connectionString: withCa(wrongCa) }, 'SELECT 1')).rejects.toThrow(
      /self[- ]signed certificate in certificate chain|unable to verify/,
    );
  });

  it('psql: the URL as printed; a wrong CA and a host name the certificate does not carry are refused', async (ctx) => {
    if (noPsql) ctx.skip(`psql is not installed (${noPsql}); .ci/provision installs postgresql-client`);
    const ok = await run('psql', [url, '-Atc', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()']);
    expect(ok.stdout.trim()).toBe('t');
    await expect(run('psql', [withCa(wrongCa), '-c', 'SELECT 1'])).rejects.toThrow(
      /certificate verify failed/,
    );
    // The certificate names localhost, 127.0.0.1 and rds: another name at the same address is refused.
    const u = new URL(url);
    const conninfo = `host=wrong.example hostaddr=127.0.0.1 port=${u.port} dbname=${u.pathname.slice(1)} user=postgres password=${decodeURIComponent(u.password)} sslmode=verify-full sslrootcert=${caFile}`;
    await expect(run('psql', [conninfo, '-c', 'SELECT 1'])).rejects.toThrow(
      /does not match host name "wrong.example"/,
    );
    const local = url.replace('@127.0.0.1:', '@localhost:');
    expect((await run('psql', [local, '-Atc', 'SELECT 1'])).stdout.trim()).toBe('1');
  });

  it("Python's psycopg: the URL as printed; a wrong CA is refused", async (ctx) => {
    if (noPsycopg)
      ctx.skip(`psycopg2 is not importable (${noPsycopg}); .ci/provision installs python3-psycopg2`);
    const py =
      'import sys, psycopg2\nc = psycopg2.connect(sys.argv[1])\ncur = c.cursor()\ncur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")\nprint(cur.fetchone()[0])';
    expect((await run(PYTHON, ['-c', py, url])).stdout.trim()).toBe('True');
    await expect(run(PYTHON, ['-c', py, withCa(wrongCa)])).rejects.toThrow(/certificate verify failed/);
  });

  describe("the README's examples, reading `pgapp env > .env.local` as they say", () => {
    const example = async (cmd: string, args: string[]) =>
      (await run(cmd, args, { cwd: PACKAGE_ROOT })).stdout.trim().split('\n');
    const count = async (table: string) =>
      (
        await query<{ n: number }>(customFromUrl(stack.customUrl), `SELECT count(*)::int AS n FROM ${table}`)
      )[0]?.n as number;

    it('examples/node-postgres.mjs (node --env-file): both databases, rds over verified TLS', async () => {
      const n = await count('crm.contacts');
      expect(await example('node', [`--env-file=${envFile}`, 'examples/node-postgres.mjs'])).toEqual([
        `custom: ${n} contacts, TLS off (custom: 127.0.0.1 only)`,
        `rds: ${n} contacts, TLS verified`,
      ]);
    });

    it('examples/postgrest-js.mjs: the API through @supabase/postgrest-js as a signed-in user', async () => {
      const lines = await example('node', [`--env-file=${envFile}`, 'examples/postgrest-js.mjs']);
      expect(lines).toHaveLength(3);
      for (const line of lines) expect(line).toMatch(/^#\d+ \S+ \S+ \(.+\)$/);
    });

    it("examples/psql.sh (the file loaded by a shell's `set -a; .`)", async (ctx) => {
      if (noPsql) ctx.skip(`psql is not installed (${noPsql}); .ci/provision installs postgresql-client`);
      const n = await count('crm.contacts');
      expect(await example('sh', ['-c', `set -a && . '${envFile}' && sh examples/psql.sh`])).toEqual([
        expect.stringMatching(new RegExp(`^rds: ${n} contacts, TLS TLSv1\\.[23]$`)),
        `custom: ${n} contacts served by the api`,
      ]);
    });
  });

  it("custom's bridge and subscription verify rds the same way (verify-full, the project CA)", async () => {
    const custom = customFromUrl(stack.customUrl);
    const [server] = await query<{ srvoptions: string[] }>(
      custom,
      "SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'rds'",
    );
    expect(server?.srvoptions).toEqual(
      expect.arrayContaining(['sslmode=verify-full', 'sslrootcert=/etc/pgapp/ca/root.crt', 'host=rds']),
    );
    const subs = await query<{ subconninfo: string }>(custom, 'SELECT subconninfo FROM pg_subscription');
    expect(subs.length).toBeGreaterThan(0);
    for (const s of subs)
      expect(s.subconninfo).toMatch(/sslmode='?verify-full'?.*sslrootcert='?\/etc\/pgapp\/ca\/root\.crt/);
    // And rds sees both over TLS.
    const seen = await query<{ usename: string; ssl: boolean }>(
      { connectionString: url },
      `SELECT DISTINCT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
        WHERE a.usename IN ('pgapp_bridge', 'pgapp_replicator') ORDER BY 1`,
    );
    expect(seen).toContainEqual({ usename: 'pgapp_replicator', ssl: true });
    expect(seen.every((r) => r.ssl)).toBe(true);
    // The bridge connects on demand: one query through it, then it is there.
    const c = new pg.Client(custom);
    await c.connect();
    try {
      await c.query('SELECT count(*) FROM rds_crm.contacts');
      const bridge = await query<{ ssl: boolean }>(
        { connectionString: url },
        `SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'pgapp_bridge'`,
      );
      expect(bridge.length).toBeGreaterThan(0);
      expect(bridge.every((r) => r.ssl)).toBe(true);
    } finally {
      await c.end();
    }
  });
});
