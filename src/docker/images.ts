/**
 * Getting images everywhere: local → pull (with progress) → build (with progress; a failed build
 * shows the failing step's output). Air-gapped paths: a base image made with debootstrap from a
 * Debian mirror, and PostgREST built from an official release tarball.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { envOnly } from '../config/options.ts';
import type { PgMajor } from '../config/schema.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { IMAGES_DIR } from '../paths.ts';
import { LABELS } from '../spec/stack.ts';
import { docker } from './engine.ts';

export type Progress = (line: string) => void;

export interface EnsuredImage {
  ref: string;
  id: string;
  /** How it was obtained in this call. */
  source: 'local' | 'pulled' | 'built';
}

export async function imageId(ref: string): Promise<string | undefined> {
  try {
    return (await docker().getImage(ref).inspect()).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

/** Follow a pull/build/import JSON stream, reporting progress; rejects with the stream's error. */
function follow(stream: NodeJS.ReadableStream, onEvent: (e: Record<string, unknown>) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker().modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (event: Record<string, unknown>) => onEvent(event),
    );
  });
}

/** Try to pull; false (not an error) when no registry answers or the image is not there. */
export async function tryPull(
  ref: string,
  progress: Progress,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const stream = await docker().pull(ref);
    let failure: string | undefined;
    await follow(stream, (e) => {
      if (typeof e.error === 'string') failure = e.error;
      else if (typeof e.status === 'string')
        progress(
          `${e.id ? `${e.id}: ` : ''}${e.status}${typeof e.progress === 'string' ? ` ${e.progress}` : ''}`,
        );
    });
    if (failure) return { ok: false, reason: failure };
    return { ok: true };
  } catch (err) {
    return {
      ok: false,
      reason: errorMessage(err)
        .replace(/^\(HTTP code \d+\) [a-z ]+ - /, '')
        .trim(),
    };
  }
}

export interface BuildSpec {
  tag: string;
  /** Build context directory. */
  context: string;
  /** Dockerfile path relative to the context. */
  dockerfile: string;
  /** Files of the context to send (relative paths); all files under context when absent. */
  files?: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
}

