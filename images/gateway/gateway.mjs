// pgapp gateway: the one door to the API, in front of PostgREST — what a load balancer or an API
// gateway does in the cloud layout this stack mirrors. PostgREST itself publishes no port.
//
// Per request, before PostgREST sees it (each refusal a JSON error in PostgREST's shape, 4xx):
//   - the URL is at most 8 KiB (414) and its path and query are valid UTF-8 percent-encoding (400;
//     PostgREST 12 answers a 500 to a non-UTF-8 filter value);
//   - `select` embeds at most 16 resources, nested at most 6 deep (400): deep or wide embeds
//     multiply the rows and the remote queries of one request;
//   - a body is at most 1 MiB (413), whether it says its length or not;
//   - each client (a JWT's subject, else its address) has at most 4 requests in flight; its next 16
//     wait their turn, in order, and more are refused (429): one client cannot take every
//     connection of PostgREST's pool (10) from the others, and a browser's parallel requests queue.
// Each bound is a setting ("limits" in pgapp.config.json, given here as PGAPP_LIMITS: src/config/limits.ts,
// whose defaults these are), and a refusal names it.
// And per response: a statement timeout (PostgREST 12 answers 500 with SQLSTATE 57014) is a 504 with
// a hint; no answer from PostgREST within its own deadline is a 504 too.
//
// No dependencies: Node's standard library only (Debian's nodejs in the image; Node 20+ in tests).
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

export const LIMITS = Object.freeze({
  maxUrlBytes: 8192,
  maxBodyBytes: 1024 * 1024,
  maxEmbeds: 16,
  maxEmbedDepth: 6,
  maxInFlightPerClient: 4,
  maxQueuedPerClient: 16,
});

/** The limits PGAPP_LIMITS (JSON) sets, over the defaults. */
export function limitsFrom(json) {
  return Object.freeze({ ...LIMITS, ...(json ? JSON.parse(json) : {}) });
}

/** Where a bound is set, for the hint of a request it refuses. */
const setting = (name) => `the bound is "limits": {"${name}": …} in pgapp.config.json (PGAPP_LIMITS)`;

/** A refusal in PostgREST's error shape. */
const refusal = (status, code, message, hint = null) => ({
  status,
  body: { code, details: null, hint, message },
});

