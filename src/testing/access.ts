/** What a test needs to reach a stack, the same for the persistent and the disposable one. */
import { makeToken } from '../auth/jwt.ts';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { connectionUrl } from '../db/connect.ts';

export interface StackAccess {
  project: string;
  /** The API (the gateway in front of PostgREST), e.g. http://127.0.0.1:41234 */
  apiUrl: string;
  /** rds as its master user (TLS required). */
  rdsUrl: string;
  /** custom as its superuser. */
  customUrl: string;
  /** The stack's JWT secret, for tests of auth edge cases (expired, other claims). */
  jwtSecret: string;
  /** A JWT PostgREST accepts (default role web_user, user id (`sub`) "test-user", one hour). */
  token(opts?: { role?: string; claims?: Record<string, unknown>; expiresIn?: number }): string;
}

export function stackAccess(config: Config, secrets: Secrets): StackAccess {
  return {
    project: config.project,
    apiUrl: `http://127.0.0.1:${config.ports.postgrest}`,
    rdsUrl: connectionUrl('rds', config, secrets),
    customUrl: connectionUrl('custom', config, secrets),
    jwtSecret: secrets.jwtSecret,
    token: (t = {}) =>
      makeToken(secrets.jwtSecret, {
        role: t.role ?? 'web_user',
        claims: { sub: 'test-user', ...t.claims },
        expiresIn: t.expiresIn ?? 3600,
      }),
  };
}
