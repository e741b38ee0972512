import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pgapp package: where images/, sql/ and the example live. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const IMAGES_DIR = join(PACKAGE_ROOT, 'images');
export const SQL_DIR = join(PACKAGE_ROOT, 'sql');
/** pgapp's example app (a tiny CRM): what a project without SQL of its own runs, and `init --example crm` copies. */
export const EXAMPLES_DIR = join(PACKAGE_ROOT, 'examples');

/** Where a developer's own state lives: the directory pgapp runs in (or PGAPP_HOME). */
export function workDir(): string {
  return resolve(process.env.PGAPP_HOME ?? process.cwd());
}
export function stateDir(project: string): string {
  return join(workDir(), '.pgapp', project);
}
export function configFile(): string {
  return join(workDir(), 'pgapp.config.json');
}

/**
 * The project's SQL: the directory holding db/ (db/rds/migrations, db/rds/seed, db/custom) — the
 * working directory once it has a db/ (`pgapp init` makes one), else the example's.
 */
export function projectSqlRoot(): { root: string; example: boolean } {
  const own = workDir();
  if (existsSync(join(own, 'db'))) return { root: own, example: false };
  return { root: join(EXAMPLES_DIR, 'crm'), example: true };
}
