/**
 * pgapp snapshot save|restore|list|rm: snapshots kept in the stack's servers (fast, while it runs),
 * and those `reset` saved to .pgapp/ before removing the stack (restoring one replaces the stack).
 */

import { lockProject } from '../config/lock.ts';
import { confirmPrompt } from '../config/prompts.ts';
import { anyReplica, type Config, validatePostgres } from '../config/schema.ts';
import { readSecrets, type Secrets } from '../config/secrets.ts';
import { findContainer } from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { ensurePgImage } from '../docker/pg-images.ts';
import { PgappError } from '../errors.ts';
import { checkArchive, findArchive, listArchives, removeArchive, restoreArchive } from '../stack/archive.ts';
import {
  checkSnapshotName,
  listSnapshots,
  removeSnapshot,
  restoreSnapshot,
  type SavedSnapshot,
  type SnapshotRow,
  saveSnapshot,
} from '../stack/snapshot.ts';
import { imageNeeds } from '../stack/sql.ts';
import { ensureOptions, type GlobalOptions, isInteractive, liveConfig, postgresAsked } from './common.ts';
import { dev } from './dev.ts';
import { removeStack } from './reset.ts';

export const SNAPSHOT_ACTIONS = ['save', 'restore', 'list', 'rm'] as const;

export interface SnapshotOptions extends GlobalOptions {
  signal?: AbortSignal;
}

export interface SnapshotRestored {
  name: string;
  takenAt: string;
  kind: SnapshotRow['kind'];
  /** The replica streams again (it was re-made without a copy; a saved one is copied by `dev`). */
  replica: boolean;
  ms: number;
}

async function running(project: string): Promise<boolean> {
  for (const service of ['rds', 'custom'] as const)
    if ((await findContainer(project, service))?.State !== 'running') return false;
  return true;
}

/** The project's config, secrets and whether its servers run, with its lock held while `fn` runs. */
async function onProject<T>(
  opts: SnapshotOptions,
  fn: (config: Config, secrets: Secrets | undefined, up: boolean) => Promise<T>,
): Promise<T> {
  await checkEngine();
  const config = await liveConfig(opts);
  // Not while a dev (or another snapshot) changes the same stack.
  const lock = await lockProject(config.project, { signal: opts.signal });
  try {
    return await fn(config, readSecrets(config.project), await running(config.project));
  } finally {
    lock.release();
  }
}

const notRunning = (project: string) =>
  new PgappError(
    `The stack "${project}" is not running: snapshots are kept in its servers, saved from and restored into them while it runs`,
    'Start it with `npm run dev` first (snapshots a `reset` saved restore without it).',
  );

export function snapshotSave(
  opts: SnapshotOptions & { name?: string; force?: boolean },
): Promise<SavedSnapshot> {
  const name = checkSnapshotName(opts.name);
  return onProject(opts, (config, secrets, up) => {
    if (!up || !secrets) throw notRunning(config.project);
    return saveSnapshot(config, secrets, name, { replace: opts.force, signal: opts.signal });
  });
}

export function snapshotRestore(opts: SnapshotOptions & { name?: string }): Promise<SnapshotRestored> {
  const name = checkSnapshotName(opts.name);
  return onProject(opts, async (config, secrets, up) => {
    const inServers = up && secrets && (await listSnapshots(config, secrets)).some((s) => s.name === name);
    if (inServers && secrets) {
      const r = await restoreSnapshot(config, secrets, name, { signal: opts.signal });
      await r.settled; // the replaced databases dropped before the lock goes
      return { name, takenAt: r.takenAt, kind: 'servers', replica: r.replica, ms: r.ms };
    }
    const saved = findArchive(config.project, name);
    if (!saved && !up) throw notRunning(config.project);
    if (!saved) {
      const names = [
        ...(up && secrets ? (await listSnapshots(config, secrets)).map((s) => s.name) : []),
        ...listArchives(config.project).map((a) => a.name),
      ];
      throw new PgappError(
        `No snapshot "${name}" in project "${config.project}"`,
        names.length
          ? `Its snapshots: ${names.join(', ')}. Snapshots belong to the project that took them (--project).`
          : `It has none: \`pgapp snapshot save ${name}\` takes one. Snapshots belong to the project that took them (--project).`,
      );
    }
    // Saved by a reset: the whole stack is replaced by it.
    if (!opts.yes) {
      if (!isInteractive(false))
        throw new PgappError(
          `Restoring "${name}" (saved by a reset, ${saved.takenAt}) replaces ALL DATA of "${config.project}"`,
          'Run it in a terminal to be asked, or pass --yes (`pgapp snapshot save` or `reset --snapshot` first keeps what is there now).',
        );
      if (
        !(await confirmPrompt(
          `Replace ALL DATA of "${config.project}" with snapshot "${name}" (${saved.takenAt})?`,
        ))
      )
        throw new PgappError('Not restored', 'Nothing was changed.');
    }
    checkArchive(config.project, name);
    // Its data's PostgreSQL version comes back with it; another one asked for is refused first.
    if (postgresAsked(opts) && config.postgres !== saved.postgres)
      throw new PgappError(
        `Snapshot "${name}" holds PostgreSQL ${saved.postgres} data, but PostgreSQL ${config.postgres} was asked for`,
        `Nothing was changed. Restore it without a version (it comes back on ${saved.postgres}); a major upgrade needs a dump and restore.`,
      );
    const t0 = performance.now();
    // The servers' images make the volumes (a container that is never started); dev then uses them.
    const ensure = ensureOptions(true, () => {});
    const needs = imageNeeds(config);
    const images = {
      rds: (await ensurePgImage('rds', validatePostgres(saved.postgres), ensure, needs)).ref,
      custom: (await ensurePgImage('postgres', validatePostgres(saved.postgres), ensure, needs)).ref,
    };
    await removeStack(opts, config.project);
    await restoreArchive(config.project, name, images, saved.postgres);
    // On the ports it had (a stack made with --*-port flags keeps them).
    const up2 = await dev({ ...opts, flags: { ...opts.flags, ports: config.ports } });
    return {
      name,
      takenAt: saved.takenAt,
      kind: 'saved',
      replica: anyReplica(up2.config),
      ms: Math.round(performance.now() - t0),
    };
  });
}

export function snapshotList(opts: SnapshotOptions): Promise<SnapshotRow[]> {
  return onProject(opts, async (config, secrets, up) => [
    ...(up && secrets ? await listSnapshots(config, secrets) : []).map(
      (s): SnapshotRow => ({
        name: s.name,
        takenAt: s.takenAt,
        bytes: s.bytes,
        kind: 'servers',
        complete: s.complete,
      }),
    ),
    ...listArchives(config.project).map(
      (a): SnapshotRow => ({
        name: a.name,
        takenAt: a.takenAt,
        bytes: a.bytes,
        kind: 'saved',
        complete: true,
      }),
    ),
  ]);
}

export async function snapshotRemove(opts: SnapshotOptions & { name?: string }): Promise<void> {
  const name = checkSnapshotName(opts.name);
  const removed = await onProject(opts, async (config, secrets, up) => {
    const inServers = up && secrets ? await removeSnapshot(config, secrets, name) : false;
    return removeArchive(config.project, name) || inServers;
  });
  if (!removed)
    throw new PgappError(`No snapshot "${name}" to remove`, '`pgapp snapshot list` shows the snapshots.');
}
