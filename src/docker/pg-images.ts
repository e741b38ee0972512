/**
 * The project's own images, built from images/<kind>: tagged by the content of their build context,
 * base image and build arguments, so a change means a new image. Never pulled: local → build.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PgMajor } from '../config/schema.ts';
import { PgappError } from '../errors.ts';
import { IMAGES_DIR } from '../paths.ts';
import { LABELS } from '../spec/stack.ts';
import { baseImage, DEBIAN_SUITE, type DebianSuite, ensureBaseImage, GATEWAY_SUITE } from './base-image.ts';
import { extensionPackages, extensionsOfPackages } from './extensions.ts';
import {
  buildImage,
  type EnsuredImage,
  type EnsureOptions,
  type ImageSource,
  listFiles,
  localSource,
  obtainImage,
} from './images.ts';

/** The project's own images, each built from images/<kind>: the two Postgres servers and the API gateway. */
export type PgImage = 'postgres' | 'rds' | 'gateway';

/** Files that make up an image's build context: images/common and images/<kind>. */
function contextFiles(kind: PgImage): string[] {
  return listFiles(IMAGES_DIR).filter((f) => f.startsWith('common/') || f.startsWith(`${kind}/`));
}

/** The Debian release an image builds FROM: the gateway's is fixed, the Postgres servers' follows their major version. */
const suiteOf = (kind: PgImage, pgMajor: PgMajor): DebianSuite =>
  kind === 'gateway' ? GATEWAY_SUITE : DEBIAN_SUITE[pgMajor];

/** The base image an image builds FROM. */
export const baseOf = (kind: PgImage, pgMajor: PgMajor): string => baseImage(suiteOf(kind, pgMajor));

/** The base images a stack of PostgreSQL `pgMajor` builds from. */
export const stackBaseImages = (pgMajor: PgMajor): string[] => [
  ...new Set((['postgres', 'rds', 'gateway'] as const).map((k) => baseOf(k, pgMajor))),
];

/**
 * The build arguments of an image: its base, and for the Postgres servers their major version and the
 * extension packages they add (only when there are any, so a project without keeps the same tag).
 */
function buildArgs(kind: PgImage, pgMajor: PgMajor, packages: string[] = []): Record<string, string> {
  const base = { BASE_IMAGE: baseOf(kind, pgMajor) };
  if (kind === 'gateway') return base;
  return {
    ...base,
    PG_MAJOR: String(pgMajor),
    ...(packages.length ? { EXTENSION_PACKAGES: [...packages].sort().join(' ') } : {}),
  };
}

/**
 * Tag from the content of the build context, the base image and the build arguments, so a change
 * means a new image: pgapp/rds:pg17-<hash>, pgapp/gateway:<hash>.
 */
export function pgImageTag(kind: PgImage, baseId: string, pgMajor: PgMajor, packages: string[] = []): string {
  const args = buildArgs(kind, pgMajor, packages);
  const h = createHash('sha256').update(baseId).update(JSON.stringify(args));
  for (const f of contextFiles(kind)) {
    h.update(f)
      .update('\0')
      .update(readFileSync(join(IMAGES_DIR, f)))
      .update('\0');
  }
  return `pgapp/${kind}:${'PG_MAJOR' in args ? `pg${pgMajor}-` : ''}${h.digest('hex').slice(0, 12)}`;
}

/**
 * The custom Postgres, the RDS stand-in or the gateway: local (same content tag) → build. Not published,
 * never pulled. `extensions`: the project's, whose packages (docker/extensions.ts) the servers add.
 */
export async function ensurePgImage(
  kind: PgImage,
  pgMajor: PgMajor,
  opts: EnsureOptions,
  extensions: string[] = [],
): Promise<EnsuredImage> {
  const baseId = (await ensureBaseImage(opts, suiteOf(kind, pgMajor))).id;
  const wanted = extensionPackages(extensions, pgMajor);
  const packages = kind === 'postgres' ? wanted.custom : kind === 'rds' ? wanted.rds : [];
  const tag = pgImageTag(kind, baseId, pgMajor, packages);
  const build: ImageSource = {
    source: 'built',
    get: async () => {
      await buildImage(
        {
          tag,
          context: IMAGES_DIR,
          dockerfile: `${kind}/Dockerfile`,
          files: contextFiles(kind),
          buildArgs: buildArgs(kind, pgMajor, packages),
          labels: {
            'pgapp.image': kind,
            ...(kind === 'gateway' ? {} : { [LABELS.postgres]: String(pgMajor) }),
          },
        },
        opts.progress,
      ).catch((err) => {
        throw missingPackages(err, extensions, pgMajor) ?? err;
      });
      return true;
    },
  };
  return obtainImage(
    tag,
    [localSource(tag), build],
    () =>
      new PgappError(`Building ${tag} reported success but the image is missing`, 'Run the command again.'),
  );
}

/** A build that stopped because Debian has no package for an extension: said in the extension's words. */
export function missingPackages(
  err: unknown,
  extensions: string[],
  pgMajor: PgMajor,
): PgappError | undefined {
  const text = err instanceof PgappError ? `${err.message}\n${err.details ?? ''}` : '';
  // The step's output line, not the step's own command (which holds the same words): a line of its own.
  const m = /^pgapp: Debian has no package:([^\n]*)$/m.exec(text);
  if (!m) return undefined;
  const packages = (m[1] as string).trim().split(/\s+/);
  const names = extensionsOfPackages(packages, extensions, pgMajor);
  const suite = DEBIAN_SUITE[pgMajor];
  return new PgappError(
    `PostgreSQL ${pgMajor}'s Debian (${suite}) has no package for extension${names.length === 1 ? '' : 's'} ${names.join(', ') || packages.join(', ')} (${packages.join(', ')})`,
    [
      `Nothing was changed. Either drop ${names.length === 1 ? 'it' : 'them'} from "extensions" in pgapp.config.json (and from the CREATE EXTENSION in db/rds/migrations),`,
      pgMajor === 15
        ? 'or use PostgreSQL 17 (Debian trixie packages more, pgvector among them): `pgapp dev --postgres 17` on a new project,'
        : '',
      'or check the name: CREATE EXTENSION takes it as `SELECT name FROM pg_available_extensions` lists it.',
    ]
      .filter(Boolean)
      .join('\n'),
  );
}
