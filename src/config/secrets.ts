/**
 * Generated secrets of one project, kept in .pgapp/<project>/secrets.json (git-ignored, mode 0600).
 * Generated once and reused, so a data volume initialised with them keeps working.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, PgappError } from '../errors.ts';
import { stateDir } from '../paths.ts';

export interface Secrets {
  /** rds master user (NOSUPERUSER, rds_superuser). */
  rdsMasterPassword: string;
  /** The custom Postgres superuser `postgres`. */
  customPassword: string;
  /** The least-privileged bridge role on rds that postgres_fdw logs in as. */
  bridgePassword: string;
  /** PostgREST's login role on custom. */
  authenticatorPassword: string;
  /** HS256 secret PostgREST verifies JWTs with. */
  jwtSecret: string;
  /** The stand-in's replication role custom's subscription logs in as (reads: replica). */
  replicatorPassword: string;
  /** Lets `pgapp explain` ask the gateway for PostgREST's query plans (nobody else may). */
  explainKey: string;
}

const KEYS: (keyof Secrets)[] = [
  'rdsMasterPassword',
  'customPassword',
  'bridgePassword',
  'authenticatorPassword',
  'jwtSecret',
];
/** Secrets added after a project's file was written: generated and saved on first use. */
const ADDED_KEYS: (keyof Secrets)[] = ['replicatorPassword', 'explainKey'];

/** 32 random bytes, URL- and connection-string-safe. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A full set of fresh secrets, in memory. */
export function newSecrets(): Secrets {
  return Object.fromEntries([...KEYS, ...ADDED_KEYS].map((k) => [k, generateSecret()])) as unknown as Secrets;
}

export function secretsFile(project: string): string {
  return join(stateDir(project), 'secrets.json');
}

export function readSecrets(project: string): Secrets | undefined {
  const file = secretsFile(project);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PgappError(
      `Cannot read ${file}: ${errorMessage(err)}`,
      'Check its permissions (it should be yours, mode 0600).',
    );
  }
  try {
    const parsed = JSON.parse(text) as Partial<Secrets>;
    const missing = KEYS.filter((k) => typeof parsed[k] !== 'string' || parsed[k] === '');
    if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}`);
    return parsed as Secrets;
  } catch (err) {
    throw new PgappError(
      `${file} is damaged: ${errorMessage(err)}`,
      `Restore it, or run \`pgapp reset --project ${project}\` to start the project over with new secrets.`,
    );
  }
}

/** The project's secrets, generating and saving them (0600) on first use. */
export function ensureSecrets(project: string): Secrets {
  const existing = readSecrets(project);
  if (existing) {
    const file = secretsFile(project);
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    const missing = ADDED_KEYS.filter((k) => !existing[k]);
    if (missing.length > 0) {
      for (const k of missing) existing[k] = generateSecret();
      writeFileSync(file, `${JSON.stringify(existing, null, 2)}\n`, { mode: 0o600 });
    }
    return existing;
  }
  const secrets = newSecrets();
  const dir = stateDir(project);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(secretsFile(project), `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return secrets;
}
