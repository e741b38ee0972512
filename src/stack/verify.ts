/**
 * Prove every hop of the stack and time it, on one of the project's own tables (pgapp's fence while
 * rds holds none): rds directly, the same through the foreign table on custom, a GET through the
 * gateway and PostgREST (with an embed when the table has one), replication, and — on the stand-in —
 * a POST that lands in rds, is read back at once by its writer, and is then removed.
 */
import type pg from 'pg';
import { makeToken } from '../auth/jwt.ts';
import { anyReplica, type Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { type ApiTable, readApiTables } from './api.ts';
import { measureReplicaLag } from './replica.ts';

export interface Hop {
  hop: string;
  ms: number;
  detail: string;
  /** A hop that could not be proven here, and why (not a failure). */
  skipped?: boolean;
  /** The request the hop made, for people to try (the summary prints it). */
  request?: { method: string; path: string; body?: unknown; headers?: Record<string, string> };
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
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'Content-Type': 'application/json', Prefer: 'return=representation' } : {}),
      ...headers,
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

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const qualified = (rel: string) => {
  const [schema, ...name] = rel.split('.');
  return `${ident(schema as string)}.${ident(name.join('.'))}`;
};
const foreignTable = (rel: string) => {
  const [schema, ...name] = rel.split('.');
  return `${ident(`rds_${schema}`)}.${ident(name.join('.'))}`;
};

/** The header that picks a table's profile (none for the default one). */
export function profileHeader(
  t: Pick<ApiTable, 'profile' | 'defaultProfile'>,
  name: 'Accept-Profile' | 'Content-Profile',
): Record<string, string> {
  return t.defaultProfile ? {} : { [name]: t.profile };
}

/** What the read hops look at: a published table with a key (read where anonymous callers read), or the fence. */
interface Probe {
  label: string;
  rds: string;
  custom: string;
  /** The API's GET (and its profile's header), and the rds key it must answer with first. */
  get?: { path: string; key: string[]; headers: Record<string, string> };
  /** Where the API reads it. */
  reads: ApiTable['reads'];
}

function probeOf(tables: ApiTable[]): Probe {
  const t = tables.find((x) => x.apiName && x.key.length > 0);
  if (!t) {
    const q = 'SELECT count(*)::int AS n, min(slot)::text AS first FROM pgapp_bridge.replica_fence';
    return {
      label: 'pgapp_bridge.replica_fence',
      rds: q,
      custom: q.replace('pgapp_bridge.', 'rds_bridge.'),
      reads: null,
    };
  }
  const key = t.key.map(ident).join(', ');
  // Owner tables: anonymous callers see the shared rows only.
  const owner = t.access === 'owner' ? 'WHERE owner_column IS NULL' : '';
  const q = (from: string) =>
    `SELECT count(*)::int AS n, (SELECT row(${key})::text FROM ${from} AS x ${owner} ORDER BY ${key} LIMIT 1) AS first FROM ${from}`;
  return {
    label: t.rel,
    rds: q(qualified(t.rel)),
    custom: q(foreignTable(t.rel)),
    get: {
      path: `/${encodeURIComponent(t.apiName as string)}?select=${t.key.map(encodeURIComponent).join(',')}${
        t.embeds[0] ? `,${encodeURIComponent(t.embeds[0])}(*)` : ''
      }&order=${t.key.map(encodeURIComponent).join(',')}&limit=1`,
      key: t.key,
      headers: profileHeader(t, 'Accept-Profile'),
    },
    reads: t.reads,
  };
}

