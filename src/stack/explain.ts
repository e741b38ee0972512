/**
 * `pgapp explain <path>`: what one API request costs across the bridge. PostgREST runs the request's
 * own query under EXPLAIN (ANALYZE, VERBOSE) (its plan media type; the gateway serves it only with
 * the project's explain key), and the plan says, per remote scan, the SQL sent to rds, the rows it
 * fetched and how many times it ran. The same request is also answered normally, for the answer's size.
 * A write (POST, PATCH, DELETE) is a dry run: both requests carry `Prefer: tx=rollback` (PostgREST
 * rolls the request back, and with it the request's rds transaction), and the write trigger says in
 * a response header what it sent to rds, which no plan shows (sql/custom/api/020_write_through.sql).
 */
import { PgappError } from '../errors.ts';

/** postgres_fdw's rows per round trip (sql/custom/bridge/020_server.sql). */
const FETCH_SIZE = 1000;

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  Operation?: string;
  'Remote SQL'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Actual Total Time'?: number;
  'Parent Relationship'?: string;
  'Subplan Name'?: string;
  Plans?: PlanNode[];
}

export interface RemoteQuery {
  relation: string;
  sql: string;
  /** Rows fetched from rds over all the scan's runs. */
  rows: number;
  /** How many times the scan ran: one remote query each. */
  runs: number;
  /** Round trips: each run fetches FETCH_SIZE rows per trip. */
  roundTrips: number;
}

export const WRITE_METHODS = ['POST', 'PATCH', 'DELETE'] as const;
export type WriteMethod = (typeof WRITE_METHODS)[number];

/**
 * What a write's trigger sent to rds (its X-Pgapp-Bridge header). A reference a per-user table checks
 * (row-level security) is a read of the plan, where `reads` shows where it looked.
 */
export interface BridgeWrites {
  /** The rds table of each write: one statement each (an UPDATE of pgapp_bridge.writes). */
  writes: string[];
  /** Round trips: postgres_fdw's START and COMMIT, and each write. */
  roundTrips: number;
}

/** The write trigger's header, read: nothing sent when there is none (no row written). */
export function bridgeWrites(header: string | null): BridgeWrites {
  const writes = (header ? (JSON.parse(header) as { writes?: string[] }) : {}).writes ?? [];
  return { writes, roundTrips: writes.length > 0 ? writes.length + 2 : 0 };
}

export interface Explained {
  /** GET, or the write's method (a dry run, rolled back). */
  method: 'GET' | WriteMethod;
  path: string;
  /** Who asked: anonymous, or the token's role and user id. */
  as: string;
  status: number;
  answerRows: number;
  executionMs: number;
  planningMs: number;
  remote: RemoteQuery[];
  /** Where it read each of rds's tables. */
  reads: { table: string; from: ('replica' | 'rds')[] }[];
  rowsFetched: number;
  remoteQueries: number;
  roundTrips: number;
  warnings: string[];
  plan: PlanNode;
  /** A write's: what its trigger sent to rds. */
  bridge?: BridgeWrites;
}

/** The remote scans of a plan, in plan order. */
export function remoteQueries(plan: PlanNode): RemoteQuery[] {
  const out: RemoteQuery[] = [];
  const walk = (n: PlanNode) => {
    if (n['Node Type'] === 'Foreign Scan') {
      const runs = n['Actual Loops'] ?? 1;
      const perRun = n['Actual Rows'] ?? 0;
      out.push({
        relation: n['Relation Name']
          ? `${n.Schema ? `${n.Schema}.` : ''}${n['Relation Name']}`
          : '(a join on rds)',
        sql: n['Remote SQL'] ?? '',
        rows: Math.round(perRun * runs),
        runs,
        roundTrips: runs * Math.max(1, Math.ceil(perRun / FETCH_SIZE)),
      });
    }
    for (const p of n.Plans ?? []) walk(p);
  };
  walk(plan);
  return out;
}

/**
 * Where the request read each of rds's tables: its local replica on custom, or rds through the
 * foreign table (schema rds_<schema>), as the plan's scans say. An fdw table is an Append of its own
 * empty part and its foreign child: that part is no read of the replica.
 */
export function readsOfPlan(plan: PlanNode): { table: string; from: ('replica' | 'rds')[] }[] {
  const seen = new Map<string, Set<'replica' | 'rds'>>();
  const keyOf = (n: PlanNode) => {
    const rel = n['Relation Name'];
    // A write's ModifyTable names the table it writes: not a read.
    if (!rel || !n.Schema || n.Schema.startsWith('pg_') || n['Node Type'] === 'ModifyTable') return undefined;
    const remote = n['Node Type'] === 'Foreign Scan';
    const schema = remote ? n.Schema.replace(/^rds_/, '') : n.Schema;
    if ((['cache', 'pgapp_private', 'pgapp_bridge', 'rds_bridge', 'cron'] as string[]).includes(schema))
      return undefined;
    return { key: `${schema}.${rel}`, from: remote ? ('rds' as const) : ('replica' as const) };
  };
  const walk = (n: PlanNode) => {
    const own = keyOf(n);
    if (own) seen.set(own.key, (seen.get(own.key) ?? new Set()).add(own.from));
    const children = (n.Plans ?? []).map((p) => ({ p, k: keyOf(p) }));
    for (const { p, k } of children) {
      const shell =
        n['Node Type'].endsWith('Append') &&
        k?.from === 'replica' &&
        children.some((c) => c.k?.key === k.key && c.k.from === 'rds');
      if (!shell) walk(p);
    }
  };
  walk(plan);
  return [...seen].map(([table, from]) => ({
    table,
    from: [...from].sort().reverse() as ('replica' | 'rds')[],
  }));
}

