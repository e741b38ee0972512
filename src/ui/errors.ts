/** The one place errors are rendered. A PgappError is the user's to act on; anything else is a bug. */
import chalk from 'chalk';
import { PgappError } from '../errors.ts';

export function renderError(err: unknown): string {
  if (err instanceof PgappError) {
    const lines = [chalk.red.bold(`✖ ${err.message}`)];
    if (err.details)
      lines.push(
        chalk.dim(
          err.details
            .split('\n')
            .map((l) => `  │ ${l}`)
            .join('\n'),
        ),
      );
    if (err.hint) lines.push(chalk.yellow(`  hint: ${err.hint.split('\n').join('\n        ')}`));
    return lines.join('\n');
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return [
    chalk.red.bold(`✖ Unexpected error (a bug in pgapp): ${e.message}`),
    chalk.dim(e.stack ?? ''),
    chalk.yellow('  hint: please report it with the output above; `pgapp status` shows what is running.'),
  ].join('\n');
}
