/**
 * Faults on a throwaway stack of their own: rds killed or frozen while the API serves, custom killed.
 * Requests fail fast (or within a bounded timeout) with a JSON error, and recover on their own.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker } from '../../src/docker/engine.ts';
import { postCompany, query, ThrowawayStack } from '../helpers.ts';

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

  it('rds SIGKILLed: requests fail fast with a JSON error, then succeed again once rds is back — no restart of custom or postgrest', async () => {
    const before = [await startedAt('custom'), await startedAt('postgrest')];
    await container('rds').kill({ signal: 'SIGKILL' });
    const down = await timedGet('/contacts?id=eq.1');
    expect(down.status).toBeGreaterThanOrEqual(500);
    expect(down.body.message).toMatch(/could not connect to server "rds"/);
    expect(down.ms).toBeLessThan(6_000); // fails fast (connect_timeout 5 s at the very worst)
    await container('rds').start();
    expect(await until200('/contacts?id=eq.1', 20_000)).toBeLessThan(20_000);
    expect([await startedAt('custom'), await startedAt('postgrest')]).toEqual(before);
  });

  it('rds frozen (it resolves but never answers): requests end with a JSON error within the bounded timeout', async () => {
    for (let i = 1; i <= 20; i++) await fetch(stack.api(`/contacts?id=eq.${i}`)); // warm, cached FDW connections
    await container('rds').pause();
    try {
      const r = await timedGet('/contacts?id=eq.2');
      expect(r.status).toBeGreaterThanOrEqual(500);
      expect(r.body.message).toMatch(/statement timeout|could not connect to server "rds"/);
      expect(r.ms).toBeLessThan(20_000); // statement_timeout 15 s for the API roles
    } finally {
      await container('rds').unpause();
    }
    await until200('/contacts?id=eq.2', 10_000);
  }, 60_000);

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
