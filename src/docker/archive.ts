/**
 * A data volume to and from a file on the host: the whole data directory as a gzip'd tar, through the
 * engine's archive API (`docker cp`), so no bind mount and no helper program is needed. Used for the
 * snapshot a `reset` saves, which must outlive the volumes it removes.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { LABELS, type Service } from '../spec/stack.ts';
import { docker } from './engine.ts';

/** Copy `path` out of a (stopped) container into `file` (mode 0600). */
export async function exportPath(containerId: string, path: string, file: string): Promise<void> {
  const tar = await docker().getContainer(containerId).getArchive({ path });
  await pipeline(tar, createGzip(), createWriteStream(file, { mode: 0o600 }));
}

/**
 * Make `volume` (labelled as the project's) and fill it from `file`, written by exportPath of the
 * directory the volume is mounted at: through a container that is created, never started, and removed.
 */
export async function importVolume(opts: {
  project: string;
  service: Service;
  image: string;
  /** The PostgreSQL major version of the data (the volume's label). */
  pgMajor: number;
  volume: string;
  /** Where the volume is mounted (the directory exportPath copied). */
  target: string;
  file: string;
}): Promise<void> {
  await docker().createVolume({
    Name: opts.volume,
    Labels: {
      [LABELS.project]: opts.project,
      [LABELS.service]: opts.service,
      [LABELS.postgres]: String(opts.pgMajor),
    },
  });
  const c = await docker().createContainer({
    Image: opts.image,
    Entrypoint: ['true'],
    Labels: { [LABELS.project]: opts.project },
    HostConfig: { Binds: [`${opts.volume}:${opts.target}`] },
  });
  try {
    const parent = opts.target.replace(/\/[^/]+\/?$/, '') || '/';
    // copyUIDGID: the files keep their owner (the server's user) and modes, as docker cp -a does.
    await c.putArchive(createReadStream(opts.file).pipe(createGunzip()), {
      path: parent,
      copyUIDGID: '1',
    } as unknown as Record<string, string>);
  } finally {
    await c.remove({ force: true });
  }
}

/** A tar (ustar) of a few small regular files, for the engine's archive API. Names under 100 bytes. */
export function tarOf(files: { name: string; content: Buffer }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    if (Buffer.byteLength(f.name) >= 100) throw new Error(`tarOf: name too long: ${f.name}`);
    const h = Buffer.alloc(512);
    const put = (text: string, at: number) => h.write(text, at, 'utf8');
    const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
    put(f.name, 0);
    put(octal(0o644, 8), 100);
    put(octal(0, 8), 108);
    put(octal(0, 8), 116);
    put(octal(f.content.length, 12), 124);
    put(octal(Math.floor(Date.now() / 1000), 12), 136);
    put('        ', 148); // the checksum counts its own field as spaces
    put('0', 156);
    put('ustar\0', 257);
    put('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, f.content, Buffer.alloc((512 - (f.content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Put `files` into `dir` (which must exist) of a running container, owned by root, mode 0644. */
export async function putFiles(
  containerId: string,
  dir: string,
  files: { name: string; content: Buffer }[],
): Promise<void> {
  await docker().getContainer(containerId).putArchive(tarOf(files), { path: dir });
}
