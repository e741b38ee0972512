/**
 * Prove every hop of the stack and time it: rds directly, the same through the foreign table on
 * custom, a GET through PostgREST, and a POST through PostgREST that lands in rds (then removed).
 */
import { makeToken } from '../auth/jwt.ts';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { measureReplicaLag } from './replica.ts';

export interface Hop {
  hop: string;
  ms: number;
  detail: string;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, Math.round((performance.now() - t) * 10) / 10];
}

export function apiUrl(config: Config): string {
  return `http://127.0.0.1:${config.ports.postgrest}`;
}

async function http(
  method: string,
  url: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'Content-Type': 'application/json', Prefer: 'return=representation' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  }).catch((err: Error & { cause?: Error }) => {
    throw new PgappError(
      `${method} ${url} failed: ${err.cause?.message ?? err.message}`,
      'See `pgapp logs postgrest` and `pgapp status`.',
    );
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

function fail(hop: string, what: string, hint: string): never {
  throw new PgappError(`Verification failed at ${hop}: ${what}`, hint);
}

export async function verifyStack(config: Config, secrets: Secrets): Promise<Hop[]> {
  const hops: Hop[] = [];
  const rdsCfg = connectionConfig('rds', config, secrets);
  const remote = config.remote;
  await withClient(rdsCfg, async (rds) => {
    const first = 'SELECT min(id) AS id, count(*)::int AS n FROM crm.contacts';
    const [r, ms] = await timed(() => rds.query<{ id: number | null; n: number }>(first));
    const want = r.rows[0] ?? { id: null, n: 0 };
    if (!remote && want.n === 0) fail('rds', 'crm.contacts is empty', 'Run `pgapp reset` to seed again.');
    hops.push({
      hop: remote ? `rds (remote ${remote.host})` : 'rds (TLS, master user)',
      ms,
      detail: `${want.n} contacts`,
    });

    await withClient(connectionConfig('custom', config, secrets), async (custom) => {
      const [c, ms2] = await timed(() =>
        custom.query<{ id: number | null; n: number }>(first.replace('crm.', 'rds_crm.')),
      );
      if (c.rows[0]?.id !== want.id || c.rows[0]?.n !== want.n) {
        fail(
          'custom → rds (postgres_fdw)',
          'the foreign table does not return what rds holds',
          'See `pgapp logs custom`.',
        );
      }
      hops.push({
        hop: 'custom → rds (postgres_fdw)',
        ms: ms2,
        detail: 'same contacts through the foreign table',
      });
    });

    const base = apiUrl(config);
    const [get, ms3] = await timed(() =>
      http('GET', `${base}/contacts?select=id,email,company(name)&order=id&limit=1`),
    );
    const row = (get.json as { id?: number }[])[0];
    if (get.status !== 200 || (row?.id ?? null) !== want.id) {
      fail(
        'PostgREST GET',
        `HTTP ${get.status}: ${JSON.stringify(get.json).slice(0, 300)}`,
        'See `pgapp logs postgrest`.',
      );
    }
    if (config.reads === 'replica') {
      const lag = await measureReplicaLag(config, secrets);
      hops.push({
        hop: 'rds → custom (logical replication)',
        ms: lag,
        detail: 'a write on rds, read on custom',
      });
    }
    hops.push({
      hop: config.reads === 'replica' ? 'PostgREST GET → custom (replica)' : 'PostgREST GET → custom → rds',
      ms: ms3,
      detail: 'GET /contacts with embedded company',
    });
    // A real remote holds someone's data: the proof of writes stays on the stand-in.
    if (remote) return;

    const token = makeToken(secrets.jwtSecret, {
      role: 'web_user',
      expiresIn: 300,
      claims: { sub: 'pgapp-verify' },
    });
    const marker = `pgapp-verify-${Date.now()}`;
    const [post, ms4] = await timed(() =>
      http('POST', `${base}/companies`, token, {
        name: marker,
        domain: `${marker}.invalid`,
        industry: 'software',
        employees: 1,
      }),
    );
    const created = (post.json as { id?: number }[])[0];
    if (post.status !== 201 || typeof created?.id !== 'number') {
      fail(
        'PostgREST POST',
        `HTTP ${post.status}: ${JSON.stringify(post.json).slice(0, 300)}`,
        'See `pgapp logs postgrest` and `pgapp logs custom`.',
      );
    }
    try {
      const landed = await rds.query('SELECT name FROM crm.companies WHERE id = $1', [created.id]);
      if (landed.rows[0]?.name !== marker)
        fail('PostgREST POST', `row ${created.id} did not land in rds`, 'See `pgapp logs custom`.');
      hops.push({
        hop: 'PostgREST POST → rds',
        ms: ms4,
        detail: `company #${created.id} written to crm.companies, then removed`,
      });
      // The writer's next request sees the write, wherever the API reads from.
      const [again, ms5] = await timed(() =>
        http('GET', `${base}/companies?id=eq.${created.id}&select=name`, token),
      );
      if (again.status !== 200 || (again.json as { name?: string }[])[0]?.name !== marker)
        fail(
          'read-your-writes',
          `GET right after the POST answered HTTP ${again.status}: ${JSON.stringify(again.json).slice(0, 300)}`,
          'See `pgapp status` (replication) and `pgapp logs custom`.',
        );
      hops.push({
        hop: 'PostgREST GET after the POST',
        ms: ms5,
        detail: 'the writer reads its write at once',
      });
    } finally {
      await rds.query('DELETE FROM crm.companies WHERE id = $1', [created.id]).catch((err) => {
        throw new PgappError(`Could not remove the verification row ${created.id}: ${errorMessage(err)}`);
      });
    }
  });
  return hops;
}
