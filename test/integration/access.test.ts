/**
 * Per-user access, enforced in the database and proven with two tokens: writes record their
 * owner (the JWT's sub), users see and change only their own rows (and read shared, seeded ones).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeToken } from '../../src/auth/jwt.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { apiClient, customFromUrl, query, rdsFromUrl } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'per-user access (shared stack)'
  : `per-user access — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  let alice: string;
  let bob: string;
  let dealId: number;
  const rds = () => rdsFromUrl(stack.rdsUrl);
  const send = apiClient(
    () => stack.apiUrl,
    () => null,
  );
  const call = async (method: string, path: string, token: string | null, body?: unknown) => {
    const res = await send(method, path, body, token);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const inRds = async (id: number) =>
    (
      await query<{ amount: string; owner_id: string }>(
        rds(),
        'SELECT amount::text, owner_id FROM crm.deals WHERE id = $1',
        [id],
      )
    )[0];

  beforeAll(async () => {
    stack = await useStack();
    alice = stack.token({ claims: { sub: 'alice' } });
    bob = stack.token({ claims: { sub: 'bob' } });
  });
  afterAll(async () => {
    await stack?.restore('seeded');
    await stack?.[Symbol.asyncDispose]();
  });

  it('records the writer as owner, and refuses an owner the client names', async () => {
    const deal = { company_id: 1, title: "Alice's deal", stage: 'lead', amount: 100 };
    expect((await call('POST', '/deals', alice, { ...deal, owner_id: 'bob' })).status).toBe(403);
    const r = await call('POST', '/deals', alice, deal);
    expect(r.status).toBe(201);
    dealId = r.body[0].id;
    expect(r.body[0].owner_id).toBe('alice');
    expect(await inRds(dealId)).toEqual({ amount: '100.00', owner_id: 'alice' });
  });

  it("hides a user's rows from other users and from anonymous", async () => {
    expect((await call('GET', `/deals?id=eq.${dealId}`, alice)).body).toHaveLength(1);
    expect((await call('GET', `/deals?id=eq.${dealId}`, bob)).body).toEqual([]);
    expect((await call('GET', `/deals?id=eq.${dealId}`, null)).body).toEqual([]);
    // Shared (seeded) rows stay readable by everyone.
    expect((await call('GET', '/deals?id=eq.1', bob)).body).toHaveLength(1);
    expect((await call('GET', '/deals?id=eq.1', null)).body).toHaveLength(1);
  });

  it('does not let another user change or delete it', async () => {
    expect((await call('PATCH', `/deals?id=eq.${dealId}`, bob, { amount: 1 })).body).toEqual([]);
    expect((await call('DELETE', `/deals?id=eq.${dealId}`, bob)).body).toEqual([]);
    expect(await inRds(dealId)).toEqual({ amount: '100.00', owner_id: 'alice' });
  });

  it('lets the owner change it, but never hand it to someone else', async () => {
    expect(
      (await call('PATCH', `/deals?id=eq.${dealId}`, alice, { amount: 250, owner_id: 'bob' })).status,
    ).toBe(403);
    const r = await call('PATCH', `/deals?id=eq.${dealId}`, alice, { amount: 250 });
    expect(r.status).toBe(200);
    expect(await inRds(dealId)).toEqual({ amount: '250.00', owner_id: 'alice' });
  });

  it("lets rds, not custom's copy, say whose row a write changes", async () => {
    // custom's replica says bob owns it (a stale copy, say); rds says alice: bob's PATCH and DELETE
    // pass custom's check and still change nothing on rds.
    // As the subscription writes (its session_replication_role): custom's tables stand for rds's,
    // and any other write to them goes to rds.
    const onCustom = (sql: string) =>
      query(
        customFromUrl(stack.customUrl),
        `SET session_replication_role = replica; ${sql.replace('$1', String(dealId))}`,
      );
    await onCustom("UPDATE crm.deals SET owner_id = 'bob' WHERE id = $1");
    try {
      expect((await call('PATCH', `/deals?id=eq.${dealId}`, bob, { amount: 1 })).body).toEqual([]);
      expect((await call('DELETE', `/deals?id=eq.${dealId}`, bob)).body).toEqual([]);
      expect(await inRds(dealId)).toEqual({ amount: '250.00', owner_id: 'alice' });
    } finally {
      await onCustom("UPDATE crm.deals SET owner_id = 'alice' WHERE id = $1");
    }
  });

  it('keeps shared rows read-only for API users', async () => {
    const before = await query(rds(), 'SELECT amount::text FROM crm.deals WHERE id = 1');
    expect((await call('PATCH', '/deals?id=eq.1', alice, { amount: 1 })).body).toEqual([]);
    expect((await call('DELETE', '/deals?id=eq.1', alice)).body).toEqual([]);
    expect(await query(rds(), 'SELECT amount::text FROM crm.deals WHERE id = 1')).toEqual(before);
  });

  it('lets the owner delete it', async () => {
    expect((await call('DELETE', `/deals?id=eq.${dealId}`, alice)).body).toHaveLength(1);
    expect(await inRds(dealId)).toBeUndefined();
    dealId = 0;
  });

  it('refuses writes from a token without a user id, saying why', async () => {
    const nobody = makeToken(stack.jwtSecret, { role: 'web_user', expiresIn: 60 });
    const r = await call('POST', '/deals', nobody, { company_id: 1, title: 'x', stage: 'lead', amount: 1 });
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('this token carries no user id');
    expect(r.body.hint).toMatch(/"sub" claim/);
  });

  it('grants web_anon reading only, and exactly the served objects meant for each role', async () => {
    const grants = async (role: string) =>
      (
        await query<{ g: string }>(
          { connectionString: stack.customUrl },
          `SELECT table_name || ':' || string_agg(privilege_type, ',' ORDER BY privilege_type) AS g
           FROM information_schema.role_table_grants WHERE grantee = $1 AND table_schema = 'crm'
           GROUP BY table_name ORDER BY table_name`,
          [role],
        )
      ).map((r) => r.g);
    expect(await grants('web_anon')).toEqual([
      'activities:SELECT',
      'companies:SELECT',
      'company_pipeline:SELECT',
      'contacts:SELECT',
      'deal_scores:SELECT',
      'deals:SELECT',
      'stage_pipeline:SELECT',
    ]);
    // Writes: whole rows may be read and deleted; INSERT and UPDATE name their columns (ids,
    // owners and creation times come from the server).
    const rw = 'DELETE,SELECT';
    expect(await grants('web_user')).toEqual([
      `activities:${rw}`,
      `companies:${rw}`,
      'company_pipeline:SELECT',
      `contacts:${rw}`,
      'deal_scores:SELECT',
      `deals:${rw}`,
      'stage_pipeline:SELECT',
    ]);
    const writable = await query<{ t: string; cols: string }>(
      { connectionString: stack.customUrl },
      `SELECT table_name || ':' || privilege_type AS t, string_agg(column_name, ',' ORDER BY column_name) AS cols
       FROM information_schema.role_column_grants
       WHERE grantee = 'web_user' AND table_schema = 'crm' AND privilege_type IN ('INSERT', 'UPDATE')
       GROUP BY 1 ORDER BY 1`,
    );
    expect(writable.length).toBe(8);
    for (const w of writable) {
      expect(w.cols.split(','), w.t).not.toContain('id');
      expect(w.cols.split(','), w.t).not.toContain('owner_id');
      expect(w.cols.split(','), w.t).not.toContain('created_at');
    }
    const [fn] = await query<{ anon: boolean; pub: boolean }>(
      { connectionString: stack.customUrl },
      `SELECT has_function_privilege('web_anon', 'crm.duplicate_contacts(bigint, numeric)', 'EXECUTE') AS anon,
              bool_or(has_function_privilege('public', p.oid, 'EXECUTE')) FILTER (WHERE p.prosecdef) AS pub
       FROM pg_proc p WHERE p.pronamespace IN ('crm'::regnamespace, 'rds_bridge'::regnamespace, 'cache'::regnamespace, 'ml'::regnamespace)`,
    );
    expect(fn).toEqual({ anon: false, pub: false });
  });

  it('pushes the owner filter down to rds (no full scans over the bridge with reads: fdw)', async () => {
    const c = new pg.Client({ connectionString: stack.customUrl });
    await c.connect();
    try {
      // The owner rule over the foreign table, as reads: fdw applies it (row-level security on the table
      // whose inheritance child it is: sql/custom/api/050_api.sql).
      await c.query('BEGIN; SET LOCAL ROLE api_owner');
      const { rows } = await c.query(
        `EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM rds_crm.deals
         WHERE (owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id())) AND id = 5`,
      );
      const remote = rows.map((r) => r['QUERY PLAN'] as string).find((l) => l.includes('Remote SQL'));
      expect(remote).toMatch(
        /WHERE \(\(\(owner_id IS NULL\) OR \(owner_id = \$1::text\)\)\) AND \(\(id = 5\)\)/,
      );
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }
  });
});
