/** `pgapp token`: a JWT for the API, for a role PostgREST can switch to. */
import { MAX_TOKEN_LIFETIME, makeToken, parseDuration } from '../auth/jwt.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { PgappError } from '../errors.ts';
import { API_ROLES, AUTHENTICATOR } from '../spec/stack.ts';
import { commandConfig, type GlobalOptions, liveConfig, requireSecrets } from './common.ts';

/**
 * The roles PostgREST can switch to (granted to authenticator), as custom says; undefined when
 * custom does not answer (stack down), so only pgapp's own API roles can be vouched for.
 */
async function apiRoles(opts: GlobalOptions, secrets: Secrets): Promise<string[] | undefined> {
  try {
    const cfg = connectionConfig('custom', await liveConfig(opts), secrets);
    return await withClient(
      cfg,
      async (db) =>
        (
          await db.query<{ r: string }>(
            `SELECT rolname AS r FROM pg_roles
             WHERE pg_has_role($1, oid, 'MEMBER') AND rolname <> $1 ORDER BY 1`,
            [AUTHENTICATOR],
          )
        ).rows.map((x) => x.r),
      undefined,
      2_000,
    );
  } catch {
    return undefined;
  }
}

/**
 * Who a token speaks for: its role (default web_user) and claims, checked. A web_user acts as
 * someone: without a `sub` claim it is user "dev", whose id its writes are owned by.
 */
export function tokenIdentity(opts: { role?: string; claims?: string }): {
  role: string;
  claims: Record<string, unknown>;
} {
  const role = opts.role ?? 'web_user';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role))
    throw new PgappError(
      `Invalid role ${JSON.stringify(role)}`,
      'Use a role name such as web_user or web_anon.',
    );
  let claims: Record<string, unknown> = {};
  if (opts.claims) {
    try {
      claims = JSON.parse(opts.claims);
    } catch {
      throw new PgappError('--claims is not valid JSON', `Example: --claims '{"sub":"42"}'`);
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
      throw new PgappError('--claims must be a JSON object', `Example: --claims '{"sub":"42"}'`);
  }
  if (role === 'web_user' && claims.sub === undefined) claims.sub = 'dev';
  return { role, claims };
}

export async function token(
  opts: GlobalOptions & { role?: string; claims?: string; exp?: string },
): Promise<string> {
  const config = commandConfig(opts);
  const secrets = requireSecrets(config.project);
  const { role, claims } = tokenIdentity(opts);
  // A token for a role PostgREST cannot switch to is refused by every request: say so now.
  if (!API_ROLES.includes(role)) {
    const live = await apiRoles(opts, secrets);
    if (!live)
      throw new PgappError(
        `Cannot check role "${role}": custom is not running`,
        `Start the stack (\`npm run dev\`) to issue tokens for your own roles; ${API_ROLES.join(' and ')} need no check.`,
      );
    if (!live.includes(role))
      throw new PgappError(
        `No API role "${role}" on custom: PostgREST would refuse every request with this token`,
        `Roles PostgREST can switch to: ${live.join(', ')}. To add one, create it and GRANT it TO authenticator in sql/custom/local/.`,
      );
  }
  const expiresIn = opts.exp === undefined ? 3600 : parseDuration(opts.exp);
  if (expiresIn === undefined || expiresIn < 1 || expiresIn > MAX_TOKEN_LIFETIME)
    throw new PgappError(
      `Invalid --exp ${JSON.stringify(opts.exp)}: every token expires, within a year`,
      'Use seconds or a duration from 1s to 365d, like 30m, 12h, 7d.',
    );
  return makeToken(secrets.jwtSecret, { role, claims, expiresIn });
}
