/**
 * pgapp benchmarks. Each prints its numbers and a ratio against a baseline measured in the same run
 * (these machines are noisy: only ratios mean anything), then BENCHMARKS.md is rewritten.
 *
 *   npm run bench                 all of them
 *   npm run bench -- http memory  some of them (http, pushdown, fetch, memory)
 *
 * They run on a stack of their own (project pgapp_bench, 100k contacts), created on first use and
 * reused after. Load goes to 127.0.0.1 only, bounded in time and connections.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { PACKAGE_ROOT } from '../src/paths.ts';
import { type TestStack, useStack } from '../src/testing/index.ts';

const run = promisify(execFile);
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
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A local copy of crm.contacts on custom, served by PostgREST: the baseline of the HTTP benchmarks. */
async function ensureLocalBaseline(stack: TestStack) {
  await withDb(stack.customUrl, async (c) => {
    const exists = (await c.query(`SELECT to_regclass('bench.contacts_local') IS NOT NULL AS e`)).rows[0].e;
    if (exists) return;
    await c.query(`
      CREATE SCHEMA IF NOT EXISTS bench AUTHORIZATION api_owner;
      CREATE TABLE bench.contacts_local AS SELECT * FROM rds_crm.contacts;
      ALTER TABLE bench.contacts_local ADD PRIMARY KEY (id);
      ALTER TABLE bench.contacts_local OWNER TO api_owner;
      ANALYZE bench.contacts_local;
      CREATE VIEW api.contacts_local AS SELECT id, company_id, first_name, last_name, email, phone, title, created_at, owner_id
        FROM bench.contacts_local WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id());
      ALTER VIEW api.contacts_local OWNER TO api_owner;
      GRANT SELECT ON api.contacts_local TO web_anon;
      NOTIFY pgrst, 'reload schema';`);
  });
  await new Promise((r) => setTimeout(r, 1000));
}

async function load(url: string, path: () => string): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections: 20,
    duration: SECONDS,
    requests: [{ setupRequest: (req) => ({ ...req, path: path() }) }],
  });
}

async function benchHttp(stack: TestStack) {
  await ensureLocalBaseline(stack);
  const id = () => 1 + Math.floor(Math.random() * CONTACTS);
  for (const [name, target, fdwPath, localPath] of [
    ['HTTP by key (20 conn.)', 1.5, () => `/contacts?id=eq.${id()}`, () => `/contacts_local?id=eq.${id()}`],
    ['HTTP page of 100', 2, () => '/contacts?limit=100&order=id', () => '/contacts_local?limit=100&order=id'],
  ] as const) {
    await load(stack.apiUrl, localPath); // warm both paths before measuring
    const local = await load(stack.apiUrl, localPath);
    const fdw = await load(stack.apiUrl, fdwPath);
    const errors = fdw.errors + fdw.non2xx + local.errors + local.non2xx;
    const ratio = fdw.latency.p50 / Math.max(local.latency.p50, 0.01);
    report({
      benchmark: name,
      measured: `FDW p50 ${fmt(fdw.latency.p50)} ms, p99 ${fmt(fdw.latency.p99)} ms, ${fmt(fdw.requests.average, 0)} req/s`,
      baseline: `local p50 ${fmt(local.latency.p50)} ms, p99 ${fmt(local.latency.p99)} ms, ${fmt(local.requests.average, 0)} req/s`,
      ratio: `${fmt(ratio, 2)}×`,
      target: `≤ ${target}× p50`,
      verdict: errors ? `FAILED: ${errors} errors/non-2xx` : ratio <= target ? 'met' : 'missed',
    });
    if (ratio > target && !errors) {
      notes.push(
        `**${name}: target missed (${fmt(ratio, 2)}× > ${target}×).** Both runs saturate the CPU (20 connections,`,
        'all three servers on the same cores), so p50 is mostly queueing: a bridged request costs a second',
        "Postgres backend (rds parses, plans and executes the remote query) and postgres_fdw's remote transaction and",
        'cursor round trips, roughly doubling the CPU per request — throughput halves and the queue doubles. What is ours',
        'is done (kept remote connections, fetch_size 1000, filters pushed down as parameters, realistic fdw_tuple_cost);',
        'in the cloud layout this mirrors, rds has CPUs of its own.',
        '',
      );
    }
  }
}

async function benchPushdown(stack: TestStack) {
  await withDb(stack.customUrl, async (c) => {
    const cases: [string, string][] = [
      ['filter by company', 'SELECT * FROM api.contacts WHERE company_id = 42'],
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
    measured: parts.map(([n, m]) => `${n} ${fmt(m, 0)}`).join(', ') + ' MiB',
    baseline: '—',
    ratio: `${fmt(total, 0)} MiB`,
    target: '≤ 300 MiB',
    verdict: total <= 300 ? 'met' : 'missed',
  });
}

const ALL = { http: benchHttp, pushdown: benchPushdown, fetch: benchFetchSize, memory: benchMemory } as const;

async function main() {
  const wanted = process.argv.slice(2).filter((a) => a in ALL) as (keyof typeof ALL)[];
  const names = wanted.length ? wanted : (Object.keys(ALL) as (keyof typeof ALL)[]);
  console.log(
    `pgapp benchmarks on project ${PROJECT} (${CONTACTS.toLocaleString('en')} contacts): ${names.join(', ')}\n`,
  );
  const stack = await useStack({ project: PROJECT, seed: 'medium' });
  for (const n of names) await ALL[n](stack);
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
