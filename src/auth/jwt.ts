/** HS256 JSON Web Tokens, as PostgREST verifies them. */
import { createHmac } from 'node:crypto';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export function signJwt(payload: Record<string, unknown>, secret: string): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export interface TokenOptions {
  role: string;
  /** Lifetime in seconds; 0 = no expiry. */
  expiresIn?: number;
  claims?: Record<string, unknown>;
  now?: number;
}

export function makeToken(secret: string, opts: TokenOptions): string {
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const payload: Record<string, unknown> = { ...opts.claims, role: opts.role, iat };
  if (opts.expiresIn && opts.expiresIn > 0) payload.exp = iat + opts.expiresIn;
  return signJwt(payload, secret);
}

/** "30m", "12h", "7d", "3600" (seconds) → seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) return undefined;
  const unit: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  return Number(m[1]) * (unit[m[2] ?? ''] ?? 1);
}
