/**
 * The app layer on the shared stack: the pg_cron-refreshed cache (writes show up after the job,
 * readers never blocked), job visibility, plpython3u over RPC — all through PostgREST.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { workDir } from '../../src/paths.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { apiClient, cli } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available ? 'app layer (shared stack)' : `app layer — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  let custom: pg.Client;
  const call = apiClient(
    () => stack.apiUrl,
    () => stack.token(),
  );
  const connect = async () => {
    const c = new pg.Client({ connectionString: stack.customUrl });
    await c.connect();
    return c;
  };
  /** Exactly what the cron job runs. */
  const runRefreshJob = async () => {
    const { rows } = await custom.query(`SELECT command FROM cron.job WHERE jobname = 'pgapp-cache-refresh'`);
    expect(rows[0]?.command).toBe('SELECT cache.refresh()');
    await custom.query(rows[0].command);
  };

  beforeAll(async () => {
    stack = await useStack();
    custom = await connect();
  });
  afterAll(async () => {
    await custom?.end();
    // What these tests wrote (companies, deals, contacts, the cache's refresh) goes with it.
    await stack?.restore('seeded');
    await stack?.[Symbol.asyncDispose]();
  });

  it('a deal written through the API shows up in the cached pipeline after the refresh job runs', async () => {
    const company = (
      await (
        await call('POST', '/companies', {
          name: 'Cache Co',
          domain: `cache-${Date.now()}.example.com`,
          industry: 'energy',
          employees: 7,
        })
      ).json()
    )[0];
    await runRefreshJob();
    const before = (await (await call('GET', `/company_pipeline?company_id=eq.${company.id}`)).json())[0];
    expect(before).toMatchObject({ open_deals: 0, pipeline_amount: 0 });

    const deal = await call('POST', '/deals', {
      company_id: company.id,
      title: 'Cached deal',
      stage: 'proposal',
      amount: 4321.5,
    });
    expect(deal.status).toBe(201);
    // Not yet: the cache is a cache.
    expect(
      (await (await call('GET', `/company_pipeline?company_id=eq.${company.id}`)).json())[0].open_deals,
    ).toBe(0);
    await runRefreshJob();
    const after = (await (await call('GET', `/company_pipeline?company_id=eq.${company.id}`)).json())[0];
    expect(after).toMatchObject({ open_deals: 1, pipeline_amount: 4321.5 });
    expect(new Date(after.cached_at).getTime()).toBeGreaterThan(new Date(before.cached_at).getTime());
  });

  it('the refresh job really runs on schedule (seen succeeded by `pgapp jobs`)', async () => {
    // pg_cron 1.6 (PostgreSQL 17's) schedules in seconds: the real job runs every 2 seconds for this
    // test (afterAll restores the seeded snapshot, its schedule included) instead of once a minute.
    const since = (await custom.query(`SELECT now() AS t`)).rows[0].t as Date;
    await custom.query(
      `SELECT cron.alter_job(jobid, schedule => '2 seconds') FROM cron.job WHERE jobname = 'pgapp-cache-refresh'`,
    );
    const deadline = Date.now() + 30_000;
    let runs: { status: string }[] = [];
    while (Date.now() < deadline) {
      runs = (
        await custom.query(
          `SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
            WHERE j.jobname = 'pgapp-cache-refresh' AND d.start_time > $1 AND d.status IN ('succeeded', 'failed')`,
          [since],
        )
      ).rows;
      if (runs.length > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(runs[0]?.status).toBe('succeeded');
    // Stop the 2-second schedule and let a run that started meanwhile end: `pgapp jobs` shows the
    // latest run, and one caught mid-flight says "running".
    await custom.query(
      `SELECT cron.alter_job(jobid, schedule => '0 0 1 1 *') FROM cron.job WHERE jobname = 'pgapp-cache-refresh'`,
    );
    while (Date.now() < deadline + 15_000) {
      const running = await custom.query(
        `SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
          WHERE j.jobname = 'pgapp-cache-refresh' AND d.status IN ('starting', 'running')`,
      );
      if (running.rowCount === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const r = await cli(['jobs', '--json', '--project', stack.project], { home: workDir() });
    const jobs = JSON.parse(r.stdout) as { jobname: string; last_status?: string }[];
    expect(jobs.find((j) => j.jobname === 'pgapp-cache-refresh')?.last_status).toBe('succeeded');
  }, 60_000);

  it('readers are never blocked by a refresh (CONCURRENTLY), unlike a plain one', async () => {
    const refresher = await connect();
    const reader = await connect();
    try {
      await reader.query(`SET lock_timeout = '1s'`);
      await refresher.query('BEGIN');
      await refresher.query('REFRESH MATERIALIZED VIEW CONCURRENTLY cache.company_totals');
      // The refresh's transaction is still open: reads go on, through SQL and HTTP.
      const { rows } = await reader.query('SELECT count(*)::int AS n FROM crm.company_pipeline');
      expect(rows[0].n).toBeGreaterThan(0);
      const t = Date.now();
      expect((await call('GET', '/company_pipeline?limit=1', undefined, null)).status).toBe(200);
      expect(Date.now() - t).toBeLessThan(1000);
      await refresher.query('ROLLBACK');
      // The contrast that shows the test can fail: a plain REFRESH locks readers out.
      await refresher.query('BEGIN');
      await refresher.query('REFRESH MATERIALIZED VIEW cache.company_totals');
      await expect(reader.query('SELECT count(*) FROM crm.company_pipeline')).rejects.toThrow(/lock timeout/);
      await refresher.query('ROLLBACK');
    } finally {
      await refresher.end();
      await reader.end();
    }
  });

  it('shows the jobs to the developer (`pgapp jobs`), never through the API', async () => {
    const r = await cli(['jobs', '--json', '--project', stack.project], { home: workDir() });
    expect(r.code, r.output).toBe(0);
    expect((JSON.parse(r.stdout) as { jobname: string }[]).map((j) => j.jobname)).toEqual(
      expect.arrayContaining(['pgapp-analyze-foreign', 'pgapp-cache-refresh', 'pgapp-purge-cron-log']),
    );
    expect((await call('GET', '/jobs')).status).toBe(404);
  });

  it('finds near-duplicate contacts in Python over RPC, for web_user only, with validated arguments', async () => {
    const company = (
      await (
        await call('POST', '/companies', {
          name: 'Dup Co',
          domain: `dup-${Date.now()}.example.com`,
          industry: 'media',
          employees: 3,
        })
      ).json()
    )[0];
    const people = [
      ['Jonathan', 'Smith', 'jonathan.smith'],
      ['Jonathon', 'Smith', 'j.smith.work'],
      ['Maria', 'Garcia', 'maria.garcia'],
    ];
    const ids: number[] = [];
    for (const [first, last, mail] of people) {
      const res = await call('POST', '/contacts', {
        company_id: company.id,
        first_name: first,
        last_name: last,
        email: `${mail}.${company.id}@dup.example.com`,
      });
      expect(res.status).toBe(201);
      ids.push((await res.json())[0].id);
    }
    // Dice coefficient of their trigrams: "jonathan smith" and "jonathon smith" share 12 of 15 (0.8).
    const res = await call('POST', '/rpc/duplicate_contacts', { company_id: company.id, threshold: 0.75 });
    expect(res.status).toBe(200);
    const dups = (await res.json()) as {
      contact_id: number;
      duplicate_id: number;
      similarity: number;
      reason: string;
    }[];
    expect(dups).toHaveLength(1);
    expect(dups[0]).toMatchObject({ contact_id: ids[0], duplicate_id: ids[1], reason: 'name' });
    expect(dups[0]?.similarity).toBeCloseTo(0.8, 3);

    expect([401, 403]).toContain(
      (await call('POST', '/rpc/duplicate_contacts', { company_id: company.id }, null)).status,
    );
    const bad = await call('POST', '/rpc/duplicate_contacts', { company_id: company.id, threshold: 3 });
    expect(bad.status).toBe(400);
    expect((await bad.json()).message).toMatch(/threshold must be between 0.5 and 1.0/);
  });

  it('created the Python function safely: definer owned by api_owner, fixed search_path, EXECUTE for web_user only', async () => {
    const { rows } = await custom.query(`
      SELECT p.prosecdef, pg_get_userbyid(p.proowner) AS owner, p.proconfig,
             has_function_privilege('web_user', p.oid, 'EXECUTE') AS user_exec,
             has_function_privilege('web_anon', p.oid, 'EXECUTE') AS anon_exec
      FROM pg_proc p WHERE p.oid = 'crm.duplicate_contacts(bigint, numeric)'::regprocedure`);
    expect(rows[0]).toEqual({
      prosecdef: true,
      owner: 'api_owner',
      proconfig: ['search_path=pg_catalog, pg_temp'],
      user_exec: true,
      anon_exec: false,
    });
  });

  describe('compute colocated with the data: a scikit-learn model of deals, and a trigram search', () => {
    const tag = `ml${Date.now()}`;
    const [alice, bob] = [`${tag}-alice`, `${tag}-bob`];
    const as = (sub: string | null) => (method: string, path: string, body?: unknown) =>
      call(method, path, body, sub === null ? null : stack.token({ claims: { sub } }));
    const train = async () =>
      (await custom.query<{ r: { source: string; deals: number } }>('SELECT ml.train_deal_model() AS r'))
        .rows[0]?.r;
    let aliceDeal: number;
    let aliceContact: number;

    beforeAll(async () => {
      const company = (
        await (
          await as(alice)('POST', '/companies', {
            name: 'Alice ML Co',
            domain: `${tag}.example.com`,
            industry: 'energy',
            employees: 40,
          })
        ).json()
      )[0];
      const deal = await as(alice)('POST', '/deals', {
        company_id: company.id,
        title: `${tag} open deal`,
        stage: 'proposal',
        amount: 12000,
      });
      expect(deal.status).toBe(201);
      aliceDeal = (await deal.json())[0].id;
      const contact = await as(alice)('POST', '/contacts', {
        company_id: company.id,
        first_name: 'Zebulon',
        last_name: 'Quixotic',
        email: `zebulon.quixotic@${tag}.example.com`,
      });
      expect(contact.status).toBe(201);
      aliceContact = (await contact.json())[0].id;
    });

    it('learns from the shared deals on the replica, never from a private one', async () => {
      const before = await train();
      expect(before?.source).toBe('crm'); // the local replica
      expect(before?.deals).toBeGreaterThan(10);
      // A private won deal of Alice's: the model's training set stays the shared deals.
      const won = await as(alice)('POST', '/deals', {
        company_id: (await (await as(alice)('GET', `/deals?id=eq.${aliceDeal}&select=company_id`)).json())[0]
          .company_id,
        title: `${tag} won deal`,
        stage: 'won',
        amount: 99000,
      });
      expect(won.status).toBe(201);
      expect((await train())?.deals).toBe(before?.deals);
      // The cron job is what keeps it current.
      const { rows } = await custom.query(`SELECT command FROM cron.job WHERE jobname = 'pgapp-deal-model'`);
      expect(rows[0]?.command).toBe('SELECT ml.train_deal_model()');
    });

    it('scores each open deal the caller may see: Alice sees hers, Bob and anonymous callers do not', async () => {
      const mine = await (await as(alice)('GET', `/deal_scores?deal_id=eq.${aliceDeal}`)).json();
      expect(mine).toHaveLength(1);
      expect(mine[0].win_probability).toBeGreaterThan(0);
      expect(mine[0].win_probability).toBeLessThan(1);
      for (const who of [bob, null]) {
        const res = await as(who)('GET', `/deal_scores?deal_id=eq.${aliceDeal}`);
        expect(res.status, String(who)).toBe(200);
        expect(await res.json(), String(who)).toEqual([]);
      }
      // The shared open deals are scored for everyone, the same for each.
      const shared = async (who: string | null) =>
        (await (await as(who)('GET', '/deal_scores?order=deal_id&limit=5&deal_id=lt.1000000')).json()) as {
          deal_id: number;
          win_probability: number;
          stage: string;
        }[];
      const anon = await shared(null);
      expect(anon.length).toBe(5);
      expect(anon.every((d) => !['won', 'lost'].includes(d.stage))).toBe(true);
      expect(await shared(bob)).toEqual(anon);
      // The page shows them.
      const page = await (
        await fetch(`${stack.apiUrl}/rpc/app`, { headers: { Accept: 'text/html' } })
      ).text();
      expect(page).toMatch(/<table id="deal-scores">.*<td>\d+%<\/td>/s);
      // Read-only.
      expect(
        (await as(alice)('DELETE', `/deal_scores?deal_id=eq.${aliceDeal}`)).status,
      ).toBeGreaterThanOrEqual(400);
    });

    it('finds contacts by a misspelt name (pg_trgm over the replica), each caller among what they may see', async () => {
      const find = async (who: string | null) => {
        const res = await as(who)('GET', '/rpc/similar_contacts?q=zebulon%20quixotik&max_results=3');
        expect(res.status, String(who)).toBe(200);
        return ((await res.json()) as { id: number; similarity: number }[]).map((r) => r.id);
      };
      expect(await find(alice)).toContain(aliceContact);
      expect(await find(bob)).not.toContain(aliceContact);
      expect(await find(null)).not.toContain(aliceContact);
      const ada = await (
        await call('GET', '/rpc/similar_contacts?q=ada%20lovlace&max_results=1', undefined, null)
      ).json();
      expect(ada[0]).toMatchObject({ first_name: 'Ada', last_name: 'Lovelace' });
    });
  });
});
