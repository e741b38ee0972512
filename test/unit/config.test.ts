import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv, readConfigFile, unsetFields } from '../../src/config/load.ts';
import { optionsHelp } from '../../src/config/options.ts';
import { anyReplica, DEFAULTS, fdwOnly, resolveConfig, validateProject } from '../../src/config/schema.ts';
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

  describe('where each table reads', () => {
    it('takes a mode per table in "tables", or as {"default", "tables"} in "reads"', () => {
      const a = resolveConfig({ tables: { 'public.events': { reads: 'fdw' } } });
      expect(a.reads).toBe('replica');
      expect(a.tables['public.events']).toEqual({ reads: 'fdw' });
      const b = resolveConfig({
        reads: { default: 'fdw', tables: { 'public.events': 'replica' } },
        tables: { 'public.events': { access: 'write' } },
      });
      expect(b.reads).toBe('fdw');
      expect(b.tables['public.events']).toEqual({ access: 'write', reads: 'replica' });
      expect(anyReplica(b)).toBe(true);
      expect(anyReplica(resolveConfig({ reads: 'fdw' }))).toBe(false);
    });

    it('lets a flag or env set the default without losing the per-table modes', () => {
      const c = resolveConfig(
        { reads: { default: 'replica', tables: { 'public.events': 'fdw' } } },
        { reads: 'fdw' },
      );
      expect(c.reads).toBe('fdw');
      expect(c.tables['public.events']?.reads).toBe('fdw');
    });

    it('refuses a mode said twice two ways, and unknown shapes', () => {
      expect(() =>
        resolveConfig({
          reads: { tables: { 'public.events': 'fdw' } },
          tables: { 'public.events': { reads: 'replica' } },
        }),
      ).toThrow(/disagree on where public.events reads/);
      expect(() => resolveConfig({ reads: { defaults: 'fdw' } })).toThrow(/Invalid reads/);
      expect(() => resolveConfig({ reads: { tables: { 'public.events': 'cache' } } })).toThrow(
        /Invalid reads mode/,
      );
    });

    it('refuses what pgapp no longer takes per table ("name", "where", "columns"), saying why and what to do', () => {
      expect(() => resolveConfig({ tables: { 'kb.labels': { name: 'kb_labels' } } })).toThrow(
        /"tables"."kb.labels" has "name", which pgapp no longer takes/,
      );
      try {
        resolveConfig({ tables: { 'app.orders': { where: 'archived = false' } } });
        expect.unreachable();
      } catch (err) {
        expect((err as PgappError).hint).toMatch(/A replica holds the whole table .* "reads": "fdw"/);
      }
      expect(() => resolveConfig({ tables: { 'app.orders': { columns: ['id'] } } })).toThrow(/has "columns"/);
      expect(() => resolveConfig({ tables: { 'app.orders': { reads: 'fdw', nope: 1 } } })).toThrow(
        /unknown key\(s\): nope/,
      );
    });

    it('compose reads everything through postgres_fdw: fdwOnly drops the replica settings, keeps the rest', () => {
      const c = resolveConfig({
        tables: { 'a.b': { reads: 'replica', access: 'write' }, 'a.c': { reads: 'replica' } },
      });
      const f = fdwOnly(c);
      expect(f.reads).toBe('fdw');
      expect(f.tables).toEqual({ 'a.b': { access: 'write' } });
      expect(anyReplica(f)).toBe(false);
    });

    it('reads copyLimit as bytes or a size with a unit', () => {
      expect(resolveConfig({}).copyLimit).toBe(1024 ** 3);
      expect(resolveConfig({ copyLimit: '500MB' }).copyLimit).toBe(500 * 1024 ** 2);
      expect(resolveConfig({ copyLimit: '1.5 gb' }).copyLimit).toBe(1.5 * 1024 ** 3);
      expect(resolveConfig({ copyLimit: '2k' }).copyLimit).toBe(2048);
      expect(resolveConfig({ copyLimit: 0 }).copyLimit).toBe(0);
      expect(resolveConfig({ copyLimit: '4096' }).copyLimit).toBe(4096);
      for (const bad of ['lots', '-1', '1PB', ''])
        expect(() => resolveConfig({ copyLimit: bad }), bad).toThrow(/Invalid copyLimit/);
    });
  });
});

describe('"custom": the custom Postgres is the project\'s', () => {
  it('takes extensions, Python libraries, preloads and settings from the file, and each from env', () => {
    const c = resolveConfig(
      { custom: { extensions: ['vector'], python: ['numpy'], settings: { work_mem: '8MB' } } },
      configFromEnv({
        PGAPP_CUSTOM_PYTHON: 'numpy,scikit-learn',
        PGAPP_CUSTOM_PRELOAD: 'pg_stat_statements,pg_cron',
      }),
    );
    expect(c.custom).toEqual({
      extensions: ['vector'],
      python: ['numpy', 'scikit-learn'],
      // pg_cron is always first: named again, it is not named twice.
      preload: ['pg_stat_statements'],
      settings: { work_mem: '8MB' },
    });
    expect(resolveConfig().custom).toEqual({ extensions: [], python: [], preload: [], settings: {} });
    expect(
      resolveConfig(configFromEnv({ PGAPP_CUSTOM_SETTINGS: '{"JIT": false, "max_parallel_workers": 2}' }))
        .custom.settings,
    ).toEqual({ jit: 'off', max_parallel_workers: '2' });
  });

  it("refuses what is not a list of names, an unknown key, and a setting that is pgapp's", () => {
    expect(() => resolveConfig({ custom: 'numpy' as unknown as object })).toThrow(
      /"custom" in pgapp.config.json must be an object/,
    );
    expect(() => resolveConfig({ custom: { pyhton: ['numpy'] } as object })).toThrow(
      /Unknown key\(s\) in "custom": pyhton/,
    );
    expect(() => resolveConfig({ custom: { python: ['numpy; rm -rf /'] } })).toThrow(/Invalid custom.python/);
    for (const name of [
      'shared_preload_libraries',
      'cron.database_name',
      'port',
      'listen_addresses',
      'ssl_cert_file',
    ])
      expect(() => resolveConfig({ custom: { settings: { [name]: 'x' } } }), name).toThrow(
        new RegExp(`custom.settings: ${name.replace('.', '\\.')} is pgapp's to set`),
      );
    expect(() => resolveConfig({ custom: { settings: { work_mem: 'a\nb' } } })).toThrow(/unusable value/);
    expect(() => resolveConfig({ custom: { settings: { 'a.b.c': 1 } } })).toThrow(/is not a setting's name/);
  });

  it('lists each in --help, under the file keys, with its env twin', () => {
    const help = optionsHelp();
    for (const key of ['extensions', 'python', 'preload', 'settings'])
      expect(help).toMatch(new RegExp(`"custom\\.${key}"[\\s\\S]*?PGAPP_CUSTOM_${key.toUpperCase()}`));
  });
});
