/** What the benchmarks share: the bench stack's name and size, load generation, timing, the CLI and compose as a user runs them. */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { makeToken } from '../src/auth/jwt.ts';
import { DEFAULTS, resolveConfig, SEED_SIZES } from '../src/config/schema.ts';
import { ensureSecrets, type Secrets } from '../src/config/secrets.ts';
import { ensureTls } from '../src/config/tls.ts';
import { withClient } from '../src/db/connect.ts';
import { dataPgMajor, projectContainers, projectPorts } from '../src/docker/containers.ts';
import { docker } from '../src/docker/engine.ts';
import { freePort } from '../src/net/ports.ts';
import { PACKAGE_ROOT, projectSqlRoot, workDir } from '../src/paths.ts';
import { apiReadyUrl, LABELS, stackFiles } from '../src/spec/stack.ts';
import { composeEnv } from '../src/stack/compose.ts';
import { ensureParameterGroupFile } from '../src/stack/parameters.ts';
import { fenceLag } from '../src/stack/replica.ts';
import type { TestStack } from '../src/testing/index.ts';
export const run = promisify(execFile);
// The bench's own clients read bigint as numbers, as pgapp's do (per client there; globally here, its own process).
pg.types.setTypeParser(20, (v) => Number(v));
export const PROJECT = process.env.PGAPP_BENCH_PROJECT ?? 'pgapp_bench';
export const SEED = 'medium' as const;
export const CONTACTS = SEED_SIZES[SEED];
export const SECONDS = Number(process.env.PGAPP_BENCH_SECONDS ?? 8);

/** A client of a stack URL, as printed (rds verifies the server against the project's CA), for `fn`. */
export function withDb<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  return withClient({ connectionString: url }, fn);
}

/**
 * `connections` clients for `seconds`, each a client of its own to the gateway (its own token and
 * `sub`: the gateway shares PostgREST out per client). Reads as web_anon (the database ignores a
 * web_anon sub); writes as web_user `bench-w-<n>`, the owner of company `own[n]`.
 */
export interface LoadOptions {
  method?: 'GET' | 'POST' | 'PATCH';
  headers?: Record<string, string>;
  body?: (n: number) => unknown;
  connections?: number;
  seconds?: number;
}
export async function load(
  url: string,
  path: (client: number) => string,
  jwtSecret: string,
  opts: LoadOptions = {},
): Promise<autocannon.Result> {
  const connections = opts.connections ?? 20;
  const write = opts.method && opts.method !== 'GET';
  const tokens = Array.from({ length: connections }, (_, i) =>
    write
      ? makeToken(jwtSecret, { role: 'web_user', claims: { sub: `bench-w-${i}` } })
      : makeToken(jwtSecret, { role: 'web_anon', claims: { sub: `bench-${i}` } }),
  );
  let next = 0;
  let sent = 0;
  return autocannon({
    url,
    connections,
    duration: opts.seconds ?? SECONDS,
    requests: [
      {
        method: opts.method ?? 'GET',
        setupRequest: (req, context) => {
          const c = context as { client?: number };
          c.client ??= next++ % connections;
          return {
            ...req,
            path: path(c.client),
            headers: {
              ...opts.headers,
              Authorization: `Bearer ${tokens[c.client]}`,
              ...(opts.body ? { 'Content-Type': 'application/json' } : {}),
            },
            ...(opts.body ? { body: JSON.stringify(opts.body(++sent)) } : {}),
          };
        },
      },
    ],
  });
}

/** PostgREST's own address on the project network, when this host reaches it (Linux), for a baseline. */
export async function postgrestDirect(project: string): Promise<string | undefined> {
  const info = await docker().getContainer(`${project}-postgrest`).inspect();
  const ip = Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress;
  if (!ip) return undefined;
  const ok = await fetch(`http://${ip}:3000/`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );
  return ok ? `http://${ip}:3000` : undefined;
}

