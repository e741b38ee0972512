/** `pgapp gen types [--out FILE]`: the api schema's TypeScript types, for @supabase/postgrest-js. */

import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { generateTypes, writeTypes } from '../stack/typegen.ts';
import { type GlobalOptions, liveConfig, requireSecrets } from './common.ts';

/** The types as text (no --out), or the file written and whether it changed. */
export async function genTypes(
  opts: GlobalOptions & { what?: string; out?: string },
): Promise<{ text: string } | { file: string; changed: boolean }> {
  if (opts.what !== 'types')
    throw new PgappError(
      `pgapp gen ${opts.what ?? ''}: unknown`.replace(/ +:/, ':'),
      'Use `pgapp gen types [--out src/database.types.ts]`.',
    );
  await checkEngine();
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  if (opts.out) return { file: opts.out, changed: await writeTypes(config, secrets, opts.out) };
  return { text: await generateTypes(config, secrets) };
}
