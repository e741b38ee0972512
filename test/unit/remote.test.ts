/** --rds-url: what is accepted, what is refused and why; what runs on a real remote. */
import { describe, expect, it } from 'vitest';
import { resolveConfig, validateRdsUrl } from '../../src/config/schema.ts';
import { phaseDirs } from '../../src/stack/sql.ts';

describe('--rds-url', () => {
  it('parses user, password, host, port, database; TLS (require) by default', () => {
    expect(validateRdsUrl('postgres://app%40corp:p%3Ass@db.example.com:6543/crm_prod', false, false)).toEqual(
      {
        host: 'db.example.com',
        port: 6543,
        user: 'app@corp',
        password: 'p:ss',
        database: 'crm_prod',
        sslmode: 'require',
        seed: false,
      },
    );
    expect(
      validateRdsUrl('postgresql://u:p@10.1.2.3/db?sslmode=verify-full&sslrootcert=/ca/rds.pem', false, true),
    ).toMatchObject({
      port: 5432,
      sslmode: 'verify-full',
      sslrootcert: '/ca/rds.pem',
      seed: true,
    });
  });

  it("verifies with sslrootcert (AWS's RDS bundle): verify-full by default, a relative path made absolute", () => {
    const r = validateRdsUrl(
      'postgres://u:p@db.example.com/db?sslrootcert=certs/global-bundle.pem',
      false,
      false,
    );
    expect(r.sslmode).toBe('verify-full');
    expect(r.sslrootcert).toBe(`${process.cwd()}/certs/global-bundle.pem`);
  });

  it.each([
    ['not a url', /not a valid URL/],
    ['mysql://u:p@h/db', /must be a postgres:\/\/ URL/],
    ['postgres://u@h/db', /needs a user and a password/],
    ['postgres://u:p@h:5432', /names no database/],
    ['postgres://u:p@localhost/db', /inside the custom container is the container itself/],
    ['postgres://u:p@127.0.0.1:5432/db', /inside the custom container is the container itself/],
    ['postgres://u:p@h/db?sslmode=disable', /requires TLS/],
    ['postgres://u:p@h/db?sslmode=prefer', /Unsupported sslmode=prefer/],
    ['postgres://u:p@h/db?sslmode=verify-full', /names no sslrootcert/],
    ['postgres://u:p@h/db?sslrootcert=system', /sslrootcert=system is not supported/],
  ])('refuses %s', (url, message) => {
    expect(() => validateRdsUrl(url, false, false)).toThrow(message);
  });

  it('allows a server without TLS only when asked explicitly', () => {
    expect(validateRdsUrl('postgres://u:p@h/db?sslmode=disable', true, false).sslmode).toBe('disable');
    expect(resolveConfig({ rdsUrl: 'postgres://u:p@h/db', seedRemote: 'true' }).remote?.seed).toBe(true);
  });

  it("on a remote, runs only pgapp_bridge unless the project's migrations and seed are asked for; never the stand-in role", () => {
    const remote = validateRdsUrl('postgres://u:p@h/db', false, false);
    expect(phaseDirs('seed', undefined).map((d) => d.dir)).toEqual([
      'rds-standin',
      'db/rds/migrations',
      'db/rds/seed',
      'rds-bridge',
    ]);
    expect(phaseDirs('seed', remote).map((d) => d.dir)).toEqual(['rds-bridge']);
    expect(phaseDirs('seed', { ...remote, seed: true }).map((d) => d.dir)).toEqual([
      'db/rds/migrations',
      'db/rds/seed',
      'rds-bridge',
    ]);
  });
});