/** A write on rds, timed until the replica has it: samples while `running()` holds. */
export async function sampleLag(stack: TestStack, running: () => boolean): Promise<number[]> {
  const rds = new pg.Client({
    connectionString: stack.rdsUrl.replace('sslmode=require', 'sslmode=no-verify'),
  });
  const custom = new pg.Client({ connectionString: stack.customUrl });
  await rds.connect();
  await custom.connect();
  const lags: number[] = [];
  try {
    while (running()) {
      lags.push(await fenceLag(rds, custom));
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await rds.end();
    await custom.end();
  }
  return lags;
}

/** The images the project's containers run, by service. */
export async function publishedImages(
  project: string,
): Promise<Record<'rds' | 'custom' | 'postgrest' | 'gateway', string>> {
  const out = {} as Record<'rds' | 'custom' | 'postgrest' | 'gateway', string>;
  for (const c of await projectContainers(project)) out[c.Labels[LABELS.service] as 'rds'] = c.Image;
  return out;
}

/** Nanoseconds of CPU a container has used so far (Docker's own accounting). */
export async function cpuNs(id: string): Promise<number> {
  const s = (await docker().getContainer(id).stats({ stream: false })) as {
    cpu_stats: { cpu_usage: { total_usage: number } };
  };
  return s.cpu_stats.cpu_usage.total_usage;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
export const cliArgs = async (stack: TestStack) => {
  const p = await projectPorts(stack.project);
  return [
    '--project',
    stack.project,
    '--seed',
    'medium',
    '--rds-port',
    `${p.rds}`,
    '--custom-port',
    `${p.custom}`,
    '--postgrest-port',
    `${p.postgrest}`,
  ];
};
/** `npm run dev` as a user runs it (node + tsx + the CLI), to ready. */
export const devCli = async (args: string[]) => {
  const tsx = join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  await run(process.execPath, [tsx, join(PACKAGE_ROOT, 'src', 'cli.ts'), 'dev', ...args], {
    env: { ...process.env, CI: 'true' },
  });
};
export const pgappCli = async (args: string[]) => {
  const tsx = join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  await run(process.execPath, [tsx, join(PACKAGE_ROOT, 'src', 'cli.ts'), ...args], {
    env: { ...process.env, CI: 'true' },
  });
};

/** The same stack under docker compose (project <bench>_compose): the baseline of warm start and restart. */
export async function composeStack(): Promise<(...args: string[]) => Promise<unknown>> {
  const name = `${PROJECT}_compose`;
  const [rds, custom, api] = await Promise.all([freePort(), freePort(), freePort()]);
  const envFile = join(workDir(), '.pgapp', `${name}.env`);
  const secrets = ensureSecrets(name);
  // Its ports are kept once chosen (they are in its containers' config); its secrets may have grown.
  const ports = existsSync(envFile)
    ? Object.fromEntries(
        [...readFileSync(envFile, 'utf8').matchAll(/^PGAPP_(RDS|CUSTOM|POSTGREST)_PORT=(\d+)$/gm)].map(
          (m) => [(m[1] as string).toLowerCase(), Number(m[2])],
        ),
      )
    : {};
  ensureParameterGroupFile(name);
  writeFileSync(
    envFile,
    composeEnv({
      config: resolveConfig({
        project: name,
        ports: { rds, custom, postgrest: api, ...ports },
        // Its data's version when it has data (an older bench stack), else the default.
        postgres: (await dataPgMajor(name)) ?? DEFAULTS.postgres,
        seed: SEED,
      }),
      secrets,
      files: stackFiles(name, ensureTls(name)),
      projectRoot: projectSqlRoot().root,
    }),
    { mode: 0o600 },
  );
  const compose = (...args: string[]) =>
    run('docker', ['compose', '-f', join(PACKAGE_ROOT, 'compose.yaml'), '--env-file', envFile, ...args], {
      cwd: PACKAGE_ROOT,
      maxBuffer: 1 << 24,
    });
  await compose('up', '-d', '--wait');
  return compose;
}

/** Time from `docker run` to healthy (or to PostgREST answering 200) of one container: a phase's floor. */
export async function floor(
  image: string,
  env: Record<string, string>,
  opts: { network?: string; readyUrlPort?: number } = {},
) {
  const port = opts.readyUrlPort ? await freePort() : undefined;
  const t = performance.now();
  const c = await docker().createContainer({
    Image: image,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: { 'pgapp.bench': 'floor' },
    HostConfig: {
      NetworkMode: opts.network,
      ...(port ? { PortBindings: { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } } : {}),
    },
    ...(port ? { ExposedPorts: { '3000/tcp': {} } } : {}),
  });
  try {
    await c.start();
    for (;;) {
      if (port) {
        if ((await fetch(apiReadyUrl(port)).catch(() => undefined))?.ok) break;
      } else if ((await c.inspect()).State.Health?.Status === 'healthy') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return performance.now() - t;
  } finally {
    await c.remove({ force: true, v: true });
  }
}

// Order matters on a small machine: idle memory first, the heaviest (seed) last, a pause between.
/** Page views of `view` for SECONDS by `workers` concurrent visitors: each one's time, in ms. */
export async function pageViews(view: () => Promise<void>, workers = 4): Promise<number[]> {
  const until = Date.now() + SECONDS * 1000;
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < until) {
        const t0 = performance.now();
        await view();
        times.push(performance.now() - t0);
      }
    }),
  );
  return times.sort((a, b) => a - b);
}

/**
 * A bench stack of its own, brought up by the CLI as a user runs it from .pgapp/<project without
 * pgapp_, _ as -> (git-ignored: its secrets and ports stay between runs): `config` written there with
 * the project, its ports (picked once, then kept) and `seed` over it; `db` copied in first when given.
 */
