/**
 * PostgreSQL extensions a project's schema uses, as Debian packages for its major version: both
 * images install them (the package list is a build argument, so it is part of each image's tag).
 * rds gets only those RDS offers for that version (images/rds/extensions-<major>.txt), as on RDS;
 * custom gets them all. Whether Debian has a package is Debian's to say: the build checks it and a
 * missing one stops with the extension's name (images/<kind>/Dockerfile). Pure, but for reading the list.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CustomSettings, customConf, libraryExtension, pythonPackage } from '../config/custom.ts';
import type { PgMajor } from '../config/schema.ts';
import { IMAGES_DIR } from '../paths.ts';

/** Extensions postgresql-<major> ships itself (contrib and the core's own): no package to add. */
const BUILT_IN = new Set([
  'adminpack',
  'amcheck',
  'autoinc',
  'bloom',
  'btree_gin',
  'btree_gist',
  'citext',
  'cube',
  'dblink',
  'dict_int',
  'dict_xsyn',
  'earthdistance',
  'file_fdw',
  'fuzzystrmatch',
  'hstore',
  'insert_username',
  'intagg',
  'intarray',
  'isn',
  'lo',
  'ltree',
  'moddatetime',
  'old_snapshot',
  'pageinspect',
  'pg_buffercache',
  'pg_freespacemap',
  'pg_prewarm',
  'pg_stat_statements',
  'pg_surgery',
  'pg_trgm',
  'pg_visibility',
  'pg_walinspect',
  'pgcrypto',
  'pgrowlocks',
  'pgstattuple',
  'plpgsql',
  'postgres_fdw',
  'refint',
  'seg',
  'sslinfo',
  'tablefunc',
  'tcn',
  'tsm_system_rows',
  'tsm_system_time',
  'unaccent',
  'uuid-ossp',
  'xml2',
  // custom's image has these already (images/postgres/Dockerfile); rds's has pg_cron.
  'pg_cron',
  'plpython3u',
]);

/**
 * Where the package's name is not the extension's (postgresql-<major>-<name>, _ as -): checked
 * against Debian trixie and bookworm.
 */
const PACKAGE_OF: Record<string, string> = {
  vector: 'pgvector',
  postgis: 'postgis-3',
  postgis_raster: 'postgis-3',
  postgis_topology: 'postgis-3',
  postgis_sfcgal: 'postgis-3',
  postgis_tiger_geocoder: 'postgis-3',
  address_standardizer: 'postgis-3',
  address_standardizer_data_us: 'postgis-3',
  pg_partman: 'partman',
  pg_repack: 'repack',
  h3_postgis: 'h3',
  pgq: 'pgq3',
};

/** The Debian package of an extension for `pgMajor`, or undefined when postgresql-<major> has it. */
export function extensionPackage(name: string, pgMajor: PgMajor): string | undefined {
  if (BUILT_IN.has(name)) return undefined;
  return `postgresql-${pgMajor}-${PACKAGE_OF[name] ?? name.replace(/_/g, '-')}`;
}

/** The extensions RDS for PostgreSQL offers for that version (SHOW rds.extensions on the stand-in). */
export function rdsExtensions(pgMajor: PgMajor): Set<string> {
  const text = readFileSync(join(IMAGES_DIR, 'rds', `extensions-${pgMajor}.txt`), 'utf8');
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

/**
 * The extensions a project's rds SQL creates (CREATE EXTENSION [IF NOT EXISTS] name), so a schema that
 * says what it needs gets it without saying it twice.
 */
export function extensionsCreatedIn(sql: string): string[] {
  const out = new Set<string>();
  const re = /\bcreate\s+extension\s+(?:if\s+not\s+exists\s+)?(?:"([^"]+)"|([a-z0-9_-]+))/gi;
  for (const m of sql.replace(/--[^\n]*/g, '').matchAll(re))
    out.add((m[1] ?? (m[2] as string)).toLowerCase());
  return [...out];
}

/** What a project asks of its images: the schema's extensions, and custom's own ("custom" in the config). */
export interface ImageNeeds {
  extensions: string[];
  custom: CustomSettings;
}

/** What one Postgres image adds for the project. */
export interface ImageAdditions {
  /** Debian packages, sorted. */
  packages: string[];
  /** What in the project asked for each package ("extension vector", "Python library numpy"). */
  wantedBy: Record<string, string[]>;
  /**
   * custom: what its build checks on a throwaway server of the new image (images/postgres/check-custom.sh)
   * — extensions it creates, Python modules it imports — and the settings fragment it installs.
   */
  custom?: { extensions: string[]; modules: string[]; conf: string };
}

/** The packages (and for custom, the checks and settings) a project's needs add to an image. */
export function imageAdditions(
  kind: 'postgres' | 'rds',
  needs: ImageNeeds,
  pgMajor: PgMajor,
): ImageAdditions {
  const wantedBy: Record<string, string[]> = {};
  const want = (pkg: string | undefined, why: string) => {
    if (pkg) wantedBy[pkg] = [...(wantedBy[pkg] ?? []), why];
  };
  const offered = rdsExtensions(pgMajor);
  if (kind === 'rds') {
    for (const name of needs.extensions)
      if (offered.has(name)) want(extensionPackage(name, pgMajor), `extension ${name}`);
    return { packages: Object.keys(wantedBy).sort(), wantedBy };
  }
  const { custom } = needs;
  for (const name of needs.extensions) want(extensionPackage(name, pgMajor), `extension ${name}`);
  for (const name of custom.extensions) want(extensionPackage(name, pgMajor), `custom extension ${name}`);
  for (const lib of custom.preload) {
    const ext = libraryExtension(lib);
    if (ext) want(extensionPackage(ext, pgMajor), `preloaded library ${lib}`);
  }
  const modules: string[] = [];
  for (const name of custom.python) {
    const { pkg, module } = pythonPackage(name);
    want(pkg, `Python library ${name}`);
    modules.push(module);
  }
  return {
    packages: Object.keys(wantedBy).sort(),
    wantedBy,
    custom: { extensions: [...custom.extensions].sort(), modules: modules.sort(), conf: customConf(custom) },
  };
}
