/**
 * How a tool or an app reaches the stack: the API, each database's connection string, tokens. One
 * place for what the summary prints, `status --json` carries and `pgapp env` writes. Pure.
 */
import { makeToken } from '../auth/jwt.ts';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionUrl, rdsCaFile } from '../db/connect.ts';
import { PgappError } from '../errors.ts';

export interface ConnectionDetails {
  /** The API: the gateway in front of PostgREST. */
  api: string;
  /** libpq URLs (passwords as **** unless asked for). custom is the database an app uses. */
  databases: { custom: string; rds: string };
  /**
   * The CA file that verifies rds's certificate (the URLs carry it as sslrootcert): the project's own
   * CA, or --rds-url's sslrootcert; null for a remote reached with sslmode=require.
   */
  ca: string | null;
  reads: Config['reads'];
  /** 24-hour JWTs for PostgREST (only with secrets shown). */
  tokens?: { anon: string; user: string };
}

const DAY = 86_400;

/** The summary's tokens: web_anon, and web_user with sub "dev". */
export function devTokens(secrets: Secrets): { anon: string; user: string } {
  return {
    anon: makeToken(secrets.jwtSecret, { role: 'web_anon', expiresIn: DAY }),
    user: makeToken(secrets.jwtSecret, { role: 'web_user', expiresIn: DAY, claims: { sub: 'dev' } }),
  };
}

/** A URL's password as ****. */
export const redactUrl = (url: string) => url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+:)[^@]*@/, '$1****@');

export function connectionDetails(
  config: Config,
  secrets: Secrets,
  opts: { showSecrets?: boolean } = {},
): ConnectionDetails {
  const shown = (url: string) => (opts.showSecrets ? url : redactUrl(url));
  return {
    api: `http://127.0.0.1:${config.ports.postgrest}`,
    databases: {
      custom: shown(connectionUrl('custom', config, secrets)),
      rds: shown(connectionUrl('rds', config, secrets)),
    },
    ca: rdsCaFile(config) ?? null,
    reads: config.reads,
    ...(opts.showSecrets ? { tokens: devTokens(secrets) } : {}),
  };
}

/**
 * The same as dotenv lines for an app (`pgapp env > .env.local`), secrets included. Names that are
 * also pgapp's own settings (PGAPP_RDS_URL, PGAPP_PROJECT, …) are avoided: loading this file must
 * not change what the next `pgapp dev` does.
 */
export function dotenv(project: string, d: ConnectionDetails): string {
  const vars: [string, string | undefined][] = [
    ['PGAPP_API_URL', d.api],
    ['DATABASE_URL', d.databases.custom],
    ['RDS_DATABASE_URL', d.databases.rds],
    ['PGAPP_RDS_CA', d.ca ?? undefined],
    ['PGAPP_ANON_TOKEN', d.tokens?.anon],
    ['PGAPP_USER_TOKEN', d.tokens?.user],
  ];
  const lines = [
    `# pgapp "${project}": how an app reaches the stack. Contains secrets: keep it out of git.`,
    ...vars.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${dotenvValue(v as string)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * A value both dotenv readers (node --env-file, dotenv, python-dotenv) and a shell (`set -a; . ./.env`)
 * read back unchanged: single-quoted (a URL's `&` would end a shell command), double-quoted only when
 * it holds a single quote (and nothing a shell would expand there).
 */
export function dotenvValue(v: string): string {
  if (!v.includes("'")) return `'${v}'`;
  if (/["\\$`\n]/.test(v))
    throw new PgappError(
      `Cannot write ${JSON.stringify(v)} as a dotenv value`,
      'It holds both a single quote and characters a shell expands: run pgapp from a directory whose path has neither.',
    );
  return `"${v}"`;
}