/** Plain words where the bridge does far more work than the answer needs. */
export function bridgeWarnings(remote: RemoteQuery[], answerRows: number): string[] {
  const warnings: string[] = [];
  const fetched = remote.reduce((a, r) => a + r.rows, 0);
  if (fetched > Math.max(100, 10 * answerRows)) {
    const worst = [...remote].sort((a, b) => b.rows - a.rows)[0] as RemoteQuery;
    warnings.push(
      `the bridge fetched ${fetched.toLocaleString('en')} rows from rds for an answer of ${answerRows}: ` +
        `${worst.relation} sent ${worst.rows.toLocaleString('en')} (its filter, join or limit is not pushed down to rds)`,
    );
  }
  for (const r of remote.filter((r) => r.runs > 5))
    warnings.push(
      `N+1: ${r.relation} was queried ${r.runs} times, once per row of the outer side (a join postgres_fdw cannot push down)`,
    );
  return warnings;
}

/**
 * `api`: the API's URL (the gateway); `explainKey`: the project's (secrets); `write`: a write's
 * method and body (a dry run), else a GET.
 */
export async function explainRequest(
  api: string,
  explainKey: string,
  path: string,
  opts: { token?: string; as: string; profile?: string; write?: { method: WriteMethod; body?: unknown } },
): Promise<Explained> {
  if (!path.startsWith('/'))
    throw new PgappError(
      `The path ${JSON.stringify(path)} does not start with /`,
      "Give the API path and query, e.g. pgapp explain '/contacts?select=id,company(name)&limit=10'.",
    );
  const url = `${api}${path}`;
  const method = opts.write?.method ?? 'GET';
  const auth: Record<string, string> = {
    ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
    ...(opts.profile ? { [opts.write ? 'Content-Profile' : 'Accept-Profile']: opts.profile } : {}),
  };
  // A write: rolled back (strict: PostgREST refuses rather than commit if it may not roll back), and
  // the key, so the trigger reports what it sent.
  const dryRun: Record<string, string> = opts.write
    ? {
        'Content-Type': 'application/json',
        Prefer: 'tx=rollback, handling=strict, return=representation',
        'x-pgapp-explain': explainKey,
      }
    : {};
  const send = async (headers: Record<string, string>) => {
    const res = await fetch(url, {
      method,
      headers: { ...auth, ...dryRun, ...headers },
      ...(opts.write?.body !== undefined ? { body: JSON.stringify(opts.write.body) } : {}),
      signal: AbortSignal.timeout(30_000),
    }).catch((err: Error & { cause?: Error }) => {
      throw new PgappError(
        `${method} ${url} failed: ${err.cause?.message ?? err.message}`,
        'Is the stack up? `pgapp status`, then `pgapp dev`.',
      );
    });
    const text = await res.text();
    return {
      status: res.status,
      text,
      bridge: res.headers.get('x-pgapp-bridge'),
      applied: res.headers.get('preference-applied') ?? '',
    };
  };
  // The answer first: PostgREST says there that it rolled the write back (a plan's answer does not
  // say; it is sent only once the answer proved that the same preference is honoured).
  const answer = await send({ Accept: 'application/json' });
  if (opts.write && answer.status < 400 && !/tx=rollback/.test(answer.applied))
    throw new PgappError(
      `PostgREST did not say it rolled back the dry run of ${method} ${path}: the write may have been made`,
      'Run `pgapp dev` (it lets PostgREST roll a request back: PGRST_DB_TX_END=commit-allow-override), then check the table.',
    );
  if (answer.status >= 400)
    throw new PgappError(
      `${method} ${path} answers HTTP ${answer.status}: ${answer.text.slice(0, 500)}`,
      /PGRST122/.test(answer.text)
        ? 'PostgREST may not roll a request back here: run `pgapp dev` (it sets PGRST_DB_TX_END=commit-allow-override).'
        : 'Fix the request first.',
    );
  let answerRows = opts.write ? 0 : 1;
  try {
    const body = JSON.parse(answer.text);
    answerRows = Array.isArray(body) ? body.length : 1;
  } catch {}
  const planned = await send({
    Accept: 'application/vnd.pgrst.plan+json; for="application/json"; options=analyze|verbose',
    'x-pgapp-explain': explainKey,
  });
  if (planned.status !== 200)
    throw new PgappError(
      `PostgREST did not give the plan of ${path}: HTTP ${planned.status}: ${planned.text.slice(0, 300)}`,
      'Run `pgapp dev` (it enables plans for pgapp explain), then try again.',
    );
  const [top] = JSON.parse(planned.text) as {
    Plan: PlanNode;
    'Execution Time': number;
    'Planning Time': number;
  }[];
  if (!top) throw new PgappError(`PostgREST returned an empty plan for ${path}`);
  const remote = remoteQueries(top.Plan);
  return {
    method,
    path,
    as: opts.as,
    status: answer.status,
    answerRows,
    executionMs: top['Execution Time'],
    planningMs: top['Planning Time'],
    remote,
    reads: readsOfPlan(top.Plan),
    rowsFetched: remote.reduce((a, r) => a + r.rows, 0),
    remoteQueries: remote.reduce((a, r) => a + r.runs, 0),
    roundTrips: remote.reduce((a, r) => a + r.roundTrips, 0),
    warnings: bridgeWarnings(remote, answerRows),
    plan: top.Plan,
    ...(opts.write ? { bridge: bridgeWrites(answer.bridge) } : {}),
  };
}