/** Build an image, streaming each step to `progress`; a failure shows the failing step's output. */
export async function buildImage(spec: BuildSpec, progress: Progress): Promise<string> {
  const src = spec.files ?? listFiles(spec.context);
  const lines: string[] = [];
  let step = '';
  let failure: string | undefined;
  try {
    const stream = await docker().buildImage(
      { context: spec.context, src },
      {
        t: spec.tag,
        dockerfile: spec.dockerfile,
        buildargs: spec.buildArgs ?? {},
        labels: spec.labels ?? {},
        rm: true,
        forcerm: true,
      },
    );
    await follow(stream, (e) => {
      if (typeof e.error === 'string') {
        failure = e.error;
        return;
      }
      if (typeof e.stream !== 'string') return;
      for (const line of e.stream.split('\n')) {
        const text = line.trimEnd();
        if (!text) continue;
        if (/^Step \d+\/\d+ : /.test(text)) {
          step = text;
          lines.length = 0;
        }
        lines.push(text);
        if (lines.length > 40) lines.shift();
        progress(text);
      }
    });
  } catch (err) {
    failure ??= errorMessage(err);
  }
  if (failure) {
    throw new PgappError(
      `Building ${spec.tag} failed${step ? ` at ${step.replace(/^Step /, 'step ')}` : ''}: ${failure.trim()}`,
      'The output of the failing step is above. Fix the Dockerfile (or the network it needs) and run again; finished steps are cached.',
      lines.join('\n'),
    );
  }
  const id = await imageId(spec.tag);
  if (!id)
    throw new PgappError(
      `Building ${spec.tag} reported success but the image is missing`,
      'Run the command again.',
    );
  return id;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

// --- base image --------------------------------------------------------------------------------

export type DebianSuite = 'bookworm' | 'trixie';
/** The Debian release each PostgreSQL major version comes from, with its pg_cron, plpython3 and pgextwlist. */
export const DEBIAN_SUITE: Record<PgMajor, DebianSuite> = { 15: 'bookworm', 17: 'trixie' };
/** The gateway (Debian's Node.js) runs on bookworm whatever the PostgreSQL version. */
export const GATEWAY_SUITE: DebianSuite = 'bookworm';
export const baseImage = (suite: DebianSuite) => `debian:${suite}-slim`;
export const DEBIAN_MIRROR = envOnly('PGAPP_DEBIAN_MIRROR') ?? 'http://deb.debian.org/debian';

export interface EnsureOptions {
  progress: Progress;
  /** Asked before slow or system-changing fallbacks (debootstrap); true without asking in CI/--yes. */
  confirm: (question: string) => Promise<boolean>;
}

/** A base image of the project's images: local → pull → debootstrap of `suite` from a Debian mirror. */
export async function ensureBaseImage(
  opts: EnsureOptions,
  suite: DebianSuite,
  ref = baseImage(suite),
): Promise<EnsuredImage> {
  const local = await imageId(ref);
  if (local) return { ref, id: local, source: 'local' };
  opts.progress(`pulling ${ref}`);
  const pulled = await tryPull(ref, opts.progress);
  if (pulled.ok) return { ref, id: (await imageId(ref)) as string, source: 'pulled' };

  const hint =
    `Pull it on a machine with registry access and \`docker save\`/\`docker load\` it, or install debootstrap ` +
    `(\`apt-get install debootstrap\`, root) so pgapp can build it from a Debian mirror (${DEBIAN_MIRROR}).`;
  if (!(await commandExists('debootstrap'))) {
    throw new PgappError(`The base image ${ref} is missing and cannot be pulled (${pulled.reason})`, hint);
  }
  if (process.getuid?.() !== 0) {
    throw new PgappError(
      `The base image ${ref} is missing and cannot be pulled (${pulled.reason})`,
      `debootstrap needs root: run \`sudo pgapp images\` once. ${hint}`,
    );
  }
  const ok = await opts.confirm(
    `${ref} cannot be pulled (${pulled.reason}). Build it from ${DEBIAN_MIRROR} with debootstrap (about a minute)?`,
  );
  if (!ok) throw new PgappError(`The base image ${ref} is missing`, hint);

  const dir = mkdtempSync(join(tmpdir(), 'pgapp-rootfs-'));
  try {
    await run('debootstrap', ['--variant=minbase', suite, dir, DEBIAN_MIRROR], opts.progress);
    opts.progress(`importing the root filesystem as ${ref}`);
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
  const id = await imageId(ref);
  if (!id) throw new PgappError(`Importing the debootstrap root filesystem as ${ref} failed`, hint);
  return { ref, id, source: 'built' };
}

function splitRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, 'latest'];
}

async function commandExists(cmd: string): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    p.on('close', (code) => resolve(code === 0));
    p.on('error', () => resolve(false));
  });
}

function run(cmd: string, args: string[], progress: Progress): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        progress(line);
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', (err) => reject(new PgappError(`${cmd} could not start: ${err.message}`)));
    p.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new PgappError(
              `${cmd} failed (exit ${code})`,
              'Check that the Debian mirror is reachable.',
              tail.join('\n'),
            ),
          ),
    );
  });
}

// --- the project's own images ------------------------------------------------------------------

/** The project's own images, each built from images/<kind>: the two Postgres servers and the API gateway. */
export type PgImage = 'postgres' | 'rds' | 'gateway';

/** Files that make up an image's build context: images/common and images/<kind>. */
function contextFiles(kind: PgImage): string[] {
  return listFiles(IMAGES_DIR).filter((f) => f.startsWith('common/') || f.startsWith(`${kind}/`));
}

/** The build arguments of an image: its base, and for the Postgres servers their major version. */
function buildArgs(kind: PgImage, pgMajor: PgMajor): Record<string, string> {
  if (kind === 'gateway') return { BASE_IMAGE: baseImage(GATEWAY_SUITE) };
  return { BASE_IMAGE: baseImage(DEBIAN_SUITE[pgMajor]), PG_MAJOR: String(pgMajor) };
}

/**
 * Tag from the content of the build context, the base image and the build arguments, so a change
 * means a new image: pgapp/rds:pg17-<hash>, pgapp/gateway:<hash>.
 */