export async function verifyStack(
  config: Config,
  secrets: Secrets,
  opts: { api?: boolean } = {},
): Promise<Hop[]> {
  const hops: Hop[] = [];
  const remote = config.remote;
  const tables = await withClient(connectionConfig('custom', config, secrets), readApiTables);
  const ownerColumn = ident(config.ownerColumn);
  const probe = probeOf(tables);
  const sql = (s: string) => s.replaceAll('owner_column', ownerColumn);
  await withClient(connectionConfig('rds', config, secrets), async (rds) => {
    const [r, ms] = await timed(() => rds.query<{ n: number; first: string | null }>(sql(probe.rds)));
    const want = r.rows[0] ?? { n: 0, first: null };
    hops.push({
      hop: remote ? `rds (remote ${remote.host})` : 'rds (TLS, master user)',
      ms,
      detail: `${want.n} rows in ${probe.label}`,
    });

    await withClient(connectionConfig('custom', config, secrets), async (custom) => {
      const [c, ms2] = await timed(() =>
        custom.query<{ n: number; first: string | null }>(sql(probe.custom)),
      );
      if (c.rows[0]?.first !== want.first || c.rows[0]?.n !== want.n) {
        fail(
          'custom → rds (postgres_fdw)',
          `the foreign table of ${probe.label} does not return what rds holds`,
          'See `pgapp logs custom`.',
        );
      }
      hops.push({
        hop: 'custom → rds (postgres_fdw)',
        ms: ms2,
        detail: `the same through the foreign table`,
      });
    });

    const replicaHop = async (): Promise<Hop> => ({
      hop: 'rds → custom (logical replication)',
      ms: await measureReplicaLag(config, secrets),
      detail: 'a write on rds, read on custom',
    });
    // The databases only (the cloud's bootstrap: its API is deployed after it, and checked then).
    if (opts.api === false) {
      if (anyReplica(config)) hops.push(await replicaHop());
      return;
    }
    const base = apiUrl(config);
    const [get, ms3] = await timed(() =>
      http('GET', `${base}${probe.get?.path ?? '/'}`, undefined, undefined, probe.get?.headers),
    );
    if (get.status !== 200) {
      fail(
        'PostgREST GET',
        `HTTP ${get.status}: ${JSON.stringify(get.json).slice(0, 300)}`,
        'See `pgapp logs postgrest`.',
      );
    }
    if (probe.get) {
      const row = (get.json as Record<string, unknown>[])[0];
      const got = row ? `(${probe.get.key.map((k) => String(row[k])).join(',')})` : null;
      if (got !== want.first && !(got && want.first && sameRowText(got, want.first)))
        fail(
          'PostgREST GET',
          `GET ${probe.get.path} answered ${JSON.stringify(row ?? null)}; rds's first row is ${want.first}`,
          'See `pgapp status` (replication) and `pgapp logs postgrest`.',
        );
    }
    if (anyReplica(config)) hops.push(await replicaHop());
    hops.push({
      hop: probe.reads === 'replica' ? 'PostgREST GET → custom (replica)' : 'PostgREST GET → custom → rds',
      ms: ms3,
      ...(probe.get ? { request: { method: 'GET', path: probe.get.path, headers: probe.get.headers } } : {}),
      detail: probe.get
        ? `GET ${decodeURIComponent(probe.get.path.split('?')[0] as string)}${probe.get.path.includes('(*)') ? ' with an embed' : ''}`
        : 'GET / (no table yet)',
    });
    // A real remote holds someone's data: the proof of writes stays on the stand-in.
    if (remote) return;
    hops.push(...(await verifyWrite(config, secrets, tables, rds)));
  });
  return hops;
}

/** rds prints a row of one text column as (x), of a number as (1): compare the values, not the quoting. */
function sameRowText(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/^\(|\)$/g, '').replace(/"/g, '');
  return norm(a) === norm(b);
}

/**
 * A new row from an existing one: a key column custom fills (a uuid's gen_random_uuid()) left out for
 * its default to make a new one, and in every unique key the copy would repeat, one text value
 * marked. A key it cannot make new (numbers only): undefined. A key holding the owner column cannot
 * repeat (the copy has another owner).
 */
