/** Test helpers: throwaway containers on 127.0.0.1 ports (testcontainers), the CLI as a subprocess, free ports. */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { Wait } from 'testcontainers';
import { expect } from 'vitest';
import { makeToken } from '../src/auth/jwt.ts';
import type { Secrets } from '../src/config/secrets.ts';
import { freePort } from '../src/net/ports.ts';
import { PACKAGE_ROOT } from '../src/paths.ts';
import { PUBLICATION } from '../src/spec/stack.ts';
import { fenceLag } from '../src/stack/replica.ts';
import { BoundContainer } from './bound-container.ts';

export interface Throwaway {
  id: string;
  port: number;
  stop: () => Promise<void>;
}

/** A container from one of the project's images with 5432 on a random port of `hostIp`, once healthy. */
export async function startPg(
  image: string,
  env: Record<string, string>,
  cmd: string[] = [],
  hostIp = '127.0.0.1',
  binds: { source: string; target: string }[] = [],
): Promise<Throwaway> {
  const container = new BoundContainer(image, hostIp)
    .withEnvironment(env)
    .withBindMounts(binds.map((b) => ({ ...b, mode: 'ro' as const })))
    .withExposedPorts(5432)
    .withLabels({ 'pgapp.test': 'throwaway' })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(120_000);
  const started = await (cmd.length ? container.withCommand(cmd) : container).start();
  return {
    id: started.getId(),
    port: started.getMappedPort(5432),
    stop: async () => {
      await started.stop({ remove: true, removeVolumes: true }).catch(() => {});
    },
  };
}

export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(
  cfg: pg.ClientConfig,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client(cfg);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Ports free on 127.0.0.1 right now (and distinct). */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

/** Free host ports for a stack, as numbers and as `dev` flags (rds's left out with `rds: false`). */
export async function portFlags(opts: { rds?: boolean } = {}) {
  const [rds, custom, api] = await freePorts(3);
  const ports = { rds: rds as number, custom: custom as number, api: api as number };
  const args = [
    ...(opts.rds === false ? [] : ['--rds-port', String(ports.rds)]),
    ...['--custom-port', String(ports.custom), '--postgrest-port', String(ports.api)],
  ];
  return { ports, args };
}

/**
 * A PostgREST caller: `call(method, path, body?, token?)`. The token defaults to `defaultToken()`;
 * pass null for an anonymous request. Writes ask for the representation back.
 */
export function apiClient(base: () => string, defaultToken: () => string | null) {
  return (method: string, path: string, body?: unknown, token: string | null = defaultToken()) =>
    fetch(`${base()}${path}`, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        'Content-Type': 'application/json',
        Prefer: 'return=representation',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  output: string;
}

export const TSX = join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
export const CLI = join(PACKAGE_ROOT, 'src', 'cli.ts');

export interface CliRun {
  child: ReturnType<typeof spawn>;
  done: Promise<CliResult>;
  /** Resolves once the combined output matches. */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<void>;
}

/** Run the real CLI non-interactively (no TTY, CI set) in `home`. */
export function startCli(args: string[], opts: { home: string; env?: Record<string, string> }): CliRun {
  const child = spawn(process.execPath, [TSX, CLI, ...args], {
    cwd: opts.home,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', PGAPP_HOME: opts.home, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(stdout + stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout?.on('data', (d) => {
    stdout += d;
    check();
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
    check();
  });
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, output: stdout + stderr })),
  );
  const waitFor = (re: RegExp, timeoutMs = 120_000) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for ${re}; output so far:\n${stdout}${stderr}`)),
        timeoutMs,
      );
      waiters.push({
        re,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
      check();
      void done.then(() => {
        clearTimeout(t);
        if (!re.test(stdout + stderr))
          reject(new Error(`CLI exited before ${re}; output:\n${stdout}${stderr}`));
      });
    });
  return { child, done, waitFor };
}

export function cli(
  args: string[],
  opts: { home: string; env?: Record<string, string> },
): Promise<CliResult> {
  return startCli(args, opts).done;
}

export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'pgapp-test-'));
}

/** pg settings for a stack's rds URL: as printed (sslmode=verify-full against the project's CA). */
export function rdsFromUrl(url: string): pg.ClientConfig {
  return { connectionString: url };
}

/** TLS as a stack URL asks for it: verified against its sslrootcert, as libpq would. */
function tlsOf(u: URL): pg.ClientConfig['ssl'] {
  const mode = u.searchParams.get('sslmode');
  if (!mode) return undefined;
  const ca = u.searchParams.get('sslrootcert');
  return ca ? { ca: readFileSync(ca, 'utf8'), rejectUnauthorized: true } : { rejectUnauthorized: false };
}

/** custom from a stack URL (no TLS on custom's host port). */
export function customFromUrl(url: string): pg.ClientConfig {
  return { connectionString: url };
}

/**
 * The server and database of a stack URL, as another role: field by field (a connection string
 * would override user and password), TLS kept when the URL asks for it.
 */
export function loginAs(url: string, user: string, password: string | undefined): pg.ClientConfig {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    database: u.pathname.slice(1),
    user,
    password,
    ...(u.searchParams.get('sslmode') ? { ssl: tlsOf(u) } : {}),
  };
}

/** POST a company through the API (as the client's default user): expects 201, returns the new row. */
export async function postCompany(
  send: ReturnType<typeof apiClient>,
  company: { name: string; domain: string; industry: string; employees: number },
): Promise<{ id: number; created_at: string }> {
  const res = await send('POST', '/companies', company);
  expect(res.status).toBe(201);
  const [row] = (await res.json()) as { id: number; created_at: string }[];
  expect(row?.id).toBeGreaterThan(0);
  return row as { id: number; created_at: string };
}

/** The secrets `dev` generated for a project run from `home`. */
function projectSecrets(home: string, project: string): Secrets {
  return JSON.parse(readFileSync(join(home, '.pgapp', project, 'secrets.json'), 'utf8'));
}

/** A stack's rds as its master user, on its host port (TLS verified against the project's CA). */
function rdsAsMaster(home: string, project: string, port: number, secrets: Secrets): pg.ClientConfig {
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password: secrets.rdsMasterPassword,
    database: project,
    ssl: {
      ca: readFileSync(join(home, '.pgapp', project, 'tls', 'ca', 'root.crt'), 'utf8'),
      rejectUnauthorized: true,
    },
  };
}

/** A fresh project name for a throwaway stack: e2e_<tag>_<random>. */
export function throwawayProjectName(tag: string): string {
  return `e2e_${tag}_${randomBytes(3).toString('hex')}`;
}

/**
 * A stack of its own, for a test file that breaks or reshapes it: `dev` run by the CLI from a
 * temporary directory, on free ports picked by the first `dev()`. Its API client acts as a
 * web_user whose id (`sub`) is the tag.
 */
export class ThrowawayStack {
  readonly home = tempHome();
  readonly project: string;
  ports = {} as Awaited<ReturnType<typeof portFlags>>['ports'];
  args: string[] = [];
  secrets = {} as Secrets;
  readonly send: ReturnType<typeof apiClient>;

  constructor(tag: string) {
    this.project = throwawayProjectName(tag);
    this.send = apiClient(
      () => this.api(),
      () => makeToken(this.secrets.jwtSecret, { role: 'web_user', expiresIn: 600, claims: { sub: tag } }),
    );
  }

  /** `pgapp dev` for this stack; after a success, its secrets as they are on disk. */
  async dev(extra: string[] = []): Promise<CliResult> {
    if (this.args.length === 0) ({ ports: this.ports, args: this.args } = await portFlags());
    const r = await cli(['dev', '--project', this.project, ...this.args, ...extra], { home: this.home });
    if (r.code === 0) this.secrets = projectSecrets(this.home, this.project);
    return r;
  }

  reset(): Promise<CliResult> {
    return cli(['reset', '--yes', '--project', this.project], { home: this.home });
  }

  api(path = ''): string {
    return `http://127.0.0.1:${this.ports.api}${path}`;
  }

  rds(): pg.ClientConfig {
    return rdsAsMaster(this.home, this.project, this.ports.rds, this.secrets);
  }

  /** custom as its superuser. */
  custom(): pg.ClientConfig {
    return {
      host: '127.0.0.1',
      port: this.ports.custom,
      user: 'postgres',
      password: this.secrets.customPassword,
      database: this.project,
    };
  }
}

