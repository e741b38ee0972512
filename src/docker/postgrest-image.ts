/** PostgREST's image: local → pull → built from an official release tarball → stop with all three ways. */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PgappError } from '../errors.ts';
import { IMAGES_DIR } from '../paths.ts';
import { run } from './host.ts';
import {
  buildImage,
  type EnsuredImage,
  type EnsureOptions,
  type ImageSource,
  localSource,
  obtainImage,
  type Progress,
  pullSource,
} from './images.ts';

/** PostgREST: local → pull → build from an official release tarball → stop with all three ways. */
export function ensurePostgrestImage(
  ref: string,
  tarball: string | undefined,
  opts: EnsureOptions,
): Promise<EnsuredImage> {
  const version = ref.split(':')[1] ?? 'vX.Y.Z';
  const expected = `postgrest-${version}-linux-static-x64.tar.xz`;
  const fromTarball: ImageSource = {
    source: 'built',
    get: async (why) => {
      if (!tarball)
        throw new PgappError(
          `The PostgREST image ${ref} is not here and cannot be pulled (${why.at(-1)})`,
          [
            'Any one of these gives pgapp the image:',
            `  1. pull it where a registry is reachable: docker pull ${ref}`,
            `  2. load a saved copy: docker load -i postgrest.tar  (made elsewhere with docker save ${ref})`,
            `  3. build it from the official release tarball: --postgrest-tarball path/to/${expected}`,
            '     (or PGAPP_POSTGREST_TARBALL=path, or "postgrestTarball" in pgapp.config.json)',
          ].join('\n'),
        );
      await buildFromTarball(ref, tarball, expected, opts.progress);
      return true;
    },
  };
  return obtainImage(
    ref,
    [localSource(ref), pullSource(ref, opts.progress), fromTarball],
    () =>
      new PgappError(`Building ${ref} reported success but the image is missing`, 'Run the command again.'),
  );
}

/** The image from the static binary in an official release tarball (images/postgrest/Dockerfile). */
async function buildFromTarball(
  ref: string,
  tarball: string,
  expected: string,
  progress: Progress,
): Promise<void> {
  if (!existsSync(tarball)) {
    throw new PgappError(`PostgREST tarball not found: ${tarball}`, `Give the path of ${expected}.`);
  }
  if (basename(tarball) !== expected) {
    progress(`note: ${basename(tarball)} does not look like ${expected}; the image is tagged ${ref} anyway`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'pgapp-postgrest-'));
  try {
    progress(`extracting ${basename(tarball)}`);
    await run('tar', ['-xJf', tarball, '-C', dir], progress);
    if (!existsSync(join(dir, 'postgrest'))) {
      throw new PgappError(
        `${tarball} holds no \`postgrest\` binary at its root`,
        `Use the official ${expected} from PostgREST's releases.`,
      );
    }
    copyFileSync(join(IMAGES_DIR, 'postgrest', 'Dockerfile'), join(dir, 'Dockerfile'));
    await buildImage(
      {
        tag: ref,
        context: dir,
        dockerfile: 'Dockerfile',
        files: ['Dockerfile', 'postgrest'],
        labels: { 'pgapp.image': 'postgrest', 'pgapp.built-from': basename(tarball) },
      },
      progress,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
