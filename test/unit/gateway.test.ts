/**
 * The API gateway's rules (images/gateway/gateway.mjs), on their own: what it refuses, who counts as
 * one client, which answers it rewrites — and the server itself in front of a stand-in upstream on
 * loopback (no Docker: the integration tests run it in front of the real PostgREST).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkRequest,
  clientKey,
  createGateway,
  embedShape,
  LIMITS,
  rewriteResponse,
} from '../../images/gateway/gateway.mjs';
import { signJwt } from '../../src/auth/jwt.ts';

describe('gateway rules', () => {
  it('measures embeds by parentheses outside quotes', () => {
    expect(embedShape('id,name')).toEqual({ count: 0, depth: 0 });
    expect(embedShape('id,company(name)')).toEqual({ count: 1, depth: 1 });
    expect(embedShape('id,a:company(id,contacts(id,company(id))),b:deals(id)')).toEqual({
      count: 4,
      depth: 3,
    });
    expect(embedShape('"we(ird"(x)')).toEqual({ count: 1, depth: 1 });
  });

  it('refuses non-UTF-8, too deep, too wide, too long and too large; passes the ordinary', () => {
    const ok = (url: string, headers = {}) => checkRequest(url, headers);
    expect(ok('/contacts?select=id,company(name)&last_name=eq.Hopper&limit=10')).toBeUndefined();
    expect(ok('/contacts?name=eq.%C3%A9t%C3%A9')).toBeUndefined(); // "été"
    expect(ok('/contacts?name=eq.%FF%FE')?.status).toBe(400);
    expect(ok('/contacts?name=eq.%E2%82')?.status).toBe(400); // a truncated sequence
    expect(ok('/%FF')?.status).toBe(400);
    const seven = '/a?select=id,b(c(d(e(f(g(h(id)))))))';
    expect(ok(seven)?.body.message).toMatch(/7 deep; at most 6/);
    // The refusal names the setting that bounds it.
    expect(ok(seven)?.body.hint).toMatch(/"limits": \{"maxEmbedDepth": …\} in pgapp\.config\.json/);
    expect(checkRequest(seven, {}, { ...LIMITS, maxEmbedDepth: 7 })).toBeUndefined();
    const wide = Array.from({ length: LIMITS.maxEmbeds + 1 }, (_, i) => `c${i}:company(id)`).join(',');
    expect(ok(`/contacts?select=${wide}`)?.body.message).toMatch(/embeds 17 resources; at most 16/);
    expect(ok(`/contacts?${'a'.repeat(LIMITS.maxUrlBytes)}`)?.status).toBe(414);
    expect(ok('/companies', { 'content-length': String(LIMITS.maxBodyBytes + 1) })?.status).toBe(413);
    expect(ok('/companies', { 'content-length': String(LIMITS.maxBodyBytes) })).toBeUndefined();
  });

  it('serves query plans only to the holder of the explain key (pgapp explain)', () => {
    const plan = { accept: 'application/vnd.pgrst.plan+json; options=analyze' };
    expect(checkRequest('/contacts', plan)?.status).toBe(403);
    expect(checkRequest('/contacts', plan, LIMITS, 'k3y')?.status).toBe(403);
    expect(checkRequest('/contacts', { ...plan, 'x-pgapp-explain': 'wrong' }, LIMITS, 'k3y')?.status).toBe(
      403,
    );
    expect(checkRequest('/contacts', { ...plan, 'x-pgapp-explain': 'k3y' }, LIMITS, 'k3y')).toBeUndefined();
    expect(checkRequest('/contacts', { ...plan, 'x-pgapp-explain': '' }, LIMITS, '')?.status).toBe(403);
    expect(checkRequest('/contacts', { accept: 'application/json' })).toBeUndefined();
    // A write's dry run names the key too (its trigger then reports what it sent to rds): any
    // request that names one must name the right one.
    const json = { accept: 'application/json' };
    expect(checkRequest('/contacts', { ...json, 'x-pgapp-explain': 'wrong' }, LIMITS, 'k3y')?.status).toBe(
      403,
    );
    expect(checkRequest('/contacts', { ...json, 'x-pgapp-explain': '' }, LIMITS, 'k3y')?.status).toBe(403);
    expect(checkRequest('/contacts', { ...json, 'x-pgapp-explain': 'k3y' }, LIMITS, 'k3y')).toBeUndefined();
  });

  it("counts a client by its token's sub, else by its address", () => {
    const token = signJwt({ role: 'web_user', sub: 'alice' }, 'x'.repeat(32));
    expect(clientKey({ authorization: `Bearer ${token}` }, '127.0.0.1')).toBe('sub:alice');
    expect(clientKey({ authorization: 'Bearer not-a-jwt' }, '127.0.0.1')).toBe('addr:127.0.0.1');
    expect(clientKey({}, '10.0.0.2')).toBe('addr:10.0.0.2');
  });

  it("turns PostgREST's 500 for a statement timeout into a 504, and nothing else", () => {
    const timeout = JSON.stringify({
      code: '57014',
      message: 'canceling statement due to statement timeout',
    });
    expect(rewriteResponse(500, timeout)).toMatchObject({
      status: 504,
      body: { code: '57014', hint: expect.any(String) },
    });
    expect(rewriteResponse(500, JSON.stringify({ code: 'XX000' }))).toBeUndefined();
    expect(rewriteResponse(500, 'Something went wrong')).toBeUndefined();
    expect(rewriteResponse(400, timeout)).toBeUndefined();
  });
});

describe('gateway server (in front of a stand-in upstream)', () => {
  let upstream: Server;
  let gateway: Server;
  let base: string;
  const seen: { path: string; bytes: number }[] = [];
  const listen = (s: Server) =>
    new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', bytes });
        const url = new URL(req.url ?? '/', 'http://x');
        if (url.pathname === '/timeout') {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          return res.end(
            JSON.stringify({
              code: '57014',
              details: null,
              hint: null,
              message: 'canceling statement due to statement timeout',
            }),
          );
        }
        if (url.pathname === '/chunked') {
          // As PostgREST answers: chunked, in pieces (n chunks of size bytes, a tick apart).
          const n = Number(url.searchParams.get('n'));
          const size = Number(url.searchParams.get('size'));
          res.writeHead(200, { 'Content-Type': 'application/json' });
          let i = 0;
          const next = () => {
            if (i === n) return url.searchParams.has('die') ? res.socket?.destroy() : res.end();
            res.write(Buffer.alloc(size, String.fromCharCode(97 + (i++ % 26))));
            setImmediate(next);
          };
          return next();
        }
        const wait = Number(url.searchParams.get('wait') ?? 0);
        setTimeout(() => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ ok: true, path: req.url }));
        }, wait);
      });
    });
    const up = await listen(upstream);
    gateway = createGateway({ upstream: `http://127.0.0.1:${up}`, timeoutMs: 1500 });
    base = `http://127.0.0.1:${await listen(gateway)}`;
  });
  afterAll(async () => {
    gateway?.closeAllConnections();
    upstream?.closeAllConnections();
    await new Promise((r) => gateway?.close(r));
    await new Promise((r) => upstream?.close(r));
  });

  it('passes an ordinary request through, body and all', async () => {
    const res = await fetch(`${base}/companies?select=id`, { method: 'POST', body: '{"name":"x"}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, path: '/companies?select=id' });
    expect(seen.at(-1)).toEqual({ path: '/companies?select=id', bytes: 12 });
  });

  it('relays a chunked answer intact; one PostgREST cuts off mid-way is cut off for the client too, not left hanging', async () => {
    const large = await fetch(`${base}/chunked?n=3&size=${40 * 1024}`);
    expect(await large.text()).toBe(['a', 'b', 'c'].map((c) => c.repeat(40 * 1024)).join(''));
    const cut = await fetch(`${base}/chunked?n=2&size=10&die=1`);
    expect(cut.status).toBe(200);
    await expect(cut.text()).rejects.toThrow();
  });

  it('refuses a chunked body past the limit before the upstream has it all (413)', async () => {
    const before = seen.length;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < 20; i++) c.enqueue(chunk); // 1.25 MiB, no Content-Length
        c.close();
      },
    });
    const res = await fetch(`${base}/companies`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(seen.slice(before).every((s) => s.bytes <= LIMITS.maxBodyBytes)).toBe(true);
  });

  it('answers a declared oversized body with 413 the client can read (not a reset)', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/companies`, {
        method: 'POST',
        body: Buffer.alloc(3 * 1024 * 1024, 'a'),
      });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { code: string }).code).toBe('PGAPP413');
    }
  });

  it('gives one client 4 requests in flight and 16 waiting (429 beyond); others are served meanwhile', async () => {
    const alice = { Authorization: `Bearer ${signJwt({ role: 'web_user', sub: 'alice' }, 'x'.repeat(32))}` };
    const bob = { Authorization: `Bearer ${signJwt({ role: 'web_user', sub: 'bob' }, 'x'.repeat(32))}` };
    const inFlight = () => seen.filter((s) => s.path.startsWith('/slow')).length;
    const before = inFlight();
    const slow = Array.from({ length: 24 }, () => fetch(`${base}/slow?wait=300`, { headers: alice }));
    await new Promise((r) => setTimeout(r, 100));
    const t = performance.now();
    const other = await fetch(`${base}/fast`, { headers: bob });
    expect(other.status).toBe(200);
    expect(performance.now() - t).toBeLessThan(300); // not behind alice's queue
    const statuses = (await Promise.all(slow)).map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    expect(inFlight() - before).toBe(20); // the refused never reached the upstream
    // Once answered, the client's slots are free again.
    expect((await fetch(`${base}/again`, { headers: alice })).status).toBe(200);
  });

  it('answers 504 for a statement timeout and for an upstream past its deadline', async () => {
    const t = await fetch(`${base}/timeout`);
    expect(t.status).toBe(504);
    expect(((await t.json()) as { code: string }).code).toBe('57014');
    const late = await fetch(`${base}/late?wait=3000`);
    expect(late.status).toBe(504);
    expect(((await late.json()) as { code: string }).code).toBe('PGAPP504');
  });
});
