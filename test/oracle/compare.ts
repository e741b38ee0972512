/**
 * The oracle's comparison (pure): two HTTP answers to the same request — PostgREST pointed straight at
 * rds, and pgapp — are equal when their status, the headers that carry meaning and their bodies
 * (JSON key order aside) are. Arrays are compared in order only where the request ordered them
 * (`order=` at the top, `<embed>.order=` inside an embed); elsewhere a row order is the server's to
 * choose, so they are compared as multisets.
 */

/** One request of a corpus, sent the same way to both servers. */
export interface OracleRequest {
  /** Shown in the tally; default `METHOD path`. */
  name?: string;
  method?: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'OPTIONS';
  /** Path and query string, e.g. `/film?select=title&order=film_id`. */
  path: string;
  headers?: Record<string, string>;
  /** JSON (serialised) or a raw string (sent as is, e.g. CSV or broken JSON). */
  body?: unknown;
  /** A signed-in caller's id (a web_user token with this `sub`); null or absent: anonymous. */
  as?: string | null;
  /**
   * Values that legitimately differ between two servers (a clock default, a random uuid): paths into
   * the body, `*` for any array element or key, e.g. `*.last_update`.
   */
  volatile?: string[];
  /**
   * Where pgapp answers differently on purpose: the reason, as the README documents it. Such a
   * request is tallied as documented, never as equal.
   */
  documented?: string;
  /** The runs it is documented for ("fdw", "replica", "remote"); all when absent. */
  documentedIn?: string[];
  /**
   * Parts of the body that differ on purpose (paths as in `volatile`; present on one side, absent on
   * the other, or different), with `documented` saying why: the rest of the body must be equal.
   */
  documentedParts?: string[];
  /**
   * A value of the oracle's answer later requests use as `{{name}}` in their path or body (an id
   * rds gave: the same on both sides when the answers are equal): {name: path into the body}.
   */
  capture?: Record<string, string>;
}

/** The parts of an HTTP answer that are compared. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the answer is JSON, else the text (undefined when empty). */
  body: unknown;
}

/** The response headers whose values carry meaning a client acts on. */
export const MEANINGFUL_HEADERS = [
  'content-range',
  'content-type',
  'location',
  'preference-applied',
  'content-profile',
] as const;

export interface Difference {
  /** Where: `status`, `header content-range`, or a body path such as `body[0].language.name`. */
  at: string;
  oracle: unknown;
  pgapp: unknown;
  /** Only in the request's `documentedParts`. */
  documentedPart?: true;
}

/** The request's ordered paths: [] for `order=`, ['actors'] for `actors.order=`, … */
export function orderedPaths(path: string): string[][] {
  const q = path.includes('?') ? path.slice(path.indexOf('?') + 1) : '';
  const out: string[][] = [];
  for (const [k] of new URLSearchParams(q)) {
    if (k === 'order') out.push([]);
    else if (k.endsWith('.order')) out.push(k.slice(0, -'.order'.length).split('.'));
  }
  return out;
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );

/** `*.last_update` matches `[3].last_update`; `*` matches any one step. */
function matches(pattern: string, steps: string[]): boolean {
  const p = pattern.split('.');
  return p.length === steps.length && p.every((s, i) => s === '*' || s === steps[i]);
}

/**
 * The body with volatile values blanked and unordered arrays sorted, so that two bodies are equal
 * exactly when their canonical forms are. `embeds` is the path of embed names (array levels do not count).
 */
export function normalise(
  body: unknown,
  opts: { ordered: string[][]; volatile: string[]; omit?: string[] },
  steps: string[] = [],
  embeds: string[] = [],
): unknown {
  if (opts.volatile.some((v) => matches(v, steps))) return '<volatile>';
  if (Array.isArray(body)) {
    const items = body.map((x, i) => normalise(x, opts, [...steps, String(i)], embeds));
    // Rows (objects) come in the server's order unless the request ordered that level; a column's
    // array value (text[], a jsonb array of scalars) keeps its own order.
    const rows =
      items.length > 0 && items.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x));
    const ordered = opts.ordered.some((p) => canonical(p) === canonical(embeds));
    return ordered || !rows ? items : items.sort((a, b) => (canonical(a) < canonical(b) ? -1 : 1));
  }
  if (body && typeof body === 'object') {
    return Object.fromEntries(
      Object.entries(body as Record<string, unknown>)
        .filter(([k]) => !(opts.omit ?? []).some((o) => matches(o, [...steps, k])))
        .map(([k, v]) => [k, normalise(v, opts, [...steps, k], [...embeds, k])]),
    );
  }
  return body;
}

