import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checksum, lineOf, readSqlDir, sqlFileError } from '../../src/db/ledger.ts';
import { SQL_DIR } from '../../src/paths.ts';

describe('SQL ledger (pure parts)', () => {
  it('reads files in order, with their settings and repeatable marker', () => {
    const files = readSqlDir(join(SQL_DIR, 'rds'));
    expect(files.map((f) => f.name)).toEqual([...files.map((f) => f.name)].sort());
    const role = files.find((f) => f.name.endsWith('bridge_role.sql'));
    expect(role?.repeatable).toBe(true);
    expect(role?.settings).toEqual(['bridge_password', 'bridge_user']);
    expect(files.find((f) => f.name.endsWith('crm_seed.sql'))?.repeatable).toBe(false);
  });

  it('changes the checksum when a setting the file reads changes, not otherwise', () => {
    const f = { name: 'x.sql', sql: "SELECT current_setting('pgapp.a')", repeatable: true, settings: ['a'] };
    expect(checksum(f, { a: '1', b: '1' })).toBe(checksum(f, { a: '1', b: '2' }));
    expect(checksum(f, { a: '1' })).not.toBe(checksum(f, { a: '2' }));
  });

  it('maps an error position to the file line and shows it', () => {
    const sql = 'SELECT 1;\nSELECT 2;\nSELEC 3;\n';
    expect(lineOf(sql, sql.indexOf('SELEC 3') + 1)).toBe(3);
    const err = Object.assign(new Error('syntax error at or near "SELEC"'), {
      position: String(sql.indexOf('SELEC 3') + 1),
      code: '42601',
    });
    const e = sqlFileError({ name: 'custom/x.sql', sql, repeatable: false, settings: [] }, err);
    expect(e.message).toBe('SQL failed in custom/x.sql:3: syntax error at or near "SELEC" (SQLSTATE 42601)');
    expect(e.details).toContain('3 | SELEC 3;');
  });
});
