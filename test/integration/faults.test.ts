/**
 * Faults on a throwaway stack of their own (reads: replica): rds killed or frozen while the API
 * serves, replication stopped, its slot lost, custom killed. Reads keep answering from the replica;
 * writes fail fast (or within a bounded timeout) with a JSON error; a read that would be stale is
 * refused, `status` says why, and everything recovers on its own or with the next `dev`.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker } from '../../src/docker/engine.ts';
import { cli, postCompany, query, ThrowawayStack } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available ? 'faults' : `faults — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  const stack = new ThrowawayStack('faults');
  const { project, send } = stack;
  const container = (svc: string) => docker().getContainer(`${project}-${svc}`);
  const startedAt = async (svc: string) => (await container(svc).inspect()).State.StartedAt;
  const timedGet = async (path: string) => {
    const t = Date.now();
    const res = await fetch(stack.api(path), { signal: AbortSignal.timeout(60_000) });
    return { status: res.status, body: await res.json(), ms: Date.now() - t };
  };
  const until200 = async (path: string, withinMs: number) => {
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      const r = await fetch(stack.api(path)).catch(() => undefined);
      if (r?.status === 200) return Date.now() - (deadline - withinMs);
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`${path} did not answer 200 within ${withinMs} ms`);
  };

  beforeAll(async () => {
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
  });
  afterAll(async () => {
    await container('rds')
      .unpause()
      .catch(() => {});
    await stack.reset();
  });

  it('rds SIGKILLed: reads keep answering from the replica, writes fail fast with a JSON error, and both recover once rds is back — no restart of custom or postgrest', async () => {
    const before = [await startedAt('custom'), await startedAt('postgrest')];
    await container('rds').kill({ signal: 'SIGKILL' });
    try {
      const read = await timedGet('/contacts?id=eq.1');
      expect(read.status).toBe(200);
      expect(read.body).toHaveLength(1);
      const t = Date.now();
      const write = await send('POST', '/companies', {
        name: 'Lost?',
        domain: `down-${project}.example`,
        industry: 'x',
        employees: 1,
      });
      expect(write.status).toBeGreaterThanOrEqual(500);
      expect(((await write.json()) as { message: string }).message).toMatch(
        /could not connect to server "rds"/,
      );
      expect(Date.now() - t).toBeLessThan(6_000); // fails fast (connect_timeout 5 s at the very worst)
    } finally {
      await container('rds').start();
    }
    // Writes succeed again, and the writer's next read has its write (replication resumed).
    const deadline = Date.now() + 30_000;
    let res: Response | undefined;
    while (Date.now() < deadline) {
      res = await send('POST', '/companies', {
        name: 'Back',
        domain: `back-${project}.example`,
        industry: 'x',
        employees: 1,
      });
      if (res.status === 201) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(res?.status).toBe(201);
    const [{ id }] = (await (res as Response).json()) as [{ id: number }];
    expect(await (await send('GET', `/companies?id=eq.${id}&select=name`)).json()).toEqual([
      { name: 'Back' },
    ]);
    expect([await startedAt('custom'), await startedAt('postgrest')]).toEqual(before);
  }, 60_000);

  it('rds frozen (it resolves but never answers): reads answer from the replica, writes end with a JSON error within the bounded timeout', async () => {
    // A row of this user's (the PATCH below reaches rds), and warm, cached FDW connections.
    const { id } = await postCompany(send, {
      name: 'Frozen',
      domain: `frozen-${project}.example`,
      industry: 'x',
      employees: 1,
    });
    await container('rds').pause();
    try {
      expect((await timedGet('/contacts?id=eq.2')).status).toBe(200);
      const t = Date.now();
      const write = await send('PATCH', `/companies?id=eq.${id}`, { employees: 2 });
      const body = (await write.json()) as { message: string };
      expect(write.status).toBeGreaterThanOrEqual(500);
      expect(body.message).toMatch(/statement timeout|could not connect to server "rds"/);
      expect(Date.now() - t).toBeLessThan(20_000); // statement_timeout 15 s for the API roles
    } finally {
      await container('rds').unpause();
    }
    await until200('/contacts?id=eq.2', 10_000);
  }, 60_000);

  it("replication stopped: the writer's next read is refused (503, with the hint), not stale; status shows it; dev repairs it", async () => {
    await query(stack.custom(), 'ALTER SUBSCRIPTION pgapp DISABLE');
    const { id } = await postCompany(send, {
      name: 'Pending',
      domain: `pending-${project}.example`,
      industry: 'x',
      employees: 1,
    });
    const refused = await send('GET', `/companies?id=eq.${id}&select=name`);
    expect(refused.status).toBe(503);
    const body = (await refused.json()) as { message: string; hint: string };
    expect(body.message).toMatch(/the local replica has not caught up with your last write/);
    expect(body.hint).toMatch(/pgapp status/);
    const st = await cli(['status', '--project', project], { home: stack.home });
    expect(st.output).toMatch(/reads +replica, subscription disabled/);
    expect(st.output).toMatch(/reads may be stale: `pgapp dev` repairs/);
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect(await (await send('GET', `/companies?id=eq.${id}&select=name`)).json()).toEqual([
      { name: 'Pending' },
    ]);
    expect((await cli(['status', '--project', project], { home: stack.home })).output).toMatch(
      /subscription streaming · 5\/5 tables copied/,
    );
  }, 60_000);

  it('replication slot lost on rds: dev subscribes again, copies everything, and nothing written meanwhile is missing', async () => {
    const [{ slot } = { slot: '' }] = await query<{ slot: string }>(
      stack.custom(),
      `SELECT subslotname AS slot FROM pg_subscription WHERE subname = 'pgapp'`,
    );
    expect(slot).toMatch(new RegExp(`^pgapp_${project}_[0-9a-f]{8}$`));
    await query(stack.custom(), 'ALTER SUBSCRIPTION pgapp DISABLE');
    // The slot's walsender goes with the disabled subscription; then the slot itself.
    for (let i = 0; i < 50; i++) {
      const [s] = await query<{ active: boolean }>(
        stack.rds(),
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      if (!s?.active) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await query(stack.rds(), 'SELECT pg_drop_replication_slot($1)', [slot]);
    const [row] = await query<{ id: number }>(
      stack.rds(),
      `INSERT INTO crm.companies (name, domain, industry, employees) VALUES ('Meanwhile', $1, 'x', 1) RETURNING id::int`,
      [`meanwhile-${project}.example`],
    );
    const st = await cli(['status', '--project', project], { home: stack.home });
    expect(st.output).toMatch(/slot on rds missing/);
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/subscription created/);
    expect(await query(stack.custom(), 'SELECT name FROM crm.companies WHERE id = $1', [row?.id])).toEqual([
      { name: 'Meanwhile' },
    ]);
    const [counts] = await query<{ n: number }>(stack.rds(), 'SELECT count(*)::int AS n FROM crm.contacts');
    expect(await query(stack.custom(), 'SELECT count(*)::int AS n FROM crm.contacts')).toEqual([counts]);
  }, 90_000);

  it('custom killed: PostgREST reconnects on its own and no acknowledged write is lost', async () => {
    const before = await startedAt('postgrest');
    const { id } = await postCompany(send, {
      name: 'Acknowledged',
      domain: `ack-${project}.example.com`,
      industry: 'media',
      employees: 1,
    });
    await container('custom').kill({ signal: 'SIGKILL' });
    // Fast JSON errors while it is down, never a hang.
    // Every pooled connection answers its first use with a bare 400; then 503 "Retrying".
    const answers: { status: number; code?: string }[] = [];
    for (let i = 0; i < 20 && answers.at(-1)?.status !== 503; i++) {
      const r = await timedGet('/contacts?id=eq.1');
      expect(r.body).toHaveProperty('message');
      expect(r.ms).toBeLessThan(2_000);
      answers.push({ status: r.status, code: r.body.code });
    }
    for (const a of answers) expect(a.status).toBeGreaterThanOrEqual(400);
    expect(answers.at(-1)).toMatchObject({ status: 503, code: expect.stringMatching(/^PGRST00[12]$/) });
    await container('custom').start();
    await until200('/contacts?id=eq.1', 30_000);
    expect(await startedAt('postgrest')).toBe(before);
    expect(await query(stack.rds(), 'SELECT name FROM crm.companies WHERE id = $1', [id])).toEqual([
      { name: 'Acknowledged' },
    ]);
    expect((await (await send('GET', `/companies?id=eq.${id}&select=name`)).json()) as unknown[]).toEqual([
      { name: 'Acknowledged' },
    ]);
  }, 90_000);
});
