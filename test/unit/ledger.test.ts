import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lineOf, readSqlDir, sqlFileError } from '../../src/db/ledger.ts';
import { EXAMPLES_DIR, SQL_DIR } from '../../src/paths.ts';

describe('SQL ledger (pure parts)', () => {
  it("reads files in name order, named relative to their root (the project's as db/…)", () => {
    expect(readSqlDir(SQL_DIR, 'custom/bridge').map((f) => f.name)).toEqual([
      'custom/bridge/010_extensions.sql',
      'custom/bridge/020_server.sql',
      'custom/bridge/030_catalog.sql',
      'custom/bridge/040_foreign_tables.sql',
      'custom/bridge/050_tables.sql',
      'custom/bridge/060_owner.sql',
      'custom/bridge/070_views.sql',
      'custom/bridge/080_functions.sql',
    ]);
    expect(readSqlDir(join(EXAMPLES_DIR, 'crm'), 'db/rds/migrations').map((f) => f.name)).toEqual([
      'db/rds/migrations/010_crm_schema.sql',
      'db/rds/migrations/020_crm_constraints.sql',
      'db/rds/migrations/030_owner.sql',
      'db/rds/migrations/040_limits.sql',
      'db/rds/migrations/050_recent_activities.sql',
    ]);
    expect(readSqlDir(SQL_DIR, 'no-such-dir')).toEqual([]);
  });

  it('maps an error position to the file line and shows it', () => {
    const sql = 'SELECT 1;\nSELECT 2;\nSELEC 3;\n';
    expect(lineOf(sql, sql.indexOf('SELEC 3') + 1)).toBe(3);
    const err = Object.assign(new Error('syntax error at or near "SELEC"'), {
      position: String(sql.indexOf('SELEC 3') + 1),
      code: '42601',
    });
    const e = sqlFileError({ name: 'custom/x.sql', sql }, err);
    expect(e.message).toBe('SQL failed in custom/x.sql:3: syntax error at or near "SELEC" (SQLSTATE 42601)');
    expect(e.details).toContain('3 | SELEC 3;');
    // Inside pgapp_ledger.apply the position is an internal one.
    const inner = sqlFileError(
      { name: 'custom/x.sql', sql },
      Object.assign(new Error('boom'), { internalPosition: String(sql.indexOf('SELECT 2') + 1) }),
    );
    expect(inner.message).toBe('SQL failed in custom/x.sql:2: boom');
  });

  it("says where to ask for a Python library that custom's image lacks", () => {
    const e = sqlFileError(
      { name: 'db/custom/x.sql', sql: 'SELECT f();' },
      Object.assign(new Error("ModuleNotFoundError: No module named 'sklearn'"), { code: '38000' }),
    );
    expect(e.hint).toMatch(/custom's image has no Python library "sklearn": add it to "custom": \{"python"/);
    expect(sqlFileError({ name: 'x.sql', sql: '' }, new Error('boom')).hint).toMatch(/Fix the file/);
  });
});
