/**
 * Apply an ordered directory of SQL files once each, recording them in a ledger table with
 * checksums. A re-run applies nothing; a file marked `pgapp:repeatable` on its first line is applied
 * again when it (or a pgapp.* setting it reads) changes; any other changed file is reported, not re-run.
 * Settings reach the SQL as `current_setting('pgapp.<name>')`, set for the file's transaction only.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type pg from 'pg';
import { PgappError } from '../errors.ts';
import { SQL_DIR } from '../paths.ts';

export interface SqlFile {
  /** Path relative to sql/, the ledger key (e.g. "custom/api/020_api.sql"). */
  name: string;
  sql: string;
  repeatable: boolean;
  /** pgapp.* settings the file reads. */
  settings: string[];
}

export interface ApplyResult {
  applied: string[];
  skipped: string[];
  /** Applied once, changed since, not repeatable: reported to the user. */
  changed: string[];
}

const SETTING_RE = /current_setting\('pgapp\.([a-z_]+)'/g;

export function readSqlDir(dir: string): SqlFile[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort();
  } catch {
    return [];
  }
  return names.map((f) => {
    const path = join(dir, f);
    const sql = readFileSync(path, 'utf8');
    const firstLine = sql.split('\n', 1)[0] ?? '';
    return {
      name: relative(SQL_DIR, path),
      sql,
      repeatable: /pgapp:repeatable/.test(firstLine),
      settings: [...new Set([...sql.matchAll(SETTING_RE)].map((m) => m[1] as string))].sort(),
    };
  });
}

/** Checksum of a file as it would run: its text and the values of the settings it reads. */
export function checksum(file: SqlFile, settings: Record<string, string>): string {
  const h = createHash('sha256').update(file.sql);
  for (const s of file.settings) h.update(`\0${s}=${settings[s] ?? ''}`);
  return h.digest('hex');
}

/** 1-based line of a 1-based character position. */
export function lineOf(sql: string, position: number): number {
  return sql.slice(0, Math.max(0, position - 1)).split('\n').length;
}

interface PgError extends Error {
  position?: string;
  detail?: string;
  hint?: string;
  where?: string;
  code?: string;
}

export function sqlFileError(file: SqlFile, err: PgError): PgappError {
  const line = err.position ? lineOf(file.sql, Number(err.position)) : undefined;
  const at = line ? `${file.name}:${line}` : file.name;
  const context = line ? file.sql.split('\n')[line - 1]?.trim() : undefined;
  const details = [
    context ? `  ${line} | ${context}` : undefined,
    err.detail ? `DETAIL: ${err.detail}` : undefined,
    err.where ? `WHERE: ${err.where}` : undefined,
  ]
    .filter(Boolean)
    .join('\n');
  return new PgappError(
    `SQL failed in ${at}: ${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`,
    err.hint ?? 'Fix the file and run again: nothing of this file was applied (it runs in one transaction).',
    details || undefined,
  );
}

const LEDGER_DDL = `
CREATE SCHEMA IF NOT EXISTS pgapp_ledger;
CREATE TABLE IF NOT EXISTS pgapp_ledger.applied (
  file       text PRIMARY KEY,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL
);`;

export async function applySqlFiles(
  client: pg.ClientBase,
  files: SqlFile[],
  settings: Record<string, string>,
  onFile?: (name: string, state: 'applying' | 'skipped' | 'changed') => void,
): Promise<ApplyResult> {
  const result: ApplyResult = { applied: [], skipped: [], changed: [] };
  // One applier at a time per database (a `dev` and a compose setup service, say).
  await client.query(`SELECT pg_advisory_lock(hashtext('pgapp_ledger'))`);
  try {
    await client.query(LEDGER_DDL);
    const { rows } = await client.query<{ file: string; checksum: string }>(
      'SELECT file, checksum FROM pgapp_ledger.applied',
    );
    const done = new Map(rows.map((r) => [r.file, r.checksum]));
    for (const file of files) {
      const sum = checksum(file, settings);
      const previous = done.get(file.name);
      if (previous === sum) {
        result.skipped.push(file.name);
        onFile?.(file.name, 'skipped');
        continue;
      }
      if (previous !== undefined && !file.repeatable) {
        result.changed.push(file.name);
        onFile?.(file.name, 'changed');
        continue;
      }
      onFile?.(file.name, 'applying');
      const started = Date.now();
      await client.query('BEGIN');
      try {
        for (const s of file.settings) {
          if (settings[s] === undefined)
            throw new PgappError(
              `${file.name} reads pgapp.${s}, which pgapp did not set`,
              'This is a bug in pgapp or in the file.',
            );
          await client.query('SELECT set_config($1, $2, true)', [`pgapp.${s}`, settings[s]]);
        }
        try {
          await client.query(file.sql);
        } catch (err) {
          throw sqlFileError(file, err as PgError);
        }
        await client.query(
          `INSERT INTO pgapp_ledger.applied (file, checksum, duration_ms) VALUES ($1, $2, $3)
           ON CONFLICT (file) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now(), duration_ms = EXCLUDED.duration_ms`,
          [file.name, sum, Date.now() - started],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      result.applied.push(file.name);
    }
  } finally {
    await client.query(`SELECT pg_advisory_unlock(hashtext('pgapp_ledger'))`).catch(() => {});
  }
  return result;
}
