/**
 * pgapp/testing — a ready stack for your own integration tests, reused across runs:
 *
 *   import { useStack } from 'pgapp/testing';
 *   const stack = await useStack();            // ~1 s when it is already up
 *   await fetch(`${stack.apiUrl}/contacts?limit=1`);
 *
 * The stack is a project of its own (default `pgapp_test_<hash of the directory>`: one per checkout,
 * whose secrets live in its .pgapp/), never your `npm run dev` data. The first
 * call creates it; later calls (and later test runs) find its containers by label and reuse them
 * — no container is created twice. Calls at the same time (parallel workers, a process per test
 * file, two terminals) take turns on the project's lock: the first makes the stack, the others reuse it.
 *
 * Built on pgapp's own core rather than testcontainers: testcontainers publishes ports on every
 * interface (pgapp binds 127.0.0.1 only) and its reuse knows nothing of pgapp's SQL ledger.
 */
import { createHash } from 'node:crypto';
import { dev } from '../commands/dev.ts';
import { down } from '../commands/down.ts';
import { reset } from '../commands/reset.ts';
import { type DbTestRun, dbTest } from '../commands/test.ts';
import { lockProject } from '../config/lock.ts';
import { envOnly } from '../config/options.ts';
import { DEFAULTS, type PgMajor, type PortKey, type SeedSize } from '../config/schema.ts';
import { readSecrets, secretsFile } from '../config/secrets.ts';
import { removeTls } from '../config/tls.ts';
import { projectPorts, projectVolumes, removeProject } from '../docker/containers.ts';
import { freePort } from '../net/ports.ts';
import { workDir } from '../paths.ts';
import {
  listSnapshots,
  type RestoredSnapshot,
  restoreSnapshot,
  type SavedSnapshot,
  type SnapshotInfo,
  saveSnapshot,
} from '../stack/snapshot.ts';
import { type StackAccess, stackAccess } from './access.ts';

export type { DbTestFileResult } from '../stack/dbtests.ts';
export { renderDbTestFile } from '../ui/dbtests.ts';
export type { DbTestRun, RestoredSnapshot, SavedSnapshot, SnapshotInfo };

