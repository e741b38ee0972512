/**
 * pgapp benchmarks. Each prints its numbers and a ratio against a baseline measured in the same run
 * (these machines are noisy: only ratios mean anything), then BENCHMARKS.md is rewritten.
 *
 *   npm run bench                 all of them
 *   npm run bench -- http memory  some of them (warm, cold, http, cache, pushdown, fetch, seed, memory)
 *
 * They run on a stack of their own (project pgapp_bench, 100k contacts), created on first use and
 * reused after. Load goes to 127.0.0.1 only, bounded in time and connections.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { makeToken } from '../src/auth/jwt.ts';
import { dev } from '../src/commands/dev.ts';
import { DEFAULTS, validatePostgres } from '../src/config/schema.ts';
import { ensureSecrets, readSecrets } from '../src/config/secrets.ts';
import { ensureTls } from '../src/config/tls.ts';
import { dataPgMajor, projectContainers, projectPorts } from '../src/docker/containers.ts';
import { docker } from '../src/docker/engine.ts';
import { freePort } from '../src/net/ports.ts';
import { PACKAGE_ROOT, SQL_DIR, workDir } from '../src/paths.ts';
import { apiReadyUrl, LABELS, stackFiles } from '../src/spec/stack.ts';
import { composeEnv } from '../src/stack/compose.ts';
import { explainRequest } from '../src/stack/explain.ts';
import { ensureParameterGroupFile } from '../src/stack/parameters.ts';
import { fenceLag } from '../src/stack/replica.ts';
import { type TestStack, useStack } from '../src/testing/index.ts';

const run = promisify(execFile);
// The bench's own clients read bigint as numbers, as pgapp's do (per client there; globally here, its own process).
pg.types.setTypeParser(20, (v) => Number(v));
const PROJECT = process.env.PGAPP_BENCH_PROJECT ?? 'pgapp_bench';
const CONTACTS = 100_000;
const SECONDS = Number(process.env.PGAPP_BENCH_SECONDS ?? 8);

interface Row {
  benchmark: string;
  measured: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
}
const rows: Row[] = [];
const notes: string[] = [];
const fmt = (n: number, d = 1) => n.toFixed(d);

function report(r: Row) {
  rows.push(r);
  console.log(
    `${r.benchmark.padEnd(26)} ${r.measured.padEnd(34)} vs ${r.baseline.padEnd(34)} ratio ${r.ratio.padEnd(8)} ${r.verdict}`,
  );
}

async function withDb<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  // The stack's rds URL verifies the server (sslmode=verify-full with the project's CA): as printed.
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The baselines of the HTTP benchmarks, on custom: local tables holding the same rows with real keys
 * and rds's indexes (api.*_local), and the FDW read path as views over the foreign tables
 * (api.*_fdw, with the computed relationships reads: fdw has) — next to the api views, which read the
 * replica. Made once per bench stack; the writers' own companies are made on every run.
 */
async function ensureBaselines(stack: TestStack) {
  await withDb(stack.customUrl, async (c) => {
    const exists = (await c.query(`SELECT to_regclass('api.contacts_fdw') IS NOT NULL AS e`)).rows[0].e;
    if (exists) return;
    await c.query(`
      DROP SCHEMA IF EXISTS bench CASCADE;
      CREATE SCHEMA bench AUTHORIZATION api_owner;
      CREATE TABLE bench.companies_local AS SELECT * FROM crm.companies;
      CREATE TABLE bench.contacts_local AS SELECT * FROM crm.contacts;
      CREATE SEQUENCE bench.companies_local_id START 100000000 OWNED BY bench.companies_local.id;
      ALTER TABLE bench.companies_local ADD PRIMARY KEY (id),
        ALTER COLUMN id SET DEFAULT nextval('bench.companies_local_id'), ALTER COLUMN created_at SET DEFAULT now();
      ALTER TABLE bench.contacts_local ADD PRIMARY KEY (id),
        ADD FOREIGN KEY (company_id) REFERENCES bench.companies_local (id);
      CREATE INDEX ON bench.contacts_local (company_id);
      CREATE UNIQUE INDEX ON bench.companies_local (owner_id, domain) NULLS NOT DISTINCT;
      CREATE UNIQUE INDEX ON bench.contacts_local (owner_id, email) NULLS NOT DISTINCT;
      ALTER TABLE bench.companies_local OWNER TO api_owner;
      ALTER TABLE bench.contacts_local OWNER TO api_owner;
      ANALYZE bench.companies_local, bench.contacts_local;
      SET ROLE api_owner;
      CREATE VIEW api.companies_local AS SELECT id, name, domain, industry, employees, created_at, owner_id
        FROM bench.companies_local WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id());
      CREATE VIEW api.contacts_local AS SELECT id, company_id, first_name, last_name, email, phone, title, created_at, owner_id
        FROM bench.contacts_local WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id());
      CREATE VIEW api.companies_fdw AS SELECT id, name, domain, industry, employees, created_at, owner_id
        FROM rds_crm.companies WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id());
      CREATE VIEW api.contacts_fdw AS SELECT id, company_id, first_name, last_name, email, phone, title, created_at, owner_id
        FROM rds_crm.contacts WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id());
      CREATE FUNCTION api.company(api.contacts_fdw) RETURNS SETOF api.companies_fdw ROWS 1
        LANGUAGE sql STABLE AS $$ SELECT * FROM api.companies_fdw WHERE id = $1.company_id $$;
      CREATE FUNCTION api.contacts(api.companies_fdw) RETURNS SETOF api.contacts_fdw
        LANGUAGE sql STABLE AS $$ SELECT * FROM api.contacts_fdw WHERE company_id = $1.id $$;
      RESET ROLE;
      GRANT USAGE ON SCHEMA bench TO web_anon, web_user;
      GRANT SELECT ON api.companies_local, api.contacts_local, api.companies_fdw, api.contacts_fdw TO web_anon, web_user;
      GRANT INSERT (name, domain, industry, employees), UPDATE (employees)
        ON api.companies_local, api.companies_fdw TO web_user;
      GRANT USAGE ON SEQUENCE bench.companies_local_id TO web_user;
      GRANT EXECUTE ON FUNCTION api.company(api.contacts_fdw), api.contacts(api.companies_fdw) TO web_anon, web_user;
      NOTIFY pgrst, 'reload schema';`);
  });
  await new Promise((r) => setTimeout(r, 1000));
}

