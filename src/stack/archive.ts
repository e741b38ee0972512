/**
 * Snapshots that outlive the stack's volumes: the one `pgapp reset` saves first. Both servers' whole
 * data directories (stopped, so each is consistent), with the secrets their roles were made with, in
 * .pgapp/<project>/snapshots/<name>/ (mode 0700/0600, git-ignored like the rest of .pgapp). Restoring
 * one replaces the stack's volumes with them; `dev` then starts the stack on them.
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { secretsFile } from '../config/secrets.ts';
import { exportPath, importVolume } from '../docker/archive.ts';
import { dataPgMajor, findContainer } from '../docker/containers.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { stateDir } from '../paths.ts';
import { PGDATA_VOLUME_TARGET, volumeName } from '../spec/stack.ts';
import { checkSnapshotName } from './snapshot.ts';

const SERVERS = ['rds', 'custom'] as const;

export interface ArchivedSnapshot {
  name: string;
  project: string;
  takenAt: string;
  /** The PostgreSQL major version of its data. */
  postgres: number;
  bytes: number;
}

interface ArchiveMeta {
  pgapp: 'snapshot-archive';
  project: string;
  name: string;
  takenAt: string;
  /** The PostgreSQL major version of the data (absent: saved before versions were offered, so 15). */
  postgres?: number;
}

export const archiveDir = (project: string, name: string) => join(stateDir(project), 'snapshots', name);

function readMeta(dir: string): ArchiveMeta | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as ArchiveMeta;
    return meta.pgapp === 'snapshot-archive' ? meta : undefined;
  } catch {
    return undefined;
  }
}

/** Save the (stopped) stack's data directories and secrets as archived snapshot `name`. */
export async function archiveStack(project: string, name: string): Promise<ArchivedSnapshot> {
  const postgres = (await dataPgMajor(project)) ?? 15;
  checkSnapshotName(name);
  const dir = archiveDir(project, name);
  if (existsSync(dir))
    throw new PgappError(
      `A saved snapshot "${name}" already exists in ${dir}`,
      'Choose another name, or remove it first (`pgapp snapshot rm`).',
    );
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  try {
    for (const service of SERVERS) {
      const c = await findContainer(project, service);
      if (!c) throw new Error(`${service} has no container to save`);
      if (c.State === 'running') throw new Error(`${service} is running: stop the stack first`);
      await exportPath(c.Id, PGDATA_VOLUME_TARGET, join(partial, `${service}.tar.gz`));
    }
    writeFileSync(join(partial, 'secrets.json'), readFileSync(secretsFile(project)), { mode: 0o600 });
    const meta: ArchiveMeta = {
      pgapp: 'snapshot-archive',
      project,
      name,
      takenAt: new Date().toISOString(),
      postgres,
    };
    writeFileSync(join(partial, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
    renameSync(partial, dir); // whole, or not there
    return { name, project, takenAt: meta.takenAt, postgres, bytes: dirBytes(dir) };
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw new PgappError(
      `Could not save snapshot "${name}" of "${project}": ${errorMessage(err)}`,
      'Nothing was removed. See `pgapp status`; free disk space if that is what failed.',
    );
  }
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

export function listArchives(project: string): ArchivedSnapshot[] {
  const root = join(stateDir(project), 'snapshots');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => !n.endsWith('.partial'))
    .flatMap((n) => {
      const meta = readMeta(join(root, n));
      return meta
        ? [
            {
              name: n,
              project: meta.project,
              takenAt: meta.takenAt,
              postgres: meta.postgres ?? 15,
              bytes: dirBytes(join(root, n)),
            },
          ]
        : [];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function findArchive(project: string, name: string): ArchivedSnapshot | undefined {
  return listArchives(project).find((a) => a.name === name);
}

/** Throws unless every file a restore needs is there and readable (checked before the stack goes). */
export function checkArchive(project: string, name: string): void {
  const dir = archiveDir(project, name);
  for (const f of ['rds.tar.gz', 'custom.tar.gz', 'secrets.json']) {
    try {
      accessSync(join(dir, f), constants.R_OK);
      if (statSync(join(dir, f)).size === 0) throw new Error('empty');
    } catch (err) {
      throw new PgappError(
        `Snapshot "${name}" cannot be restored: ${join(dir, f)} is missing or unreadable (${errorMessage(err)})`,
        'Nothing was changed. Restore the file, or remove the snapshot (`pgapp snapshot rm`).',
      );
    }
  }
}

/**
 * Make the stack's volumes from archived snapshot `name` — the caller has removed the stack — and put
 * back the secrets its roles were made with. Returns whether the secrets file changed.
 */
export async function restoreArchive(
  project: string,
  name: string,
  images: { rds: string; custom: string },
  pgMajor: number,
): Promise<{ secretsChanged: boolean }> {
  const dir = archiveDir(project, name);
  const meta = readMeta(dir);
  if (!meta || meta.project !== project)
    throw new PgappError(
      `${dir} is not a snapshot of "${project}"`,
      'Snapshots belong to the project that saved them (--project).',
    );
  for (const service of SERVERS)
    await importVolume({
      project,
      service,
      image: images[service],
      pgMajor,
      volume: volumeName(project, service),
      target: PGDATA_VOLUME_TARGET,
      file: join(dir, `${service}.tar.gz`),
    });
  const saved = readFileSync(join(dir, 'secrets.json'));
  const current = existsSync(secretsFile(project)) ? readFileSync(secretsFile(project)) : undefined;
  const secretsChanged = !current?.equals(saved);
  if (secretsChanged) {
    mkdirSync(stateDir(project), { recursive: true, mode: 0o700 });
    writeFileSync(secretsFile(project), saved, { mode: 0o600 });
  }
  return { secretsChanged };
}

export function removeArchive(project: string, name: string): boolean {
  const dir = archiveDir(project, name);
  if (!readMeta(dir)) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}
