/**
 * Docker images: whether one is here, pulling and building it (with progress; a failed build shows
 * the failing step's output), and getting one from an ordered list of sources — the first that has
 * it wins. Which sources each image has: docker/base-image.ts (local → pull → debootstrap),
 * docker/pg-images.ts (local → build), docker/postgrest-image.ts (local → pull → release tarball).
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { errorMessage, PgappError } from '../errors.ts';
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
export function follow(
  stream: NodeJS.ReadableStream,
  onEvent: (e: Record<string, unknown>) => void,
): Promise<void> {
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

export function listFiles(dir: string): string[] {
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

export interface EnsureOptions {
  progress: Progress;
  /** Asked before slow or system-changing fallbacks (debootstrap); true without asking in CI/--yes. */
  confirm: (question: string) => Promise<boolean>;
}

/** One way to get an image: it makes the image exist under the ref, or says why it could not. */
export interface ImageSource {
  source: EnsuredImage['source'];
  /**
   * true once the image is there; otherwise why not (the next source is tried). `why` holds what
   * the sources before it said. A source that must stop everything (asked, and the user said no) throws.
   */
  get: (why: string[]) => Promise<true | string>;
}

/** The image from the first of `sources` that has it; `none` is the error when no source had it. */
export async function obtainImage(
  ref: string,
  sources: ImageSource[],
  none: (why: string[]) => PgappError,
): Promise<EnsuredImage> {
  const why: string[] = [];
  for (const s of sources) {
    const got = await s.get(why);
    if (got !== true) {
      why.push(got);
      continue;
    }
    const id = await imageId(ref);
    if (id) return { ref, id, source: s.source };
    why.push(`${s.source}: reported success, but ${ref} is not there`);
  }
  throw none(why);
}

/** Source: the image is already here. */
export const localSource = (ref: string): ImageSource => ({
  source: 'local',
  get: async () => ((await imageId(ref)) ? true : 'not here'),
});

/** Source: a registry has it. */
export const pullSource = (ref: string, progress: Progress): ImageSource => ({
  source: 'pulled',
  get: async () => {
    progress(`pulling ${ref}`);
    const r = await tryPull(ref, progress);
    return r.ok ? true : r.reason;
  },
});
