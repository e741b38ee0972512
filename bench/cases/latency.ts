/**
 * The bridge at the cloud's distance (issue 26): custom and RDS sit in different availability zones,
 * 0.5–2 ms apart per round trip, where this laptop has them 0.1 ms apart. A delaying TCP hop
 * (bench/delay-proxy.mjs) in custom's own network namespace is put between postgres_fdw and rds —
 * the foreign server pointed at it, 127.0.0.1 (which rds's certificate names, so verify-full holds) —
 * and one client's writes and FDW reads are timed with it at 0 ms (the hop's own cost) and at 1 ms per
 * round trip, and without it. What a write costs per round trip there is what it costs per statement
 * it sends (bench/cases/trips.ts counts them).
 */
import { join } from 'node:path';
import { docker } from '../../src/docker/engine.ts';
import { containerName } from '../../src/spec/stack.ts';
import type { TestStack } from '../../src/testing/index.ts';
import { load, median, SECONDS, withDb } from '../lib.ts';
import { fmt, notes, report } from '../report.ts';
import { ensureBaselines, removePosted } from './http.ts';

const HOP_PORT = 15432;
const RTT_MS = 1;
/** Rounds of (hop at 0 ms, hop at RTT_MS), interleaved; each side's median is reported. */
const ROUNDS = 3;

type Timings = { post: number; get: number };

/** The foreign server's options, as a map. */
async function serverOptions(customUrl: string): Promise<{ name: string; options: Map<string, string> }> {
  return withDb(customUrl, async (c) => {
    const { rows } = await c.query<{ srvname: string; srvoptions: string[] }>(
      `SELECT srvname, srvoptions FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
       WHERE w.fdwname = 'postgres_fdw'`,
    );
    const s = rows[0];
    if (!s || rows.length !== 1)
      throw new Error(`latency bench: expected one postgres_fdw server, found ${rows.length}`);
    return {
      name: s.srvname,
      options: new Map(s.srvoptions.map((o) => [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)])),
    };
  });
}

/** Point the foreign server at host:port (postgres_fdw drops its connections when the server changes). */
async function pointServer(
  customUrl: string,
  name: string,
  had: Map<string, string>,
  to: Map<string, string>,
) {
  const parts = [...to].map(([k, v]) => `${had.has(k) ? 'SET' : 'ADD'} ${k} '${v.replace(/'/g, "''")}'`);
  const dropped = [...had.keys()]
    .filter((k) => (k === 'host' || k === 'port') && !to.has(k))
    .map((k) => `DROP ${k}`);
  await withDb(customUrl, (c) =>
    c.query(`ALTER SERVER "${name}" OPTIONS (${[...parts, ...dropped].join(', ')})`),
  );
}

export async function benchLatency(stack: TestStack) {
  await ensureBaselines(stack);
  const custom = await docker().getContainer(containerName(stack.project, 'custom')).inspect();
  const gatewayImage = (await docker().getContainer(containerName(stack.project, 'gateway')).inspect()).Config
    .Image;
  const { name, options } = await serverOptions(stack.customUrl);
  const original = new Map([...options].filter(([k]) => k === 'host' || k === 'port'));
  const body = (n: number) => ({
    name: `Bench ${n}`,
    domain: `bench-post-${n}-${Date.now()}.example`,
    industry: 'x',
    employees: 1,
  });
  const id = () => 1 + Math.floor(Math.random() * 100_000);
  /** One client's mean latency, POST a company and GET a contact by key over FDW. */
  const measure = async (): Promise<Timings> => {
    const one = { connections: 1, seconds: SECONDS / 2 };
    const post = await load(stack.apiUrl, () => '/companies', stack.jwtSecret, {
      ...one,
      method: 'POST',
      body,
    });
    const get = await load(stack.apiUrl, () => `/contacts_fdw?id=eq.${id()}`, stack.jwtSecret, one);
    for (const r of [post, get])
      if (r.errors + r.non2xx) throw new Error(`latency bench: ${r.errors} errors, ${r.non2xx} non-2xx`);
    return { post: post.latency.average, get: get.latency.average };
  };
  /** The same with the hop in place at `rtt` ms per round trip. */
  const withHop = async (rtt: number) => {
    const hop = await docker().createContainer({
      Image: gatewayImage,
      Cmd: [
        'node',
        '/opt/delay-proxy.mjs',
        String(HOP_PORT),
        original.get('host') ?? 'rds',
        original.get('port') ?? '5432',
        String(rtt),
      ],
      Labels: { 'pgapp.bench': 'delay-proxy' },
      HostConfig: {
        NetworkMode: `container:${custom.Id}`,
        Binds: [`${join(import.meta.dirname, '..', 'delay-proxy.mjs')}:/opt/delay-proxy.mjs:ro`],
      },
    });
    try {
      await hop.start();
      await new Promise((r) => setTimeout(r, 1000));
      await pointServer(
        stack.customUrl,
        name,
        options,
        new Map([
          ['host', '127.0.0.1'],
          ['port', String(HOP_PORT)],
        ]),
      );
      try {
        await measure(); // warm: PostgREST's connections make their new FDW connections
        return await measure();
      } finally {
        await pointServer(
          stack.customUrl,
          name,
          new Map([...options, ['host', '127.0.0.1'], ['port', String(HOP_PORT)]]),
          original,
        );
      }
    } finally {
      await hop.remove({ force: true });
    }
  };
  try {
    await measure(); // warm
    const direct = await measure();
    // Interleaved rounds, each side's median: one window of each is at the mercy of whatever else
    // the 2 cores were doing then (a single pair of runs put the same POST at +4.0 and +5.6 ms).
    const rounds: { hop0: Timings; hop1: Timings }[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push({ hop0: await withHop(0), hop1: await withHop(RTT_MS) });
    const side = (k: 'hop0' | 'hop1'): Timings => ({
      post: median(rounds.map((r) => r[k].post)),
      get: median(rounds.map((r) => r[k].get)),
    });
    const hop0 = side('hop0');
    const hop1 = side('hop1');
    for (const [what, k] of [
      ['POST a company', 'post'],
      ['GET a contact by key, FDW reads', 'get'],
    ] as const) {
      const added = hop1[k] - hop0[k];
      report({
        benchmark: `bridge at ${RTT_MS} ms per round trip: ${what} (1 client)`,
        measured: `mean ${fmt(hop1[k], 2)} ms (+${fmt(added, 2)} ms ≈ ${fmt(added / RTT_MS, 1)} round trips)`,
        baseline: `the hop at 0 ms: mean ${fmt(hop0[k], 2)} ms (no hop: ${fmt(direct[k], 2)} ms)`,
        ratio: `${fmt(hop1[k] / Math.max(hop0[k], 0.01), 2)}×`,
        target: 'report',
        verdict: 'see below',
      });
    }
  } finally {
    await removePosted(stack);
  }
  notes.push(
    `**the bridge at ${RTT_MS} ms.** Medians of ${ROUNDS} interleaved rounds. A delaying TCP hop (bench/delay-proxy.mjs, tested in test/unit/delay-proxy.test.ts)`,
    "in custom's network namespace, between postgres_fdw and rds: each of the bridge's round trips to rds then",
    `takes ${RTT_MS} ms more (Node's timers fire a little late, so a little more), as between two availability zones;`,
    'the subscription is not delayed. What a request adds is its number of round trips to rds: a write its remote',
    "statements (`remote round trips` above); a read by key over FDW, one query, still pays postgres_fdw's",
    'transaction and cursor around it (START, DECLARE, FETCH, CLOSE, COMMIT). Replica reads (the default) do not',
    'cross the bridge at all.',
    '',
  );
}
