import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/schema.ts';
import type { Secrets } from '../../src/config/secrets.ts';
import { connectionDetails, dotenv, dotenvValue, redactUrl } from '../../src/stack/connections.ts';

const secrets = {
  rdsMasterPassword: 'rds-pw',
  customPassword: 'custom/pw?',
  bridgePassword: 'b',
  authenticatorPassword: 'a',
  jwtSecret: 'j'.repeat(40),
  replicatorPassword: 'r',
  explainKey: 'e',
} as Secrets;
const ca = `${process.cwd()}/.pgapp/demo/tls/ca/root.crt`;
const config = resolveConfig({ project: 'demo', ports: { rds: 6001, custom: 6002, postgrest: 6003 } });

describe('connection details', () => {
  it('redacts passwords unless asked, and carries no tokens then', () => {
    const d = connectionDetails(config, secrets);
    expect(d.api).toBe('http://127.0.0.1:6003');
    expect(d.databases.custom).toBe('postgres://postgres:****@127.0.0.1:6002/demo');
    expect(d.databases.rds).toBe(
      `postgres://postgres:****@127.0.0.1:6001/demo?sslmode=verify-full&sslrootcert=${ca}`,
    );
    expect(d.ca).toBe(`${process.cwd()}/.pgapp/demo/tls/ca/root.crt`);
    expect(JSON.stringify(d)).not.toMatch(/rds-pw|custom%2Fpw/);
    expect(d.tokens).toBeUndefined();
    expect(redactUrl('postgresql://u:p%40ss@h:1/db')).toBe('postgresql://u:****@h:1/db');
  });

  it('writes dotenv an app can load, with no names that are pgapp settings', () => {
    const text = dotenv('demo', connectionDetails(config, secrets, { showSecrets: true }));
    expect(text).toContain("DATABASE_URL='postgres://postgres:custom%2Fpw%3F@127.0.0.1:6002/demo'\n");
    expect(text).toContain(
      `RDS_DATABASE_URL='postgres://postgres:rds-pw@127.0.0.1:6001/demo?sslmode=verify-full&sslrootcert=${ca}'\n`,
    );
    expect(text).toContain(`PGAPP_RDS_CA='${ca}'\n`);
    expect(text).toMatch(/^PGAPP_ANON_TOKEN='ey/m);
    expect(text).not.toMatch(/^PGAPP_(RDS_URL|PROJECT|READS)=/m);
  });

  it('quotes values so a shell and dotenv readers both read them back', () => {
    expect(dotenvValue('a&b=c')).toBe("'a&b=c'");
    expect(dotenvValue("/home/o'neil/ca.crt")).toBe('"/home/o\'neil/ca.crt"');
    expect(() => dotenvValue("it's $HOME")).toThrow(/Cannot write/);
  });

  it('percent-encodes what a CA path needs in a URL, keeping its slashes', () => {
    const remote = resolveConfig({
      rdsUrl: 'postgres://u:p@db.example.com/app?sslrootcert=/home/a b/rds%2Bca.pem',
    });
    expect(connectionDetails(remote, secrets).databases.rds).toBe(
      'postgres://u:****@db.example.com:5432/app?sslmode=verify-full&sslrootcert=/home/a%20b/rds%2Bca.pem',
    );
  });
});
