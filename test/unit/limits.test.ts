import { describe, expect, it } from 'vitest';
import { LIMITS, limitsFrom } from '../../images/gateway/gateway.mjs';
import { changedLimits, DEFAULT_LIMITS, validateLimits } from '../../src/config/limits.ts';
import { resolveConfig } from '../../src/config/schema.ts';
import { stackSpec } from '../../src/spec/stack.ts';

describe('the gateway\'s bounds are settings ("limits")', () => {
  it("the gateway's own defaults, and PGAPP_LIMITS over them", () => {
    expect(limitsFrom('')).toEqual(LIMITS);
    expect(limitsFrom(undefined)).toEqual({ ...DEFAULT_LIMITS });
    expect(limitsFrom(JSON.stringify({ maxEmbedDepth: 9 })).maxEmbedDepth).toBe(9);
  });

  it('takes positive integers over the defaults, and names what is wrong', () => {
    expect(resolveConfig({}).limits).toEqual(DEFAULT_LIMITS);
    const c = resolveConfig({ limits: { maxEmbedDepth: 10 } });
    expect(c.limits).toEqual({ ...DEFAULT_LIMITS, maxEmbedDepth: 10 });
    expect(changedLimits(c.limits)).toEqual(['maxEmbedDepth 10']);
    expect(() => validateLimits({ maxDepth: 3 })).toThrow(/unknown key: maxDepth/);
    expect(() => validateLimits({ maxEmbeds: 0 })).toThrow(/"limits"."maxEmbeds" must be a positive integer/);
    expect(() => validateLimits([3])).toThrow(/must be an object/);
  });

  it('reaches the gateway as PGAPP_LIMITS, so a change re-creates it', () => {
    const config = resolveConfig({ limits: { maxEmbeds: 30 } });
    const secrets = { jwtSecret: 'x', explainKey: 'k' } as never;
    const images = { rds: 'r', custom: 'c', postgrest: 'p', gateway: 'g' };
    const files = { stateDir: '/tmp/x', rdsCertSha256: 'abc' };
    const env = stackSpec(config, secrets, images, files).gateway.env;
    expect(JSON.parse(env.PGAPP_LIMITS as string)).toMatchObject({ maxEmbeds: 30, maxEmbedDepth: 6 });
  });
});
