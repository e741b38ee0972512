/**
 * Snapshots on the shared test stack, used as a user's test would: saved once, restored before each
 * test. A restore puts back rds's data and custom's own state (a local table, pg_cron's jobs) and every
 * hop answers at once afterwards: PostgREST (its first answer is not a 503), the bridge, the replica,
 * pg_cron's scheduler. Bad input changes nothing.
 */

import { existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { workDir } from '../../src/paths.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { apiClient, cli, customFromUrl, postCompany, query, rdsFromUrl, ThrowawayStack } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available ? 'snapshots (shared stack)' : `snapshots — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  const home = workDir();
  const rds = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    query<T>(rdsFromUrl(stack.rdsUrl), sql, params);
  const custom = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) =>
    query<T>(customFromUrl(stack.customUrl), sql, params);
  const send = apiClient(
    () => stack.apiUrl,
    () => stack.token(),
  );
  const companiesNamed = async (name: string) =>
    Number(
      (await rds<{ n: string }>('SELECT count(*) AS n FROM crm.companies WHERE name = $1', [name]))[0]?.n,
    );
  const cronJobs = async () =>
    (await custom<{ jobname: string }>('SELECT jobname FROM cron.job ORDER BY 1')).map((j) => j.jobname);
  const schedulers = async () =>
    Number(
      (
        await custom<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'",
        )
      )[0]?.n,
    );
  /**
   * pg_cron's scheduler is back, once: pgapp_cron starts 1.4's again; 1.6's is started again by the
   * postmaster within a second. Never two (every job would run twice).
   */
  const oneScheduler = async () => {
    await expect.poll(schedulers, { timeout: 5000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await schedulers()).toBe(1);
  };

  beforeAll(async () => {
    stack = await useStack();
    await stack.snapshot('seeded');
  });
  // The pattern the README shows: every test starts from the snapshot.
  beforeEach(async () => {
    await stack.restore('seeded');
  });
  afterAll(async () => {
    await stack?.[Symbol.asyncDispose]();
  });

  it('puts back rds data and custom state together, and every hop answers straight after', async () => {
    const jobsBefore = await cronJobs();
    const [refreshesBefore] = await custom<{ n: string }>('SELECT count(*) AS n FROM cache.refreshes');
    // Writes everywhere: through the API (lands on rds), on rds directly, custom's own tables and jobs.
    await postCompany(send, {
      name: 'Snapshot Co',
      domain: 'snap.example.com',
      industry: 'software',
      employees: 3,
    });
    await rds(
      "INSERT INTO crm.companies (name, domain, industry, employees) VALUES ('Direct Co', 'direct.example.com', 'retail', 1)",
    );
    await custom("SELECT cron.schedule('pgapp-snapshot-test', '0 3 * * *', 'SELECT 1')");
    await custom('DELETE FROM cache.refreshes');
    expect(await companiesNamed('Snapshot Co')).toBe(1);

    const r = await stack.restore('seeded');
    expect(r.replica).toBe(true);

    expect(await companiesNamed('Snapshot Co')).toBe(0);
    expect(await companiesNamed('Direct Co')).toBe(0);
    expect(await cronJobs()).toEqual(jobsBefore);
    expect((await custom<{ n: string }>('SELECT count(*) AS n FROM cache.refreshes'))[0]?.n).toBe(
      refreshesBefore?.n,
    );
    // The replica came back equal to rds (it reads custom's local tables).
    const [onRds] = await rds<{ n: string }>('SELECT count(*) AS n FROM crm.companies');
    const [onReplica] = await custom<{ n: string }>('SELECT count(*) AS n FROM crm.companies');
    expect(onReplica?.n).toBe(onRds?.n);

    // Every hop, at once: PostgREST's first answer (no 503 while it reconnects), the bridge …
    const first = await fetch(`${stack.apiUrl}/companies?select=id,name&limit=1`);
    expect(first.status, await first.clone().text()).toBe(200);
    const [viaFdw] = await custom<{ n: string }>('SELECT count(*) AS n FROM rds_crm.companies');
    expect(viaFdw?.n).toBe(onRds?.n);
    // … a write through the API, read back at once through the replica …
    const made = await postCompany(send, {
      name: 'After Co',
      domain: 'after.example.com',
      industry: 'software',
      employees: 2,
    });
    const back = await send('GET', `/companies?id=eq.${made.id}&select=name`);
    expect(await back.json()).toEqual([{ name: 'After Co' }]);
    // … a write on rds reaching the replica, and pg_cron's scheduler running again.
    await rds(
      "INSERT INTO crm.companies (name, domain, industry, employees) VALUES ('Streamed Co', 'streamed.example.com', 'retail', 1)",
    );
    await expect
      .poll(
        async () => (await custom('SELECT 1 FROM crm.companies WHERE name = $1', ['Streamed Co'])).length,
        { timeout: 5000 },
      )
      .toBe(1);
    await oneScheduler();
  });

  it('starts the next test from the snapshot again', async () => {
    // The last test wrote these; beforeEach restored the snapshot.
    expect(await companiesNamed('After Co')).toBe(0);
    expect(await companiesNamed('Streamed Co')).toBe(0);
    expect(await cronJobs()).not.toContain('pgapp-snapshot-test');
    await oneScheduler();
  });

  it('refuses a snapshot that does not exist, a bad name, or one taken before a schema change — changing nothing', async () => {
    await postCompany(send, {
      name: 'Kept Co',
      domain: 'kept.example.com',
      industry: 'software',
      employees: 1,
    });
    await expect(stack.restore('nope')).rejects.toMatchObject({
      message: expect.stringMatching(/No snapshot "nope" in project/),
      hint: expect.stringMatching(/Its snapshots: .*seeded/),
    });
    await expect(stack.restore('Bad Name!')).rejects.toThrow(/not valid/);
    await custom('CREATE TABLE public.snapshot_probe (id int)');
    try {
      await expect(stack.restore('seeded')).rejects.toThrow(/before a schema change on custom/);
      expect(await custom("SELECT 1 FROM pg_class WHERE relname = 'snapshot_probe'")).toHaveLength(1);
      expect(await companiesNamed('Kept Co')).toBe(1);
      expect((await fetch(`${stack.apiUrl}/companies?limit=1`)).status).toBe(200);
    } finally {
      await custom('DROP TABLE public.snapshot_probe');
    }
    // With the schema as it was, the same snapshot restores.
    await stack.restore('seeded');
    expect(await companiesNamed('Kept Co')).toBe(0);
  });

  it('pgapp snapshot saves, lists, restores and removes from the command line', async () => {
    const p = ['--project', stack.project];
    expect((await cli(['snapshot', 'save', 'cli-snap', ...p], { home })).code).toBe(0);
    const again = await cli(['snapshot', 'save', 'cli-snap', ...p], { home });
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/already exists[\s\S]*--force/);
    const list = await cli(['snapshot', 'list', '--json', ...p], { home });
    const snaps = JSON.parse(list.stdout) as { name: string; complete: boolean; bytes: number }[];
    expect(snaps.find((s) => s.name === 'cli-snap')).toMatchObject({ complete: true });
    expect(snaps.find((s) => s.name === 'cli-snap')?.bytes).toBeGreaterThan(0);
    await postCompany(send, {
      name: 'Cli Co',
      domain: 'cli.example.com',
      industry: 'software',
      employees: 1,
    });
    const restored = await cli(['snapshot', 'restore', 'cli-snap', ...p], { home });
    expect(restored.output).toMatch(/restored snapshot "cli-snap"/);
    expect(await companiesNamed('Cli Co')).toBe(0);
    expect((await cli(['snapshot', 'rm', 'cli-snap', ...p], { home })).code).toBe(0);
    const gone = await cli(['snapshot', 'rm', 'cli-snap', ...p], { home });
    expect(gone.code).toBe(1);
    expect(gone.output).toMatch(/No snapshot "cli-snap"/);
  });
});

