/** `pgapp reset`: remove the stack's containers, data and CA (asking first, offering a snapshot). */
import { lockProject } from '../config/lock.ts';
import { confirmPrompt, textPrompt } from '../config/prompts.ts';
import { readSecrets } from '../config/secrets.ts';
import { removeTls } from '../config/tls.ts';
import { findContainer, projectContainers, removeProject, stopProject } from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { type ArchivedSnapshot, archiveStack, findArchive } from '../stack/archive.ts';
import { dropRemoteObjects } from '../stack/remote.ts';
import { dropReplica, slotLeftHint } from '../stack/replica.ts';
import { checkSnapshotName } from '../stack/snapshot.ts';
import { commandConfig, type GlobalOptions, isInteractive, liveConfig } from './common.ts';

export interface ResetResult {
  containers: number;
  volumes: number;
  networks: number;
  note?: string;
  /** The snapshot saved first (`--snapshot NAME`, or named at the prompt). */
  snapshot?: ArchivedSnapshot;
  /** What --drop-remote removed from a real rds. */
  droppedRemote?: string[];
}

export async function reset(
  opts: GlobalOptions & { snapshot?: string; dropRemote?: boolean },
): Promise<ResetResult | undefined> {
  const config = commandConfig(opts);
  await checkEngine();
  if (opts.dropRemote && !config.remote)
    throw new PgappError(
      '--drop-remote removes what pgapp made on a real rds, and no --rds-url says which',
      'Give the --rds-url the stack bridges to (as `dev` had it, or "rdsUrl" in pgapp.config.json); a stack on the stand-in needs no --drop-remote.',
    );
  let snapshot = opts.snapshot === undefined ? undefined : checkSnapshotName(opts.snapshot);
  const fresh = (name: string) => {
    checkSnapshotName(name);
    if (findArchive(config.project, name))
      throw new PgappError(`A saved snapshot "${name}" already exists`, 'Choose another name.');
  };
  if (snapshot) fresh(snapshot);
  if (!opts.yes) {
    if (!isInteractive(false)) {
      throw new PgappError(
        `reset deletes every container and all data of "${config.project}" and needs confirmation`,
        'Run it in a terminal to be asked, or pass --yes (and --snapshot NAME to save the data first).',
      );
    }
    const ok = await confirmPrompt(
      `Delete the containers and ALL DATA of "${config.project}" (rds and custom volumes)?`,
    );
    if (!ok) return undefined;
    const exists = (await projectContainers(config.project)).length > 0;
    if (exists && snapshot === undefined) {
      const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
      const name = await textPrompt(
        'Save the data as a snapshot first, so this can be undone? Its name (empty: no snapshot)',
        { default: `before-reset-${stamp}`, check: (v) => v === '' || fresh(v) },
      );
      snapshot = name || undefined;
    }
  }
  const lock = await lockProject(config.project);
  try {
    const result = await removeStack(opts, config.project, snapshot);
    // On a real rds, what pgapp made there (its slot went with the stack): only when asked.
    const secrets = readSecrets(config.project);
    if (opts.dropRemote && secrets) result.droppedRemote = await dropRemoteObjects(config, secrets);
    // A fresh start: the next `dev` issues a new CA and certificate (secrets stay, for saved snapshots).
    removeTls(config.project);
    return result;
  } finally {
    lock.release();
  }
}

/** Remove a stack (its replica's slot on rds first), saving it as archived snapshot `snapshot` first. */
export async function removeStack(
  opts: GlobalOptions,
  project: string,
  snapshot?: string,
): Promise<ResetResult> {
  // A subscription's slot lives on rds — on a real one (--rds-url) it would outlive the stack and keep
  // WAL there: drop it first while custom runs.
  let note: string | undefined;
  const secrets = readSecrets(project);
  const custom = await findContainer(project, 'custom');
  if (secrets && custom?.State === 'running') {
    const left = await dropReplica(await liveConfig(opts), secrets).catch(() => undefined);
    if (left?.slotLeft) note = slotLeftHint(left.slotLeft);
  }
  // The snapshot from stopped servers (each data directory consistent), before anything is removed.
  let saved: ArchivedSnapshot | undefined;
  if (snapshot) {
    await stopProject(project);
    saved = await archiveStack(project, snapshot);
  }
  return { ...(await removeProject(project)), note, snapshot: saved };
}