/** `docker exec` (as `user`, default the image's): exit code and combined output, never throws. */
export function dockerExec(
  container: string,
  cmd: string[],
  user?: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('docker', ['exec', ...(user ? ['-u', user] : []), container, ...cmd]);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The SQLSTATE a statement fails with (or 'ok'), on a fresh connection. */
export async function sqlState(cfg: pg.ClientConfig, sql: string): Promise<string> {
  return query(cfg, sql).then(
    () => 'ok',
    (err: { code?: string; message?: string }) => err.code ?? `no SQLSTATE: ${err.message}`,
  );
}

/**
 * Wait until custom's replica (reads: replica) has everything committed on rds so far: a fence bump
 * on rds, then custom sees it (rds's commits apply in order). For tests that write on rds directly
 * and then read through the API; returns at once over FDW reads (no subscription: nothing to wait for).
 */
export async function replicaCaughtUp(
  rds: pg.ClientConfig,
  custom: pg.ClientConfig,
  timeoutMs = 10_000,
): Promise<void> {
  const [sub] = await query(custom, 'SELECT 1 FROM pg_subscription WHERE subname = $1', [PUBLICATION]);
  if (!sub) return;
  await withClients(rds, custom, (r, c) => fenceLag(r, c, timeoutMs));
}

/** Two open connections for `fn`, closed after. */
async function withClients<T>(
  a: pg.ClientConfig,
  b: pg.ClientConfig,
  fn: (a: pg.Client, b: pg.Client) => Promise<T>,
): Promise<T> {
  const ca = new pg.Client(a);
  const cb = new pg.Client(b);
  await ca.connect();
  try {
    await cb.connect();
    return await fn(ca, cb);
  } finally {
    await Promise.all([ca.end(), cb.end()]).catch(() => {});
  }
}

/**
 * A directory under the package (so programs resolve @supabase/postgrest-js from its node_modules)
 * with a strict tsconfig for one `program.ts`. `check` writes the program and returns tsc's
 * errors, '' when it type-checks.
 */
export function typeCheckDir(prefix: string): {
  dir: string;
  check: (program: string) => Promise<string>;
  remove: () => void;
} {
  mkdirSync(join(PACKAGE_ROOT, '.pgapp'), { recursive: true });
  const dir = mkdtempSync(join(PACKAGE_ROOT, '.pgapp', prefix));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        allowImportingTsExtensions: true,
        skipLibCheck: true,
        types: ['node'],
      },
      files: ['program.ts'],
    }),
  );
  const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  return {
    dir,
    check: async (program) => {
      writeFileSync(join(dir, 'program.ts'), program);
      try {
        await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')]);
        return '';
      } catch (err) {
        return (err as { stdout?: string }).stdout ?? String(err);
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
