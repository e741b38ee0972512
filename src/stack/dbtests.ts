/**
 * The project's database tests: pgTAP files in db/tests/rds and db/tests/custom, each run with pg_prove
 * (in custom's container, which has it) against its server, each from the same state.
 *
 * Isolation is a snapshot, not a transaction: the run saves both databases first, restores them
 * before every file and once more at the end. A file then runs as the app does — its writes commit,
 * go through the bridge to rds, reach the replica, wake await_writes and pg_cron — and still leaves
 * nothing behind, on rds included. A file wrapped in a transaction that is rolled back could not see
 * its own writes through the replica (they reach it only once committed on rds).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { CONTAINER_CA_FILE } from '../config/tls.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { putFiles } from '../docker/archive.ts';
import { findContainer } from '../docker/containers.ts';
import { execIn } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { SQL_DIR } from '../paths.ts';
import { CUSTOM_SUPERUSER, PG_PORT, RDS_MASTER_USER } from '../spec/stack.ts';
import { removeSnapshot, restoreSnapshot, saveSnapshot } from './snapshot.ts';

export const DB_TEST_TARGETS = ['rds', 'custom'] as const;
export type DbTestTarget = (typeof DB_TEST_TARGETS)[number];

export interface DbTestFile {
  target: DbTestTarget;
  /** As the project names it: db/tests/custom/010_owner.sql. */
  name: string;
  sql: string;
}

/** One assertion's result, as TAP said it. */
export interface DbTestResult {
  n: number;
  ok: boolean;
  description: string;
  /** TODO or SKIP: not a failure. */
  directive?: string;
  /** The line of the statement that made it (from the statement psql echoed before it). */
  line?: number;
  /** pgTAP's diagnostics after a failure: have / want. */
  diag: string[];
}

export interface DbTestFileResult {
  file: DbTestFile;
  results: DbTestResult[];
  planned?: number;
  /** What stopped the file before its end (a syntax error, say), in psql's words with the file's line. */
  error?: string;
  passed: boolean;
  ms: number;
  /** pg_prove's TAP output, as it printed it (without the statements echoed for the line numbers). */
  tap: string[];
}

/** The snapshot a run saves first and restores before each file (a name no user snapshot takes). */
export const TEST_SNAPSHOT = 'pgapp_test_run';

/** The test files under `root`/db/tests/<target>, in name order. */
export function dbTestFiles(root: string): DbTestFile[] {
  const out: DbTestFile[] = [];
  for (const target of DB_TEST_TARGETS) {
    const dir = join(root, 'db', 'tests', target);
    let names: string[];
    try {
      names = readdirSync(dir).filter((f) => f.endsWith('.sql'));
    } catch {
      continue;
    }
    for (const f of names.sort())
      out.push({ target, name: `db/tests/${target}/${f}`, sql: readFileSync(join(dir, f), 'utf8') });
  }
  return out;
}