describe.skipIf(!postgrest.available)(
  `${title}: reads through postgres_fdw, and the snapshot a reset saves`,
  () => {
    const stack = new ThrowawayStack('snap');
    const { home, project, send } = stack;
    const named = async (name: string) =>
      Number(
        (
          await query<{ n: string }>(stack.rds(), 'SELECT count(*) AS n FROM crm.companies WHERE name = $1', [
            name,
          ])
        )[0]?.n,
      );

    beforeAll(async () => {
      const up = await stack.dev(['--reads', 'fdw']);
      expect(up.code, up.output).toBe(0);
    });
    afterAll(async () => {
      await stack.reset();
      await cli(['snapshot', 'rm', 'before', '--project', project], { home });
    });

    it('saves and restores a stack without a replica (reads: fdw)', async () => {
      const p = ['--project', project];
      expect((await cli(['snapshot', 'save', 'fdw', ...p], { home })).code).toBe(0);
      await postCompany(send, {
        name: 'Fdw Co',
        domain: 'fdw.example.com',
        industry: 'software',
        employees: 1,
      });
      const r = await cli(['snapshot', 'restore', 'fdw', ...p], { home });
      expect(r.code, r.output).toBe(0);
      expect(r.output).not.toMatch(/replica streams/);
      expect(await named('Fdw Co')).toBe(0);
      expect((await fetch(stack.api('/companies?limit=1'))).status).toBe(200);
    });

    it('reset --snapshot saves the data first; restoring it brings the whole stack back as it was', async () => {
      const p = ['--project', project];
      await postCompany(send, {
        name: 'Before Reset Co',
        domain: 'before.example.com',
        industry: 'software',
        employees: 1,
      });
      // Without --yes and no terminal, a reset asks for nothing and deletes nothing.
      const refused = await cli(['reset', '--snapshot', 'before', ...p], { home });
      expect(refused.code).toBe(1);
      expect(refused.output).toMatch(/needs confirmation[\s\S]*--snapshot NAME/);
      const reset = await cli(['reset', '--yes', '--snapshot', 'before', ...p], { home });
      expect(reset.code, reset.output).toBe(0);
      expect(reset.output).toMatch(/saved snapshot "before" first/);
      const dir = join(home, '.pgapp', project, 'snapshots', 'before');
      for (const f of ['rds.tar.gz', 'custom.tar.gz', 'secrets.json', 'meta.json'])
        expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      // The same name again is refused before anything is deleted.
      const again = await cli(['reset', '--yes', '--snapshot', 'before', ...p], { home });
      expect(again.code).toBe(1);
      expect(again.output).toMatch(/already exists/);

      // A fresh stack: the row is gone …
      expect((await stack.dev(['--reads', 'fdw'])).code).toBe(0);
      expect(await named('Before Reset Co')).toBe(0);
      const listed = JSON.parse((await cli(['snapshot', 'list', '--json', ...p], { home })).stdout) as {
        name: string;
        kind: string;
      }[];
      expect(listed).toContainEqual(expect.objectContaining({ name: 'before', kind: 'saved' }));
      // … restoring the saved snapshot replaces the stack, so it asks (or wants --yes) …
      const asks = await cli(['snapshot', 'restore', 'before', ...p], { home });
      expect(asks.code).toBe(1);
      expect(asks.output).toMatch(/replaces ALL DATA/);
      expect(await named('Before Reset Co')).toBe(0);
      // … refuses, changing nothing, when a file of it is missing …
      renameSync(join(dir, 'custom.tar.gz'), join(dir, 'custom.tar.gz.away'));
      const broken = await cli(['snapshot', 'restore', 'before', '--yes', ...p], { home });
      renameSync(join(dir, 'custom.tar.gz.away'), join(dir, 'custom.tar.gz'));
      expect(broken.code).toBe(1);
      expect(broken.output).toMatch(/custom\.tar\.gz is missing or unreadable[\s\S]*Nothing was changed/);
      expect((await fetch(stack.api('/companies?limit=1'))).status).toBe(200);
      // … and with --yes brings it back, every hop working.
      const restored = await cli(['snapshot', 'restore', 'before', '--yes', ...p], { home });
      expect(restored.code, restored.output).toBe(0);
      expect(restored.output).toMatch(/restored snapshot "before".*saved by a reset/);
      expect(await named('Before Reset Co')).toBe(1);
      const res = await send('GET', '/companies?name=eq.Before%20Reset%20Co&select=name');
      expect(await res.json()).toEqual([{ name: 'Before Reset Co' }]);
      await postCompany(send, {
        name: 'After Restore Co',
        domain: 'after-restore.example.com',
        industry: 'software',
        employees: 1,
      });
      expect(existsSync(dir)).toBe(true); // a restore keeps the saved snapshot
    });
  },
);
