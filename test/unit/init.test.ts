import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { examples, init, projectNameOf } from '../../src/commands/init.ts';
import { PgappError } from '../../src/errors.ts';

describe('pgapp init', () => {
  const before = process.env.PGAPP_HOME;
  const home = () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgapp-init-My App-'));
    process.env.PGAPP_HOME = dir;
    return dir;
  };
  afterEach(() => {
    if (before === undefined) delete process.env.PGAPP_HOME;
    else process.env.PGAPP_HOME = before;
  });
  const opts = { flags: {}, yes: true };

  it('names the project after its directory, as a valid name', () => {
    expect(projectNameOf('/x/My App-2')).toBe('my_app_2');
    expect(projectNameOf('/x/2fast')).toBe('fast');
    expect(projectNameOf('/x/---')).toBe('app');
  });

  it('makes the folders with a README each, the config and .gitignore entries, keeping what .gitignore had', async () => {
    const dir = home();
    writeFileSync(join(dir, '.gitignore'), 'node_modules/');
    const r = await init(opts);
    for (const f of ['db/rds/migrations/README.md', 'db/rds/seed/README.md', 'db/custom/README.md'])
      expect(existsSync(join(dir, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'pgapp.config.json'), 'utf8'))).toEqual({ project: r.project });
    expect(r.project).toMatch(/^pgapp_init_my_app_/);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(
      /^node_modules\/\n# pgapp: .*\n\.pgapp\/\n\.env\n\.env\.\*\n$/,
    );
    // Again: .gitignore is not added to twice.
    expect(r.example).toBeUndefined();
  });

  it("copies an example, and keeps a pgapp.config.json that is there (adding only the example's own keys)", async () => {
    const dir = home();
    writeFileSync(join(dir, 'pgapp.config.json'), '{"project":"mine"}');
    const r = await init({ ...opts, example: 'crm' });
    expect(examples()).toContain('crm');
    expect(r.keptConfig).toBe(true);
    // What the example's SQL needs of custom (numpy, scikit-learn, pg_trgm) comes with it.
    expect(JSON.parse(readFileSync(join(dir, 'pgapp.config.json'), 'utf8'))).toEqual({
      project: 'mine',
      custom: { extensions: ['pg_trgm'], python: ['numpy', 'scikit-learn'] },
    });
    expect(r.written).toEqual(
      expect.arrayContaining([
        'db/rds/migrations/010_crm_schema.sql',
        'db/rds/seed/010_crm_seed.sql',
        'db/custom/030_app_page.sql',
      ]),
    );
  });

  it('never overwrites a db/ that is there, and names an unknown example', async () => {
    const dir = home();
    mkdirSync(join(dir, 'db', 'rds'), { recursive: true });
    writeFileSync(join(dir, 'db', 'rds', 'x.sql'), 'SELECT 1;');
    await expect(init(opts)).rejects.toThrow(/db is there already: this directory has a project/);
    expect(readFileSync(join(dir, 'db', 'rds', 'x.sql'), 'utf8')).toBe('SELECT 1;');
    home();
    await expect(init({ ...opts, example: 'shop' })).rejects.toBeInstanceOf(PgappError);
  });
});
