/** pgapp snapshot save|restore|list|rm: the core's snapshots of a running stack, under the project's lock. */
import { lockProject } from '../config/lock.ts';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { findContainer } from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import {
  checkSnapshotName,
  listSnapshots,
  type RestoredSnapshot,
  removeSnapshot,
  restoreSnapshot,
  type SavedSnapshot,
  type SnapshotInfo,
  saveSnapshot,
} from '../stack/snapshot.ts';
import { type GlobalOptions, liveConfig, requireSecrets } from './common.ts';

export const SNAPSHOT_ACTIONS = ['save', 'restore', 'list', 'rm'] as const;

export interface SnapshotOptions extends GlobalOptions {
  signal?: AbortSignal;
}

/** The running stack's config and secrets, with the project's lock held while `fn` runs. */
async function onRunningStack<T>(
  opts: SnapshotOptions,
  fn: (config: Config, secrets: Secrets) => Promise<T>,
): Promise<T> {
  await checkEngine();
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  for (const service of ['rds', 'custom'] as const) {
    if ((await findContainer(config.project, service))?.State !== 'running')
      throw new PgappError(
        `${service} of "${config.project}" is not running: snapshots are taken from and restored into a running stack`,
        'Start it with `npm run dev` first.',
      );
  }
  // Not while a dev (or another snapshot) changes the same stack.
  const lock = await lockProject(config.project, { signal: opts.signal });
  try {
    return await fn(config, secrets);
  } finally {
    lock.release();
  }
}

export function snapshotSave(
  opts: SnapshotOptions & { name?: string; force?: boolean },
): Promise<SavedSnapshot> {
  const name = checkSnapshotName(opts.name);
  return onRunningStack(opts, (config, secrets) =>
    saveSnapshot(config, secrets, name, { replace: opts.force, signal: opts.signal }),
  );
}

export function snapshotRestore(opts: SnapshotOptions & { name?: string }): Promise<RestoredSnapshot> {
  const name = checkSnapshotName(opts.name);
  return onRunningStack(opts, async (config, secrets) => {
    const r = await restoreSnapshot(config, secrets, name, { signal: opts.signal });
    await r.settled; // the replaced databases dropped before the lock goes
    return r;
  });
}

export function snapshotList(opts: SnapshotOptions): Promise<SnapshotInfo[]> {
  return onRunningStack(opts, listSnapshots);
}

export async function snapshotRemove(opts: SnapshotOptions & { name?: string }): Promise<void> {
  const name = checkSnapshotName(opts.name);
  const removed = await onRunningStack(opts, (config, secrets) => removeSnapshot(config, secrets, name));
  if (!removed)
    throw new PgappError(`No snapshot "${name}" to remove`, '`pgapp snapshot list` shows the snapshots.');
}
