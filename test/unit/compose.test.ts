/** compose.yaml is generated from the stack spec: the committed file must be what the spec gives. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/schema.ts';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { SERVICES } from '../../src/spec/stack.ts';
import { composeEnv, composeModel, composeYaml } from '../../src/stack/compose.ts';
import { PHASES } from '../../src/stack/sql.ts';

describe('compose.yaml', () => {
  it('is up to date with the stack spec (run `npm run compose` when this fails)', () => {
    const committed = readFileSync(join(PACKAGE_ROOT, 'compose.yaml'), 'utf8');
    expect(committed, 'compose.yaml is stale: run `npm run compose` and commit it').toBe(composeYaml());
  });

  it('has every service of the spec, host ports on 127.0.0.1 only, and waits for health', () => {
    const model = composeModel() as {
      services: Record<string, { ports?: string[]; depends_on?: Record<string, { condition: string }> }>;
    };
    for (const s of SERVICES) expect(Object.keys(model.services)).toContain(s);
    const ports = Object.values(model.services).flatMap((s) => s.ports ?? []);
    expect(ports.length).toBe(3); // rds, custom, and the API through the gateway (PostgREST publishes nothing)
    for (const p of ports) expect(p).toMatch(/^127\.0\.0\.1:/);
    expect(model.services.setup?.depends_on).toEqual({
      rds: { condition: 'service_healthy' },
      custom: { condition: 'service_healthy' },
    });
    expect(model.services.postgrest?.depends_on).toEqual({
      setup: { condition: 'service_completed_successfully' },
    });
  });

  it("runs dev's SQL phases and steps, in the same order, through sql/apply.sh (reads over FDW: no replica)", () => {
    const order = Object.values(PHASES).flatMap((p) => [
      ...p.dirs.map((d) => `${p.target}:${d.dir}`),
      ...p.steps.map((fn) => `${p.target}:call:${fn}`),
    ]);
    expect(order).toEqual([
      'rds:rds-standin',
      'rds:db/rds/migrations',
      'rds:db/rds/seed',
      'rds:rds-bridge',
      'rds:call:pgapp_bridge.prepare',
      'custom:custom/bridge',
      'custom:call:pgapp_private.sync_types',
      'custom:call:pgapp_private.sync_foreign_tables',
      'custom:call:pgapp_private.sync_tables',
      'custom:call:pgapp_private.sync_views',
      'custom:call:pgapp_private.sync_functions',
      'custom:custom/api',
      'custom:call:pgapp_private.sync_api',
      'custom:custom/app',
      'custom:db/custom',
      'custom:call:pgapp_private.sync_api',
    ]);
    expect(composeYaml()).toContain(`PGAPP_PHASES: "${order.join(' ')}"`);
    expect(composeYaml()).toContain('"/sql/apply.sh"');
    // The project's db/ (yours, or the example's) is mounted where apply.sh reads db/… from.
    expect(composeYaml()).toContain(`"\${PGAPP_PROJECT_ROOT:-./examples/crm}/db:/db:ro"`);
  });

  it('writes an env file with every variable the compose file requires', () => {
    const env = composeEnv({
      config: resolveConfig({ project: 'p', ports: { rds: 1024, custom: 1025, postgrest: 1026 } }),
      projectRoot: '/somewhere',
      secrets: {
        rdsMasterPassword: 'a',
        customPassword: 'b',
        bridgePassword: 'c',
        authenticatorPassword: 'd',
        jwtSecret: 'e',
        replicatorPassword: 'f',
        explainKey: 'g',
      },
      files: { stateDir: '/x', rdsCertSha256: 'ab' },
    });
    const defined = new Set(
      env
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => l.split('=')[0]),
    );
    const required = [...composeYaml().matchAll(/\$\{(PGAPP_[A-Z_]+):\?/g)].map((m) => m[1]);
    expect(required.length).toBeGreaterThan(0);
    for (const r of required) expect(defined).toContain(r);
  });
});
