/** The stand-in's parameter group: what a group may hold (as RDS checks it), and the file rds reads. */
import { describe, expect, it } from 'vitest';
import { parameterGroupConf, validateRdsSection } from '../../src/config/parameters.ts';
import { resolveConfig } from '../../src/config/schema.ts';

describe('rds.parameters', () => {
  it('accepts names RDS lets a group change, values as strings (booleans on/off)', () => {
    expect(
      validateRdsSection({
        parameters: { Work_Mem: '8MB', 'rds.force_ssl': 0, log_min_duration_statement: 250, jit: false },
      }),
    ).toEqual({ work_mem: '8MB', 'rds.force_ssl': '0', log_min_duration_statement: '250', jit: 'off' });
    expect(validateRdsSection(undefined)).toEqual({});
  });

  it.each([
    [{ parameters: { wal_level: 'minimal' } }, /wal_level cannot be changed in an RDS parameter group/],
    [{ parameters: { ssl_cert_file: '/x' } }, /cannot be changed in an RDS parameter group/],
    [{ parameters: { 'extwlist.extensions': 'plpython3u' } }, /cannot be changed/],
    [{ parameters: { 'rds.extensions': 'x' } }, /cannot be changed/],
    [{ parameters: { 'rds.no_such': '1' } }, /is not an RDS parameter the stand-in models/],
    [{ parameters: { 'rds.force_ssl': 'yes' } }, /rds.force_ssl cannot be "yes"/],
    [{ parameters: { "work_mem'; --": '1' } }, /is not a parameter name/],
    [{ parameters: { work_mem: 'a\nb' } }, /unusable value/],
    [{ parameters: { shared_preload_libraries: 'plpython3' } }, /which RDS does not preload/],
    [
      { parameters: { shared_preload_libraries: 'pgaudit' } },
      /RDS preloads it, but the stand-in does not ship it/,
    ],
    [{ parameters: [] }, /must be an object/],
    [{ parameter: {} }, /Unknown key\(s\) in "rds": parameter/],
  ])('refuses %j', (section, message) => {
    expect(() => validateRdsSection(section)).toThrow(message);
  });

  it('belongs to the stand-in: refused with --rds-url', () => {
    expect(() =>
      resolveConfig({
        rdsUrl: 'postgres://u:p@db.example.com/app',
        rds: { parameters: { work_mem: '8MB' } },
      }),
    ).toThrow(/configure the RDS stand-in/);
  });

  it('rds.logical_replication = 0 needs reads through postgres_fdw', () => {
    const rds = { parameters: { 'rds.logical_replication': 0 } };
    expect(() => resolveConfig({ rds })).toThrow(/nothing to feed the local replica/);
    expect(resolveConfig({ rds, reads: 'fdw' }).rdsParameters).toEqual({ 'rds.logical_replication': '0' });
  });

  it("writes RDS's defaults, wal_level from rds.logical_replication, the stand-in's libraries first, values quoted", () => {
    expect(parameterGroupConf('p', {})).toContain(
      "rds.force_ssl = '1'\nrds.logical_replication = '1'\nshared_preload_libraries = 'pgextwlist,pgapp_rds_guard'\nwal_level = 'logical'\n",
    );
    const conf = parameterGroupConf('p', {
      'rds.logical_replication': '0',
      shared_preload_libraries: 'pg_stat_statements, "pg_cron"',
      search_path: "'$user', public",
    });
    expect(conf).toContain("wal_level = 'replica'");
    expect(conf).toContain(
      "shared_preload_libraries = 'pgextwlist,pgapp_rds_guard,pg_stat_statements,pg_cron'",
    );
    expect(conf).toContain("search_path = '''$user'', public'");
  });
});
