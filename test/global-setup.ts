/**
 * Once per test run: make sure the Docker engine answers and the images exist (built once, reused by
 * every later run), and tell the tests whether the PostgREST image is here.
 */
import type { TestProject } from 'vitest/node';
import { DEFAULTS, POSTGREST_IMAGE } from '../src/config/schema.ts';
import { checkEngine } from '../src/docker/engine.ts';
import { imageId } from '../src/docker/images.ts';
import { ensurePgImage } from '../src/docker/pg-images.ts';
import { useStack } from '../src/testing/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    images: { custom: string; rds: string; gateway: string };
    postgrest: { available: boolean; image: string; reason: string };
  }
}

export default async function setup(project: TestProject) {
  await checkEngine(); // integration tests need a real engine: fail loudly, never skip silently
  const opts = {
    progress: (l: string) => process.env.PGAPP_TEST_VERBOSE && console.log(l),
    confirm: async () => true,
  };
  const custom = await ensurePgImage('postgres', DEFAULTS.postgres, opts);
  const rds = await ensurePgImage('rds', DEFAULTS.postgres, opts);
  const gateway = await ensurePgImage('gateway', DEFAULTS.postgres, opts);
  project.provide('images', { custom: custom.ref, rds: rds.ref, gateway: gateway.ref });
  const available = Boolean(await imageId(POSTGREST_IMAGE));
  const reason = available
    ? ''
    : `the PostgREST image ${POSTGREST_IMAGE} is not present locally (no registry here; load it or run ` +
      '`npm run images -- --postgrest-tarball postgrest-v12.2.3-linux-static-x64.tar.xz`)';
  if (!available) console.warn(`\n⚠ Tests that need PostgREST are SKIPPED: ${reason}\n`);
  project.provide('postgrest', { available, image: POSTGREST_IMAGE, reason });
  if (available) {
    // The shared stack, once per run: created the first time, reused (no container made) after.
    const stack = await useStack();
    console.log(
      `\npgapp test stack "${stack.project}" ${stack.reused ? 'reused' : 'created'} in ${(stack.ms / 1000).toFixed(1)} s\n`,
    );
    // Every run starts from the seed as the stack was first made: snapshot "seeded", restored by the
    // tests that write. Taken when the stack is new; after a schema change it is taken again.
    const seeded = (await stack.snapshots()).some((s) => s.name === 'seeded' && s.complete);
    const restored = seeded ? await stack.restore('seeded').catch((err: Error) => err) : undefined;
    if (!seeded || restored instanceof Error) {
      if (restored instanceof Error) console.log(`snapshot "seeded" taken again: ${restored.message}`);
      await stack.snapshot('seeded');
    }
    await stack[Symbol.asyncDispose]();
  }
}
