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

  it('the refresh job really runs on schedule (seen succeeded in the jobs view)', async () => {
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
    const jobs = (await (await call('GET', '/jobs?jobname=eq.pgapp-cache-refresh')).json()) as {
      last_status?: string;
    }[];
    expect(jobs[0]?.last_status).toBe('succeeded');
  }, 60_000);

  it('readers are never blocked by a refresh (CONCURRENTLY), unlike a plain one', async () => {
    const refresher = await connect();
    const reader = await connect();
    try {
      await reader.query(`SET lock_timeout = '1s'`);
      await refresher.query('BEGIN');
      await refresher.query('REFRESH MATERIALIZED VIEW CONCURRENTLY cache.company_totals');
      // The refresh's transaction is still open: reads go on, through SQL and HTTP.
      const { rows } = await reader.query('SELECT count(*)::int AS n FROM api.company_pipeline');
      expect(rows[0].n).toBeGreaterThan(0);
      const t = Date.now();
      expect((await call('GET', '/company_pipeline?limit=1', undefined, null)).status).toBe(200);
      expect(Date.now() - t).toBeLessThan(1000);
      await refresher.query('ROLLBACK');
      // The contrast that shows the test can fail: a plain REFRESH locks readers out.
      await refresher.query('BEGIN');
      await refresher.query('REFRESH MATERIALIZED VIEW cache.company_totals');
      await expect(reader.query('SELECT count(*) FROM api.company_pipeline')).rejects.toThrow(/lock timeout/);
      await refresher.query('ROLLBACK');
    } finally {
      await refresher.end();
      await reader.end();
    }
  });

  it('shows the jobs to web_user only, and `pgapp jobs` prints the same', async () => {
    const jobs = (await (await call('GET', '/jobs?select=jobname,schedule,active&order=jobname')).json()) as {
      jobname: string;
    }[];
    expect(jobs.map((j) => j.jobname)).toEqual(
      expect.arrayContaining(['pgapp-analyze-foreign', 'pgapp-cache-refresh', 'pgapp-purge-cron-log']),
    );
    expect([401, 403]).toContain((await call('GET', '/jobs', undefined, null)).status);
    const r = await cli(['jobs', '--json', '--project', stack.project], { home: workDir() });
    expect(r.code, r.output).toBe(0);
    expect((JSON.parse(r.stdout) as { jobname: string }[]).map((j) => j.jobname)).toEqual(
      jobs.map((j) => j.jobname).sort(),
    );
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
    const res = await call('POST', '/rpc/duplicate_contacts', { company_id: company.id, threshold: 0.85 });
    expect(res.status).toBe(200);
    const dups = (await res.json()) as {
      contact_id: number;
      duplicate_id: number;
      similarity: number;
      reason: string;
    }[];
    expect(dups).toHaveLength(1);
    expect(dups[0]).toMatchObject({ contact_id: ids[0], duplicate_id: ids[1], reason: 'name' });
    expect(dups[0]?.similarity).toBeGreaterThan(0.9);

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
      FROM pg_proc p WHERE p.oid = 'api.duplicate_contacts(bigint, numeric)'::regprocedure`);
    expect(rows[0]).toEqual({
      prosecdef: true,
      owner: 'api_owner',
      proconfig: ['search_path=pg_catalog, pg_temp'],
      user_exec: true,
      anon_exec: false,
    });
  });
});