export function newRow(
  t: Pick<ApiTable, 'key' | 'uniques' | 'access' | 'defaults' | 'assigned'>,
  sample: Record<string, unknown>,
  ownerColumn: string,
): Record<string, unknown> | undefined {
  const row = { ...sample };
  // What rds fills (an identity, a serial, the clock) is left to it; so is a key column custom fills.
  for (const k of Object.keys(row)) if (t.assigned.includes(k)) delete row[k];
  for (const k of t.key) if (t.defaults.includes(k)) delete row[k];
  const mark = `pgapp-verify-${Date.now().toString(36)}-`;
  for (const cols of t.uniques) {
    if (t.access === 'owner' && cols.includes(ownerColumn)) continue;
    if (!cols.every((c) => c in row)) continue; // a column left out (a default, or rds's) makes it new
    const text = cols.find(
      (c) => typeof row[c] === 'string' && !(row[c] as string).startsWith('pgapp-verify-'),
    );
    if (cols.some((c) => typeof row[c] === 'string' && (row[c] as string).startsWith(mark))) continue;
    if (!text) return undefined;
    row[text] = `${mark}${row[text]}`;
  }
  return row;
}

/**
 * POST a copy of an existing row of a table the API writes (its writable columns), as user
 * `pgapp-verify`; read it back at once; remove it on rds. Rows are data: a table whose constraints
 * refuse the copy (a unique column, say) is passed over for the next. A refusal of the privileges or a
 * server error is a failure.
 */
async function verifyWrite(
  config: Config,
  secrets: Secrets,
  tables: ApiTable[],
  rds: pg.Client,
): Promise<Hop[]> {
  const base = apiUrl(config);
  const token = makeToken(secrets.jwtSecret, {
    role: 'web_user',
    expiresIn: 300,
    claims: { sub: 'pgapp-verify' },
  });
  const writable = tables.filter((t) => t.apiName && t.writable.length > 0 && t.key.length > 0);
  const reasons: string[] = [];
  for (const t of writable.slice(0, 3)) {
    const cols = t.writable.map(ident).join(', ');
    const shared = t.access === 'owner' ? `WHERE ${ident(config.ownerColumn)} IS NULL` : '';
    const sample = (
      await rds.query<{ row: Record<string, unknown> }>(
        `SELECT to_jsonb(x) AS row FROM (SELECT ${cols} FROM ${qualified(t.rel)} ${shared} ORDER BY ${t.key.map(ident).join(', ')} LIMIT 1) x`,
      )
    ).rows[0]?.row;
    const body = sample && newRow(t, sample, config.ownerColumn);
    if (!body) {
      reasons.push(
        sample ? `${t.rel}: a copy of a row would repeat a unique key` : `${t.rel}: no row to copy`,
      );
      continue;
    }
    const [post, ms] = await timed(() =>
      http(
        'POST',
        `${base}/${encodeURIComponent(t.apiName as string)}`,
        token,
        body,
        profileHeader(t, 'Content-Profile'),
      ),
    );
    if (post.status === 401 || post.status === 403 || post.status >= 500) {
      fail(
        'PostgREST POST',
        `POST /${t.apiName}: HTTP ${post.status}: ${JSON.stringify(post.json).slice(0, 300)}`,
        'See `pgapp logs postgrest` and `pgapp logs custom`.',
      );
    }
    if (post.status !== 201) {
      reasons.push(
        `${t.rel}: a copy of a row was refused (${(post.json as { message?: string }).message ?? post.status})`,
      );
      continue;
    }
    const created = (post.json as Record<string, unknown>[])[0] as Record<string, unknown>;
    const keyValues = t.key.map((k) => created[k]);
    const where = t.key.map((k, i) => `${ident(k)} = $${i + 1}`).join(' AND ');
    try {
      const landed = await rds.query(`SELECT 1 FROM ${qualified(t.rel)} WHERE ${where}`, keyValues);
      if (landed.rowCount !== 1)
        fail('PostgREST POST', `the row written to ${t.rel} is not in rds`, 'See `pgapp logs custom`.');
      const hops: Hop[] = [
        {
          hop: 'PostgREST POST → rds',
          ms,
          detail: `a row written to ${t.rel}, then removed`,
          request: {
            method: 'POST',
            path: `/${encodeURIComponent(t.apiName as string)}`,
            body,
            headers: profileHeader(t, 'Content-Profile'),
          },
        },
      ];
      // The writer's next request sees the write, wherever the API reads from.
      const filter = t.key
        .map((k) => `${encodeURIComponent(k)}=eq.${encodeURIComponent(String(created[k]))}`)
        .join('&');
      const [again, ms2] = await timed(() =>
        http(
          'GET',
          `${base}/${encodeURIComponent(t.apiName as string)}?${filter}`,
          token,
          undefined,
          profileHeader(t, 'Accept-Profile'),
        ),
      );
      if (again.status !== 200 || (again.json as unknown[]).length !== 1)
        fail(
          'read-your-writes',
          `GET right after the POST answered HTTP ${again.status}: ${JSON.stringify(again.json).slice(0, 300)}`,
          'See `pgapp status` (replication) and `pgapp logs custom`.',
        );
      hops.push({
        hop: 'PostgREST GET after the POST',
        ms: ms2,
        detail: 'the writer reads its write at once',
      });
      return hops;
    } finally {
      await rds.query(`DELETE FROM ${qualified(t.rel)} WHERE ${where}`, keyValues).catch((err) => {
        throw new PgappError(`Could not remove the verification row from ${t.rel}: ${errorMessage(err)}`);
      });
    }
  }
  return [
    {
      hop: 'PostgREST POST → rds',
      ms: 0,
      skipped: true,
      detail: writable.length
        ? `not proven: ${reasons.join('; ')}`
        : 'not proven: no table the API writes (access "write" or "owner", with a primary key)',
    },
  ];
}