export function pgImageTag(kind: PgImage, baseId: string, pgMajor: PgMajor): string {
  const args = buildArgs(kind, pgMajor);
  const h = createHash('sha256').update(baseId).update(JSON.stringify(args));
  for (const f of contextFiles(kind)) {
    h.update(f)
      .update('\0')
      .update(readFileSync(join(IMAGES_DIR, f)))
      .update('\0');
  }
  return `pgapp/${kind}:${'PG_MAJOR' in args ? `pg${pgMajor}-` : ''}${h.digest('hex').slice(0, 12)}`;
}

/** The custom Postgres, the RDS stand-in or the gateway: local (same content tag) → build. Not published, never pulled. */
export async function ensurePgImage(
  kind: PgImage,
  pgMajor: PgMajor,
  opts: EnsureOptions,
): Promise<EnsuredImage> {
  const suite = kind === 'gateway' ? GATEWAY_SUITE : DEBIAN_SUITE[pgMajor];
  const baseRef = baseImage(suite);
  // Fast path: when the base is present, the content tag says whether a build is needed.
  const baseId = (await imageId(baseRef)) ?? (await ensureBaseImage(opts, suite)).id;
  const tag = pgImageTag(kind, baseId, pgMajor);
  const local = await imageId(tag);
  if (local) return { ref: tag, id: local, source: 'local' };
  const id = await buildImage(
    {
      tag,
      context: IMAGES_DIR,
      dockerfile: `${kind}/Dockerfile`,
      files: contextFiles(kind),
      buildArgs: buildArgs(kind, pgMajor),
      labels: { 'pgapp.image': kind, ...(kind === 'gateway' ? {} : { [LABELS.postgres]: String(pgMajor) }) },
    },
    opts.progress,
  );
  return { ref: tag, id, source: 'built' };
}

// --- PostgREST ---------------------------------------------------------------------------------

/** PostgREST: local → pull → build from an official release tarball → stop with all three ways. */
export async function ensurePostgrestImage(
  ref: string,
  tarball: string | undefined,
  opts: EnsureOptions,
): Promise<EnsuredImage> {
  const local = await imageId(ref);
  if (local) return { ref, id: local, source: 'local' };
  opts.progress(`pulling ${ref}`);
  const pulled = await tryPull(ref, opts.progress);
  if (pulled.ok) return { ref, id: (await imageId(ref)) as string, source: 'pulled' };
  const version = ref.split(':')[1] ?? 'vX.Y.Z';
  const expected = `postgrest-${version}-linux-static-x64.tar.xz`;
  if (!tarball) {
    throw new PgappError(
      `The PostgREST image ${ref} is not here and cannot be pulled (${pulled.reason})`,
      [
        'Any one of these gives pgapp the image:',
        `  1. pull it where a registry is reachable: docker pull ${ref}`,
        `  2. load a saved copy: docker load -i postgrest.tar  (made elsewhere with docker save ${ref})`,
        `  3. build it from the official release tarball: --postgrest-tarball path/to/${expected}`,
        '     (or PGAPP_POSTGREST_TARBALL=path, or "postgrestTarball" in pgapp.config.json)',
      ].join('\n'),
    );
  }
  if (!existsSync(tarball)) {
    throw new PgappError(`PostgREST tarball not found: ${tarball}`, `Give the path of ${expected}.`);
  }
  if (basename(tarball) !== expected) {
    opts.progress(
      `note: ${basename(tarball)} does not look like ${expected}; the image is tagged ${ref} anyway`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'pgapp-postgrest-'));
  try {
    opts.progress(`extracting ${basename(tarball)}`);
    await run('tar', ['-xJf', tarball, '-C', dir], opts.progress);
    if (!existsSync(join(dir, 'postgrest'))) {
      throw new PgappError(
        `${tarball} holds no \`postgrest\` binary at its root`,
        `Use the official ${expected} from PostgREST's releases.`,
      );
    }
    copyFileSync(join(IMAGES_DIR, 'postgrest', 'Dockerfile'), join(dir, 'Dockerfile'));
    const id = await buildImage(
      {
        tag: ref,
        context: dir,
        dockerfile: 'Dockerfile',
        files: ['Dockerfile', 'postgrest'],
        labels: { 'pgapp.image': 'postgrest', 'pgapp.built-from': basename(tarball) },
      },
      opts.progress,
    );
    return { ref, id, source: 'built' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
