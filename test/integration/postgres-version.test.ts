/**
 * PostgreSQL major versions, as RDS offers them: the suite runs on the default (17); this file brings
 * a whole stack up on the other (15, Debian bookworm) end to end, through the API, and shows a project
 * keeps its data's version: asking for another stops with nothing changed, and an image of another
 * version refuses the volume with the way forward.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULTS } from '../../src/config/schema.ts';
import { dataPgMajor, findContainer } from '../../src/docker/containers.ts';
import { docker } from '../../src/docker/engine.ts';
import { volumeName } from '../../src/spec/stack.ts';
import { useStack } from '../../src/testing/index.ts';
import { cli, postCompany, query, ThrowawayStack } from '../helpers.ts';

const postgrest = inject('postgrest');
const images = inject('images');
const OTHER = 15;
const title = postgrest.available
  ? `PostgreSQL ${OTHER} end to end, and a project keeps its version`
  : `PostgreSQL versions — SKIPPED: ${postgrest.reason}`;

const serverVersion = async (cfg: Parameters<typeof query>[0]) =>
  Number((await query<{ v: string }>(cfg, `SELECT current_setting('server_version_num') AS v`))[0]?.v);

describe.skipIf(!postgrest.available)(title, () => {
  const stack = new ThrowawayStack('pg15');
  let first: Awaited<ReturnType<typeof stack.dev>>;

  beforeAll(async () => {
    first = await stack.dev(['--postgres', String(OTHER)]);
  }, 600_000);
  afterAll(async () => {
    await stack.reset();
  });

  it(`comes up on PostgreSQL ${OTHER}: both servers, every hop, the API reads and writes`, async () => {
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain(`Images (PostgreSQL ${OTHER})`);
    expect(first.output).toContain(`· PostgreSQL ${OTHER}`);
    expect(Math.floor((await serverVersion(stack.rds())) / 10000)).toBe(OTHER);
    expect(Math.floor((await serverVersion(stack.custom())) / 10000)).toBe(OTHER);
    expect(await dataPgMajor(stack.project)).toBe(OTHER);
    const res = await stack.send('GET', '/contacts?select=id,first_name,company(name)&limit=2');
    expect(res.status).toBe(200);
    const rows = (await res.json()) as { company: { name: string } }[];
    expect(rows).toHaveLength(2);
    expect(rows[0]?.company.name).toBeTruthy();
    const made = await postCompany(stack.send, {
      name: 'Fifteen Co',
      domain: `fifteen-${Date.now()}.example.com`,
      industry: 'software',
      employees: 15,
    });
    const [onRds] = await query<{ name: string }>(
      stack.rds(),
      'SELECT name FROM crm.companies WHERE id = $1',
      [made.id],
    );
    expect(onRds?.name).toBe('Fifteen Co');
  });

  it('asking for another version stops before anything changes, and says how to move', async () => {
    const before = (await findContainer(stack.project, 'rds'))?.Id;
    const r = await stack.dev(['--postgres', String(DEFAULTS.postgres)]);
    expect(r.code).toBe(1);
    expect(r.output).toContain(
      `Project "${stack.project}" holds PostgreSQL ${OTHER} data, but PostgreSQL ${DEFAULTS.postgres} was asked for`,
    );
    expect(r.output).toMatch(/needs a dump and restore, as on RDS\. Nothing was changed/);
    expect(r.output).toContain(`--postgres ${OTHER}`);
    expect(r.output).toContain(`pgapp reset --project ${stack.project}`);
    expect((await findContainer(stack.project, 'rds'))?.Id).toBe(before);
    expect(Math.floor((await serverVersion(stack.rds())) / 10000)).toBe(OTHER);
  }, 60_000);

  it(`without a version asked, the project keeps its own (${OTHER}, not the default)`, async () => {
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    for (const svc of ['rds', 'custom', 'postgrest', 'gateway'])
      expect(r.output).toContain(`${svc}: ready (reused)`);
    const status = await cli(['status', '--json', '--project', stack.project], { home: stack.home });
    expect(JSON.parse(status.stdout).postgres).toBe(OTHER);
  }, 120_000);

  it(`an image of PostgreSQL ${DEFAULTS.postgres} refuses the ${OTHER} volume, says why, and leaves it as it was`, async () => {
    const down = await cli(['down', '--project', stack.project], { home: stack.home });
    expect(down.code, down.output).toBe(0);
    const volume = volumeName(stack.project, 'rds');
    const c = await docker().createContainer({
      Image: images.rds,
      Env: ['POSTGRES_PASSWORD=x'],
      HostConfig: { Binds: [`${volume}:/var/lib/postgresql/data`] },
    });
    try {
      await c.start();
      const { StatusCode } = await c.wait();
      const logs = (await c.logs({ stdout: true, stderr: true })).toString();
      expect(StatusCode).toBe(1);
      expect(logs).toContain(
        `this data directory holds PostgreSQL ${OTHER} data, but this image runs PostgreSQL ${DEFAULTS.postgres}`,
      );
      expect(logs).toContain('Nothing was changed');
    } finally {
      await c.remove({ force: true });
    }
    // The data is still 15's, and comes back with the project.
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect(Math.floor((await serverVersion(stack.rds())) / 10000)).toBe(OTHER);
  }, 180_000);

  it(`a snapshot a reset saved comes back on ${OTHER}; asked onto ${DEFAULTS.postgres}, it is refused with nothing changed`, async () => {
    // On the ports it had (nothing runs after the reset to tell them).
    const p = ['--project', stack.project, ...stack.args];
    const reset = await cli(['reset', '--yes', '--snapshot', 'v15', ...p], { home: stack.home });
    expect(reset.code, reset.output).toBe(0);
    expect(await dataPgMajor(stack.project)).toBeUndefined();
    const refused = await cli(
      ['snapshot', 'restore', 'v15', '--yes', '--postgres', String(DEFAULTS.postgres), ...p],
      {
        home: stack.home,
      },
    );
    expect(refused.code).toBe(1);
    expect(refused.output).toContain(
      `Snapshot "v15" holds PostgreSQL ${OTHER} data, but PostgreSQL ${DEFAULTS.postgres} was asked for`,
    );
    expect(refused.output).toContain('Nothing was changed');
    expect(await dataPgMajor(stack.project)).toBeUndefined();
    const restored = await cli(['snapshot', 'restore', 'v15', '--yes', ...p], { home: stack.home });
    expect(restored.code, restored.output).toBe(0);
    expect(await dataPgMajor(stack.project)).toBe(OTHER);
    expect(Math.floor((await serverVersion(stack.custom())) / 10000)).toBe(OTHER);
    const [row] = await query<{ n: string }>(
      stack.rds(),
      `SELECT count(*) AS n FROM crm.companies WHERE name = 'Fifteen Co'`,
    );
    expect(Number(row?.n)).toBe(1);
  }, 240_000);
});

describe.skipIf(!postgrest.available)(
  `the suite's shared stack runs the default, PostgreSQL ${DEFAULTS.postgres}`,
  () => {
    it('both servers answer with the default major version', async () => {
      await using stack = await useStack();
      expect(Math.floor((await serverVersion({ connectionString: stack.customUrl })) / 10000)).toBe(
        DEFAULTS.postgres,
      );
      expect(Math.floor((await serverVersion({ connectionString: stack.rdsUrl })) / 10000)).toBe(
        DEFAULTS.postgres,
      );
      expect(await dataPgMajor(stack.project)).toBe(DEFAULTS.postgres);
    });
  },
);
