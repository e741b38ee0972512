/**
 * Bounded load with accounting, on the shared stack over loopback: 50 clients for 30 s mixing
 * reads and writes through PostgREST → custom (its local replica of rds) → postgres_fdw → rds. No
 * 5xx, no transport error, every write acknowledged with 201 is in rds exactly once (count and ids),
 * nothing more, and each client's request after its write sees that write (read-your-writes).
 */
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { customFromUrl, query, rdsFromUrl, replicaCaughtUp } from '../helpers.ts';

const CLIENTS = Number(process.env.PGAPP_LOAD_CLIENTS ?? 50);
const SECONDS = Number(process.env.PGAPP_LOAD_SECONDS ?? 30);

const postgrest = inject('postgrest');
const title = postgrest.available
  ? `load: ${CLIENTS} clients for ${SECONDS} s (shared stack)`
  : `load — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  const tag = `load-${randomBytes(4).toString('hex')}`;
  const rds = () => rdsFromUrl(stack.rdsUrl);

  beforeAll(async () => {
    stack = await useStack();
  });
  afterAll(async () => {
    if (stack) await query(rds(), 'DELETE FROM crm.companies WHERE domain LIKE $1', [`${tag}-%`]);
  });

  it('serves every request without a 5xx, and every acknowledged write is in rds exactly once', async () => {
    const [{ n: contacts } = { n: 0 }] = await query<{ n: number }>(
      rds(),
      'SELECT max(id)::int AS n FROM crm.contacts',
    );
    let sent = 0;
    const answered = new Set<number>();
    const acknowledged: { id: number; domain: string }[] = [];
    const statuses = new Map<number, number>();
    // Fifty clients, each a user of its own (the gateway shares the API out per client).
    const tokens = Array.from({ length: CLIENTS }, (_, i) =>
      stack.token({ claims: { sub: `load-${i}` }, expiresIn: 3600 }),
    );
    let clients = 0;
    const headersOf = (context: object) => {
      const c = context as { token?: string };
      c.token ??= tokens[clients++ % CLIENTS];
      return {
        Authorization: `Bearer ${c.token}`,
        'Content-Type': 'application/json',
        Prefer: 'return=representation',
      };
    };
    const read = (path: () => string) => ({
      method: 'GET' as const,
      setupRequest: (req: autocannon.Request, context: object) => ({
        ...req,
        headers: headersOf(context),
        path: path(),
      }),
    });
    const id = () => 1 + Math.floor(Math.random() * contacts);
    // Read-your-writes: each client's request after an acknowledged write reads that row back.
    const ryw = { checked: 0, missed: [] as string[] };
    // Replication lag while the load runs: a write on rds, timed until custom has it.
    const lags: number[] = [];
    let loading = true;
    const sampler = (async () => {
      const customCfg = customFromUrl(stack.customUrl);
      while (loading) {
        const t0 = performance.now();
        await replicaCaughtUp(rds(), customCfg);
        lags.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const result = await autocannon({
      url: stack.apiUrl,
      connections: CLIENTS,
      duration: SECONDS,
      // Each client cycles through these: three reads (by key, embedded, a user's own rows), one write.
      requests: [
        read(() => `/contacts?id=eq.${id()}`),
        read(() => `/companies?select=id,name,contacts(id,email)&id=eq.${1 + (id() % 50)}`),
        read(() => '/deals?select=id,title,amount&order=id&limit=20'),
        {
          method: 'POST',
          path: '/companies',
          setupRequest: (req, context) => {
            const n = ++sent;
            (context as { n?: number }).n = n; // one request at a time per client: its response is this write's
            return {
              ...req,
              headers: headersOf(context),
              body: JSON.stringify({
                name: `Load ${n}`,
                domain: `${tag}-${n}.example.com`,
                industry: 'software',
                employees: n,
              }),
            };
          },
          onResponse: (status, body, context) => {
            answered.add((context as { n: number }).n);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status === 201) {
              const [row] = JSON.parse(body) as { id: number; domain: string }[];
              if (row) acknowledged.push({ id: row.id, domain: row.domain });
              (context as { written?: { id: number; domain: string } }).written = row;
            }
          },
        },
        {
          method: 'GET',
          setupRequest: (req, context) => {
            const w = (context as { written?: { id: number } }).written;
            return {
              ...req,
              headers: headersOf(context),
              path: `/companies?select=id,domain&id=eq.${w?.id ?? 1}`,
            };
          },
          onResponse: (status, body, context) => {
            const c = context as { written?: { id: number; domain: string } };
            if (status !== 200 || !c.written) return;
            ryw.checked++;
            const [row] = JSON.parse(body) as { domain: string }[];
            if (row?.domain !== c.written.domain) ryw.missed.push(`${c.written.id}: ${body}`);
            c.written = undefined;
          },
        },
      ],
    });
    loading = false;
    await sampler;
    const byStatus = Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]),
    );
    const fiveXX = Object.entries(byStatus)
      .filter(([code]) => Number(code) >= 500)
      .reduce((sum, [, n]) => sum + n, 0);
    // Writes still in flight when the clock stopped: sent, never answered. Each may or may not have
    // committed; neither is a loss, since nobody was told it succeeded.
    const inFlight = new Set([...Array(sent).keys()].map((i) => i + 1).filter((n) => !answered.has(n)));
    console.log(
      `load: ${result.requests.total} requests (${Math.round(result.requests.average)} req/s), ` +
        `${acknowledged.length} writes acknowledged, ${inFlight.size} in flight at the stop, ` +
        `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, statuses ${JSON.stringify(byStatus)}`,
    );
    lags.sort((a, b) => a - b);
    const pct = (p: number) =>
      lags.length ? lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] : 0;
    console.log(
      `load: read-your-writes checked ${ryw.checked} times, ${ryw.missed.length} missed; ` +
        `replication lag under load (${lags.length} samples): p50 ${pct(0.5)?.toFixed(1)} ms, p99 ${pct(0.99)?.toFixed(1)} ms`,
    );
    expect(ryw.missed).toEqual([]);
    expect(ryw.checked).toBeGreaterThan(CLIENTS);
    expect(result.requests.total).toBeGreaterThan(CLIENTS * 4);
    expect(fiveXX).toBe(0);
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(Object.fromEntries(statuses)).toEqual({ 201: acknowledged.length });
    expect(acknowledged.length).toBeGreaterThan(CLIENTS);

    // Accounting: what rds holds for this run is exactly what was acknowledged.
    const inRds = await query<{ id: number; domain: string }>(
      rds(),
      'SELECT id::int, domain FROM crm.companies WHERE domain LIKE $1 ORDER BY id',
      [`${tag}-%`],
    );
    expect(inFlight.size).toBeLessThanOrEqual(CLIENTS);
    expect(new Set(inRds.map((r) => r.id)).size).toBe(inRds.length); // no id twice
    expect(new Set(inRds.map((r) => r.domain)).size).toBe(inRds.length); // no write twice
    const key = (r: { id: number; domain: string }) => `${r.id} ${r.domain}`;
    const stored = new Set(inRds.map(key));
    // Every acknowledged write is there, with the id the API returned for it.
    expect(acknowledged.filter((a) => !stored.has(key(a)))).toEqual([]);
    // Anything else there is a write that was in flight at the stop: nothing appeared from nowhere.
    const acked = new Set(acknowledged.map(key));
    const extra = inRds.filter((r) => !acked.has(key(r)));
    const writeNo = (domain: string) => Number(domain.slice(tag.length + 1).split('.')[0]);
    expect(extra.filter((r) => !inFlight.has(writeNo(r.domain)))).toEqual([]);
    expect(inRds.length).toBe(acknowledged.length + extra.length);
  }, 120_000);
});
