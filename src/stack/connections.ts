/**
 * How a tool or an app reaches the stack: the API, each database's connection string, tokens. One
 * place for what the summary prints, `status --json` carries and `pgapp env` writes. Pure.
 */
import { makeToken } from '../auth/jwt.ts';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionUrl } from '../db/connect.ts';

export interface ConnectionDetails {
  /** The API: the gateway in front of PostgREST. */
  api: string;
  /** libpq URLs (passwords as **** unless asked for). custom is the database an app uses. */
  databases: { custom: string; rds: string };
  /**
   * A CA file that verifies rds's certificate; null while the stand-in's certificate is its own
   * self-signed one (connect with sslmode=require, or `ssl: { rejectUnauthorized: false }` in pg).
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
    ca: null,
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
  const lines = [
    `# pgapp "${project}": how an app reaches the stack. Contains secrets: keep it out of git.`,
    `PGAPP_API_URL=${d.api}`,
    `DATABASE_URL=${d.databases.custom}`,
    `RDS_DATABASE_URL=${d.databases.rds}`,
    ...(d.tokens ? [`PGAPP_ANON_TOKEN=${d.tokens.anon}`, `PGAPP_USER_TOKEN=${d.tokens.user}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
