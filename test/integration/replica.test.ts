/**
 * The colocated read path (reads: replica, the default) on the shared stack: every write still
 * lands in rds, the writer's next request sees it (read-your-writes, 1,000 write-then-read pairs
 * across the four tables), rows written on rds by anyone reach the API, and the replica is made the
 * RDS way (a non-superuser with rds_replication, SELECT on the bridged schemas only).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker } from '../../src/docker/engine.ts';
import { containerName } from '../../src/spec/stack.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { apiClient, customFromUrl, query, rdsFromUrl } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'reads: replica (shared stack)'
  : `reads: replica — SKIPPED: ${postgrest.reason}`;

const PAIRS = Number(process.env.PGAPP_RYW_PAIRS ?? 1000);
const WRITERS = 4;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  const tag = `ryw-${randomBytes(4).toString('hex')}`;
  const rds = () => rdsFromUrl(stack.rdsUrl);
  const custom = () => customFromUrl(stack.customUrl);

  beforeAll(async () => {
    stack = await useStack();
  });
  afterAll(async () => {
    // What the writers made goes with it (the snapshot the global setup keeps).
    await stack?.restore('seeded');
    await stack?.[Symbol.asyncDispose]();
  });

  it("the API's tables are local tables on custom, and the subscription streams into them from rds", async () => {
    // crm.contacts: a table (what PostgREST serves), with no foreign child: its rows are here.
    const [t] = await query<{ kind: string; children: number }>(
      custom(),
      `SELECT relkind::text AS kind, (SELECT count(*)::int FROM pg_inherits WHERE inhparent = c.oid) AS children
       FROM pg_class c WHERE c.oid = 'crm.contacts'::regclass`,
    );
    expect(t).toEqual({ kind: 'r', children: 0 });
    const [sub] = await query<{ enabled: boolean; running: boolean; ready: number; total: number }>(
      custom(),
      `SELECT s.subenabled AS enabled,
              EXISTS (SELECT 1 FROM pg_stat_subscription st WHERE st.subid = s.oid AND st.pid IS NOT NULL) AS running,
              (SELECT count(*) FILTER (WHERE srsubstate = 'r')::int FROM pg_subscription_rel WHERE srsubid = s.oid) AS ready,
              (SELECT count(*)::int FROM pg_subscription_rel WHERE srsubid = s.oid) AS total
       FROM pg_subscription s WHERE subname = 'pgapp'`,
    );
    expect(sub).toMatchObject({ enabled: true, running: true });
    expect(sub?.ready).toBe(sub?.total);
    expect(sub?.total).toBeGreaterThanOrEqual(5); // crm's four tables and the fence
    // Real keys on the local tables: PostgREST embeds over them, the planner joins locally.
    const keys = await query<{ conname: string }>(
      custom(),
      `SELECT conname FROM pg_constraint WHERE conrelid = 'crm.contacts'::regclass ORDER BY conname`,
    );
    expect(keys.map((k) => k.conname)).toEqual(
      expect.arrayContaining(['contacts_pkey', 'contacts_company_id_fkey']),
    );
  });

  it('is fed by a replication user made the RDS way: rds_replication, not a superuser, SELECT on the bridged schemas only', async () => {
    const [role] = await query<{ rolsuper: boolean; rolreplication: boolean; member: boolean }>(
      rds(),
      `SELECT rolsuper, rolreplication, pg_has_role(oid, 'rds_replication', 'MEMBER') AS member
       FROM pg_roles WHERE rolname = 'pgapp_replicator'`,
    );
    expect(role).toEqual({ rolsuper: false, rolreplication: true, member: true });
    const privileges = await query<{ table: string; privilege: string }>(
      rds(),
      `SELECT table_schema || '.' || table_name AS table, privilege_type AS privilege
       FROM information_schema.role_table_grants WHERE grantee = 'pgapp_replicator' ORDER BY 1, 2`,
    );
    expect(new Set(privileges.map((p) => p.privilege))).toEqual(new Set(['SELECT']));
    expect(
      privileges.every((p) => p.table.startsWith('crm.') || p.table === 'pgapp_bridge.replica_fence'),
    ).toBe(true);
    // The master user cannot hand out REPLICATION directly, only through rds_replication (as on RDS).
    // (PostgreSQL 16 and later would let it: it has REPLICATION itself and CREATEROLE; the guard refuses.)
    await expect(query(rds(), 'ALTER ROLE pgapp_bridge REPLICATION')).rejects.toThrow(/must be superuser/);
    await expect(query(rds(), 'CREATE ROLE pgapp_replication_probe REPLICATION')).rejects.toThrow(
      /must be superuser/,
    );
    const [{ level } = { level: '' }] = await query<{ level: string }>(
      rds(),
      `SELECT current_setting('rds.logical_replication') AS level`,
    );
    expect(level).toBe('1');
  });

  it(`read-your-writes: ${PAIRS} write-then-read pairs across the four tables, each read sees its write`, async () => {
    const writer = async (w: number) => {
      const sub = `${tag}-${w}`;
      const token = stack.token({ claims: { sub } });
      const send = apiClient(
        () => stack.apiUrl,
        () => token,
      );
      const json = async (res: Response) => {
        const body = await res.text();
        if (res.status >= 300) throw new Error(`HTTP ${res.status}: ${body}`);
        return JSON.parse(body) as Record<string, unknown>[];
      };
      const read = async (path: string) => (await json(await send('GET', path)))[0];
      // Each writer's own company, contact and deal to hang rows on.
      const [company] = await json(
        await send('POST', '/companies', {
          name: sub,
          domain: `${sub}.example`,
          industry: 'x',
          employees: 1,
        }),
      );
      const companyId = company?.id as number;
      const [contact] = await json(
        await send('POST', '/contacts', {
          company_id: companyId,
          first_name: 'R',
          last_name: sub,
          email: `${sub}@example.com`,
        }),
      );
      const contactId = contact?.id as number;
      const [deal] = await json(
        await send('POST', '/deals', {
          company_id: companyId,
          contact_id: contactId,
          title: 'd',
          stage: 'lead',
          amount: 1,
        }),
      );
      const dealId = deal?.id as number;
      let seen = 0;
      let activities = 0;
      for (let i = 0; i < PAIRS / WRITERS; i++) {
        switch (i % 4) {
          case 0: {
            await json(await send('PATCH', `/companies?id=eq.${companyId}`, { employees: i + 1 }));
            expect((await read(`/companies?id=eq.${companyId}&select=employees`))?.employees).toBe(i + 1);
            break;
          }
          case 1: {
            await json(await send('PATCH', `/contacts?id=eq.${contactId}`, { title: `t${i}` }));
            // Through an embed too: the local join sees the write.
            const row = await read(`/companies?id=eq.${companyId}&select=contacts(title)`);
            expect(row?.contacts).toEqual([{ title: `t${i}` }]);
            break;
          }
          case 2: {
            await json(await send('PATCH', `/deals?id=eq.${dealId}`, { amount: i }));
            expect(Number((await read(`/deals?id=eq.${dealId}&select=amount`))?.amount)).toBe(i);
            break;
          }
          default: {
            const [a] = await json(
              await send('POST', '/activities', {
                contact_id: contactId,
                deal_id: dealId,
                kind: 'note',
                subject: `s${i}`,
                occurred_at: new Date().toISOString(),
              }),
            );
            expect((await read(`/activities?id=eq.${a?.id}&select=subject`))?.subject).toBe(`s${i}`);
            activities++;
          }
        }
        seen++;
      }
      // A delete too: gone on the next read.
      await json(await send('DELETE', `/deals?id=eq.${dealId}`));
      expect(await json(await send('GET', `/deals?id=eq.${dealId}`))).toEqual([]);
      return { seen, activities };
    };
    const counts = await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    expect(counts.reduce((a, b) => a + b.seen, 0)).toBe(PAIRS);
    // Every write landed in rds.
    const [{ n } = { n: 0 }] = await query<{ n: number }>(
      rds(),
      `SELECT count(*)::int AS n FROM crm.activities a JOIN crm.contacts c ON c.id = a.contact_id
       WHERE c.owner_id LIKE $1`,
      [`${tag}-%`],
    );
    expect(n).toBe(counts.reduce((a, b) => a + b.activities, 0));
  }, 300_000);

  it('a write that meets another on its fence slot is run again, not failed (40001 under REPEATABLE READ)', async () => {
    // Another transaction holds the fence row of this user's slot on rds and commits while the write
    // waits for it: rds fails the write's transaction (postgres_fdw's REPEATABLE READ) with 40001,
    // and PostgREST runs the request again.
    const sub = `${tag}-slot`;
    const [{ slot } = { slot: -1 }] = await query<{ slot: number }>(
      custom(),
      'SELECT abs(hashtext($1)) % 64 AS slot',
      [sub],
    );
    /** The serialization failures rds has logged so far. */
    const serializationFailures = async () =>
      (
        (await docker()
          .getContainer(containerName(stack.project, 'rds'))
          .logs({ stdout: true, stderr: true })) as Buffer
      )
        .toString()
        .split('could not serialize access due to concurrent update').length - 1;
    const before = await serializationFailures();
    const holder = new pg.Client(rds());
    await holder.connect();
    const domain = `${tag}-slot.example`;
    try {
      await holder.query('BEGIN');
      await holder.query('UPDATE pgapp_bridge.replica_fence SET n = n + 1 WHERE slot = $1', [slot]);
      const send = apiClient(
        () => stack.apiUrl,
        () => stack.token({ claims: { sub } }),
      );
      const pending = send('POST', '/companies', { name: 'Slot', domain, industry: 'x', employees: 1 });
      await new Promise((r) => setTimeout(r, 500)); // the write is waiting for the fence row now
      await holder.query('COMMIT');
      const res = await pending;
      expect(res.status, await res.text()).toBe(201);
      expect(
        await query(rds(), 'SELECT count(*)::int AS n FROM crm.companies WHERE domain = $1', [domain]),
      ).toEqual([{ n: 1 }]);
      // And it did meet the other: rds failed its first try.
      expect((await serializationFailures()) - before).toBeGreaterThanOrEqual(1);
    } finally {
      await holder.end();
      await query(rds(), 'DELETE FROM crm.companies WHERE domain = $1', [domain]);
    }
  });

  it('a row written on rds by someone else (not through the API) reaches the API', async () => {
    const domain = `${tag}-direct.example`;
    const [row] = await query<{ id: number }>(
      rds(),
      `INSERT INTO crm.companies (name, domain, industry, employees) VALUES ('Direct', $1, 'x', 1) RETURNING id::int`,
      [domain],
    );
    try {
      const deadline = Date.now() + 10_000;
      let got: unknown[] = [];
      while (Date.now() < deadline) {
        got = (await (
          await fetch(`${stack.apiUrl}/companies?id=eq.${row?.id}&select=domain`)
        ).json()) as unknown[];
        if (got.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(got).toEqual([{ domain }]);
    } finally {
      await query(rds(), 'DELETE FROM crm.companies WHERE id = $1', [row?.id]);
    }
  });

  it('writes through the replica keep per-user access: another user cannot update, delete or see a private row', async () => {
    const owner = apiClient(
      () => stack.apiUrl,
      () => stack.token({ claims: { sub: `${tag}-owner` } }),
    );
    const other = apiClient(
      () => stack.apiUrl,
      () => stack.token({ claims: { sub: `${tag}-other` } }),
    );
    const res = await owner('POST', '/companies', {
      name: 'Mine',
      domain: `${tag}-mine.example`,
      industry: 'x',
      employees: 1,
    });
    expect(res.status).toBe(201);
    const [mine] = (await res.json()) as { id: number }[];
    const patched = await other('PATCH', `/companies?id=eq.${mine?.id}`, { name: 'Taken' });
    expect(await patched.json()).toEqual([]);
    const deleted = await other('DELETE', `/companies?id=eq.${mine?.id}`);
    expect(await deleted.json()).toEqual([]);
    expect(await (await other('GET', `/companies?id=eq.${mine?.id}`)).json()).toEqual([]);
    expect(await query(rds(), 'SELECT name FROM crm.companies WHERE id = $1', [mine?.id])).toEqual([
      { name: 'Mine' },
    ]);
    // A client cannot choose owner_id or id, through the replica's triggers as before.
    expect(
      (await owner('POST', '/companies', { id: 1, name: 'x', domain: 'x', industry: 'x', employees: 1 }))
        .status,
    ).toBe(403);
    expect((await owner('PATCH', `/companies?id=eq.${mine?.id}`, { owner_id: 'someone' })).status).toBe(403);
  });
});
