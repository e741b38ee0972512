import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv, readConfigFile, unsetFields } from '../../src/config/load.ts';
import { DEFAULTS, resolveConfig, validateProject } from '../../src/config/schema.ts';
import { PgappError } from '../../src/errors.ts';

describe('config', () => {
  it('layers override in order and ports are numbers', () => {
    const c = resolveConfig(
      { project: 'a', ports: { rds: '6000' } },
      { project: 'b_2', seed: 'medium' },
      { cronJobs: 'false' },
    );
    expect(c).toMatchObject({ project: 'b_2', seed: 'medium', cronJobs: false });
    expect(c.ports).toEqual({ ...DEFAULTS.ports, rds: 6000 });
  });

  it.each(['', 'My-App', '1app', 'app; drop table x', 'a'.repeat(41), 'app name', '../x'])(
    'rejects unsafe project name %j',
    (name) => {
      expect(() => validateProject(name)).toThrow(PgappError);
      try {
        validateProject(name);
      } catch (err) {
        expect((err as PgappError).hint).toMatch(/lower-case letters, digits and underscores/);
      }
    },
  );

  it.each([['0'], ['80'], ['70000'], ['12.5'], ['abc']])('rejects port %s with a hint', (port) => {
    expect(() => resolveConfig({ ports: { rds: port } })).toThrow(/Invalid rds port/);
  });

  it('rejects HTTP ports that browsers and fetch() refuse', () => {
    expect(() => resolveConfig({ ports: { postgrest: 6000 } })).toThrow(/browsers and fetch\(\) refuse/);
    expect(resolveConfig({ ports: { rds: 6000 } }).ports.rds).toBe(6000);
  });

  it('rejects two services on one port', () => {
    expect(() => resolveConfig({ ports: { rds: 7000, custom: 7000 } })).toThrow(/both 7000/);
  });

  it('takes PostgreSQL 15 or 17 (default 17) from a file, env or flag, and nothing else', () => {
    expect(resolveConfig().postgres).toBe(17);
    expect(resolveConfig({ postgres: 15 }).postgres).toBe(15);
    expect(resolveConfig(configFromEnv({ PGAPP_POSTGRES: '15' })).postgres).toBe(15);
    expect(resolveConfig({ postgres: 15 }, { postgres: '17' }).postgres).toBe(17);
    for (const bad of [16, '16', '17.2', 'latest', 'pg17', '']) {
      let err: PgappError | undefined;
      try {
        resolveConfig({ postgres: bad });
      } catch (e) {
        err = e as PgappError;
      }
      expect(err?.message, String(bad)).toBe(`Invalid PostgreSQL version ${JSON.stringify(bad)}`);
      expect(err?.hint).toMatch(/Use one of 15 or 17 .*17 is the default/);
    }
    expect(unsetFields([{}, { postgres: '15' }]).postgres).toBe(false);
    expect(unsetFields([{}]).postgres).toBe(true);
  });

  it('rejects an unknown seed size, naming the allowed ones', () => {
    expect(() => resolveConfig({ seed: 'huge' })).toThrow(PgappError);
    try {
      resolveConfig({ seed: 'huge' });
    } catch (err) {
      expect((err as PgappError).hint).toMatch(/small .*medium .*large/);
    }
  });

  it('reads a config file and refuses invalid JSON and unknown keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgapp-cfg-'));
    const f = join(dir, 'pgapp.config.json');
    expect(readConfigFile(f)).toEqual({});
    writeFileSync(f, '{"project": "x", "ports": {"rds": 6001}}');
    expect(readConfigFile(f)).toEqual({ project: 'x', ports: { rds: 6001 } });
    writeFileSync(f, '{"project": ');
    expect(() => readConfigFile(f)).toThrow(/not valid JSON/);
    writeFileSync(f, '{"projct": "x"}');
    expect(() => readConfigFile(f)).toThrow(/Unknown key\(s\).*projct/);
    writeFileSync(f, '{"ports": {"http": 1}}');
    expect(() => readConfigFile(f)).toThrow(/Unknown port\(s\).*http/);
  });

  it('knows which fields are left to the defaults', () => {
    const u = unsetFields([{ project: 'x' }, { ports: { rds: 1 } }, {}]);
    expect(u.project).toBe(false);
    expect([...u.ports]).toEqual(['custom', 'postgrest']);
    expect(u.seed).toBe(true);
  });
});
