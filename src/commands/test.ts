/**
 * `pgapp test`: the project's pgTAP files (db/tests/rds, db/tests/custom) against the running stack,
 * each from the state the stack had when the run began (stack/dbtests.ts), with JUnit XML on request.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { lockProject } from '../config/lock.ts';
import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { projectSqlRoot, workDir } from '../paths.ts';
import { type DbTestFileResult, dbTestFiles, junitXml, runDbTests } from '../stack/dbtests.ts';
import { type GlobalOptions, liveConfig, requireSecrets } from './common.ts';

export interface DbTestRun {
  files: DbTestFileResult[];
  passed: boolean;
  /** Where the JUnit XML went, when asked for. */
  junit?: string;
}

export async function dbTest(
  opts: GlobalOptions & { junit?: string; signal?: AbortSignal; onFile?: (r: DbTestFileResult) => void },
): Promise<DbTestRun> {
  await checkEngine();
  const { root, example } = projectSqlRoot();
  const files = dbTestFiles(root);
  if (files.length === 0)
    throw new PgappError(
      `No database tests: ${example ? "the example's" : "the project's"} db/tests/rds and db/tests/custom hold no .sql file (${root})`,
      "Write one, e.g. db/tests/custom/010_hello.sql with `SELECT plan(1); SELECT ok(true, 'hello'); SELECT * FROM finish();` (the README's \"Test the database itself\" has more).",
    );
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  // Not while a dev or a snapshot changes the same stack.
  const lock = await lockProject(config.project, { signal: opts.signal });
  try {
    const results = await runDbTests(config, secrets, files, { onFile: opts.onFile, signal: opts.signal });
    const run: DbTestRun = { files: results, passed: results.every((r) => r.passed) };
    if (opts.junit) {
      run.junit = resolve(workDir(), opts.junit);
      mkdirSync(dirname(run.junit), { recursive: true });
      writeFileSync(run.junit, junitXml(results));
    }
    return run;
  } finally {
    lock.release();
  }
}
