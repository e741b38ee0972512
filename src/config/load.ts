/**
 * Configuration layers: defaults ← pgapp.config.json ← env ← flags ← prompts (prompts live in
 * config/prompts.ts and run only on a TTY). Reading, not validating: schema.ts validates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, PgappError } from '../errors.ts';
import { configFile, projectSqlRoot } from '../paths.ts';
import { configFromEnvVars, FILE_KEYS } from './options.ts';
import { PORT_KEYS, type RawConfig } from './schema.ts';

export function readConfigFile(path = configFile()): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new PgappError(
      `Cannot read ${path}: ${errorMessage(err)}`,
      'Check the file permissions, or remove the file to use defaults.',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new PgappError(
      `${path} is not valid JSON: ${errorMessage(err)}`,
      'Fix the JSON, or delete the file and run `pgapp dev` to recreate it.',
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new PgappError(`${path} must hold a JSON object`, `Allowed keys: ${FILE_KEYS.join(', ')}.`);
  }
  const unknown = Object.keys(parsed).filter((k) => !FILE_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new PgappError(
      `Unknown key(s) in ${path}: ${unknown.join(', ')}`,
      `Allowed keys: ${FILE_KEYS.join(', ')}.`,
    );
  }
  const ports = (parsed as RawConfig).ports;
  if (ports !== undefined) {
    const bad =
      typeof ports === 'object' && ports !== null
        ? Object.keys(ports).filter((k) => !(PORT_KEYS as readonly string[]).includes(k))
        : ['(not an object)'];
    if (bad.length > 0)
      throw new PgappError(
        `Unknown port(s) in ${path}: ${bad.join(', ')}`,
        `Allowed ports: ${PORT_KEYS.join(', ')}.`,
      );
  }
  return parsed as RawConfig;
}

/**
 * The example's own settings (examples/<name>/pgapp.config.json: what its SQL needs of custom, say),
 * under everything else while a project runs the example rather than a db/ of its own.
 */
export function exampleConfig(): RawConfig {
  const { root, example } = projectSqlRoot();
  return example ? readConfigFile(join(root, 'pgapp.config.json')) : {};
}

/** Merge answers into the config file, keeping whatever else it holds. */
export function saveConfigFile(answers: RawConfig, path = configFile()): void {
  const current = readConfigFile(path);
  const next = { ...current, ...answers, ports: { ...current.ports, ...answers.ports } };
  writeFileSync(path, `${JSON.stringify(next, null, 2)}\n`);
}

function jsonEnv(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PgappError(
      `${name} is not valid JSON: ${errorMessage(err)}`,
      `For example: ${name}='{"work_mem":"8MB"}'.`,
    );
  }
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): RawConfig {
  return configFromEnvVars(env, jsonEnv);
}

/** Which fields the file, env and flags leave to the defaults (the ones a prompt may ask for). */
export function unsetFields(layers: RawConfig[]): {
  project: boolean;
  ports: Set<string>;
  postgres: boolean;
  seed: boolean;
  cronJobs: boolean;
  reads: boolean;
  schemas: boolean;
} {
  const has = (k: keyof RawConfig) => layers.some((l) => l[k] !== undefined);
  const ports = new Set<string>(PORT_KEYS.filter((p) => !layers.some((l) => l.ports?.[p] !== undefined)));
  return {
    project: !has('project'),
    ports,
    postgres: !has('postgres'),
    seed: !has('seed'),
    cronJobs: !has('cronJobs'),
    reads: !has('reads'),
    schemas: !has('schemas'),
  };
}
