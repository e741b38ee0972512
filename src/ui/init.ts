/** What `pgapp init` made, and what to do next. */
import chalk from 'chalk';
import type { InitResult } from '../commands/init.ts';

export function renderInit(r: InitResult): string {
  return [
    `${chalk.green('✔')} project "${r.project}" in ${r.dir}${r.example ? ` (from the ${r.example} example)` : ''}`,
    ...r.written.map((f) => chalk.dim(`  ${f}`)),
    ...(r.keptConfig ? [chalk.yellow('  pgapp.config.json was there: kept as it is')] : []),
    '',
    r.example
      ? `Next: ${chalk.bold('npx pgapp dev')} brings it up.`
      : `Next: your schema in ${chalk.bold('db/rds/migrations/010_schema.sql')} (CREATE SCHEMA, CREATE TABLE …), then ${chalk.bold('npx pgapp dev')}.`,
    chalk.dim(
      '  Or --rds-url postgres://user:pass@host/db to mirror a database that exists (its schemas, no SQL of yours needed).',
    ),
  ].join('\n');
}
