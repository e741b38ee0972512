import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeToken, parseDuration } from '../../src/auth/jwt.ts';
import { DEFAULTS } from '../../src/config/schema.ts';
import { generateSecret } from '../../src/config/secrets.ts';
import { specHash, stackSpec } from '../../src/spec/stack.ts';

const secrets = {
  rdsMasterPassword: 'a',
  customPassword: 'b',
  bridgePassword: 'c',
  authenticatorPassword: 'd',
  jwtSecret: 'e'.repeat(43),
  replicatorPassword: 'f',
  explainKey: 'g',
};
const images = { rds: 'r', custom: 'c', postgrest: 'p', gateway: 'g' };
const tls = { stateDir: '/x', rdsCertSha256: 'ab' };

describe('jwt', () => {
  it('signs HS256 tokens PostgREST can verify', () => {
    const t = makeToken('s'.repeat(32), {
      role: 'web_user',
      expiresIn: 60,
      claims: { sub: '7' },
      now: 1_000_000,
    });
    const [h, p, sig] = t.split('.');
    expect(JSON.parse(Buffer.from(p as string, 'base64url').toString())).toEqual({
      sub: '7',
      role: 'web_user',
      iat: 1000,
      exp: 1060,
    });
    expect(sig).toBe(createHmac('sha256', 's'.repeat(32)).update(`${h}.${p}`).digest('base64url'));
  });
  it('parses durations', () => {
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('7d')).toBe(604800);
    expect(parseDuration('soon')).toBeUndefined();
  });
  it('generates secrets of 32 random bytes', () => {
    const s = generateSecret();
    expect(Buffer.from(s, 'base64url')).toHaveLength(32);
    expect(generateSecret()).not.toBe(s);
  });
});

describe('stack spec', () => {
  it('binds every host port on 127.0.0.1 via the spec and names services as fixed', () => {
    const spec = stackSpec(DEFAULTS, secrets, images, tls);
    expect(Object.keys(spec)).toEqual(['rds', 'custom', 'postgrest', 'gateway']);
    expect(spec.postgrest.ports).toEqual([]); // only the gateway reaches it
    expect(spec.gateway.ports).toEqual([{ container: 3000, host: 3000 }]);
    expect(spec.postgrest.env.PGRST_DB_URI).toBe('postgres://authenticator:d@custom:5432/pgapp');
    expect(spec.custom.cmd).toEqual(['-c', 'cron.database_name=pgapp']);
  });
  it("mounts the project's CA in rds and custom, rds's certificate (never the CA key) in rds only", () => {
    const spec = stackSpec(DEFAULTS, secrets, images, tls);
    expect(spec.rds.binds).toEqual([
      { source: '/x/tls/rds', target: '/etc/pgapp/tls' },
      { source: '/x/tls/ca', target: '/etc/pgapp/ca' },
      { source: '/x/rds-parameters', target: '/etc/pgapp/parameter-group' },
    ]);
    expect(spec.custom.binds).toEqual([{ source: '/x/tls/ca', target: '/etc/pgapp/ca' }]);
    expect(spec.rds.env.PGAPP_TLS_CERT_SHA256).toBe('ab');
    // A rotated certificate re-creates rds.
    const rotated = stackSpec(DEFAULTS, secrets, images, { ...tls, rdsCertSha256: 'cd' }).rds;
    expect(specHash(rotated, 'sha256:1')).not.toBe(specHash(spec.rds, 'sha256:1'));
  });
  it('hash changes with the image ID and the spec, not with readiness probing', () => {
    const spec = stackSpec(DEFAULTS, secrets, images, tls).rds;
    expect(specHash(spec, 'sha256:1')).toBe(specHash({ ...spec }, 'sha256:1'));
    expect(specHash(spec, 'sha256:1')).not.toBe(specHash(spec, 'sha256:2'));
    expect(specHash(spec, 'sha256:1')).not.toBe(
      specHash({ ...spec, env: { ...spec.env, X: '1' } }, 'sha256:1'),
    );
  });
});
