import { describe, expect, it } from 'vitest';
import { NO_CUSTOM, validateCustom } from '../../src/config/custom.ts';
import {
  extensionPackage,
  extensionsCreatedIn,
  imageAdditions,
  rdsExtensions,
} from '../../src/docker/extensions.ts';
import { additionArgs, customRefused, missingPackages } from '../../src/docker/pg-images.ts';
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
    const needs = {
      extensions: ['vector', 'timescaledb', 'pg_trgm', 'postgis', 'postgis_raster'],
      custom: NO_CUSTOM,
    };
    expect(imageAdditions('postgres', needs, 17).packages).toEqual([
      'postgresql-17-pgvector',
      'postgresql-17-postgis-3',
      'postgresql-17-timescaledb',
    ]);
    expect(imageAdditions('rds', needs, 17).packages).toEqual([
      'postgresql-17-pgvector',
      'postgresql-17-postgis-3',
    ]);
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
    const added = imageAdditions('postgres', { extensions: ['vector', 'pg_trgm'], custom: NO_CUSTOM }, 15);
    const err = missingPackages(build, added, 15);
    expect(err?.message).toBe(
      "PostgreSQL 15's Debian (bookworm) has no package for extension vector (postgresql-15-pgvector)",
    );
    expect(err?.hint).toMatch(/Nothing was changed/);
    expect(err?.hint).toMatch(/PostgreSQL 17/);
    expect(missingPackages(new PgappError('Building x failed', 'h', 'E: other'), added, 15)).toBeUndefined();
  });

  it("custom's own: packages for its extensions, Python libraries and preloaded libraries, only in custom", () => {
    const custom = validateCustom({
      extensions: ['pgrouting', 'pg_trgm'],
      python: ['numpy', 'scikit-learn'],
      preload: ['pg_stat_statements', 'pgaudit', 'pg_cron'],
      settings: { work_mem: '64MB', 'pg_stat_statements.track': 'all', jit: false },
    });
    const needs = { extensions: ['vector'], custom };
    const added = imageAdditions('postgres', needs, 17);
    expect(added.packages).toEqual([
      'postgresql-17-pgaudit',
      'postgresql-17-pgrouting',
      'postgresql-17-pgvector',
      'python3-numpy',
      'python3-sklearn',
    ]);
    expect(added.wantedBy['python3-sklearn']).toEqual(['Python library scikit-learn']);
    expect(added.custom?.modules).toEqual(['numpy', 'sklearn']);
    expect(added.custom?.conf).toBe(
      [
        '# The project\'s own settings: written by pgapp from pgapp.config.json ("custom"). Change them there.',
        "shared_preload_libraries = 'pg_cron,pg_stat_statements,pgaudit'",
        "jit = 'off'",
        "pg_stat_statements.track = 'all'",
        "work_mem = '64MB'",
        '',
      ].join('\n'),
    );
    expect(imageAdditions('rds', needs, 17).packages).toEqual(['postgresql-17-pgvector']);
    // Nothing of custom's own: the same build arguments as before there was a "custom".
    expect(additionArgs(imageAdditions('postgres', { extensions: [], custom: NO_CUSTOM }, 17))).toEqual({});
    const args = additionArgs(added);
    expect(Buffer.from(args.CUSTOM_CONF as string, 'base64').toString()).toBe(added.custom?.conf);
    expect(args.PYTHON_MODULES).toBe('numpy sklearn');
  });

  it("says which Python library a missing package was for, and passes on the server's own refusals", () => {
    const added = imageAdditions(
      'postgres',
      { extensions: [], custom: { ...NO_CUSTOM, python: ['nosuchlib'] } },
      17,
    );
    const err = missingPackages(
      new PgappError('Building x failed', 'h', 'pgapp: Debian has no package: python3-nosuchlib'),
      added,
      17,
    );
    expect(err?.message).toBe(
      "PostgreSQL 17's Debian (trixie) has no package for Python library nosuchlib (python3-nosuchlib)",
    );
    expect(err?.hint).toMatch(/python3-sklearn/);
    const refused = customRefused(
      new PgappError(
        'Building x failed',
        'h',
        'step\npgapp: custom refuses: invalid value for parameter "work_mem": "lots"\npgapp: custom refuses: the server does not start with these settings',
      ),
    );
    expect(refused?.message).toBe(
      'custom\'s server refused the project\'s settings: invalid value for parameter "work_mem": "lots"; the server does not start with these settings',
    );
    expect(refused?.hint).toMatch(/nothing was changed/);
  });
});
