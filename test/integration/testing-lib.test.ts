/**
 * pgapp/testing as a library a user's program imports: hermetic (the caller's pgapp.config.json and
 * PGAPP_* environment never reach a test stack — an --rds-url to a real database least of all) and
 * without side effects on the host process (no global pg type parsers, no signal handlers).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { docker } from '../../src/docker/engine.ts';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { LABELS } from '../../src/spec/stack.ts';
import { defaultTestProject } from '../../src/testing/index.ts';
import { cli, customFromUrl, query, rdsFromUrl, tempHome, throwawayProjectName } from '../helpers.ts';

const run = promisify(execFile);
const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'pgapp/testing as a library'
  : `pgapp/testing — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  const home = tempHome();
  const project = throwawayProjectName('lib');
  const parallel = throwawayProjectName('par');
  // A user's program calling useStack() (written by the first test): `up [project]` or `down`.
  // biome-ignore lint/suspicious/noExplicitAny: the program's JSON output
  let node: (arg: string, ...more: string[]) => Promise<any>;
  const script = join(PACKAGE_ROOT, '.pgapp', 'lib-test', `${project}.mts`);
  afterAll(async () => {
    for (const p of [project, parallel, defaultTestProject(home)])
      await cli(['reset', '--yes', '--project', p], { home });
    rmSync(script, { force: true });
  });

  it("ignores the caller's config file and PGAPP_* env, and leaves the process's parsers and signal handlers alone", async () => {
    const config = JSON.stringify({
      seed: 'large',
      reads: 'fdw',
      rdsUrl: 'postgres://someone:secret@db.invalid:5432/prod',
    });
    writeFileSync(join(home, 'pgapp.config.json'), config);
    // The user's program (inside the package, so it resolves `pg` as an installed pgapp would).
    mkdirSync(dirname(script), { recursive: true });
    writeFileSync(
      script,
      `import pg from 'pg';
const seen = () => ({
  sigint: process.listenerCount('SIGINT'),
  sigterm: process.listenerCount('SIGTERM'),
  int8: pg.types.getTypeParser(20)('12'),
});
const before = seen();
const { useStack } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'src', 'testing', 'index.ts'))});
const project = process.argv[3] ?? ${JSON.stringify(project)};
if (process.argv[2] === 'default') {
  const stack = await useStack();
  console.log(JSON.stringify({ project: stack.project, rdsUrl: stack.rdsUrl, reused: stack.reused }));
} else if (process.argv[2] === 'up') {
  const stack = await useStack({ project });
  console.log(
    JSON.stringify({ before, after: seen(), rdsUrl: stack.rdsUrl, customUrl: stack.customUrl, reused: stack.reused }),
  );
} else {
  // Lifecycle: stop (data kept), up again, reset; an aborted signal makes nothing.
  const stopped = await (await useStack({ project })).stop();
  const again = await useStack({ project });
  const removed = await again.reset();
  const aborted = await useStack({ project: project + '_x', signal: AbortSignal.abort() }).then(
    () => 'made',
    (e) => e.message,
  );
  console.log(JSON.stringify({ stopped, restarted: again.reused, removed, aborted }));
}
`,
    );
    node = (arg: string, ...more: string[]) =>
      run(
        process.execPath,
        [join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), script, arg, ...more],
        {
          cwd: home,
          env: {
            ...process.env,
            PGAPP_HOME: home,
            PGAPP_RDS_URL: 'postgres://someone:secret@db.invalid:5432/prod',
            PGAPP_SEED: 'large',
            PGAPP_READS: 'fdw',
            PGAPP_CRON_JOBS: 'false',
          },
          maxBuffer: 1 << 24,
        },
      ).then(({ stdout }) => JSON.parse(stdout.trim().split('\n').at(-1) as string));
    const out = await node('up');
    // Nothing of the host process changed.
    expect(out.after).toEqual(out.before);
    expect(out.before.int8).toBe('12'); // pg's own default: int8 as a string
    // The stack is the stand-in, small seed, replica reads: none of the config file or env applied.
    expect(out.rdsUrl).toMatch(/@127\.0\.0\.1:\d+\//);
    expect(await query(rdsFromUrl(out.rdsUrl), 'SELECT count(*)::int AS n FROM crm.contacts')).toEqual([
      { n: 1000 },
    ]);
    expect(
      await query(customFromUrl(out.customUrl), 'SELECT count(*)::int AS n FROM pg_subscription'),
    ).toEqual([{ n: 1 }]);
    // The sample cron jobs are on (the default), whatever PGAPP_CRON_JOBS said.
    const [jobs] = await query<{ n: number }>(
      customFromUrl(out.customUrl),
      `SELECT count(*)::int AS n FROM cron.job WHERE jobname <> 'pgapp-cache-refresh'`,
    );
    expect(jobs?.n).toBeGreaterThan(0);
    // And nothing was saved into the caller's config file.
    expect(readFileSync(join(home, 'pgapp.config.json'), 'utf8')).toBe(config);

    const life = await node('down');
    expect(life.stopped).toEqual(expect.arrayContaining(['rds', 'custom', 'postgrest', 'gateway']));
    expect(life.removed).toEqual({ containers: 4, volumes: 2, networks: 1 });
    expect(life.aborted).toMatch(/Interrupted|aborted/); // rejected, with the signal's reason
    for (const p of [project, `${project}_x`]) {
      const filter = { label: [`pgapp.project=${p}`] };
      expect(await docker().listContainers({ all: true, filters: filter })).toEqual([]);
      expect((await docker().listVolumes({ filters: filter })).Volumes ?? []).toEqual([]);
    }
  }, 300_000);

  it('is safe in parallel: 4 processes on a fresh project end with one stack, all succeed, no container made twice', async () => {
    const outs = await Promise.all(Array.from({ length: 4 }, () => node('up', parallel)));
    expect(new Set(outs.map((o) => o.rdsUrl)).size).toBe(1); // one stack, the same ports for all
    // One call made the stack; the other three reused every container as it was (a container made
    // again, or on other ports, would not count as reused).
    expect(outs.map((o) => o.reused).sort()).toEqual([false, true, true, true]);
    const filter = { label: [`pgapp.project=${parallel}`] };
    expect(await docker().listContainers({ all: true, filters: filter })).toHaveLength(4);
  }, 300_000);

  it("takes over the default test project's data when an earlier checkout at this path left it without secrets", async () => {
    // As on a CI machine whose Docker engine outlived its clone: the default project's volume is
    // there, the directory's .pgapp/ (its passwords) is not. That data can never be logged in to.
    const stale = defaultTestProject(home);
    await docker().createVolume({ Name: `${stale}_rds_data`, Labels: { [LABELS.project]: stale } });
    const { stdout, stderr } = await run(
      process.execPath,
      [join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), script, 'default'],
      { cwd: home, env: { ...process.env, PGAPP_HOME: home }, maxBuffer: 1 << 24 },
    );
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(out).toMatchObject({ project: stale, reused: false });
    expect(stderr).toContain(`test project "${stale}" had data in Docker but no`);
    expect(stderr).toContain(`${stale}_rds_data`);
    expect(await query(rdsFromUrl(out.rdsUrl), 'SELECT count(*)::int AS n FROM crm.contacts')).toEqual([
      { n: 1000 },
    ]);
  }, 300_000);
});
