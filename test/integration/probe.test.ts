/**
 * The cases a security probe of a running stack found (issue 11), each proven on the shared stack
 * with only what pgapp hands out: tokens, the API, the connection strings. The rds stand-in's own
 * cases (master user → superuser) are in images.test.ts, on the bare image.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeToken } from '../../src/auth/jwt.ts';
import { readSecrets } from '../../src/config/secrets.ts';
import { workDir } from '../../src/paths.ts';
import { AUTHENTICATOR, BRIDGE_USER } from '../../src/spec/stack.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import {
  apiClient,
  cli,
  customFromUrl,
  loginAs,
  query,
  rdsFromUrl,
  replicaCaughtUp,
  sqlState,
} from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'security probe (shared stack)'
  : `security probe — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  const tag = `probe${Date.now()}`;
  const alice = `${tag}-alice`;
  const bob = `${tag}-bob`;
  const token = (sub: string) => stack.token({ claims: { sub } });
  const rds = () => rdsFromUrl(stack.rdsUrl);
  const custom = () => ({ connectionString: stack.customUrl });
  const send = apiClient(
    () => stack.apiUrl,
    () => null,
  );
  const call = async (method: string, path: string, who: string | null, body?: unknown) => {
    const res = await send(method, path, body, who === null ? null : who.startsWith('ey') ? who : token(who));
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, body: json as Record<string, unknown> & Record<string, unknown>[] };
  };
  const company = async (who: string, name: string) => {
    const r = await call('POST', '/companies', who, {
      name,
      domain: `${name.toLowerCase().replace(/\W+/g, '-')}.${tag}.example`,
      industry: 'software',
      employees: 3,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body[0]?.id as number;
  };
  /** What one user's rows look like in rds, to prove another user's action did not touch them. */
  const rowsOf = (owner: string) =>
    query(
      rds(),
      `SELECT 'company' AS t, id, name AS v FROM crm.companies WHERE owner_id = $1
       UNION ALL SELECT 'contact', id, coalesce(company_id::text, '-') FROM crm.contacts WHERE owner_id = $1
       UNION ALL SELECT 'deal', id, company_id || '/' || coalesce(contact_id::text, '-') FROM crm.deals WHERE owner_id = $1
       ORDER BY 1, 2`,
      [owner],
    );

  beforeAll(async () => {
    stack = await useStack();
  });
  afterAll(async () => {
    if (stack)
      await query(
        rds(),
        'DELETE FROM crm.companies WHERE owner_id LIKE $1; DELETE FROM crm.contacts WHERE owner_id LIKE $1',
        [`${tag}%`],
      ).catch(() => query(rds(), `DELETE FROM crm.companies WHERE owner_id LIKE '${tag}%'`));
  });

  describe('the cache obeys row visibility (two users and anonymous)', () => {
    let shared: number;
    let mine: number;
    const pipeline = async (who: string | null, id: number) =>
      (await call('GET', `/company_pipeline?company_id=eq.${id}`, who)).body as unknown as {
        open_deals: number;
        pipeline_amount: number;
        won_amount: number;
        contacts: number;
        name: string;
      }[];

    beforeAll(async () => {
      // A shared (seeded) company with shared deals, and private rows of two users on top of it.
      shared = 1;
      mine = await company(alice, 'Alice Private Co');
      for (const [who, amount, stage] of [
        [alice, 7000, 'won'],
        [bob, 9000, 'won'],
        [bob, 500, 'lead'],
      ] as const) {
        const r = await call('POST', '/deals', who, {
          company_id: shared,
          title: `${who} deal`,
          stage,
          amount,
        });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
      }
      expect(
        (
          await call('POST', '/deals', alice, {
            company_id: mine,
            title: 'secret',
            stage: 'won',
            amount: 1234,
          })
        ).status,
      ).toBe(201);
      await query(custom(), 'SELECT cache.refresh()');
    });

    it("shows a user's private company to that user only", async () => {
      expect(await pipeline(null, mine)).toEqual([]);
      expect(await pipeline(bob, mine)).toEqual([]);
      expect(await pipeline(alice, mine)).toMatchObject([{ name: 'Alice Private Co', won_amount: 1234 }]);
    });

    it("adds up shared deals and the caller's own, never another user's", async () => {
      const [want] = await query<{ won: string; open: string }>(
        rds(),
        `SELECT coalesce(sum(amount) FILTER (WHERE stage = 'won'), 0)::text AS won,
                coalesce(sum(amount) FILTER (WHERE stage NOT IN ('won', 'lost')), 0)::text AS open
         FROM crm.deals WHERE company_id = $1 AND owner_id IS NULL`,
        [shared],
      );
      const won = Number(want?.won);
      const open = Number(want?.open);
      expect((await pipeline(null, shared))[0]).toMatchObject({ won_amount: won, pipeline_amount: open });
      expect((await pipeline(alice, shared))[0]).toMatchObject({
        won_amount: won + 7000,
        pipeline_amount: open,
      });
      expect((await pipeline(bob, shared))[0]).toMatchObject({
        won_amount: won + 9000,
        pipeline_amount: open + 500,
      });
    });
  });

  describe('duplicate_contacts is bounded, colocated and cheap', () => {
    let big: number;
    let first: Record<string, unknown>[];

    beforeAll(async () => {
      big = await company(alice, 'Alice Big Co');
      // 500 near-identical contacts: every pair is alike, the most work one call can be asked to do.
      await query(
        rds(),
        `INSERT INTO crm.contacts (company_id, first_name, last_name, email, owner_id)
         SELECT $1, 'Jonathan' || i, 'Smithson' || (i % 7), 'jonathan.smith' || i || '@big.example', $2
         FROM generate_series(1, 500) i`,
        [big, alice],
      );
      await replicaCaughtUp(rds(), custom()); // written on rds, read from the replica
      const r = await call('POST', '/rpc/duplicate_contacts', alice, { company_id: big, threshold: 0.5 });
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
      first = r.body as Record<string, unknown>[];
    });

    it('answers the 200 most alike pairs, most alike first, and only from what the caller may see', async () => {
      expect(first.length).toBe(200);
      const sims = first.map((p) => Number(p.similarity));
      expect(sims.every((v) => v >= 0.5 && v <= 1)).toBe(true);
      expect([...sims].sort((a, b) => b - a)).toEqual(sims);
      expect(first.every((p) => Number(p.contact_id) < Number(p.duplicate_id))).toBe(true);
      // Bob may not see Alice's contacts: the same company has none for him.
      const other = await call('POST', '/rpc/duplicate_contacts', bob, { company_id: big, threshold: 0.5 });
      expect(other.status).toBe(200);
      expect(other.body).toEqual([]);
    });

    it('refuses a company with more contacts than it compares (400, not a long call)', async () => {
      await query(
        rds(),
        `INSERT INTO crm.contacts (company_id, first_name, last_name, email, owner_id) VALUES ($1, 'One', 'More', 'one.more@big.example', $2)`,
        [big, alice],
      );
      try {
        await replicaCaughtUp(rds(), custom());
        const r = await call('POST', '/rpc/duplicate_contacts', alice, { company_id: big });
        expect(r.status).toBe(400);
        expect(r.body.message).toMatch(/more than 500 contacts/);
      } finally {
        await query(
          rds(),
          `DELETE FROM crm.contacts WHERE email = 'one.more@big.example' AND owner_id = $1`,
          [alice],
        );
        await replicaCaughtUp(rds(), custom());
      }
    });

    it("at its bound costs its backend a fraction of a second of CPU (not wall time: the machine's load does not count), reading the replica", async () => {
      // The backend's own CPU time (/proc/self/stat: utime + stime, in 1/100 s), read by the backend
      // itself: what the call cost, however busy the machine is. The pairwise difflib loop it replaced
      // took 3.4 s of CPU here on an idle machine (past the 15 s timeout on a loaded one); this one
      // takes about 0.15 s. The budget is 3 s of wall time on a loaded 2-core machine.
      const c = new pg.Client(custom());
      await c.connect();
      try {
        const cpuMs = async () => {
          const stat = (await c.query<{ s: string }>("SELECT pg_read_file('/proc/self/stat') AS s")).rows[0]
            ?.s;
          const f = (stat ?? '').slice((stat ?? '').lastIndexOf(')') + 2).split(' ');
          return (Number(f[11]) + Number(f[12])) * 10;
        };
        const before = await cpuMs();
        await c.query('BEGIN');
        await c.query('SET LOCAL ROLE web_user');
        await c.query(`SELECT set_config('request.jwt.claims', $1, true)`, [
          JSON.stringify({ role: 'web_user', sub: alice }),
        ]);
        const r = await c.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM crm.duplicate_contacts($1, 0.5)',
          [big],
        );
        // What this transaction read: crm.contacts, the local replica (the foreign table is not counted here).
        const scans = await c.query<{ n: number }>(
          `SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::int AS n FROM pg_stat_xact_user_tables
           WHERE schemaname = 'crm' AND relname = 'contacts'`,
        );
        await c.query('COMMIT');
        const used = (await cpuMs()) - before;
        expect(r.rows[0]?.n).toBe(200);
        expect(scans.rows[0]?.n ?? 0).toBeGreaterThan(0);
        expect(used, `${used} ms of CPU`).toBeLessThan(1000);
      } finally {
        await c.end();
      }
    });
  });

  describe('ids, owners and references come from the server, not the client', () => {
    it('refuses an explicit id or owner_id on POST and PATCH (403), so nobody takes the next ids', async () => {
      const mine = await company(alice, 'Alice Ids Co');
      const body = { name: 'X', domain: `x.${tag}.example`, industry: 'software', employees: 1 };
      const [seq] = await query<{ v: string }>(
        rds(),
        `SELECT last_value::text AS v FROM crm.companies_id_seq`,
      );
      expect((await call('POST', '/companies', alice, { ...body, id: Number(seq?.v) + 5 })).status).toBe(403);
      expect((await call('POST', '/companies', alice, { ...body, owner_id: bob })).status).toBe(403);
      expect(
        (await call('PATCH', `/companies?id=eq.${mine}`, alice, { id: Number(seq?.v) + 6 })).status,
      ).toBe(403);
      expect((await call('PATCH', `/companies?id=eq.${mine}`, alice, { owner_id: bob })).status).toBe(403);
      // Ordinary inserts keep working: ids come from rds's sequence.
      expect((await call('POST', '/companies', bob, body)).status).toBe(201);
    });

    it("answers a reference to another user's private row exactly as one that does not exist (row-level security)", async () => {
      const hers = await company(alice, 'Alice Ref Co');
      const contact = (id: number) => ({
        company_id: id,
        first_name: 'B',
        last_name: 'B',
        email: `b.${id}@${tag}.example`,
      });
      const hidden = await call('POST', '/contacts', bob, contact(hers));
      const missing = await call('POST', '/contacts', bob, contact(999_999_999));
      expect(hidden.status).toBe(403);
      expect(hidden.body.message).toBe('new row violates row-level security policy for table "contacts"');
      expect(missing.body).toEqual(hidden.body);
      // Nor by PATCH, nor for deals pointing at her contacts.
      const bobs = await call('POST', '/contacts', bob, { ...contact(1), email: `bob.${tag}@x.example` });
      expect(bobs.status).toBe(201);
      const patched = await call('PATCH', `/contacts?id=eq.${bobs.body[0]?.id}`, bob, { company_id: hers });
      expect(patched.status).toBe(403);
      // A domain taken by her private company does not stop (and so does not reveal it to) bob.
      const [dom] = await query<{ domain: string }>(rds(), 'SELECT domain FROM crm.companies WHERE id = $1', [
        hers,
      ]);
      expect(
        (
          await call('POST', '/companies', bob, {
            name: 'Same',
            domain: dom?.domain,
            industry: 'x',
            employees: 1,
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await call('POST', '/companies', alice, {
            name: 'Twice',
            domain: dom?.domain,
            industry: 'x',
            employees: 1,
          })
        ).status,
      ).toBe(409);
    });

    it("deleting your own company changes none of another user's rows", async () => {
      const hers = await company(alice, 'Alice Doomed Co');
      expect(
        (await call('POST', '/deals', alice, { company_id: hers, title: 'hers', stage: 'lead', amount: 1 }))
          .status,
      ).toBe(201);
      // Bob tries to hang his rows on it: refused, so nothing of his can cascade.
      expect(
        (await call('POST', '/deals', bob, { company_id: hers, title: 'bobs', stage: 'lead', amount: 1 }))
          .status,
      ).toBe(403);
      const bobBefore = await rowsOf(bob);
      const del = await call('DELETE', `/companies?id=eq.${hers}`, alice);
      expect(del.status).toBe(200);
      expect(await query(rds(), 'SELECT id FROM crm.deals WHERE company_id = $1', [hers])).toEqual([]);
      expect(await rowsOf(bob)).toEqual(bobBefore);
    });
  });

  describe('errors a client causes are 4xx, with limits in the schema', () => {
    it('writes to read-only views: 401 anonymous, 403 signed in (not a 500)', async () => {
      for (const [path, filter, column] of [
        ['/company_pipeline', 'company_id=eq.1', 'name'],
        ['/stage_pipeline', 'stage=eq.lead', 'stage'],
      ] as const) {
        expect((await call('POST', path, null, { [column]: 'x' })).status, path).toBe(401);
        const signedIn = await call('POST', path, alice, { [column]: 'x' });
        expect(signedIn.status, `${path} ${JSON.stringify(signedIn.body)}`).toBe(403);
        expect((await call('DELETE', `${path}?${filter}`, alice)).status, path).toBe(403);
      }
    });

    it('a token whose sub is too long for an id: 403, not an index error', async () => {
      const r = await call('GET', '/companies?limit=1', 'x'.repeat(3000));
      expect(r.status).toBe(403);
      expect(r.body.message).toMatch(/longer than 128 characters/);
    });

    it('overlong values: 400 from the schema', async () => {
      const r = await call('POST', '/companies', alice, {
        name: 'n'.repeat(201),
        domain: `long.${tag}.example`,
        industry: 'x',
        employees: 1,
      });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('23514');
    });
  });

  describe('tokens and jobs', () => {
    it("a signed web_anon token with a sub is anonymous: it reads nobody's private rows", async () => {
      const hers = await company(alice, 'Alice Anon Co');
      const anonAsAlice = makeToken(stack.jwtSecret, {
        role: 'web_anon',
        claims: { sub: alice },
        expiresIn: 60,
      });
      expect((await call('GET', `/companies?id=eq.${hers}`, anonAsAlice)).body).toEqual([]);
      expect((await call('GET', `/companies?id=eq.${hers}`, alice)).body).toHaveLength(1);
    });

    it('`pgapp token` never mints a token that does not expire', async () => {
      for (const exp of ['0', '0s', '400d']) {
        const r = await cli(['token', '--project', stack.project, '--exp', exp], { home: workDir() });
        expect(r.code, exp).toBe(1);
        expect(r.stderr).toMatch(/every token expires/);
      }
    });

    it('jobs are not an endpoint (commands can carry secrets); the developer (`pgapp jobs`) sees them', async () => {
      expect((await call('GET', '/jobs', alice)).status).toBe(404);
      const [full] = await query<{ command: string }>(
        custom(),
        `SELECT command FROM pgapp_private.jobs WHERE jobname = 'pgapp-cache-refresh'`,
      );
      expect(full?.command).toBe('SELECT cache.refresh()');
    });
  });

  describe('roles reach crm (rds) and the api (custom), nothing else', () => {
    it('the bridge role on rds: no large objects, no other database', async () => {
      const bridge = loginAs(stack.rdsUrl, BRIDGE_USER, readSecrets(stack.project)?.bridgePassword);
      expect(await sqlState(bridge, 'SELECT lo_create(0)')).toBe('42501');
      expect(await sqlState(bridge, 'CREATE TEMP TABLE t (x int)')).toBe('42501');
      for (const database of ['postgres', 'template1'])
        await expect(query({ ...bridge, database }, 'SELECT 1')).rejects.toThrow(
          /permission denied for database/,
        );
    });

    it('authenticator and web_user on custom: no temporary tables or pg_temp functions, no large objects, no other database', async () => {
      const auth = loginAs(stack.customUrl, AUTHENTICATOR, readSecrets(stack.project)?.authenticatorPassword);
      for (const prefix of ['', 'SET ROLE web_user; ', 'SET ROLE web_anon; ']) {
        expect(await sqlState(auth, `${prefix}CREATE TEMP TABLE t (x int)`), prefix).toBe('42501');
        expect(
          await sqlState(auth, `${prefix}CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`),
          prefix,
        ).toBe('42501');
        expect(await sqlState(auth, `${prefix}SELECT lo_create(0)`), prefix).toBe('42501');
      }
      for (const database of ['postgres', 'template1'])
        await expect(query({ ...auth, database }, 'SELECT 1')).rejects.toThrow(
          /permission denied for database/,
        );
    });
  });

  describe('every request is bounded: rows, depth and width, size, time, and one client cannot starve the others', () => {
    const sleepFn = 'crm.pgapp_probe_sleep';
    const reload = async () => {
      await query(custom(), `NOTIFY pgrst, 'reload schema'`);
      for (let i = 0; i < 50; i++) {
        const r = await call('GET', '/rpc/pgapp_probe_sleep?seconds=0', null);
        if ((r.status === 200) === (await fnExists())) return;
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    const fnExists = async () =>
      (await query<{ e: boolean }>(custom(), `SELECT to_regproc('${sleepFn}') IS NOT NULL AS e`))[0]?.e ??
      false;

    beforeAll(async () => {
      // A slow read, as an expensive query would be: a test-only function, removed afterwards.
      await query(
        custom(),
        `CREATE OR REPLACE FUNCTION ${sleepFn}(seconds float) RETURNS int LANGUAGE sql STABLE AS 'SELECT 1 FROM pg_sleep(seconds)';
         GRANT EXECUTE ON FUNCTION ${sleepFn}(float) TO web_anon, web_user`,
      );
      await reload();
    });
    afterAll(async () => {
      await query(custom(), `DROP FUNCTION IF EXISTS ${sleepFn}(float)`);
      await reload();
    });

    it('a non-UTF-8 filter value: 400, not a 500', async () => {
      const r = await call('GET', '/companies?name=eq.%FF%FE', null);
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/not valid UTF-8/);
    });

    it('embeds at most 6 deep and 16 wide by default (400, naming the setting), answered before any query runs', async () => {
      const deep = await call(
        'GET',
        '/contacts?select=id,company(id,contacts(id,company(id,contacts(id,company(id,contacts(id,company(id))))))))',
        null,
      );
      expect(deep.status).toBe(400);
      expect(deep.body.hint).toMatch(/"limits": \{"maxEmbedDepth": …\}/);
      const wide = Array.from({ length: 17 }, (_, i) => `c${i}:company(id)`).join(',');
      expect((await call('GET', `/contacts?select=${wide}&limit=1`, null)).status).toBe(400);
      expect((await call('GET', '/contacts?select=id,company(id,contacts(id))&limit=2', null)).status).toBe(
        200,
      );
    });

    it('no response holds more than 1000 rows, whatever limit asks', async () => {
      await query(
        rds(),
        `INSERT INTO crm.companies (name, domain, industry, employees)
         SELECT 'Rows ' || i, 'rows-' || i || '.${tag}.example', 'x', 1 FROM generate_series(1, 1001) i`,
      );
      try {
        await replicaCaughtUp(rds(), customFromUrl(stack.customUrl)); // written on rds, not through the API
        const res = await send('GET', '/companies?select=id&limit=100000000', undefined, null);
        expect(res.status).toBe(200);
        expect(((await res.json()) as unknown[]).length).toBe(1000);
      } finally {
        await query(rds(), `DELETE FROM crm.companies WHERE domain LIKE 'rows-%.${tag}.example'`);
      }
    });

    it('bodies over 1 MiB are refused (413), a 10 MB name among them', async () => {
      const bulk = Array.from({ length: 30_000 }, (_, i) => ({
        name: 'n',
        domain: `bulk${i}.${tag}.example`,
        industry: 'x',
        employees: 1,
      }));
      expect((await call('POST', '/companies', alice, bulk)).status).toBe(413);
      const huge = {
        name: 'n'.repeat(10 * 1024 * 1024),
        domain: `huge.${tag}.example`,
        industry: 'x',
        employees: 1,
      };
      expect((await call('POST', '/companies', alice, huge)).status).toBe(413);
      expect(
        await query(
          rds(),
          `SELECT id FROM crm.companies WHERE domain LIKE '%.${tag}.example' AND (domain LIKE 'bulk%' OR domain LIKE 'huge%')`,
        ),
      ).toEqual([]);
    });

    it('a statement timeout is a 504 with a hint, not a 500', async () => {
      const r = await call('GET', '/rpc/pgapp_probe_sleep?seconds=30', null);
      expect(r.status).toBe(504);
      expect(r.body.code).toBe('57014');
      expect(r.body.hint).toMatch(/fewer rows/);
    });

    it('two dozen slow requests from one client leave room for everyone else', async () => {
      const seconds = 1.5;
      const t0 = performance.now();
      // 4 run, 16 wait their turn, 4 are refused: never more than 4 of the pool's 10 connections.
      const abusive = Array.from({ length: 24 }, () =>
        call('GET', `/rpc/pgapp_probe_sleep?seconds=${seconds}`, null),
      );
      await new Promise((r) => setTimeout(r, 300));
      const others = await Promise.all(
        ['first', 'second', 'third'].map(async (who) => {
          const t = performance.now();
          const r = await call('GET', '/contacts?select=id&limit=1', `${tag}-${who}`);
          return { status: r.status, ms: performance.now() - t };
        }),
      );
      for (const o of others) {
        expect(o.status).toBe(200);
        // Served while the abusive requests still run: not after the pool frees up.
        expect(o.ms).toBeLessThan((seconds * 1000) / 2);
      }
      const statuses = (await Promise.all(abusive)).map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(20);
      expect(statuses.filter((s) => s === 429)).toHaveLength(4);
      expect(performance.now() - t0).toBeGreaterThan(5 * seconds * 1000); // five turns of four: they queued
    });
  });

  it('publishes no PostgREST admin server (its /config holds the JWT secret)', async () => {
    const { stdout } = await run('docker', [
      'inspect',
      `${stack.project}-postgrest`,
      '--format',
      '{{json .Config.Env}}|{{json .NetworkSettings.Ports}}',
    ]);
    const [env, ports] = stdout.trim().split('|');
    expect(env).not.toContain('PGRST_ADMIN_SERVER_PORT');
    const published = Object.entries(JSON.parse(ports ?? '{}') as Record<string, unknown[] | null>)
      .filter(([, hosts]) => hosts?.length)
      .map(([port]) => port);
    expect(published).toEqual([]); // only the gateway reaches it
    const res = await fetch(`${stack.apiUrl}/config`);
    expect(await res.text()).not.toContain(stack.jwtSecret);
  });
});