/** What the API behind a public URL answered (`pgapp deploy`, from outside the VPC). */
export interface PublicApi {
  /** How long it took to answer 200 at all (a load balancer's targets becoming healthy). */
  readyMs: number;
  /** The table and view endpoints its OpenAPI document lists. */
  endpoints: string[];
  /** The first one, read anonymously: both hops behind the API answered. */
  probe?: Hop;
}

/**
 * The API at `base` (a load balancer), as an outside client sees it: `GET /` answers 200 (PostgREST
 * connected, its schema cache loaded: the gateway's readiness), within `timeoutMs`; its OpenAPI lists
 * the endpoints; the first answers an anonymous `?limit=1` with 200 and rows (custom, and rds behind
 * it or its replica). Nothing is written: it is someone's data.
 */
export async function verifyPublicApi(
  base: string,
  opts: { timeoutMs?: number; signal?: AbortSignal; everyMs?: number } = {},
): Promise<PublicApi> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const start = Date.now();
  let last = '';
  type OpenApi = { paths?: Record<string, unknown> };
  const doc = await retryUntil(
    async () => {
      const r = await http('GET', `${base}/`).catch((err: Error) => ({ status: 0, json: err.message }));
      if (r.status === 200 && r.json && typeof r.json === 'object') return r.json as OpenApi;
      last = r.status ? `HTTP ${r.status}` : String(r.json);
      return undefined;
    },
    {
      timeoutMs,
      intervalMs: opts.everyMs ?? 5_000,
      signal: opts.signal,
      timedOut: () =>
        new PgappError(
          `The API at ${base} did not answer 200 within ${Math.round(timeoutMs / 1000)} s (last: ${last})`,
          'Check the API service in the ECS console (its tasks and their logs) and the target group health.',
        ),
    },
  );
  const readyMs = Date.now() - start;
  const endpoints = Object.keys(doc.paths ?? {}).filter((p) => p !== '/' && !p.startsWith('/rpc/'));
  const first = endpoints[0];
  if (!first) return { readyMs, endpoints };
  const [r, ms] = await timed(() => http('GET', `${base}${first}?limit=1`));
  if (r.status !== 200 || !Array.isArray(r.json))
    fail(
      `GET ${first}`,
      `HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`,
      "The API's task logs (ECS console) say why; `pgapp deploy` runs the bootstrap again.",
    );
  return {
    readyMs,
    endpoints,
    probe: { hop: `GET ${first} (anonymous)`, ms, detail: `${(r.json as unknown[]).length} row(s)` },
  };
}
