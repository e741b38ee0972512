/**
 * Apply an ordered directory of SQL files once each through the ledger in sql/ledger.sql
 * (pgapp_ledger.apply): the same ledger compose's setup service (sql/apply.sh) uses. Each file runs
 * in its own transaction with the pgapp.* settings set; a failure names the file, line and message.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { PgappError } from '../errors.ts';
import { SQL_DIR } from '../paths.ts';

export interface SqlFile {
  /** Path relative to sql/, the ledger key (e.g. "custom/api/020_api.sql"). */
  name: string;
  sql: string;
}

export interface ApplyResult {
  applied: string[];
  skipped: string[];
  /** Applied once, changed since, not repeatable: reported to the user. */
  changed: string[];
}

export const LEDGER_SQL = join(SQL_DIR, 'ledger.sql');

/** The *.sql files of `root/dir` in name order, named `dir/file` in the ledger. */
export function readSqlDir(root: string, dir: string): SqlFile[] {
  let names: string[];
  try {
    names = readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.sql'))
      .sort();
  } catch {
    return [];
  }
  return names.map((f) => ({ name: `${dir}/${f}`, sql: readFileSync(join(root, dir, f), 'utf8') }));
}

/** 1-based line of a 1-based character position. */
export function lineOf(sql: string, position: number): number {
  return sql.slice(0, Math.max(0, position - 1)).split('\n').length;
}

interface PgError extends Error {
  position?: string;
  internalPosition?: string;
  detail?: string;
  hint?: string;
  where?: string;
  code?: string;
}

export function sqlFileError(file: SqlFile, err: PgError): PgappError {
  // Inside pgapp_ledger.apply the file runs through EXECUTE: its positions are "internal" ones.
  const pos = err.internalPosition ?? err.position;
  const line = pos ? lineOf(file.sql, Number(pos)) : undefined;
  const at = line ? `${file.name}:${line}` : file.name;
  const context = line ? file.sql.split('\n')[line - 1]?.trim() : undefined;
  // Context lines about pgapp's own machinery (the EXECUTE of the whole file) say nothing useful.
  const where = err.where
    ?.replace(/SQL statement "[\s\S]*?"(\n|$)/g, (m) => (m.length > 300 ? '' : m))
    .split('\n')
    .filter((l) => l.trim() && !/pgapp_ledger\.apply/.test(l))
    .join('\n');
  const details = [
    context ? `  ${line} | ${context}` : undefined,
    err.detail ? `DETAIL: ${err.detail}` : undefined,
    where ? `WHERE: ${where}` : undefined,
  ]
    .filter(Boolean)
    .join('\n');
  // plpython3u importing a library custom's image does not have: where to ask for it.
  const module = /ModuleNotFoundError: No module named '([^'.]+)/.exec(err.message)?.[1];
  return new PgappError(
    `SQL failed in ${at}: ${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`,
    err.hint ??
      (module
        ? `custom's image has no Python library "${module}": add it to "custom": {"python": [...]} in pgapp.config.json (Debian's python3-* package; scikit-learn for sklearn) and run again. Nothing of this file was applied.`
        : 'Fix the file and run again: nothing of this file was applied (it runs in one transaction).'),
    details || undefined,
  );
}

async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const v = await fn();
    await client.query('COMMIT');
    return v;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export async function applySqlFiles(
  client: pg.ClientBase,
  files: SqlFile[],
  settings: Record<string, string>,
  onFile?: (name: string, state: 'applying' | 'skipped' | 'changed') => void | Promise<void>,
): Promise<ApplyResult> {
  const result: ApplyResult = { applied: [], skipped: [], changed: [] };
  await inTransaction(client, () => client.query(readFileSync(LEDGER_SQL, 'utf8')));
  const names = Object.keys(settings);
  const setAll = `SELECT ${names.map((_, i) => `set_config('pgapp.' || $${2 * i + 1}::text, $${2 * i + 2}::text, true)`).join(', ') || '1'}`;
  const values = names.flatMap((k) => [k, settings[k]]);
  for (const file of files) {
    await onFile?.(file.name, 'applying');
    const state = await inTransaction(client, async () => {
      if (names.length > 0) await client.query(setAll, values);
      try {
        const { rows } = await client.query<{ state: 'applied' | 'skipped' | 'changed' }>(
          'SELECT pgapp_ledger.apply($1, $2) AS state',
          [file.name, file.sql],
        );
        return rows[0]?.state ?? 'applied';
      } catch (err) {
        throw sqlFileError(file, err as PgError);
      }
    });
    result[state].push(file.name);
    if (state !== 'applied') onFile?.(file.name, state);
  }
  return result;
}
