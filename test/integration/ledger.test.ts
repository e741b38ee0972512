/** The SQL ledger against a real Postgres: once only, repeatable files, failing files leave nothing behind. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applySqlFiles, type SqlFile } from '../../src/db/ledger.ts';
import { PgappError } from '../../src/errors.ts';
import { startPg, type Throwaway } from '../helpers.ts';

const images = inject('images');

const file = (name: string, sql: string): SqlFile => ({ name, sql });

describe('SQL ledger on a real Postgres', () => {
  let db: Throwaway;
  let client: pg.Client;

  beforeAll(async () => {
    db = await startPg(images.custom, { POSTGRES_PASSWORD: 'pw' });
    client = new pg.Client({
      host: '127.0.0.1',
      port: db.port,
      user: 'postgres',
      password: 'pw',
      database: 'postgres',
    });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await db?.stop();
  });

  it('applies each file once, re-runs repeatable ones when a setting changes, reports other changes', async () => {
    const a = file('t/010_a.sql', 'CREATE TABLE a (x int); INSERT INTO a VALUES (1);');
    const b = file(
      't/020_b.sql',
      "-- pgapp:repeatable\nCREATE TABLE IF NOT EXISTS b (g text); TRUNCATE b; INSERT INTO b SELECT current_setting('pgapp.greeting');",
    );
    expect((await applySqlFiles(client, [a, b], { greeting: 'hi' })).applied).toEqual([
      't/010_a.sql',
      't/020_b.sql',
    ]);
    const again = await applySqlFiles(client, [a, b], { greeting: 'hi' });
    expect(again).toEqual({ applied: [], skipped: ['t/010_a.sql', 't/020_b.sql'], changed: [] });
    expect((await client.query('SELECT count(*)::int AS n FROM a')).rows[0].n).toBe(1);

    const r = await applySqlFiles(client, [file('t/010_a.sql', `${a.sql} -- edited`), b], {
      greeting: 'hello',
    });
    expect(r).toEqual({ applied: ['t/020_b.sql'], skipped: [], changed: ['t/010_a.sql'] });
    expect((await client.query('SELECT g FROM b')).rows[0].g).toBe('hello');
  });

  it('names file, line and message of a failing file, and applies nothing of it', async () => {
    const bad = file(
      't/030_bad.sql',
      'CREATE TABLE c (x int);\nINSERT INTO c VALUES (1);\nINSERT INTO c VALUES (1, 2, 3);\n',
    );
    const err = await applySqlFiles(client, [bad], {}).catch((e) => e);
    expect(err).toBeInstanceOf(PgappError);
    expect(err.message).toBe(
      'SQL failed in t/030_bad.sql:3: INSERT has more expressions than target columns (SQLSTATE 42601)',
    );
    expect(err.details).toContain('3 | INSERT INTO c VALUES (1, 2, 3);');
    expect((await client.query(`SELECT to_regclass('c') AS t`)).rows[0].t).toBeNull();
    expect(
      (await client.query(`SELECT count(*)::int AS n FROM pgapp_ledger.applied WHERE file = 't/030_bad.sql'`))
        .rows[0].n,
    ).toBe(0);
    // Fixed, it applies.
    const fixed = file('t/030_bad.sql', 'CREATE TABLE c (x int);\nINSERT INTO c VALUES (1);\n');
    expect((await applySqlFiles(client, [fixed], {})).applied).toEqual(['t/030_bad.sql']);
  });

  it('refuses a file that reads a setting nobody set', async () => {
    const f = file('t/040_setting.sql', "SELECT current_setting('pgapp.nobody_set_this');");
    const err = await applySqlFiles(client, [f], { other: 'x' }).catch((e) => e);
    expect(err.message).toMatch(
      /t\/040_setting\.sql reads pgapp\.nobody_set_this, which the caller did not set/,
    );
  });

  it('ignores trailing white space, so every driver computes the same checksum', async () => {
    const a = file('t/050_ws.sql', 'CREATE TABLE ws (x int);\n\n');
    expect((await applySqlFiles(client, [a], {})).applied).toEqual(['t/050_ws.sql']);
    expect(
      (await applySqlFiles(client, [file('t/050_ws.sql', 'CREATE TABLE ws (x int);')], {})).skipped,
    ).toEqual(['t/050_ws.sql']);
  });
});
