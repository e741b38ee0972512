import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pgapp package: where images/ and sql/ live. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const IMAGES_DIR = join(PACKAGE_ROOT, 'images');
export const SQL_DIR = join(PACKAGE_ROOT, 'sql');

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
