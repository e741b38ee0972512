/** `pgapp images`: build or fetch the images only. */
import chalk from 'chalk';
import { checkEngine } from '../docker/engine.ts';
import {
  commandConfig,
  ensureOptions,
  ensureStackImages,
  type GlobalOptions,
  postgresAsked,
  settledConfig,
} from './common.ts';

/** Ensure every image of the stack (base, custom, rds, PostgREST) with progress on stderr. */
export async function images(opts: GlobalOptions & { postgrest: boolean }): Promise<string[]> {
  await checkEngine();
  // The version asked for; else the project's data's (settledConfig never refuses then).
  const config = postgresAsked(opts) ? commandConfig(opts) : await settledConfig(opts);
  const eo = ensureOptions(opts.yes, (line) => process.stderr.write(`${chalk.dim(line)}\n`));
  const got = await ensureStackImages(config, eo, { postgrest: opts.postgrest });
  return Object.entries(got).map(([k, v]) => `${k}: ${v.ref} (${v.source})`);
}