const TAP_LINE = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)(?:\s+#\s*(TODO|SKIP)\b(.*))?$/i;

/**
 * pg_prove's verbose output for one file, psql echoing every non-empty line of the file as it reads
 * it (ECHO=all) before the results of the statement that line ends: the results, each with the line
 * of the statement that made it.
 */
export function parseProve(
  output: string,
  sql: string,
): { results: DbTestResult[]; planned?: number; tap: string[] } {
  const results: DbTestResult[] = [];
  const tap: string[] = [];
  let planned: number | undefined;
  const file = sql.split('\n').map((l) => l.replace(/\r$/, ''));
  let pos = 0; // the next line of the file psql will echo
  let last = -1; // the last line it echoed: the end of the statement whose results follow
  /** The first line of the statement that ends at `end` (0-based in, 1-based out). */
  const statementStart = (end: number): number => {
    let i = end;
    while (i > 0) {
      const prev = (file[i - 1] as string).trim();
      if (prev === '' || prev.startsWith('--') || prev.endsWith(';')) break;
      i--;
    }
    return i + 1;
  };
  for (const raw of output.split('\n')) {
    // pg_prove's own: "<file> .. " before the file's output.
    const text = raw.replace(/^\S+\.sql \.+ ?/, '');
    while (pos < file.length && (file[pos] as string).trim() === '') pos++;
    if (pos < file.length && text === file[pos]) {
      last = pos++;
      continue;
    }
    const trimmed = text.trim();
    const plan = /^1\.\.(\d+)/.exec(trimmed);
    const m = TAP_LINE.exec(trimmed);
    if (plan) {
      planned = Number(plan[1]);
      tap.push(text);
    } else if (m && (m[2] !== undefined || trimmed === 'ok' || trimmed === 'not ok' || m[3])) {
      if (trimmed === 'ok' && results.length > 0 && planned !== undefined && results.length >= planned)
        continue; // pg_prove's verdict
      const directive = m[4]?.toUpperCase();
      results.push({
        n: m[2] ? Number(m[2]) : results.length + 1,
        ok: m[1]?.toLowerCase() === 'ok',
        description: (m[3] ?? '').trim(),
        ...(directive ? { directive } : {}),
        ...(last >= 0 ? { line: statementStart(last) } : {}),
        diag: [],
      });
      tap.push(text);
    } else if (/^\s*#/.test(text)) {
      tap.push(text);
      const t = results.at(-1);
      if (t && !t.ok) t.diag.push(text.replace(/^\s*#\s?/, ''));
    }
  }
  return { results, ...(planned !== undefined ? { planned } : {}), tap };
}

/** psql's error for a file, with the project's file name and line: `db/tests/custom/x.sql:3: ERROR: …`. */
export function psqlError(stderr: string, file: DbTestFile, path: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^psql:/.test(l) && /(ERROR|FATAL)/.test(l));
  if (lines.length === 0) return undefined;
  return lines
    .map((l) => l.replace(`psql:${path}`, file.name).replace(/^psql:\S+?:/, `${file.name}:`))
    .join('\n');
}

/** pgTAP (and on custom, the helpers that make a test an API caller) in the state a file starts from. */
async function install(target: DbTestTarget, c: pg.Client): Promise<void> {
  try {
    await c.query('CREATE SCHEMA IF NOT EXISTS pgtap; CREATE EXTENSION IF NOT EXISTS pgtap SCHEMA pgtap');
  } catch (err) {
    throw new PgappError(
      `pgTAP is not available on ${target}: ${(err as Error).message}`,
      'The images carry it (postgresql-<version>-pgtap): run `npm run dev` to bring the stack onto them, then `pgapp test` again.',
    );
  }
  if (target === 'custom') await c.query(readFileSync(join(SQL_DIR, 'tests', 'custom_helpers.sql'), 'utf8'));
}

export interface RunDbTestsOptions {
  /** Each file's result as it finishes (for progress). */
  onFile?: (r: DbTestFileResult) => void;
  signal?: AbortSignal;
}

/** Run `files` against the running stack, each from the state it had when the run began. */
export async function runDbTests(
  config: Config,
  secrets: Secrets,
  files: DbTestFile[],
  opts: RunDbTestsOptions = {},
): Promise<DbTestFileResult[]> {
  if (config.remote && files.some((f) => f.target === 'rds'))
    throw new PgappError(
      `pgapp test runs db/tests/rds on the RDS stand-in, and "${config.project}" is bridged to ${config.remote.host}`,
      'Each file starts from a snapshot of both servers, which a real RDS cannot restore: run those tests on a stack with the stand-in (no --rds-url).',
    );
  const custom = await findContainer(config.project, 'custom');
  if (custom?.State !== 'running')
    throw new PgappError(
      `The stack "${config.project}" is not running`,
      'Start it with `npm run dev`, then `pgapp test`.',
    );
  const dir = '/tmp/pgapp-tests';
  await execIn(custom.Id, ['sh', '-c', `rm -rf ${dir} && mkdir -p ${dir}`], { user: 'postgres' });
  const paths = files.map(
    (f, i) => `${String(i + 1).padStart(3, '0')}-${f.target}-${f.name.split('/').pop()}`,
  );
  await putFiles(
    custom.Id,
    dir,
    files.map((f, i) => ({ name: paths[i] as string, content: Buffer.from(f.sql) })),
  );
  const env: Record<DbTestTarget, Record<string, string>> = {
    custom: { PGHOST: '/run/postgresql', PGUSER: CUSTOM_SUPERUSER, PGDATABASE: config.project },
    rds: {
      PGHOST: 'rds',
      PGPORT: String(PG_PORT),
      PGUSER: RDS_MASTER_USER,
      PGPASSWORD: secrets.rdsMasterPassword,
      PGDATABASE: config.project,
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: CONTAINER_CA_FILE,
    },
  };
  await saveSnapshot(config, secrets, TEST_SNAPSHOT, { replace: true, signal: opts.signal });
  const out: DbTestFileResult[] = [];
  try {
    for (const [i, file] of files.entries()) {
      opts.signal?.throwIfAborted();
      const t0 = performance.now();
      const restored = await restoreSnapshot(config, secrets, TEST_SNAPSHOT, {
        undoSchemaChanges: true,
        stageNext: true,
        signal: opts.signal,
      });
      await restored.settled;
      await withClient(connectionConfig(file.target, config, secrets), (c) => install(file.target, c));
      const path = `${dir}/${paths[i]}`;
      const r = await execIn(
        custom.Id,
        ['pg_prove', '--verbose', '--set', 'ECHO=all', '--set', 'ON_ERROR_STOP=1', path],
        {
          user: 'postgres',
          env: {
            ...env[file.target],
            PGOPTIONS: '-c search_path="$user",public,pgtap -c client_min_messages=warning',
          },
        },
      );
      const parsed = parseProve(r.stdout, file.sql);
      const error = psqlError(r.stderr, file, path);
      const failed = parsed.results.some((t) => !t.ok && !t.directive);
      const incomplete = parsed.planned !== undefined && parsed.results.length !== parsed.planned;
      const result: DbTestFileResult = {
        file,
        ...parsed,
        ...(error
          ? { error }
          : r.code !== 0 && !failed
            ? {
                error: `pg_prove stopped (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`,
              }
            : incomplete
              ? { error: `planned ${parsed.planned} tests but ran ${parsed.results.length}` }
              : {}),
        passed: r.code === 0 && !failed && !error && !incomplete && parsed.results.length > 0,
        ms: Math.round(performance.now() - t0),
      };
      if (!result.error && parsed.results.length === 0)
        result.error =
          'no test ran (a pgTAP file selects plan(n) or no_plan(), then its assertions, then finish())';
      out.push(result);
      opts.onFile?.(result);
    }
  } finally {
    // Back as it was before the run, whatever happened; the run's own snapshot goes.
    const back = await restoreSnapshot(config, secrets, TEST_SNAPSHOT, { undoSchemaChanges: true });
    await back.settled;
    await removeSnapshot(config, secrets, TEST_SNAPSHOT);
    await execIn(custom.Id, ['rm', '-rf', dir], { user: 'postgres' }).catch(() => {});
  }
  return out;
}

/** The run as JUnit XML (one testsuite per file, one testcase per assertion). */
export function junitXml(results: DbTestFileResult[]): string {
  const x = (s: string) =>
    s.replace(
      /[&<>"']/g,
      (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string,
    );
  const suites = results.map((r) => {
    const failures = r.results.filter((t) => !t.ok && !t.directive).length;
    const cases = r.results.map((t) => {
      const name = `${t.n}${t.description ? ` - ${t.description}` : ''}`;
      const where = `${r.file.name}${t.line ? `:${t.line}` : ''}`;
      if (t.directive)
        return `    <testcase classname="${x(r.file.name)}" name="${x(name)}"><skipped message="${x(t.directive)}"/></testcase>`;
      if (t.ok) return `    <testcase classname="${x(r.file.name)}" name="${x(name)}"/>`;
      return `    <testcase classname="${x(r.file.name)}" name="${x(name)}"><failure message="${x(`${where}: ${name}`)}">${x(t.diag.join('\n'))}</failure></testcase>`;
    });
    if (r.error)
      cases.push(
        `    <testcase classname="${x(r.file.name)}" name="file"><error message="${x(r.error)}"/></testcase>`,
      );
    return [
      `  <testsuite name="${x(r.file.name)}" tests="${cases.length}" failures="${failures}" errors="${r.error ? 1 : 0}" time="${(r.ms / 1000).toFixed(3)}">`,
      ...cases,
      '  </testsuite>',
    ].join('\n');
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="pgapp test">\n${suites.join('\n')}\n</testsuites>\n`;
}
