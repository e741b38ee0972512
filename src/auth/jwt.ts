/** HS256 JSON Web Tokens, as PostgREST verifies them. */
import { createHmac } from 'node:crypto';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export function signJwt(payload: Record<string, unknown>, secret: string): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Every token expires: at most a year after it is made. */
export const MAX_TOKEN_LIFETIME = 365 * 86400;

export interface TokenOptions {
  role: string;
  /** Lifetime in seconds, 1 to MAX_TOKEN_LIFETIME (default one hour). A token that never expires is never made. */
  expiresIn?: number;
  claims?: Record<string, unknown>;
  now?: number;
}

export function makeToken(secret: string, opts: TokenOptions): string {
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const payload: Record<string, unknown> = { ...opts.claims, role: opts.role, iat };
  const lifetime = opts.expiresIn ?? 3600;
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_TOKEN_LIFETIME)
    throw new RangeError(`token lifetime must be 1 to ${MAX_TOKEN_LIFETIME} seconds, not ${lifetime}`);
  payload.exp = iat + lifetime;
  return signJwt(payload, secret);
}

/** "30m", "12h", "7d", "3600" (seconds) → seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) return undefined;
  const unit: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  return Number(m[1]) * (unit[m[2] ?? ''] ?? 1);
}
