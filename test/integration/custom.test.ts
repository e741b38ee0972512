/**
 * The custom Postgres is the project's: an extension, a Python library, a preloaded library and
 * settings put there by "custom" in pgapp.config.json reach the running server (a function that
 * imports the library answers through the API); a package Debian does not have and a setting the
 * server refuses stop `dev` with nothing changed; taking them out again builds custom without them,
 * data kept, rds untouched.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker } from '../../src/docker/engine.ts';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { containerName } from '../../src/spec/stack.ts';
import { query, ThrowawayStack } from '../helpers.ts';

const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'desk');
const postgrest = inject('postgrest');
const title = postgrest.available
  ? "custom's own extensions, Python libraries, preloads and settings (the desk fixture)"
  : `custom's own (the desk fixture) — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  const stack = new ThrowawayStack('custom');
  const configFile = () => join(stack.home, 'pgapp.config.json');
  const setCustom = (custom: Record<string, unknown> | undefined) => {
    const c = JSON.parse(readFileSync(configFile(), 'utf8'));
    if (custom === undefined) delete c.custom;
    else c.custom = custom;
    writeFileSync(configFile(), JSON.stringify(c, null, 2));
  };
  const OWN = {
    extensions: ['hypopg'],
    python: ['numpy'],
    preload: ['pg_stat_statements'],
    settings: { work_mem: '12MB', 'pg_stat_statements.track': 'all' },
  };
  /** The image and start of each server: what a run changed. */
  const containers = async () => {
    const out: Record<string, { image: string; id: string }> = {};
    for (const svc of ['custom', 'rds'] as const) {
      const info = await docker().getContainer(containerName(stack.project, svc)).inspect();
      out[svc] = { image: info.Image, id: info.Id };
    }
    return out;
  };
  const show = async (name: string) =>
    (await query<{ v: string }>(stack.custom(), `SELECT current_setting('${name}') AS v`))[0]?.v;
  let first: { code: number | null; output: string };

  beforeAll(async () => {
    cpSync(FIXTURE, stack.home, { recursive: true });
    // The project's own SQL uses all four: an extension of custom's, numpy in a function the API
    // publishes, the preloaded library's view.
    mkdirSync(join(stack.home, 'db', 'custom'), { recursive: true });
    writeFileSync(
      join(stack.home, 'db', 'custom', '020_numpy.sql'),
      `CREATE EXTENSION IF NOT EXISTS hypopg;
       CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
       CREATE FUNCTION desk.numpy_mean(xs float8[]) RETURNS float8 LANGUAGE plpython3u IMMUTABLE AS $$
       import numpy
       return float(numpy.mean(xs))
       $$;
       GRANT EXECUTE ON FUNCTION desk.numpy_mean(float8[]) TO web_anon, web_user;`,
    );
    setCustom(OWN);
    first = await stack.dev();
  }, 900_000);
  afterAll(async () => {
    await stack.reset();
  });

  it('reach the running custom: numpy answers through the API, the extension, the preload and the settings are in force', async () => {
    expect(first.code, first.output).toBe(0);
    const res = await fetch(stack.api('/rpc/numpy_mean'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ xs: [1, 2, 6] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toBe(3);
    expect(await show('shared_preload_libraries')).toBe('pg_cron,pg_stat_statements');
    expect(await show('work_mem')).toBe('12MB');
    expect(await show('pg_stat_statements.track')).toBe('all');
    const [ext] = await query<{ n: string }>(
      stack.custom(),
      `SELECT count(*)::text AS n FROM pg_stat_statements, pg_extension WHERE extname = 'hypopg'`,
    );
    expect(Number(ext?.n)).toBeGreaterThan(0);
    // hypopg works: a hypothetical index, planned but never built.
    const [hypo] = await query<{ n: string }>(
      stack.custom(),
      `SELECT count(*)::text AS n FROM hypopg_create_index('CREATE INDEX ON pgapp_private.api_tables (access)')`,
    );
    expect(hypo?.n).toBe('1');
  });

  it('a package Debian does not have, and a setting the server refuses, stop dev with nothing changed', async () => {
    const before = await containers();
    await query(stack.rds(), `INSERT INTO desk.labels (name) VALUES ('kept-through-refusals')`);

    setCustom({ ...OWN, python: ['numpy', 'no-such-lib'] });
    const noPackage = await stack.dev();
    expect(noPackage.code).not.toBe(0);
    expect(noPackage.output).toMatch(/has no package for Python library no-such-lib \(python3-no-such-lib\)/);
    expect(noPackage.output).toMatch(/Nothing was changed/);

    setCustom({ ...OWN, settings: { ...OWN.settings, work_mem: 'lots' } });
    const badSetting = await stack.dev();
    expect(badSetting.code).not.toBe(0);
    expect(badSetting.output).toMatch(/custom's server refused the project's settings: .*work_mem/);
    expect(badSetting.output).toMatch(/nothing was changed/);

    setCustom({ ...OWN, settings: { ...OWN.settings, 'cron.database_name': 'x' } });
    const owned = await stack.dev();
    expect(owned.code).not.toBe(0);
    expect(owned.output).toMatch(/custom\.settings: cron\.database_name is pgapp's to set/);

    expect(await containers()).toEqual(before);
    expect(await show('work_mem')).toBe('12MB');
  }, 900_000);

  it('taken out again, custom is built without them: data kept, rds not restarted', async () => {
    const before = await containers();
    setCustom(undefined);
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    const after = await containers();
    expect(after.custom?.image).not.toBe(before.custom?.image);
    expect(after.rds).toEqual(before.rds);
    expect(await show('shared_preload_libraries')).toBe('pg_cron');
    expect(await show('work_mem')).toBe('4MB');
    const [row] = await query<{ n: string }>(
      stack.custom(),
      `SELECT count(*)::text AS n FROM rds_desk.labels WHERE name = 'kept-through-refusals'`,
    );
    expect(row?.n).toBe('1');
    // What needed numpy says so, in Python's words, rather than the server failing to start.
    const res = await fetch(stack.api('/rpc/numpy_mean'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ xs: [1] }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect((await res.json()).message).toMatch(/No module named 'numpy'/);
  }, 900_000);
});
