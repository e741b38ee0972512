import { describe, expect, it } from 'vitest';
import {
  extensionPackage,
  extensionPackages,
  extensionsCreatedIn,
  rdsExtensions,
} from '../../src/docker/extensions.ts';
import { missingPackages } from '../../src/docker/pg-images.ts';
import { PgappError } from '../../src/errors.ts';

describe('extensions as Debian packages', () => {
  it('maps an extension to its package for the major version; contrib needs none', () => {
    expect(extensionPackage('vector', 17)).toBe('postgresql-17-pgvector');
    expect(extensionPackage('postgis_topology', 15)).toBe('postgresql-15-postgis-3');
    expect(extensionPackage('pg_partman', 17)).toBe('postgresql-17-partman');
    expect(extensionPackage('pg_hint_plan', 17)).toBe('postgresql-17-pg-hint-plan');
    expect(extensionPackage('mysql_fdw', 15)).toBe('postgresql-15-mysql-fdw');
    for (const contrib of ['pg_trgm', 'citext', 'uuid-ossp', 'pg_stat_statements', 'postgres_fdw'])
      expect(extensionPackage(contrib, 17), contrib).toBeUndefined();
  });

  it('puts into rds only what RDS offers for the version; custom gets them all', () => {
    expect(rdsExtensions(17).has('vector')).toBe(true);
    expect(rdsExtensions(17).has('plpython3u')).toBe(false);
    const p = extensionPackages(['vector', 'timescaledb', 'pg_trgm', 'postgis', 'postgis_raster'], 17);
    expect(p.custom).toEqual([
      'postgresql-17-pgvector',
      'postgresql-17-postgis-3',
      'postgresql-17-timescaledb',
    ]);
    expect(p.rds).toEqual(['postgresql-17-pgvector', 'postgresql-17-postgis-3']);
    expect(p.customOnly).toEqual(['timescaledb']);
  });

  it('reads the extensions a schema creates from its SQL (comments ignored)', () => {
    const sql = `-- CREATE EXTENSION nope;
      create extension if not exists vector;
      CREATE EXTENSION "uuid-ossp" SCHEMA public;
      CREATE EXTENSION postgis CASCADE;`;
    expect(extensionsCreatedIn(sql).sort()).toEqual(['postgis', 'uuid-ossp', 'vector']);
  });

  it('turns a build that found no package into the extension it was for, with the ways out', () => {
    const build = new PgappError(
      'Building pgapp/postgres:pg15-x failed at step 9/20',
      'h',
      'pgapp: Debian has no package: postgresql-15-pgvector',
    );
    const err = missingPackages(build, ['vector', 'pg_trgm'], 15);
    expect(err?.message).toBe(
      "PostgreSQL 15's Debian (bookworm) has no package for extension vector (postgresql-15-pgvector)",
    );
    expect(err?.hint).toMatch(/Nothing was changed/);
    expect(err?.hint).toMatch(/PostgreSQL 17/);
    expect(
      missingPackages(new PgappError('Building x failed', 'h', 'E: other'), ['vector'], 15),
    ).toBeUndefined();
  });
});