/** Each writer's own company (owner = its token's sub), in rds and in the local baseline: what PATCH updates. */
async function writersCompanies(stack: TestStack): Promise<number[]> {
  const ids: number[] = [];
  await withDb(stack.rdsUrl, async (rds) => {
    for (let i = 0; i < 20; i++) {
      const sub = `bench-w-${i}`;
      const r = await rds.query(
        `INSERT INTO crm.companies (name, domain, industry, employees, owner_id) VALUES ($1, $2, 'x', 1, $1)
         ON CONFLICT (owner_id, domain) DO UPDATE SET employees = 1 RETURNING id`,
        [sub, `${sub}.bench.example`],
      );
      ids.push(Number(r.rows[0].id));
    }
  });
  await withDb(stack.customUrl, async (c) => {
    await c.query(
      `INSERT INTO bench.companies_local SELECT * FROM rds_crm.companies WHERE id = ANY($1) ON CONFLICT (id) DO NOTHING`,
      [ids],
    );
  });
  return ids;
}

/** What the writes left: the companies POSTed (rds, and the local baseline). */
async function removePosted(stack: TestStack) {
  await withDb(stack.rdsUrl, (c) => c.query(`DELETE FROM crm.companies WHERE domain LIKE 'bench-post-%'`));
  await withDb(stack.customUrl, (c) =>
    c.query(`DELETE FROM bench.companies_local WHERE domain LIKE 'bench-post-%'`),
  );
}

/**
 * `connections` clients for `seconds`, each a client of its own to the gateway (its own token and
 * `sub`: the gateway shares PostgREST out per client). Reads as web_anon (the database ignores a
 * web_anon sub); writes as web_user `bench-w-<n>`, the owner of company `own[n]`.
 */