export interface TestStack extends StackAccess {
  /** Whether this call created or reused the stack, and how long it took. */
  reused: boolean;
  ms: number;
  /** Stop its containers, data kept: the next useStack() starts them again. Returns what was stopped. */
  stop(): Promise<string[]>;
  /** Remove its containers and data (the replica's slot on rds first): the next useStack() starts over. */
  reset(): Promise<{ containers: number; volumes: number; networks: number }>;
  /**
   * Save rds's and custom's databases together as snapshot `name` (one of that name is replaced):
   * e.g. once in beforeAll, after the data every test starts from is in place.
   */
  snapshot(name: string): Promise<SavedSnapshot>;
  /**
   * Put both databases back as they were at snapshot `name` — rds's data, custom's tables, cache and
   * cron jobs, the replica — with every hop answering when it returns: e.g. in beforeEach. The next
   * restore's copy is made in the background meanwhile, so a restore in a loop takes ~0.3 s.
   */
  restore(name: string): Promise<RestoredSnapshot>;
  /** The stack's snapshots. */
  snapshots(): Promise<SnapshotInfo[]>;
  /**
   * The project's pgTAP files (db/tests/rds, db/tests/custom; the example's when the project has no
   * db/), as `pgapp test` runs them: each from the same snapshot of both servers, which are put back
   * afterwards. `expect(run.passed).toBe(true)`; `renderDbTestFile` prints a file's result.
   */
  dbTests(opts?: { junit?: string }): Promise<DbTestRun>;
  /**
   * `await using stack = await useStack()`: waits for the background work of a restore. The stack
   * stays up for the next run (that is the point of reusing it); `stop()` or `reset()` end it.
   */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface UseStackOptions {
  /** Project name; default PGAPP_TEST_PROJECT or pgapp_test_<hash of the working directory>. */
  project?: string;
  seed?: SeedSize;
  cronJobs?: boolean;
  /** PostgreSQL major version of a new stack (default 17); a stack with data keeps its own unless given. */
  postgres?: PgMajor;
  /** Aborting it stops a stack being made and removes what that call created. */
  signal?: AbortSignal;
}

/** The default test project: one per checkout (its secrets live in that checkout's .pgapp/). */
export function defaultTestProject(dir = workDir()): string {
  return `pgapp_test_${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`;
}

export async function useStack(opts: UseStackOptions = {}): Promise<TestStack> {
  const project = opts.project ?? envOnly('PGAPP_TEST_PROJECT') ?? defaultTestProject();
  // Ports and stack under the project's lock: callers at the same time (parallel workers, one
  // process per test file) wait for the first, then find its stack and ports and reuse them.
  const lock = await lockProject(project, { signal: opts.signal });
  try {
    return await upUnderLock(project, opts);
  } finally {
    lock.release();
  }
}

/**
 * The default test project's name comes from this directory's path, and its secrets live in this
 * directory's .pgapp/. Data under that name without those secrets was left by an earlier checkout at
 * the same path (a CI machine whose engine outlived its clone, a re-cloned repository): test data
 * nobody can log in to any more. It is removed, and said so, so the stack is made afresh. Any other
 * project (named by the caller or PGAPP_TEST_PROJECT) keeps `dev`'s refusal: it may be someone's data.
 */
async function clearOrphanedDefault(project: string): Promise<void> {
  if (project !== defaultTestProject() || readSecrets(project)) return;
  const volumes = await projectVolumes(project);
  if (volumes.length === 0) return;
  const removed = await removeProject(project);
  removeTls(project); // a CA for that data would not match the certificate the new stack is issued
  console.warn(
    `pgapp/testing: test project "${project}" had data in Docker but no ${secretsFile(project)} ` +
      `(left by an earlier checkout at this path); removed ${removed.containers} container(s) and ` +
      `${removed.volumes} volume(s) (${volumes.join(', ')}) to start it afresh`,
  );
}

async function upUnderLock(project: string, opts: UseStackOptions): Promise<TestStack> {
  await clearOrphanedDefault(project);
  // Keep the ports it had (they are part of its spec); pick free ones the first time.
  const had = await projectPorts(project);
  const ports: Record<PortKey, number> = {
    rds: had.rds ?? (await freePort()),
    custom: had.custom ?? (await freePort()),
    postgrest: had.postgrest ?? (await freePort()),
  };
  // Hermetic: this call's options and PGAPP_TEST_* only. The caller's pgapp.config.json and PGAPP_*
  // environment (an --rds-url to a real database, say) never reach a test stack.
  const result = await dev({
    flags: {
      project,
      ports,
      postgres: opts.postgres,
      seed: opts.seed ?? 'small',
      cronJobs: opts.cronJobs ?? DEFAULTS.cronJobs,
    },
    yes: true,
    hermetic: true,
    renderer: 'silent',
    signal: opts.signal,
  });
  const own = { flags: { project, ports }, yes: true, hermetic: true };
  const { config, secrets } = result;
  // A restore's tidying (the replaced databases dropped, the next copy made) runs on after it returns,
  // under the project's lock; every later call waits for it first.
  let pending: Promise<void> = Promise.resolve();
  const locked = async <T>(fn: () => Promise<T>): Promise<T> => {
    await pending;
    const lock = await lockProject(project, { signal: opts.signal });
    try {
      return await fn();
    } finally {
      lock.release();
    }
  };
  return {
    ...stackAccess(config, secrets),
    reused: Object.values(result.actions).every((a) => a === 'reused'),
    ms: result.ms,
    stop: () => locked(() => down(own)),
    reset: () =>
      locked(async () => {
        const r = await reset(own);
        return { containers: r?.containers ?? 0, volumes: r?.volumes ?? 0, networks: r?.networks ?? 0 };
      }),
    snapshot: (name) =>
      locked(() => saveSnapshot(config, secrets, name, { replace: true, signal: opts.signal })),
    restore: async (name) => {
      await pending;
      const lock = await lockProject(project, { signal: opts.signal });
      try {
        const r = await restoreSnapshot(config, secrets, name, { stageNext: true, signal: opts.signal });
        pending = r.settled.catch(() => {}).finally(() => lock.release());
        return r;
      } catch (err) {
        lock.release();
        throw err;
      }
    },
    snapshots: () => locked(() => listSnapshots(config, secrets)),
    // dbTest takes the project's lock itself.
    dbTests: async (o = {}) => {
      await pending;
      return dbTest({ ...own, ...(o.junit ? { junit: o.junit } : {}), signal: opts.signal });
    },
    [Symbol.asyncDispose]: () => pending,
  };
}

export type { StackAccess } from './access.ts';
export { type DisposableStack, reapDisposableStacks, startDisposableStack } from './disposable.ts';
