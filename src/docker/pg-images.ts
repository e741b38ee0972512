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
import { type ImageAdditions, type ImageNeeds, imageAdditions } from './extensions.ts';
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

/** The build arguments of what the project adds (docker/extensions.ts): only those it has. */
export function additionArgs(added?: ImageAdditions): Record<string, string> {
  const custom = added?.custom;
  return {
    ...(added?.packages.length ? { EXTENSION_PACKAGES: added.packages.join(' ') } : {}),
    ...(custom?.extensions.length ? { CUSTOM_EXTENSIONS: custom.extensions.join(' ') } : {}),
    ...(custom?.modules.length ? { PYTHON_MODULES: custom.modules.join(' ') } : {}),
    // One line, whatever the settings hold (compose passes it through .env).
    ...(custom?.conf ? { CUSTOM_CONF: Buffer.from(custom.conf).toString('base64') } : {}),
  };
}

/**
 * The build arguments of an image: its base, and for the Postgres servers their major version and what
 * the project adds — only what there is, so a project without keeps the same tag.
 */
function buildArgs(kind: PgImage, pgMajor: PgMajor, added?: ImageAdditions): Record<string, string> {
  const base = { BASE_IMAGE: baseOf(kind, pgMajor) };
  if (kind === 'gateway') return base;
  return { ...base, PG_MAJOR: String(pgMajor), ...additionArgs(added) };
}

/**
 * Tag from the content of the build context, the base image and the build arguments, so a change
 * means a new image: pgapp/rds:pg17-<hash>, pgapp/gateway:<hash>.
 */
/**
 * How an image is built — its context, Dockerfile, arguments, and the project's additions — the same
 * for a local build and for the cloud's asset build (src/deploy/settings.ts).
 */
export function imageBuild(kind: PgImage, pgMajor: PgMajor, needs?: ImageNeeds) {
  const added = kind !== 'gateway' && needs ? imageAdditions(kind, needs, pgMajor) : undefined;
  return {
    context: IMAGES_DIR,
    dockerfile: `${kind}/Dockerfile`,
    buildArgs: buildArgs(kind, pgMajor, added),
    added,
  };
}

export function pgImageTag(kind: PgImage, baseId: string, pgMajor: PgMajor, added?: ImageAdditions): string {
  const args = buildArgs(kind, pgMajor, added);
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
 * never pulled. `needs`: the project's (its schema's extensions, custom's own), which the servers add.
 */
export async function ensurePgImage(
  kind: PgImage,
  pgMajor: PgMajor,
  opts: EnsureOptions,
  needs?: ImageNeeds,
): Promise<EnsuredImage> {
  const baseId = (await ensureBaseImage(opts, suiteOf(kind, pgMajor))).id;
  const { added, ...how } = imageBuild(kind, pgMajor, needs);
  const tag = pgImageTag(kind, baseId, pgMajor, added);
  const build: ImageSource = {
    source: 'built',
    get: async () => {
      await buildImage(
        {
          tag,
          ...how,
          files: contextFiles(kind),
          labels: {
            'pgapp.image': kind,
            ...(kind === 'gateway' ? {} : { [LABELS.postgres]: String(pgMajor) }),
          },
        },
        opts.progress,
      ).catch((err) => {
        throw (added && (missingPackages(err, added, pgMajor) ?? customRefused(err))) ?? err;
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

/** The lines a failed build printed (its error's message and details). */
const buildText = (err: unknown): string =>
  err instanceof PgappError ? `${err.message}\n${err.details ?? ''}` : '';

/** A build that stopped because Debian has no package: said in the words of what asked for it. */
export function missingPackages(
  err: unknown,
  added: ImageAdditions,
  pgMajor: PgMajor,
): PgappError | undefined {
  // The step's output line, not the step's own command (which holds the same words): a line of its own.
  const m = /^pgapp: Debian has no package:([^\n]*)$/m.exec(buildText(err));
  if (!m) return undefined;
  const packages = (m[1] as string).trim().split(/\s+/);
  const wanted = packages.map((p) => `${(added.wantedBy[p] ?? ['package']).join(', ')} (${p})`);
  const suite = DEBIAN_SUITE[pgMajor];
  const python = packages.some((p) => p.startsWith('python3-'));
  return new PgappError(
    `PostgreSQL ${pgMajor}'s Debian (${suite}) has no package for ${wanted.join('; ')}`,
    [
      'Nothing was changed. Either drop it from pgapp.config.json ("extensions", or "custom") and from the SQL that uses it,',
      pgMajor === 15
        ? 'or use PostgreSQL 17 (Debian trixie packages more, pgvector among them): `pgapp dev --postgres 17` on a new project,'
        : '',
      python
        ? "or check the name: a Python library is Debian's python3-<name> (`apt-cache search python3-` on Debian lists them; scikit-learn is python3-sklearn)."
        : 'or check the name: CREATE EXTENSION takes it as `SELECT name FROM pg_available_extensions` lists it.',
    ]
      .filter(Boolean)
      .join('\n'),
  );
}

/**
 * A build whose throwaway server refused the project's custom settings, an extension or a Python
 * library (images/postgres/check-custom.sh prints each as `pgapp: custom refuses: …`).
 */
export function customRefused(err: unknown): PgappError | undefined {
  const problems = [...buildText(err).matchAll(/^pgapp: custom refuses: ([^\n]*)$/gm)].map((m) => m[1]);
  if (problems.length === 0) return undefined;
  return new PgappError(
    `custom's server refused the project's settings: ${[...new Set(problems)].join('; ')}`,
    'Fix "custom" in pgapp.config.json and run `pgapp dev` again: nothing was changed (the running custom keeps its image).',
  );
}
