/** Getting images when no registry answers: a clear way out, and build failures that show their cause. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_CUSTOM } from '../../src/config/custom.ts';
import { ensureBaseImage } from '../../src/docker/base-image.ts';
import { buildImage, imageId } from '../../src/docker/images.ts';
import { ensurePgImage } from '../../src/docker/pg-images.ts';
import { ensurePostgrestImage } from '../../src/docker/postgrest-image.ts';
import { PgappError } from '../../src/errors.ts';

const opts = { progress: () => {}, confirm: async () => true };

describe('image ensure', () => {
  it("an extension Debian does not package for the version stops the build with the extension's name (pgvector on 15)", async () => {
    // PostgreSQL 15 comes from bookworm, which has no postgresql-15-pgvector: Debian's own index says
    // so in the images' extension layer, before anything is installed.
    const err = await ensurePgImage('postgres', 15, opts, {
      extensions: ['vector', 'pg_trgm'],
      custom: NO_CUSTOM,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PgappError);
    expect(err.message).toBe(
      "PostgreSQL 15's Debian (bookworm) has no package for extension vector (postgresql-15-pgvector)",
    );
    expect(err.hint).toMatch(/Nothing was changed/);
  }, 300_000);

  it('names all three ways to get a PostgREST image that is missing and cannot be pulled', async () => {
    const err = await ensurePostgrestImage('pgapp-test/postgrest-missing:v0.0.1', undefined, opts).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(PgappError);
    expect(err.message).toMatch(/pgapp-test\/postgrest-missing:v0\.0\.1 is not here and cannot be pulled/);
    expect(err.hint).toMatch(/docker pull pgapp-test\/postgrest-missing:v0\.0\.1/);
    expect(err.hint).toMatch(/docker load -i/);
    expect(err.hint).toMatch(/--postgrest-tarball .*postgrest-v0\.0\.1-linux-static-x64\.tar\.xz/);
  });

  it('a missing base image that cannot be pulled, and no debootstrap build: says how to get one', async () => {
    const ref = 'pgapp-test/base-missing:v0';
    const declined = await ensureBaseImage({ ...opts, confirm: async () => false }, 'bookworm', ref).catch(
      (e) => e,
    );
    expect(declined).toBeInstanceOf(PgappError);
    expect(declined.message).toBe(`The base image ${ref} is missing`);
    expect(declined.hint).toMatch(/docker save`\/`docker load`/);
    expect(declined.hint).toMatch(/debootstrap/);
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent'; // no debootstrap to build it with
    try {
      const none = await ensureBaseImage(opts, 'bookworm', ref).catch((e) => e);
      expect(none).toBeInstanceOf(PgappError);
      expect(none.message).toMatch(new RegExp(`The base image ${ref} is missing and cannot be pulled \\(`));
      expect(none.hint).toMatch(/apt-get install debootstrap/);
    } finally {
      process.env.PATH = path;
    }
    expect(await imageId(ref)).toBeUndefined();
  });

  it('says when a given PostgREST tarball does not exist', async () => {
    const err = await ensurePostgrestImage(
      'pgapp-test/postgrest-missing:v0.0.1',
      '/nonexistent/postgrest.tar.xz',
      opts,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(PgappError);
    expect(err.message).toMatch(/tarball not found/);
  });

  it("surfaces a broken Dockerfile step's own output, not just 'build failed'", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgapp-broken-'));
    writeFileSync(
      join(dir, 'Dockerfile'),
      'FROM debian:bookworm-slim\nRUN echo step-one-ok\nRUN echo "the cause: missing-widget.conf" >&2 && exit 3\nRUN echo never\n',
    );
    const lines: string[] = [];
    const err = await buildImage(
      { tag: 'pgapp-test/broken:latest', context: dir, dockerfile: 'Dockerfile' },
      (l) => lines.push(l),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(PgappError);
    expect(err.message).toMatch(/at step 3\/4 : RUN echo "the cause/);
    expect(err.message).toMatch(/returned a non-zero code: 3/);
    expect(err.details).toContain('the cause: missing-widget.conf');
    expect(lines.some((l) => l.includes('step-one-ok'))).toBe(true);
  });
});
