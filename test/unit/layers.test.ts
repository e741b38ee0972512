/**
 * The layers of src/ hold (docs/architecture.md draws them): a module imports only from its own
 * layer or the ones below. Read from the import statements themselves, so a new upward import fails
 * CI with the file and the line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.ts';

/** Bottom to top. A folder of src/ (or a file at its root) and everything in it. */
const LAYERS = [
  ['errors.ts', 'paths.ts', 'files.ts'],
  ['net', 'auth'],
  ['config'],
  ['spec'],
  ['db'],
  ['docker'],
  ['stack', 'deploy'],
  ['commands'],
  ['ui'],
  ['cli.ts', 'testing'],
];

const SRC = join(PACKAGE_ROOT, 'src');
/** The images' own programs (the gateway's gateway.mjs): standalone, importing nothing of src/ — below every layer. */
const IMAGES = join(PACKAGE_ROOT, 'images');
const layerOf = (file: string): number => {
  if (!relative(IMAGES, file).startsWith('..')) return -1;
  const top = relative(SRC, file).split('/')[0] as string;
  const i = LAYERS.findIndex((l) => l.includes(top));
  if (i < 0) throw new Error(`${relative(PACKAGE_ROOT, file)} is in no layer: add its folder to LAYERS`);
  return i;
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The imports of one module (its text) that reach a layer above its own. */
function upwardImports(file: string, text: string): string[] {
  const from = layerOf(file);
  const found: string[] = [];
  text.split('\n').forEach((line, n) => {
    const m =
      /^\s*(?:import|export)\b.*?from\s+'(\.{1,2}\/[^']+)'/.exec(line) ??
      /^\s*}\s*from\s+'(\.{1,2}\/[^']+)'/.exec(line);
    if (!m) return;
    const target = resolve(dirname(file), m[1] as string);
    const to = layerOf(target);
    if (to > from)
      found.push(
        `${relative(PACKAGE_ROOT, file)}:${n + 1} (${LAYERS[from]?.join('/')}) imports ${relative(SRC, target)} (${LAYERS[to]?.join('/')}, above it)`,
      );
  });
  return found;
}

describe('layers', () => {
  it('every module of src/ imports only its own layer or those below', () => {
    expect(sources(SRC).flatMap((f) => upwardImports(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('the check sees an upward import, a multi-line one too, and a folder in no layer', () => {
    const file = join(SRC, 'db', 'connect.ts');
    expect(upwardImports(file, "import type { Config } from '../config/schema.ts';")).toEqual([]);
    expect(upwardImports(file, "import {\n  a,\n} from '../stack/replica.ts';")).toEqual([
      'src/db/connect.ts:3 (db) imports stack/replica.ts (stack/deploy, above it)',
    ]);
    expect(() => upwardImports(join(SRC, 'nowhere', 'x.ts'), '')).toThrow(/in no layer/);
  });
});