/** Decode one percent-encoded URL component strictly: undefined when it is not valid UTF-8. */
function decodeStrict(part) {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Embedded resources in a `select` value: how many, and how deep (parentheses outside quotes). */
export function embedShape(select) {
  let count = 0;
  let depth = 0;
  let deepest = 0;
  let quoted = false;
  for (const ch of select) {
    if (ch === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (ch === '(') {
      count++;
      depth++;
      deepest = Math.max(deepest, depth);
    } else if (ch === ')') depth = Math.max(0, depth - 1);
  }
  return { count, depth: deepest };
}

/** Who a request comes from, for fairness only (PostgREST verifies the token): its JWT's sub, else its address. */
export function clientKey(headers, address) {
  const auth = headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+[^.]+\.([^.]+)\./i.exec(auth) : null;
  if (m) {
    try {
      const claims = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8'));
      if (claims && typeof claims.sub === 'string') return `sub:${claims.sub}`;
    } catch {}
  }
  return `addr:${address ?? 'unknown'}`;
}

/**
 * PostgREST's query plans (`Accept: application/vnd.pgrst.plan…`) are for the developer (`pgapp
 * explain`), who proves it with the project's explain key; nobody else learns the plans (or runs
 * EXPLAIN ANALYZE) through the API. A request that names a key at all (`x-pgapp-explain`: the write
 * trigger then reports what it sent to rds) must name the right one.
 */
function planAllowed(headers, explainKey) {
  const accept = String(headers.accept ?? '');
  if (!/vnd\.pgrst\.plan/i.test(accept) && headers['x-pgapp-explain'] === undefined) return true;
  const given = Buffer.from(String(headers['x-pgapp-explain'] ?? ''));
  const key = Buffer.from(explainKey ?? '');
  return key.length > 0 && given.length === key.length && timingSafeEqual(given, key);
}

/** Refuse what PostgREST should never see; undefined when the request may pass. */
export function checkRequest(url, headers, limits = LIMITS, explainKey = undefined) {
  if (!planAllowed(headers, explainKey))
    return refusal(
      403,
      'PGAPP403',
      'query plans are not served to API clients',
      'The developer sees them with `pgapp explain <path>`.',
    );
  if (Buffer.byteLength(url) > limits.maxUrlBytes)
    return refusal(
      414,
      'PGAPP414',
      `the URL is longer than ${limits.maxUrlBytes} bytes`,
      `Send fewer columns or filters, or filter on fewer values; ${setting('maxUrlBytes')}.`,
    );
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (decodeStrict(path) === undefined)
    return refusal(400, 'PGAPP400', 'the path is not valid UTF-8 percent-encoding');
  for (const pair of q < 0 ? [] : url.slice(q + 1).split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = decodeStrict(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeStrict(pair.slice(eq + 1));
    if (key === undefined || value === undefined)
      return refusal(
        400,
        'PGAPP400',
        'the query string is not valid UTF-8 percent-encoding',
        'Percent-encode the UTF-8 bytes of every value.',
      );
    if (key === 'select' || key.endsWith('.select')) {
      const shape = embedShape(value);
      if (shape.depth > limits.maxEmbedDepth)
        return refusal(
          400,
          'PGAPP400',
          `select nests embedded resources ${shape.depth} deep; at most ${limits.maxEmbedDepth}`,
          `Ask for the deeper resources in a request of their own; ${setting('maxEmbedDepth')}.`,
        );
      if (shape.count > limits.maxEmbeds)
        return refusal(
          400,
          'PGAPP400',
          `select embeds ${shape.count} resources; at most ${limits.maxEmbeds}`,
          `Split the request in two; ${setting('maxEmbeds')}.`,
        );
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (length > limits.maxBodyBytes)
    return refusal(
      413,
      'PGAPP413',
      `the body is larger than ${limits.maxBodyBytes} bytes`,
      `Send fewer rows per request; ${setting('maxBodyBytes')}.`,
    );
  return undefined;
}

/** PostgREST's 500 for a statement timeout, as the 504 it is; anything else unchanged. */
export function rewriteResponse(status, body) {
  if (status !== 500) return undefined;
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (json?.code !== '57014') return undefined;
  return {
    status: 504,
    body: {
      ...json,
      hint:
        json.hint ??
        'The request took longer than the API allows. Ask for fewer rows (limit), fewer embedded resources, or a narrower filter.',
    },
  };
}

/** Headers for one hop only (RFC 9110 §7.6.1) stay on their side of the gateway. */
function withoutHopByHop(headers) {
  const out = { ...headers };
  for (const h of ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']) delete out[h];
  return out;
}

/** Past this much body, a refused request's connection is closed instead of read to its end. */
const DRAIN_LIMIT = 32 * 1024 * 1024;

/**
 * Answer a refusal once the client has finished sending: closing a connection whose request is still
 * arriving resets it, and the client would see the reset, not the answer. A body past DRAIN_LIMIT is
 * not read on: the answer goes out and the connection is closed.
 */
function refuseAfterBody(req, res, { status, body }, headers = {}) {
  if (req.complete) return sendJson(res, status, body, headers);
  let read = 0;
  const onData = (chunk) => {
    read += chunk.length;
    if (read > DRAIN_LIMIT) {
      req.off('data', onData);
      sendJson(res, status, body, { ...headers, Connection: 'close' });
      res.on('finish', () => req.destroy());
    }
  };
  req.on('data', onData);
  req.once('end', () => sendJson(res, status, body, headers));
  req.resume();
}

function sendJson(res, status, body, headers = {}) {
  if (res.writableEnded) return;
  if (res.headersSent) return res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function createGateway({ upstream, timeoutMs, limits = LIMITS, explainKey, log = () => {} }) {
  const target = new URL(upstream);
  // Reads reuse connections to PostgREST; one that PostgREST closed while idle fails with ECONNRESET
  // on reuse, and such a read (no body, no effect) is sent once more on a fresh one. Writes always
  // take a fresh connection: a write is never sent twice.
  const reuse = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 });
  const fresh = new http.Agent({ keepAlive: false });
  /** Per client: requests in flight, and the ones waiting their turn. */
  const clients = new Map();

  return http.createServer((req, res) => {
    const refused = checkRequest(req.url ?? '/', req.headers, limits, explainKey);
    if (refused) return refuseAfterBody(req, res, refused);
    const key = clientKey(req.headers, req.socket.remoteAddress);
    const client = clients.get(key) ?? { inFlight: 0, queue: [] };
    clients.set(key, client);
    if (client.inFlight >= limits.maxInFlightPerClient && client.queue.length >= limits.maxQueuedPerClient) {
      const waiting = client.inFlight + client.queue.length;
      return refuseAfterBody(
        req,
        res,
        refusal(
          429,
          'PGAPP429',
          `this client already has ${waiting} requests in flight or waiting; at most ${limits.maxInFlightPerClient + limits.maxQueuedPerClient}`,
          `Wait for answers before sending more; ${setting('maxInFlightPerClient')} and "maxQueuedPerClient".`,
        ),
        { 'Retry-After': '1' },
      );
    }
    const start = () => {
      client.inFlight++;
      let done = false;
      res.on('close', () => {
        if (done) return;
        done = true;
        client.inFlight--;
        const next = client.queue.shift();
        if (next) next();
        else if (client.inFlight === 0) clients.delete(key);
      });
      forward(req, res);
    };
    if (client.inFlight < limits.maxInFlightPerClient) return start();
    // Wait for a turn; a client that gives up leaves the queue.
    client.queue.push(start);
    res.on('close', () => {
      const i = client.queue.indexOf(start);
      if (i >= 0) client.queue.splice(i, 1);
    });
  });

  function forward(req, res, retried = false) {
    const read = req.method === 'GET' || req.method === 'HEAD';
    const headers = withoutHopByHop(req.headers);
    headers.host = target.host;
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
        agent: read ? reuse : fresh,
        timeout: timeoutMs,
      },
      (upRes) => {
        if (upRes.statusCode === 500) {
          // Small error bodies only: read it, maybe rewrite it.
          const chunks = [];
          upRes.on('data', (c) => chunks.push(c));
          upRes.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const rewritten = rewriteResponse(500, body);
            if (rewritten) return sendJson(res, rewritten.status, rewritten.body);
            res.writeHead(500, withoutHopByHop(upRes.headers));
            res.end(body);
          });
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, withoutHopByHop(upRes.headers));
        upRes.pipe(res);
        // PostgREST gone mid-answer: the client's connection is cut (its answer was begun), not left hanging.
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('timeout', () => {
      up.destroy();
      sendJson(
        res,
        504,
        refusal(504, 'PGAPP504', `the API did not answer within ${Math.round(timeoutMs / 1000)} s`).body,
      );
    });
    up.on('error', (err) => {
      if (res.writableEnded || tooLarge) return;
      if (read && !retried && up.reusedSocket && err.code === 'ECONNRESET') return forward(req, res, true);
      if (res.headersSent) return res.destroy();
      log(`upstream ${upstream}: ${err.message}`);
      sendJson(
        res,
        503,
        refusal(
          503,
          'PGAPP503',
          'PostgREST is not answering',
          'It may still be starting: `pgapp status`, `pgapp logs postgrest`.',
        ).body,
      );
    });
    // The body, counted as it streams: a chunked body gets the same limit as a declared one.
    let bytes = 0;
    let tooLarge = false;
    req.on('data', (chunk) => {
      bytes += chunk.length;
      if (bytes > limits.maxBodyBytes && !tooLarge) {
        tooLarge = true; // the upstream request is abandoned, not failed: no 503 for it
        req.unpipe(up);
        up.destroy();
        refuseAfterBody(
          req,
          res,
          refusal(
            413,
            'PGAPP413',
            `the body is larger than ${limits.maxBodyBytes} bytes`,
            `Send fewer rows per request; ${setting('maxBodyBytes')}.`,
          ),
        );
      }
    });
    req.pipe(up);
    res.on('close', () => {
      if (!res.writableFinished) up.destroy(); // the client went away: stop waiting for PostgREST
    });
  }
}

// `node gateway.mjs` serves (the image's healthcheck asks it for GET /).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.env.PGAPP_GATEWAY_PORT ?? 3000);
  const upstream = process.env.PGAPP_UPSTREAM ?? 'http://postgrest:3000';
  const timeoutMs = Number(process.env.PGAPP_UPSTREAM_TIMEOUT_MS ?? 20_000);
  const server = createGateway({
    upstream,
    timeoutMs,
    limits: limitsFrom(process.env.PGAPP_LIMITS),
    explainKey: process.env.PGAPP_EXPLAIN_KEY,
    log: (l) => console.error(`pgapp-gateway: ${l}`),
  });
  server.listen(port, '0.0.0.0', () =>
    console.log(`pgapp-gateway: listening on :${port}, upstream ${upstream}`),
  );
  // SIGTERM (`docker stop`): accept no more connections, close the idle keep-alive ones, let the
  // requests in flight finish for up to 2 s, then exit 0 — well inside Docker's 10 s grace. Three
  // statements: Node 18's (the image's) http.Server.close() returns undefined, so `close() && …`
  // never armed the bound and Docker killed the gateway (137) while it refused new connections.
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
