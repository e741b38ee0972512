/**
 * Disposable stacks: one per suite, removed at its end — built on testcontainers'
 * DockerComposeEnvironment over pgapp's generated compose.yaml (the same spec and SQL ledger as
 * `pgapp dev`, every host port on 127.0.0.1), with a wait strategy per service.
 *
 * Cleanup is certain without Ryuk (no registry here to pull it from, so it is not used): each stack's
 * compose project is named after the process that made it, and every start first removes the stacks
 * of processes that are gone — a test run killed half-way leaves nothing behind after the next one.
 *
 * Which to use: `useStack()` is the persistent stack, kept between runs and made by `pgapp dev` itself
 * (replica reads, snapshots, ~1 s to reuse); `startDisposableStack()` is a fresh stack from nothing
 * (~20 s) for tests that break, stop or restart what they run on. compose.yaml reads through
 * postgres_fdw (it has no step that subscribes the replica).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StartedDockerComposeEnvironment } from 'testcontainers';
import { exampleConfig } from '../config/load.ts';
import { processAlive } from '../config/lock.ts';
import { type PgMajor, resolveConfig, type SeedSize } from '../config/schema.ts';
import { newSecrets } from '../config/secrets.ts';
import { ensureTls } from '../config/tls.ts';
import { docker } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { freePort } from '../net/ports.ts';
import { PACKAGE_ROOT, projectSqlRoot, stateDir, workDir } from '../paths.ts';
import { LABELS, stackFiles } from '../spec/stack.ts';
import { composeVars } from '../stack/compose.ts';
import { ensureParameterGroupFile } from '../stack/parameters.ts';
import { type StackAccess, stackAccess } from './access.ts';

const PREFIX = 'pgapp_disposable_';
const COMPOSE_PROJECT = 'com.docker.compose.project';

export interface DisposableStack extends StackAccess {
  /** Remove its containers, volumes and network. */
  stop(): Promise<void>;
  /** `await using stack = await startDisposableStack()`: the same as stop(). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Everything of one compose project: by its labels (containers, volumes, networks), and its TLS files. */
export async function removeDisposable(project: string): Promise<number> {
  const by = (label: string) => ({ filters: { label: [`${label}=${project}`] } });
  const containers = await docker().listContainers({ all: true, ...by(COMPOSE_PROJECT) });
  for (const c of containers) await docker().getContainer(c.Id).remove({ force: true, v: true });
  const volumes = [
    ...((await docker().listVolumes(by(COMPOSE_PROJECT))).Volumes ?? []),
    ...((await docker().listVolumes(by(LABELS.project))).Volumes ?? []),
  ];
  for (const name of new Set(volumes.map((v) => v.Name)))
    await docker().getVolume(name).remove({ force: true });
  for (const n of await docker().listNetworks(by(COMPOSE_PROJECT))) await docker().getNetwork(n.Id).remove();
  rmSync(stateDir(project), { recursive: true, force: true });
  return containers.length;
}

/** Remove the disposable stacks whose process is gone (killed mid-suite); returns their names. */
export async function reapDisposableStacks(): Promise<string[]> {
  const all = await docker().listContainers({ all: true, filters: { label: [COMPOSE_PROJECT] } });
  const projects = new Set(
    all.map((c) => c.Labels[COMPOSE_PROJECT] ?? '').filter((p) => p.startsWith(PREFIX)),
  );
  const { Volumes } = await docker().listVolumes({ filters: { label: [LABELS.project] } });
  for (const v of Volumes ?? []) {
    const p = v.Labels?.[LABELS.project] ?? '';
    if (p.startsWith(PREFIX)) projects.add(p);
  }
  // Their TLS files (.pgapp/<project>/tls) too, also of stacks whose start never reached Docker.
  const states = join(workDir(), '.pgapp');
  for (const d of existsSync(states) ? readdirSync(states) : []) if (d.startsWith(PREFIX)) projects.add(d);
  const gone = [...projects].filter((p) => !processAlive(Number(p.slice(PREFIX.length).split('_')[0])));
  for (const p of gone) await removeDisposable(p);
  return gone;
}

/** A fresh stack from compose.yaml, removed by stop() (or by the next start, if this process dies). */
export async function startDisposableStack(
  opts: { seed?: SeedSize; cronJobs?: boolean; postgres?: PgMajor; startupTimeoutMs?: number } = {},
): Promise<DisposableStack> {
  await reapDisposableStacks();
  const project = `${PREFIX}${process.pid}_${randomBytes(3).toString('hex')}`;
  const secrets = newSecrets(); // in memory only: nothing of it outlives the stack
  const ports = { rds: await freePort(), custom: await freePort(), postgrest: await freePort() };
  const config = resolveConfig(exampleConfig(), {
    project,
    ports,
    postgres: opts.postgres,
    seed: opts.seed,
    cronJobs: opts.cronJobs,
  });
  ensureParameterGroupFile(project);
  // Loaded on first use: importing testcontainers installs process signal handlers (signal-exit),
  // which pgapp/testing must not do to a program that only calls useStack().
  // An optional peer dependency: a project that only uses useStack() does not install it.
  const { DockerComposeEnvironment, Wait } = await import('testcontainers').catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
      throw new PgappError(
        'startDisposableStack() runs compose.yaml through testcontainers, which is not installed',
        'npm install --save-dev testcontainers (11.14 or later; 12 needs Node 22), or use useStack() (no extra package).',
      );
    },
  );
  let started: StartedDockerComposeEnvironment | undefined;
  try {
    started = await new DockerComposeEnvironment(PACKAGE_ROOT, 'compose.yaml')
      .withProjectName(project)
      .withEnvironment(
        composeVars({
          config,
          secrets,
          files: stackFiles(project, ensureTls(project)),
          projectRoot: projectSqlRoot().root,
        }),
      )
      // Images from the same build contexts as `pgapp dev`'s (cached layers: seconds).
      .withBuild()
      // Ryuk cannot be pulled here; the reaper above removes what a killed process left.
      .withAutoCleanup(false)
      .withWaitStrategy('rds-1', Wait.forHealthCheck())
      .withWaitStrategy('custom-1', Wait.forHealthCheck())
      // The gateway is healthy once PostgREST answers through it (PostgREST has no shell to check).
      .withWaitStrategy('gateway-1', Wait.forHealthCheck())
      .withWaitStrategy('postgrest-1', Wait.forLogMessage(/Schema cache loaded/))
      .withStartupTimeout(opts.startupTimeoutMs ?? 300_000)
      .up();
  } catch (err) {
    await removeDisposable(project).catch(() => {});
    throw err;
  }
  const env = started;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= env
      .down({ removeVolumes: true, timeout: 0 })
      .then(() => removeDisposable(project))
      .then(() => {});
    return stopped;
  };
  return {
    ...stackAccess(config, secrets),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