interface LoadOptions {
  method?: 'GET' | 'POST' | 'PATCH';
  headers?: Record<string, string>;
  body?: (n: number) => unknown;
  connections?: number;
  seconds?: number;
}
async function load(
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
async function postgrestDirect(project: string): Promise<string | undefined> {
  const info = await docker().getContainer(`${project}-postgrest`).inspect();
  const ip = Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress;
  if (!ip) return undefined;
  const ok = await fetch(`http://${ip}:3000/`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );
  return ok ? `http://${ip}:3000` : undefined;
}

/** The three read paths of one request shape: the api views (the replica), FDW views, local tables. */
const PATHS = {
  replica: { contacts: 'contacts', companies: 'companies', company: 'company', contactsOf: 'contacts' },
  fdw: { contacts: 'contacts_fdw', companies: 'companies_fdw', company: 'company', contactsOf: 'contacts' },
  local: {
    contacts: 'contacts_local',
    companies: 'companies_local',
    company: 'companies_local',
    contactsOf: 'contacts_local',
  },
} as const;
type Mode = keyof typeof PATHS;

interface Shape {
  name: string;
  path: (v: (typeof PATHS)[Mode], client: number) => string;
  opts?: LoadOptions;
  /** p50 ratio to local at 20 connections: replica, then FDW ('report' where the issue sets none). */
  targets: [number | 'report', number | 'report'];
}

/** A write on rds, timed until the replica has it: samples while `running()` holds. */
async function sampleLag(stack: TestStack, running: () => boolean): Promise<number[]> {
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

async function benchHttp(stack: TestStack) {
  await ensureBaselines(stack);
  const own = await writersCompanies(stack);
  const secrets = readSecrets(stack.project);
  const id = () => 1 + Math.floor(Math.random() * CONTACTS);
  const keyset = () => Math.floor(Math.random() * (CONTACTS - 200));
  const deep = () => Math.floor(CONTACTS / 2 + Math.random() * (CONTACTS / 2 - 100));
  const companyKeyset = () => Math.floor(Math.random() * (CONTACTS / 100 - 20));
  const shapes: Shape[] = [
    { name: 'read by key', path: (v) => `/${v.contacts}?id=eq.${id()}`, targets: [1.2, 2] },
    {
      name: 'keyset page of 100',
      path: (v) => `/${v.contacts}?order=id&limit=100&id=gt.${keyset()}`,
      targets: [1.2, 2],
    },
    {
      name: 'deep offset page',
      path: (v) => `/${v.contacts}?order=id&limit=100&offset=${deep()}`,
      targets: [1.3, 2.5],
    },
    {
      name: 'to-one embed, page of 100',
      path: (v) =>
        `/${v.contacts}?select=id,first_name,${v.company}(name)&order=id&limit=100&id=gt.${keyset()}`,
      targets: [1.3, 'report'],
    },
    {
      name: 'to-many embed, 10 companies',
      path: (v) => `/${v.companies}?select=*,${v.contactsOf}(*)&order=id&limit=10&id=gt.${companyKeyset()}`,
      targets: [1.3, 'report'],
    },
    {
      name: 'count=exact, page of 10',
      path: (v) => `/${v.contacts}?select=id&order=id&limit=10&id=gt.${keyset()}`,
      opts: { headers: { Prefer: 'count=exact' } },
      targets: [1.3, 'report'],
    },
    {
      name: 'filter on a non-key column',
      path: (v) => `/${v.contacts}?select=id,email&last_name=eq.Hopper&limit=100`,
      targets: ['report', 'report'],
    },
    {
      name: 'POST a company',
      path: (v) => `/${v.companies}`,
      opts: {
        method: 'POST',
        body: (n) => ({
          name: `Bench ${n}`,
          domain: `bench-post-${n}-${Date.now()}.example`,
          industry: 'x',
          employees: 1,
        }),
      },
      targets: ['report', 'report'],
    },
    {
      name: 'PATCH own company',
      path: (v, client) => `/${v.companies}?id=eq.${own[client]}`,
      opts: { method: 'PATCH', body: (n) => ({ employees: 1 + (n % 1000) }) },
      targets: ['report', 'report'],
    },
  ];
  const lags: number[] = [];
  for (const shape of shapes) {
    const results = {} as Record<Mode, { many: autocannon.Result; one: autocannon.Result }>;
    for (const mode of ['local', 'replica', 'fdw'] as Mode[]) {
      const path = (client: number) => shape.path(PATHS[mode], client);
      await load(stack.apiUrl, path, stack.jwtSecret, { ...shape.opts, seconds: 2 }); // warm
      let running = mode === 'replica' && shape.opts?.method !== undefined;
      const sampling = running ? sampleLag(stack, () => running) : Promise.resolve([]);
      const many = await load(stack.apiUrl, path, stack.jwtSecret, shape.opts);
      running = false;
      lags.push(...(await sampling));
      const one = await load(stack.apiUrl, path, stack.jwtSecret, {
        ...shape.opts,
        connections: 1,
        seconds: SECONDS / 2,
      });
      results[mode] = { many, one };
    }
    if (shape.opts?.method === 'POST') await removePosted(stack);
    const describe = (r: { many: autocannon.Result; one: autocannon.Result }) =>
      `p50 ${fmt(r.many.latency.p50)} ms, p99 ${fmt(r.many.latency.p99)} ms, ${fmt(r.many.requests.average, 0)} req/s; 1 conn. p50 ${fmt(r.one.latency.p50)} ms`;
    const local = results.local;
    for (const [i, mode] of (['replica', 'fdw'] as const).entries()) {
      const r = results[mode];
      const errors = [r.many, r.one, local.many, local.one].reduce((a, x) => a + x.errors + x.non2xx, 0);
      const ratio = r.many.latency.p50 / Math.max(local.many.latency.p50, 0.01);
      const target = shape.targets[i] as number | 'report';
      let bridge = '';
      if (mode === 'fdw' && !shape.opts?.method && secrets) {
        // What crosses the bridge for one request of this shape (PostgREST's own plan).
        const e = await explainRequest(stack.apiUrl, secrets.explainKey, shape.path(PATHS.fdw, 0), {
          as: 'anonymous',
          token: makeToken(stack.jwtSecret, { role: 'web_anon' }),
        });
        bridge = `; rds: ${e.rowsFetched.toLocaleString('en')} rows, ${e.remoteQueries} queries per request`;
      }
      report({
        benchmark: `HTTP ${shape.name}, ${mode === 'replica' ? 'replica reads' : 'FDW reads'}`,
        measured: `${describe(r)}${bridge}`,
        baseline: `local tables ${describe(local)}`,
        ratio: `${fmt(ratio, 2)}× (1 conn. ${fmt(r.one.latency.p50 / Math.max(local.one.latency.p50, 0.01), 2)}×)`,
        target: target === 'report' ? 'report' : `≤ ${target}× p50`,
        verdict: errors
          ? `FAILED: ${errors} errors/non-2xx`
          : target === 'report'
            ? 'reported'
            : ratio <= target
              ? 'met'
              : 'missed',
      });
    }
  }
  lags.sort((a, b) => a - b);
  const p = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? Number.NaN;
  report({
    benchmark: 'replication lag under write load',
    measured: `p50 ${fmt(p(0.5))} ms, p99 ${fmt(p(0.99))} ms (${lags.length} samples)`,
    baseline: 'a write on rds until custom has it, during the 20-connection POST and PATCH runs',
    ratio: '—',
    target: 'p99 ≤ 100 ms',
    verdict: p(0.99) <= 100 ? 'met' : 'missed',
  });
  notes.push(
    '**HTTP shapes.** Each shape runs against three read paths in the same run: the api views (reads: replica —',
    'local tables on custom kept in sync by logical replication), the same views over the foreign tables',
    '(`api.*_fdw`, what reads: fdw serves) and local tables with the same rows, keys and indexes (`api.*_local`,',
    'the baseline). Writes always go to rds: through postgres_fdw for replica and FDW, locally for the baseline,',
    "so their ratio is the bridge's price, not a target. `rds: … rows, … queries` is from PostgREST's own plan",
    '(`pgapp explain`) of one request. Over FDW, a to-one or to-many embed is a `LEFT JOIN LATERAL` postgres_fdw',
    '(PG15) does not push down: the planner picks a parameterized remote scan of the embedded table once per outer',
    'row (N+1: 101 remote queries for a page of 100 with its companies, 11 for 10 companies with their contacts),',
    'or, when the table is small, fetches it whole; there is no plan setting that ships the join. Pages, keys,',
    'counts and non-key filters push down (one remote query, no more rows than the answer). The replica answers',
    'every shape with local joins, at local speed: that is why replica reads are the default.',
    '',
  );
  // What the gateway (request bounds, per-client fairness) costs: the same reads, PostgREST direct.
  const direct = await postgrestDirect(stack.project);
  if (!direct) {
    notes.push(
      '**gateway cost:** not measured: this host does not reach containers by address (Docker Desktop).',
      '',
    );
    return;
  }
  const path = () => `/contacts_local?id=eq.${id()}`;
  const viaGateway = await load(stack.apiUrl, path, stack.jwtSecret);
  const viaDirect = await load(direct, path, stack.jwtSecret);
  report({
    benchmark: 'gateway cost, by key (20 clients)',
    measured: `gateway p50 ${fmt(viaGateway.latency.p50)} ms, ${fmt(viaGateway.requests.average, 0)} req/s`,
    baseline: `PostgREST direct p50 ${fmt(viaDirect.latency.p50)} ms, ${fmt(viaDirect.requests.average, 0)} req/s`,
    ratio: `${fmt(viaGateway.latency.p50 / Math.max(viaDirect.latency.p50, 0.01), 2)}×`,
    target: 'report',
    verdict: viaGateway.errors + viaGateway.non2xx ? 'FAILED: errors/non-2xx' : 'see below',
  });
  notes.push(
    '**gateway cost.** Every API request crosses the gateway (images/gateway: bounds, per-client fairness, 504s):',
    'one more process and one more local HTTP hop per request, on the same 2 cores as the three servers and the',
    'load generator. It is the price of the limits in RELIABILITY.md; in the cloud layout a load balancer pays it.',
    '',
  );
}

async function benchPushdown(stack: TestStack) {
  await ensureBaselines(stack);
  await withDb(stack.customUrl, async (c) => {
    const cases: [string, string][] = [
      ['filter by company', 'SELECT * FROM api.contacts_fdw WHERE company_id = 42'],
      ['count per stage', 'SELECT stage, count(*) FROM rds_crm.deals GROUP BY stage'],
      [
        'join + aggregate',
        'SELECT co.name, count(d.id) FROM rds_crm.companies co JOIN rds_crm.deals d ON d.company_id = co.id WHERE co.id < 20 GROUP BY co.name',
      ],
    ];
    for (const [name, sql] of cases) {
      const plan = (await c.query(`EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) ${sql}`)).rows[0]['QUERY PLAN'][0];
      const answer = plan.Plan['Actual Rows'];
      const fetched: number[] = [];
      const walk = (n: { 'Node Type': string; 'Actual Rows': number; Plans?: unknown[] }) => {
        if (n['Node Type'] === 'Foreign Scan') fetched.push(n['Actual Rows']);
        for (const p of (n.Plans ?? []) as (typeof n)[]) walk(p);
      };
      walk(plan.Plan);
      const total = fetched.reduce((a, b) => a + b, 0);
      report({
        benchmark: `pushdown: ${name}`,
        measured: `${total} rows fetched from rds`,
        baseline: `${answer} rows in the answer`,
        ratio: `${fmt(total / Math.max(answer, 1), 2)}×`,
        target: 'equal',
        verdict: total === answer ? 'met' : 'missed',
      });
    }
  });
}

async function benchFetchSize(stack: TestStack) {
  await withDb(stack.customUrl, async (c) => {
    // OFFSET 0 keeps the aggregate local, so every row crosses the bridge.
    const scan = 'SELECT count(*) FROM (SELECT * FROM rds_crm.contacts OFFSET 0) s';
    const time = async (size: string) => {
      await c.query(`ALTER FOREIGN TABLE rds_crm.contacts OPTIONS (ADD fetch_size '${size}')`);
      try {
        await c.query(scan);
        const t = performance.now();
        for (let i = 0; i < 3; i++) await c.query(scan);
        return (performance.now() - t) / 3;
      } finally {
        await c.query(`ALTER FOREIGN TABLE rds_crm.contacts OPTIONS (DROP fetch_size)`);
      }
    };
    const dflt = await time('100');
    const tuned = await time('1000');
    report({
      benchmark: `fetch_size: ${CONTACTS / 1000}k-row scan`,
      measured: `fetch_size 1000: ${fmt(tuned, 0)} ms`,
      baseline: `fetch_size 100 (default): ${fmt(dflt, 0)} ms`,
      ratio: `${fmt(tuned / dflt, 2)}×`,
      target: 'report',
      verdict: `${fmt(dflt / tuned, 1)}× faster`,
    });
  });
}

/** The images the project's containers run, by service. */
async function publishedImages(
  project: string,
): Promise<Record<'rds' | 'custom' | 'postgrest' | 'gateway', string>> {
  const out = {} as Record<'rds' | 'custom' | 'postgrest' | 'gateway', string>;
  for (const c of await projectContainers(project)) out[c.Labels[LABELS.service] as 'rds'] = c.Image;
  return out;
}

async function benchMemory() {
  await new Promise((r) => setTimeout(r, 3000)); // idle
  const { stdout } = await run('docker', ['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}']);
  const toMiB = (s: string) => {
    const m = /([\d.]+)\s*([KMG]i?B)/.exec(s);
    if (!m) return 0;
    const n = Number(m[1]);
    return m[2]?.startsWith('G') ? n * 1024 : m[2]?.startsWith('K') ? n / 1024 : n;
  };
  const mine = stdout.split('\n').filter((l) => l.startsWith(`${PROJECT}-`));
  const parts = mine.map((l) => {
    const [name, usage] = l.split(' ', 2);
    return [name?.replace(`${PROJECT}-`, ''), toMiB(usage ?? '')] as const;
  });
  const total = parts.reduce((a, [, m]) => a + m, 0);
  report({
    benchmark: 'memory: idle stack RSS',
    measured: `${parts.map(([n, m]) => `${n} ${fmt(m, 0)}`).join(', ')} MiB`,
    baseline: '—',
    ratio: `${fmt(total, 0)} MiB`,
    target: '≤ 300 MiB',
    verdict: total <= 300 ? 'met' : 'missed',
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
const cliArgs = async (stack: TestStack) => {
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
const devCli = async (args: string[]) => {
  const tsx = join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  await run(process.execPath, [tsx, join(PACKAGE_ROOT, 'src', 'cli.ts'), 'dev', ...args], {
    env: { ...process.env, CI: 'true' },
  });
};
const pgappCli = async (args: string[]) => {
  const tsx = join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  await run(process.execPath, [tsx, join(PACKAGE_ROOT, 'src', 'cli.ts'), ...args], {
    env: { ...process.env, CI: 'true' },
  });
};

/** The same stack under docker compose (project <bench>_compose): the baseline of warm start and restart. */
async function composeStack(): Promise<(...args: string[]) => Promise<unknown>> {
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
      project: name,
      ports: { rds, custom, postgrest: api, ...ports },
      // Its data's version when it has data (an older bench stack), else the default.
      postgres: validatePostgres((await dataPgMajor(name)) ?? DEFAULTS.postgres),
      seedContacts: CONTACTS,
      cronJobs: true,
      secrets,
      files: stackFiles(name, ensureTls(name)),
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

async function benchWarm(stack: TestStack) {
  const args = await cliArgs(stack);
  const compose = await composeStack();
  const dev: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < 3; i++) {
    dev.push(await timeIt(() => devCli(args)));
    base.push(await timeIt(() => compose('up', '-d', '--wait')));
  }
  const ratio = median(dev) / median(base);
  report({
    benchmark: 'warm start (stack up)',
    measured: `npm run dev: ${fmt(median(dev) / 1000, 2)} s (median of 3)`,
    baseline: `compose up -d --wait: ${fmt(median(base) / 1000, 2)} s`,
    ratio: `${fmt(ratio, 2)}×`,
    target: '≤ 1.5×',
    verdict: ratio <= 1.5 ? 'met' : 'missed',
  });
  if (ratio > 1.5) {
    notes.push(
      `**warm start: target missed (${fmt(ratio, 2)}×).** Of \`npm run dev\`'s time, starting Node and compiling the CLI with`,
      'tsx is a fixed cost compose does not pay (it is one Go binary); the reuse path itself (inspect images, containers,',
      'ledger, verify every hop) is the rest. `npm run build` + `node dist/cli.js dev` avoids the compile step.',
      '',
    );
  }

  const restartDev: number[] = [];
  const restartBase: number[] = [];
  for (let i = 0; i < 3; i++) {
    await pgappCli(['down', '--project', stack.project]);
    restartDev.push(await timeIt(() => devCli(args)));
    await compose('stop');
    restartBase.push(await timeIt(() => compose('up', '-d', '--wait')));
  }
  const r2 = median(restartDev) / median(restartBase);
  report({
    benchmark: 'restart (after down)',
    measured: `npm run dev: ${fmt(median(restartDev) / 1000, 2)} s (median of 3)`,
    baseline: `compose start + healthy: ${fmt(median(restartBase) / 1000, 2)} s`,
    ratio: `${fmt(r2, 2)}×`,
    target: '≤ 1.5×',
    verdict: r2 <= 1.5 ? 'met' : 'missed',
  });
  if (r2 > 1.5) {
    notes.push(
      `**restart: target missed (${fmt(r2, 2)}×).** \`dev\` starts rds, waits for its healthcheck, then custom, then`,
      'PostgREST, and proves every hop; compose starts rds and custom together. Starting custom while rds comes up',
      '(custom does not need rds to start, only the bridge phase does) is the next improvement; Node + tsx start-up adds',
      'about a second that compose does not pay.',
      '',
    );
  }
  await compose('stop');
}

/** Time from `docker run` to healthy (or to PostgREST answering 200) of one container: a phase's floor. */
async function floor(
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

async function benchCold(stack: TestStack) {
  const cold = `${PROJECT}_cold`;
  await pgappCli(['reset', '--yes', '--project', cold]).catch(() => {});
  const [rds, custom, api] = await Promise.all([freePort(), freePort(), freePort()]);
  const r = await dev({
    flags: { project: cold, ports: { rds, custom, postgrest: api }, seed: 'small' },
    yes: true,
    renderer: 'silent',
  });
  await pgappCli(['reset', '--yes', '--project', cold]);
  const imgs = await publishedImages(stack.project);
  const secrets = readSecrets(stack.project);
  const floors = {
    rds: await floor(imgs.rds, { POSTGRES_PASSWORD: 'x', POSTGRES_DB: 'floor' }),
    custom: await floor(imgs.custom, { POSTGRES_PASSWORD: 'x', POSTGRES_DB: 'floor' }),
    postgrest: await floor(
      imgs.postgrest,
      {
        PGRST_DB_URI: `postgres://authenticator:${secrets?.authenticatorPassword}@custom:5432/${stack.project}`,
        PGRST_DB_SCHEMAS: 'api',
        PGRST_DB_ANON_ROLE: 'web_anon',
      },
      { network: `${stack.project}_net`, readyUrlPort: 1 },
    ),
    // In front of the bench stack's own PostgREST: ready once the API answers through it.
    gateway: await floor(
      imgs.gateway,
      { PGAPP_UPSTREAM: 'http://postgrest:3000' },
      { network: `${stack.project}_net`, readyUrlPort: 1 },
    ),
  };
  const sum = floors.rds + floors.custom + floors.postgrest + floors.gateway;
  const phases = Object.entries(r.phases)
    .map(([k, v]) => `${k.replace(/: start$/, '')} ${fmt(v / 1000, 1)}`)
    .join(', ');
  report({
    benchmark: 'cold start (images present)',
    measured: `dev ${fmt(r.ms / 1000, 1)} s`,
    baseline: `floors ${fmt(sum / 1000, 1)} s (rds ${fmt(floors.rds / 1000, 1)} + custom ${fmt(floors.custom / 1000, 1)} + postgrest ${fmt(floors.postgrest / 1000, 1)} + gateway ${fmt(floors.gateway / 1000, 1)})`,
    ratio: `${fmt(r.ms / sum, 2)}×`,
    target: 'report phases',
    verdict: 'see below',
  });
  notes.push(`**cold start, per phase (s):** ${phases}.`, '');
}

/** Snapshot restore (a test's beforeEach) against starting over (reset + dev), on a small-seed stack. */
async function benchSnapshot() {
  const project = `${PROJECT}_snap`;
  const small = () => useStack({ project, seed: 'small' });
  let stack = await small();
  // Baseline: what a test suite did before snapshots to start from clean data.
  const starts: number[] = [];
  for (let i = 0; i < 2; i++) {
    starts.push(
      await timeIt(async () => {
        await stack.reset();
        stack = await small();
      }),
    );
  }
  await stack.snapshot('bench');
  const restores: number[] = [];
  for (let i = 0; i < 12; i++) {
    await withDb(stack.rdsUrl, (c) =>
      c.query(
        `INSERT INTO crm.companies (name, domain, industry, employees) VALUES ('Snap ${i}', 'snap${i}.example.com', 'retail', 1)`,
      ),
    );
    // Until every hop answers again (as the test's next request needs); the next copy is staged meanwhile.
    restores.push((await stack.restore('bench')).ms);
  }
  await stack[Symbol.asyncDispose]();
  await stack.reset();
  const [first, ...loop] = restores;
  const ratio = median(loop) / median(starts);
  report({
    benchmark: 'snapshot restore (small seed)',
    measured: `restore ${fmt(median(loop), 0)} ms (p50 of ${loop.length}; first ${fmt(first ?? 0, 0)} ms)`,
    baseline: `reset + dev ${fmt(median(starts) / 1000, 1)} s`,
    ratio: `${fmt(ratio, 3)}×`,
    target: '≤ 0.1×, < 1 s',
    verdict: ratio <= 0.1 && median(loop) < 1000 ? 'met' : 'missed',
  });
  notes.push(
    '**snapshot restore:** both databases put back from template copies (a rename of a copy staged while the tests ran,',
    'then the replica re-subscribed without copying) until PostgREST answers and a write on rds reaches the replica.',
    `The first restore of a snapshot also makes its copy (${fmt(first ?? 0, 0)} ms).`,
    '',
  );
}

async function benchCache(stack: TestStack) {
  await withDb(stack.customUrl, async (c) => {
    if ((await c.query(`SELECT to_regclass('bench.pipeline_local') IS NOT NULL AS e`)).rows[0].e) return;
    await c.query(`
      CREATE SCHEMA IF NOT EXISTS bench AUTHORIZATION api_owner;
      CREATE TABLE bench.pipeline_local AS SELECT * FROM api.company_pipeline;
      ALTER TABLE bench.pipeline_local ADD PRIMARY KEY (company_id);
      ANALYZE bench.pipeline_local;
      CREATE VIEW api.pipeline_local AS SELECT * FROM bench.pipeline_local;
      GRANT USAGE ON SCHEMA bench TO web_anon;
      GRANT SELECT ON bench.pipeline_local, api.pipeline_local TO web_anon;
      NOTIFY pgrst, 'reload schema';`);
  });
  await new Promise((r) => setTimeout(r, 1000));
  const id = () => 1 + Math.floor(Math.random() * (CONTACTS / 10));
  await load(stack.apiUrl, () => `/pipeline_local?company_id=eq.${id()}`, stack.jwtSecret);
  const local = await load(stack.apiUrl, () => `/pipeline_local?company_id=eq.${id()}`, stack.jwtSecret);
  const cache = await load(stack.apiUrl, () => `/company_pipeline?company_id=eq.${id()}`, stack.jwtSecret);
  const ratio = cache.latency.p50 / Math.max(local.latency.p50, 0.01);
  report({
    benchmark: 'cache (pg_cron MV) by key',
    measured: `cache p50 ${fmt(cache.latency.p50)} ms, ${fmt(cache.requests.average, 0)} req/s`,
    baseline: `local table p50 ${fmt(local.latency.p50)} ms, ${fmt(local.requests.average, 0)} req/s`,
    ratio: `${fmt(ratio, 2)}×`,
    target: '≤ 1.1×',
    verdict: cache.errors + cache.non2xx ? 'FAILED' : ratio <= 1.1 ? 'met' : 'missed',
  });
  if (ratio > 1.1 && !(cache.errors + cache.non2xx))
    notes.push(
      `**cache by key: target missed (${fmt(ratio, 2)}× > 1.1×).** The baseline is a flat table; the cache applies`,
      "each caller's visibility (shared totals joined with the caller's own private part, the caller's id read from",
      'the token), which no flat copy can: two index lookups and a function call per request, measured warm in SQL',
      'at tens of microseconds. At 20 saturating connections on 2 cores the rest is queueing.',
      '',
    );
}

async function benchSeed(stack: TestStack) {
  const n = 1_000_000;
  const db = `seedbench_${Date.now()}`;
  const rdsCfg = (database: string) => {
    const u = new URL(stack.rdsUrl);
    return {
      host: u.hostname,
      port: Number(u.port),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database,
      ssl: { rejectUnauthorized: false },
    };
  };
  const schema = readFileSync(join(SQL_DIR, 'rds', '010_crm_schema.sql'), 'utf8');
  const seedSql = readFileSync(join(SQL_DIR, 'rds', '020_crm_seed.sql'), 'utf8');
  const admin = new pg.Client(rdsCfg(stack.project));
  await admin.connect();
  const container = `${stack.project}-rds`;
  // psql inside the container as the master user (nobody reaches rds's superuser, as on RDS): its
  // \copy is the fastest bulk load an RDS user has.
  const master = rdsCfg(stack.project);
  const asMaster = (sql: string, database: string) =>
    run('docker', [
      'exec',
      '-e',
      `PGPASSWORD=${master.password}`,
      container,
      'psql',
      '-h',
      '/run/postgresql',
      '-U',
      String(master.user),
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      database,
      '-c',
      sql,
    ]);
  try {
    for (const d of [db, `${db}_copy`]) await admin.query(`CREATE DATABASE ${d}`);
    let rows = 0;
    const seedMs = await withClientCfg(rdsCfg(db), async (c) => {
      await c.query(schema);
      await c.query(`SELECT set_config('pgapp.seed_contacts', '${n}', false)`);
      const ms = await timeIt(() => c.query(seedSql));
      rows = (
        await c.query(
          `SELECT (SELECT count(*) FROM crm.companies) + (SELECT count(*) FROM crm.contacts) + (SELECT count(*) FROM crm.deals) + (SELECT count(*) FROM crm.activities) AS n`,
        )
      ).rows[0].n;
      return ms;
    });
    // Baseline: COPY of the same rows from files inside the container (psql's \copy, as the master user).
    const tables = ['companies', 'contacts', 'deals', 'activities'];
    for (const t of tables) await asMaster(`\\copy crm.${t} TO '/tmp/${db}_${t}.copy'`, db);
    await withClientCfg(rdsCfg(`${db}_copy`), (c) => c.query(schema));
    const copyMs = await timeIt(async () => {
      for (const t of tables) await asMaster(`\\copy crm.${t} FROM '/tmp/${db}_${t}.copy'`, `${db}_copy`);
    });
    await run('docker', ['exec', container, 'sh', '-c', `rm -f /tmp/${db}_*.copy`]);
    const seedRate = Number(rows) / (seedMs / 1000);
    const copyRate = Number(rows) / (copyMs / 1000);
    report({
      benchmark: `seed (${(n / 1e6).toFixed(0)}M contacts)`,
      measured: `${fmt(seedRate / 1000, 0)}k rows/s (${Number(rows).toLocaleString('en')} rows, ${fmt(seedMs / 1000, 1)} s)`,
      baseline: `\\copy from files: ${fmt(copyRate / 1000, 0)}k rows/s (${fmt(copyMs / 1000, 1)} s)`,
      ratio: `${fmt(seedRate / copyRate, 2)}×`,
      target: '≥ 0.5×',
      verdict: seedRate / copyRate >= 0.5 ? 'met' : 'missed',
    });
  } finally {
    for (const d of [db, `${db}_copy`]) await admin.query(`DROP DATABASE IF EXISTS ${d}`).catch(() => {});
    await admin.end();
  }
}

async function withClientCfg<T>(cfg: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(cfg);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

// Order matters on a small machine: idle memory first, the heaviest (seed) last, a pause between.
/** Page views of `view` for SECONDS by `workers` concurrent visitors: each one's time, in ms. */
async function pageViews(view: () => Promise<void>, workers = 4): Promise<number[]> {
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
 * The app page (GET /rpc/app, text/html drawn by SQL) against what a JavaScript front end would
 * fetch to show the same: the three JSON requests (stage pipeline, top companies, latest activities
 * with their contacts), sent at once as a browser would.
 */
async function benchAppPage(stack: TestStack) {
  const api = stack.apiUrl;
  const get = async (path: string, accept: string) => {
    const res = await fetch(`${api}${path}`, { headers: { Accept: accept } });
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    await res.text();
  };
  const html = () => get('/rpc/app', 'text/html');
  const json = async () => {
    await Promise.all([
      get('/stage_pipeline', 'application/json'),
      get('/company_pipeline?order=pipeline_amount.desc,company_id&limit=8', 'application/json'),
      get(
        '/activities?select=occurred_at,kind,subject,contact(first_name,last_name)&order=occurred_at.desc,id.desc&limit=10',
        'application/json',
      ),
    ]);
  };
  await html();
  await json(); // warm both
  const page = await pageViews(html);
  const data = await pageViews(json);
  const p50 = (xs: number[]) => xs[Math.floor(xs.length / 2)] ?? Number.NaN;
  const ratio = p50(page) / p50(data);
  report({
    benchmark: 'app page (HTML by SQL)',
    measured: `GET /rpc/app p50 ${fmt(p50(page))} ms (${page.length} views)`,
    baseline: `its 3 JSON requests p50 ${fmt(p50(data))} ms (${data.length} views)`,
    ratio: `${fmt(ratio, 2)}×`,
    target: '≤ 0.75×',
    verdict: ratio <= 0.75 ? 'met' : 'MISSED',
  });
  notes.push(
    '**app page.** One request draws the whole page in the database (charts as SVG from the pg_cron cache, the',
    'latest activities): 4 visitors at once for the measured time, each page view timed to its last byte, against',
    'the three JSON requests a JavaScript front end would send in parallel for the same data (without rendering it).',
    '',
  );
}

const ALL = {
  memory: benchMemory,
  warm: benchWarm,
  cold: benchCold,
  pushdown: benchPushdown,
  fetch: benchFetchSize,
  http: benchHttp,
  cache: benchCache,
  snapshot: benchSnapshot,
  seed: benchSeed,
  app: benchAppPage,
} as const;

async function main() {
  const wanted = process.argv.slice(2).filter((a) => a in ALL) as (keyof typeof ALL)[];
  const names = wanted.length ? wanted : (Object.keys(ALL) as (keyof typeof ALL)[]);
  console.log(
    `pgapp benchmarks on project ${PROJECT} (${CONTACTS.toLocaleString('en')} contacts): ${names.join(', ')}\n`,
  );
  const stack = await useStack({ project: PROJECT, seed: 'medium' });
  for (const n of names) {
    await ALL[n](stack);
    await new Promise((r) => setTimeout(r, 5000)); // let autovacuum, checkpoints and Docker settle
  }
  const table = [
    '| benchmark | measured | baseline (same run) | ratio | target | verdict |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) => `| ${r.benchmark} | ${r.measured} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.verdict} |`,
    ),
  ];
  const md = [
    '# Benchmarks',
    '',
    `Reproduce: \`npm run bench\` (or \`npm run bench -- ${names.join(' ')}\`). Stack: project \`${PROJECT}\`, medium seed`,
    `(${CONTACTS.toLocaleString('en')} contacts), images and containers as \`npm run dev\` makes them; load from autocannon,`,
    `20 connections for ${SECONDS} s per measurement, on 127.0.0.1. Machine: ${(await import('node:os')).cpus().length} cores.`,
    'Only the ratios are comparable between runs: the absolute numbers move with the machine.',
    'Memory is RSS as `docker stats` reports it: it counts the shared buffers a server has touched, so it grows',
    'after big scans or seeding and is lowest on a freshly started stack.',
    '',
    ...table,
    '',
    ...notes,
  ].join('\n');
  writeFileSync(join(PACKAGE_ROOT, 'BENCHMARKS.md'), `${md}\n`);
  console.log('\nwrote BENCHMARKS.md');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