/** Every difference between the oracle's answer and pgapp's to one request. */
export function compareAnswers(req: OracleRequest, oracle: Answer, pgapp: Answer): Difference[] {
  const out: Difference[] = [];
  if (oracle.status !== pgapp.status) out.push({ at: 'status', oracle: oracle.status, pgapp: pgapp.status });
  for (const h of MEANINGFUL_HEADERS) {
    if (oracle.headers[h] !== pgapp.headers[h])
      out.push({ at: `header ${h}`, oracle: oracle.headers[h], pgapp: pgapp.headers[h] });
  }
  const opts = { ordered: orderedPaths(req.path), volatile: req.volatile ?? [] };
  const a = normalise(oracle.body, opts);
  const b = normalise(pgapp.body, opts);
  if (canonical(a) !== canonical(b)) {
    const omit = { ...opts, omit: req.documentedParts ?? [] };
    const rest = canonical(normalise(oracle.body, omit)) === canonical(normalise(pgapp.body, omit));
    out.push(...bodyDiff(a, b, 'body').map((d) => (rest ? { ...d, documentedPart: true as const } : d)));
  }
  return out;
}

/** The first few places two normalised bodies part. */
function bodyDiff(a: unknown, b: unknown, at: string, limit = 5): Difference[] {
  if (canonical(a) === canonical(b)) return [];
  const bothObjects =
    a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return [{ at, oracle: a, pgapp: b }];
  if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length)
    return [{ at: `${at} (length ${a.length} vs ${b.length})`, oracle: a, pgapp: b }];
  const out: Difference[] = [];
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  for (const k of [...new Set([...ka, ...kb])]) {
    const step = Array.isArray(a) ? `${at}[${k}]` : `${at}.${k}`;
    out.push(
      ...bodyDiff(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        step,
        limit - out.length,
      ),
    );
    if (out.length >= limit) break;
  }
  return out;
}

export interface Outcome {
  request: OracleRequest;
  label: string;
  oracle: Answer;
  pgapp: Answer;
  differences: Difference[];
  verdict: 'equal' | 'differ' | 'documented';
}

export const requestLabel = (r: OracleRequest): string =>
  r.name ??
  `${r.method ?? 'GET'} ${r.path}${r.headers?.['Accept-Profile'] ? ` [${r.headers['Accept-Profile']}]` : ''}`;

export function verdictOf(r: OracleRequest, differences: Difference[], run?: string): Outcome['verdict'] {
  if (differences.length === 0) return 'equal';
  const documented = r.documented && (!r.documentedIn || (run !== undefined && r.documentedIn.includes(run)));
  // Differences confined to its documentedParts are documented; any other makes it differ.
  const confined = !r.documentedParts || differences.every((d) => d.documentedPart);
  return documented && confined ? 'documented' : 'differ';
}

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
  if (s === undefined) return '(none)';
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
};

/** The tally (`N equal, M differ, K documented`) and each difference as a readable diff. */
export function renderOutcomes(title: string, outcomes: Outcome[]): string {
  const n = (v: Outcome['verdict']) => outcomes.filter((o) => o.verdict === v).length;
  const lines = [`${title}: ${n('equal')} equal, ${n('differ')} differ, ${n('documented')} documented`];
  for (const o of outcomes.filter((x) => x.verdict === 'differ')) {
    lines.push(`  ✗ ${o.label}${o.request.as ? ` (as ${o.request.as})` : ''}`);
    for (const d of o.differences) {
      lines.push(`      ${d.at}`, `        oracle: ${show(d.oracle)}`, `        pgapp:  ${show(d.pgapp)}`);
    }
  }
  for (const o of outcomes.filter((x) => x.verdict === 'documented'))
    lines.push(`  ~ ${o.label}: ${o.request.documented}`);
  return lines.join('\n');
}
