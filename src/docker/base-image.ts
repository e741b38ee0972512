/**
 * The Debian base images the project's images build FROM: local → pull → debootstrap of the suite
 * from a Debian mirror (root, asked first), imported as the image.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envOnly } from '../config/options.ts';
import type { PgMajor } from '../config/schema.ts';
import { PgappError } from '../errors.ts';
import { docker } from './engine.ts';
import { commandExists, run } from './host.ts';
import {
  type EnsuredImage,
  type EnsureOptions,
  follow,
  type ImageSource,
  localSource,
  obtainImage,
  type Progress,
  pullSource,
} from './images.ts';

export type DebianSuite = 'bookworm' | 'trixie';
/** The Debian release each PostgreSQL major version comes from, with its pg_cron, plpython3 and pgextwlist. */
export const DEBIAN_SUITE: Record<PgMajor, DebianSuite> = { 15: 'bookworm', 17: 'trixie' };
/** The gateway (Debian's Node.js) runs on bookworm whatever the PostgreSQL version. */
export const GATEWAY_SUITE: DebianSuite = 'bookworm';
export const baseImage = (suite: DebianSuite) => `debian:${suite}-slim`;
export const DEBIAN_MIRROR = envOnly('PGAPP_DEBIAN_MIRROR') ?? 'http://deb.debian.org/debian';

/** A base image of the project's images: local → pull → debootstrap of `suite` from a Debian mirror. */
export function ensureBaseImage(
  opts: EnsureOptions,
  suite: DebianSuite,
  ref = baseImage(suite),
): Promise<EnsuredImage> {
  const hint =
    `Pull it on a machine with registry access and \`docker save\`/\`docker load\` it, or install debootstrap ` +
    `(\`apt-get install debootstrap\`, root) so pgapp can build it from a Debian mirror (${DEBIAN_MIRROR}).`;
  const missing = (why: string[]) => `The base image ${ref} is missing and cannot be pulled (${why.at(-1)})`;
  const debootstrap: ImageSource = {
    source: 'built',
    get: async (why) => {
      if (!(await commandExists('debootstrap'))) throw new PgappError(missing(why), hint);
      if (process.getuid?.() !== 0)
        throw new PgappError(missing(why), `debootstrap needs root: run \`sudo pgapp images\` once. ${hint}`);
      const ok = await opts.confirm(
        `${ref} cannot be pulled (${why.at(-1)}). Build it from ${DEBIAN_MIRROR} with debootstrap (about a minute)?`,
      );
      if (!ok) throw new PgappError(`The base image ${ref} is missing`, hint);
      await debootstrapImage(ref, suite, opts.progress);
      return true;
    },
  };
  return obtainImage(
    ref,
    [localSource(ref), pullSource(ref, opts.progress), debootstrap],
    () => new PgappError(`Importing the debootstrap root filesystem as ${ref} failed`, hint),
  );
}

/** debootstrap `suite` into a temporary directory and import it as `ref`. */
async function debootstrapImage(ref: string, suite: DebianSuite, progress: Progress): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pgapp-rootfs-'));
  try {
    await run('debootstrap', ['--variant=minbase', suite, dir, DEBIAN_MIRROR], progress);
    progress(`importing the root filesystem as ${ref}`);
    const tar = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [repo, tag] = splitRef(ref);
    const stream = await docker().importImage(
      tar.stdout as unknown as string,
      { repo, tag, changes: ['LABEL pgapp.built-by=debootstrap', 'CMD ["bash"]'] } as object,
    );
    await follow(stream as NodeJS.ReadableStream, () => {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function splitRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, 'latest'];
}