export async function cliStack(
  project: string,
  config: Record<string, unknown>,
  db?: string,
): Promise<{ home: string; ports: { rds: number; custom: number; postgrest: number }; secrets: Secrets }> {
  const home = join(PACKAGE_ROOT, '.pgapp', project.replace(/^pgapp_/, '').replaceAll('_', '-'));
  mkdirSync(home, { recursive: true });
  if (db) cpSync(db, join(home, 'db'), { recursive: true });
  const configFile = join(home, 'pgapp.config.json');
  const had = existsSync(configFile) ? JSON.parse(readFileSync(configFile, 'utf8')) : {};
  const ports = had.ports ?? { rds: await freePort(), custom: await freePort(), postgrest: await freePort() };
  writeFileSync(configFile, JSON.stringify({ ...config, project, ports }, null, 2));
  const tsx = join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  await run(process.execPath, [tsx, join(PACKAGE_ROOT, 'src', 'cli.ts'), 'dev'], {
    cwd: home,
    env: { ...process.env, CI: 'true', PGAPP_HOME: home },
    maxBuffer: 1 << 26,
  });
  const secrets = JSON.parse(readFileSync(join(home, '.pgapp', project, 'secrets.json'), 'utf8')) as Secrets;
  return { home, ports, secrets };
}

/**
 * Twins of served tables on custom, beside them in the same schema (`<table><suffix>`), so PostgREST
 * asks each the same way: rds's columns, keys, indexes and the foreign keys among `tables`, read from
 * custom's catalog, and the per-user rules pgapp made for the originals (its registry), pointed at the
 * twins. `local`: the rows copied into a plain table. `fdw`: what reads: fdw serves, an empty table
 * whose inheritance child (bench.<name><suffix>) is a foreign table over rds's, with the originals'
 * write triggers (without the read-your-writes fence: nothing reads a replica after them).
 */
export async function twins(
  c: pg.Client,
  tables: string[],
  suffix: string,
  reads: 'local' | 'fdw',
): Promise<void> {
  const names = [...tables].sort((a, b) => b.length - a.length);
  const esc = (s: string) => s.replace(/[.]/g, '\\.');
  const pattern = new RegExp(`\\b(${names.map(esc).join('|')})\\b`, 'g');
  const rename = (sql: string) => sql.replace(pattern, `$1${suffix}`);
  const { rows } = await c.query<{ t: string; kind: string; name: string; ddl: string }>(
    `SELECT r::regclass::text AS t, 'fk' AS kind, con.conname AS name, pg_get_constraintdef(con.oid) AS ddl
       FROM unnest($1::regclass[]) r JOIN pg_constraint con ON con.conrelid = r AND con.contype = 'f'
      WHERE con.confrelid = ANY($1::regclass[])
     UNION ALL
     SELECT substr(g.object, 8), 'access', '', g.ddl FROM pgapp_private.generated g
      WHERE g.object = ANY(SELECT 'access ' || unnest($1::text[]))
     UNION ALL
     SELECT t.tgrelid::regclass::text, 'trigger', t.tgname, pg_get_triggerdef(t.oid)
       FROM pg_trigger t WHERE t.tgrelid = ANY($1::regclass[]) AND t.tgname IN ('pgapp_write', 'pgapp_forget')`,
    [tables],
  );
  const of = (kind: string) => rows.filter((r) => r.kind === kind);
  const twinsOf = `{${tables.map((t) => `${t}${suffix}`).join(',')}}`;
  const sql: string[] = [
    `CREATE SCHEMA IF NOT EXISTS bench AUTHORIZATION api_owner`,
    `GRANT USAGE ON SCHEMA bench TO web_anon, web_user`,
  ];
  for (const t of tables) {
    const [schema, name] = t.split('.') as [string, string];
    sql.push(
      `DROP TABLE IF EXISTS ${t}${suffix} CASCADE`,
      `CREATE TABLE ${t}${suffix} (LIKE ${t} INCLUDING ALL)`,
    );
    if (reads === 'local') sql.push(`INSERT INTO ${t}${suffix} OVERRIDING SYSTEM VALUE SELECT * FROM ${t}`);
    else
      sql.push(
        `CREATE FOREIGN TABLE bench.${name}${suffix} () INHERITS (${t}${suffix}) SERVER rds OPTIONS (schema_name '${schema}', table_name '${name}')`,
      );
  }
  for (const fk of of('fk'))
    sql.push(`ALTER TABLE ${fk.t}${suffix} ADD CONSTRAINT ${fk.name}${suffix} ${rename(fk.ddl)}`);
  for (const a of of('access')) sql.push(rename(a.ddl));
  if (reads === 'fdw') {
    // As pgapp's own: rds checks references (the empty local parts hold no rows to check against).
    sql.push(`DO $$ DECLARE g record; BEGIN
      FOR g IN SELECT tg.tgrelid::regclass AS rel, tg.tgname FROM pg_trigger tg JOIN pg_constraint co ON co.oid = tg.tgconstraint
               WHERE co.contype = 'f' AND (co.conrelid = ANY($t$${twinsOf}$t$::regclass[]) OR co.confrelid = ANY($t$${twinsOf}$t$::regclass[])) LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', g.rel, g.tgname);
      END LOOP; END $$`);
    // The write triggers on the twin; what they write stays rds's table.
    for (const tg of of('trigger'))
      sql.push(
        tg.ddl.replace(` ON ${tg.t} `, ` ON ${tg.t}${suffix} `).replace('"fence": true', '"fence": false'),
      );
  }
  sql.push(
    `ANALYZE ${tables.map((t) => (reads === 'local' ? `${t}${suffix}` : `bench.${t.split('.')[1]}${suffix}`)).join(', ')}`,
  );
  await c.query(sql.join(';\n'));
}
