/**
 * The configuration of one stack, its defaults and validation. Pure: no I/O.
 */
import { resolve } from 'node:path';
import { PgappError } from '../errors.ts';
import { type CustomKey, type CustomSettings, validateCustom } from './custom.ts';
import { DEFAULT_LIMITS, type Limits, validateLimits } from './limits.ts';
import { validateRdsSection } from './parameters.ts';

/**
 * The seed's size: the rows a seed file makes (pgapp.seed_rows; the example's contacts). A project's
 * own seed (db/rds/seed) reads it, or ignores it.
 */
export const SEED_SIZES = { small: 1_000, medium: 100_000, large: 1_000_000 } as const;
export type SeedSize = keyof typeof SEED_SIZES;

/**
 * What the API lets its roles do with a table (sql/custom/api/050_api.sql): `owner` — per-user rows
 * (needs the owner column); `read` — web_anon and web_user read; `write` — both read, web_user writes
 * every row; `none` — not published.
 */
export const ACCESS_LEVELS = ['owner', 'read', 'write', 'none'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];
/** The access of a table without the owner column, unless "tables" says otherwise. */
export type DefaultAccess = Exclude<Access, 'owner'>;

/**
 * One table's settings ("tables": {"<schema>.<table>": {…}} in pgapp.config.json). Its endpoint is
 * its own name in its schema's profile, as PostgREST on rds serves it.
 */
export interface TableSettings {
  access?: Access;
  /** Where its reads go (default: "reads"). A replica is always of the whole table. */
  reads?: ReadsMode;
}

/**
 * Where the API reads: `replica` — local tables on custom kept in sync from rds by logical
 * replication (joins, embeds and pages run locally); `fdw` — straight through postgres_fdw.
 * Writes always go through postgres_fdw to rds.
 */
export const READS_MODES = ['replica', 'fdw'] as const;
export type ReadsMode = (typeof READS_MODES)[number];

/** Whether any table reads the replica: the default, or one table's "reads". */
export const anyReplica = (c: Pick<Config, 'reads' | 'tables'>): boolean =>
  c.reads === 'replica' || Object.values(c.tables).some((t) => t.reads === 'replica');

/**
 * The same stack with every read through postgres_fdw (compose, which runs no subscription; a remote
 * that cannot publish): no table asks for the replica, and what it would hold is moot.
 */
export function fdwOnly<C extends Pick<Config, 'reads' | 'tables'>>(c: C): C {
  const tables: Record<string, TableSettings> = {};
  for (const [rel, { reads: _r, ...rest }] of Object.entries(c.tables))
    if (Object.keys(rest).length > 0) tables[rel] = rest;
  return { ...c, reads: 'fdw', tables };
}

/** Bytes a table may hold before its first copy to the replica asks first (default 1 GiB). */
export const DEFAULT_COPY_LIMIT = 1024 ** 3;

/**
 * PostgreSQL major versions, for both servers, as RDS offers them: new RDS instances default to 17.
 * Debian ships 15 (bookworm) and 17 (trixie), each with pg_cron, plpython3 and pgextwlist.
 */
export const PG_MAJORS = [15, 17] as const;
export type PgMajor = (typeof PG_MAJORS)[number];

export const PORT_KEYS = ['rds', 'custom', 'postgrest'] as const;
export type PortKey = (typeof PORT_KEYS)[number];

export interface Config {
  /** Project name: Docker names, labels and the database name on both servers. */
  project: string;
  /** Host ports, bound on 127.0.0.1 only. */
  ports: Record<PortKey, number>;
  /** PostgreSQL major version of rds and custom. A project with data keeps its own (commands/common.ts). */
  postgres: PgMajor;
  seed: SeedSize;
  cronJobs: boolean;
  /** Where the API reads by default ("tables" may say otherwise per table). */
  reads: ReadsMode;
  /** A table larger than this (bytes on rds) is not copied to the replica without a yes. */
  copyLimit: number;
  /** The PostgREST image (pinned official tag). */
  postgrestImage: string;
  /** An official PostgREST release tarball to build the image from when it cannot be pulled. */
  postgrestTarball?: string;
  /** A TypeScript file `dev` keeps holding the api schema's types (`pgapp gen types`). */
  typesOut?: string;
  /** An existing Postgres or RDS to bridge to instead of starting the rds container. */
  remote?: RemoteRds;
  /**
   * custom at this host name, port 5432 (the cloud's bootstrap task, inside the VPC), rather than
   * its container's port on 127.0.0.1.
   */
  customHost?: string;
  /**
   * The rds schemas to mirror (foreign tables, replica, API), in order (the first keeps a table name
   * two of them share); undefined: every schema of rds that holds tables (pgapp_bridge.resolve_schemas).
   */
  schemas?: string[];
  /** Access of the tables without the owner column. */
  access: DefaultAccess;
  /** The column that makes a table per-user ("access": "owner"). */
  ownerColumn: string;
  /** Per-table settings, by "<schema>.<table>". */
  tables: Record<string, TableSettings>;
  /**
   * PostgreSQL extensions the schema uses (pgvector's `vector`, `postgis`, …): their Debian packages
   * go into both images (docker/extensions.ts). Those RDS does not offer stay off rds.
   */
  extensions: string[];
  /**
   * The stand-in's DB parameter group (`"rds": {"parameters": {…}}` in pgapp.config.json), checked
   * (config/parameters.ts); `dev` applies it, rebooting rds for what needs it.
   */
  rdsParameters: Record<string, string>;
  /**
   * The custom Postgres's own (`"custom"` in pgapp.config.json): extensions, Python libraries,
   * preloaded libraries and settings, built into its image (config/custom.ts, docker/extensions.ts).
   */
  custom: CustomSettings;
  /** The gateway's request bounds ("limits" in pgapp.config.json: config/limits.ts). */
  limits: Limits;
}

/** A real rds: what --rds-url says, checked. */
export interface RemoteRds {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** libpq sslmode: require and stronger unless explicitly relaxed (--rds-insecure). */
  sslmode: 'require' | 'verify-ca' | 'verify-full' | 'disable';
  /**
   * The CA bundle that verifies the server (an absolute path on this machine), e.g. AWS RDS's
   * global-bundle.pem. With it, sslmode defaults to verify-full.
   */
  sslrootcert?: string;
  /** Run the project's migrations and seed there too (--seed-remote); off by default. */
  seed: boolean;
  /**
   * pgapp made this rds (the cloud's, `pgapp deploy`): its user is the master user, and pgapp makes
   * the bridge's and the replicator's roles there with the stack's own secrets, as on the stand-in,
   * rather than logging in as the URL's user.
   */
  owned?: boolean;
}

/** Whether pgapp makes rds's bridge and replicator roles: on the stand-in and on an rds it deployed. */
export const ownsRdsRoles = (remote: RemoteRds | undefined): boolean => !remote || remote.owned === true;

const TLS_MODES = ['require', 'verify-ca', 'verify-full'];
// `prefer` would fall back to plain text silently: only an explicit `disable` is allowed, with --rds-insecure.
const PLAIN_MODES = ['disable'];

/** Parse and check --rds-url: password auth, TLS unless relaxed, an address the containers can reach. */
export function validateRdsUrl(value: unknown, insecure: boolean, seed: boolean): RemoteRds {
  const example = 'postgres://user:password@db.example.com:5432/app';
  let url: URL;
  try {
    if (typeof value !== 'string') throw new Error('not a string');
    url = new URL(value);
  } catch {
    throw new PgappError(
      '--rds-url is not a valid URL',
      `Use the form ${example} (sslmode=require is the default).`,
    );
  }
  const shown = `${url.protocol}//${url.username ? `${decodeURIComponent(url.username)}@` : ''}${url.host}${url.pathname}`;
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new PgappError(
      `--rds-url must be a postgres:// URL, not ${url.protocol}//…`,
      `Use the form ${example}.`,
    );
  }
  if (!url.username || !url.password) {
    throw new PgappError(
      `--rds-url ${shown} needs a user and a password`,
      'The bridge logs in with a password (RDS allows nothing else): put both in the URL.',
    );
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database)
    throw new PgappError(`--rds-url ${shown} names no database`, `Add it after the host: ${example}.`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (/^(localhost|127\.\d+\.\d+\.\d+|::1)$/i.test(host)) {
    throw new PgappError(
      `--rds-url points at ${host}, which inside the custom container is the container itself`,
      'Use an address both this machine and the containers reach: the Docker bridge gateway (often 172.17.0.1, ' +
        'with the database listening there) or host.docker.internal on Docker Desktop.',
    );
  }
  const rootcert = url.searchParams.get('sslrootcert');
  if (rootcert === 'system') {
    throw new PgappError(
      '--rds-url sslrootcert=system is not supported',
      "Give the path of the server's CA bundle (for AWS RDS: global-bundle.pem from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem).",
    );
  }
  const sslrootcert = rootcert ? resolve(rootcert) : undefined;
  const sslmode = (url.searchParams.get('sslmode') ??
    (sslrootcert ? 'verify-full' : 'require')) as RemoteRds['sslmode'];
  if (![...TLS_MODES, ...PLAIN_MODES].includes(sslmode)) {
    throw new PgappError(
      `Unsupported sslmode=${sslmode} in --rds-url`,
      `Use one of ${[...TLS_MODES, ...PLAIN_MODES].join(', ')}.`,
    );
  }
  if (sslmode.startsWith('verify-') && !sslrootcert) {
    throw new PgappError(
      `--rds-url asks for sslmode=${sslmode} but names no sslrootcert`,
      "Add sslrootcert=/path/to/the server's CA bundle (for AWS RDS: global-bundle.pem from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem).",
    );
  }
  if (PLAIN_MODES.includes(sslmode) && !insecure) {
    throw new PgappError(
      `--rds-url asks for sslmode=${sslmode}, but the bridge requires TLS`,
      'RDS forces TLS; drop sslmode (require is the default). To bridge to a server without TLS anyway, add --rds-insecure.',
    );
  }
  const port = url.port ? Number(url.port) : 5432;
  return {
    host,
    port,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    sslmode,
    ...(sslrootcert ? { sslrootcert } : {}),
    seed,
  };
}

export const POSTGREST_IMAGE = 'postgrest/postgrest:v12.2.3';

export const DEFAULTS: Config = {
  project: 'pgapp',
  ports: { rds: 5433, custom: 5434, postgrest: 3000 },
  postgres: 17,
  seed: 'small',
  cronJobs: true,
  reads: 'replica',
  copyLimit: DEFAULT_COPY_LIMIT,
  postgrestImage: POSTGREST_IMAGE,
  rdsParameters: {},
  access: 'read',
  ownerColumn: 'owner_id',
  tables: {},
  extensions: [],
  custom: { extensions: [], python: [], preload: [], settings: {} },
  limits: { ...DEFAULT_LIMITS },
};

/** Allowed project names: valid, unquoted SQL identifiers that are also valid Docker names. */
const PROJECT_RE = /^[a-z][a-z0-9_]{0,39}$/;

export function validateProject(value: unknown): string {
  if (typeof value !== 'string' || !PROJECT_RE.test(value)) {
    throw new PgappError(
      `Invalid project name ${JSON.stringify(value)}`,
      'Use 1-40 characters: lower-case letters, digits and underscores, starting with a letter (e.g. "my_app"). ' +
        'The name becomes a database name and Docker container names, so nothing else is allowed.',
    );
  }
  return value;
}

export function validatePort(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1024 || n > 65535) {
    throw new PgappError(
      `Invalid ${name} port ${JSON.stringify(value)}`,
      'Use a whole number from 1024 to 65535 (ports below 1024 need root).',
    );
  }
  return n;
}

export function validateSeed(value: unknown): SeedSize {
  if (typeof value !== 'string' || !(value in SEED_SIZES)) {
    throw new PgappError(
      `Invalid seed size ${JSON.stringify(value)}`,
      `Use one of: ${Object.entries(SEED_SIZES)
        .map(([k, v]) => `${k} (${v.toLocaleString('en')} contacts)`)
        .join(', ')}.`,
    );
  }
  return value as SeedSize;
}

/** Ports ≥ 1024 that browsers and fetch() refuse to connect to (the Fetch standard's "bad ports"). */
export const HTTP_BLOCKED_PORTS = new Set([
  1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697,
  10080,
]);

export function validateHttpPort(value: unknown, name: string): number {
  const port = validatePort(value, name);
  if (HTTP_BLOCKED_PORTS.has(port)) {
    throw new PgappError(
      `Port ${port} cannot serve ${name}: browsers and fetch() refuse to connect to it (a "bad port" of the Fetch standard)`,
      `Choose another port for ${name}, e.g. ${port + 1}.`,
    );
  }
  return port;
}

export function validatePostgres(value: unknown): PgMajor {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (!(PG_MAJORS as readonly unknown[]).includes(n)) {
    throw new PgappError(
      `Invalid PostgreSQL version ${JSON.stringify(value)}`,
      `Use one of ${PG_MAJORS.join(' or ')} (major versions, as RDS offers them; ${DEFAULTS.postgres} is the default).`,
    );
  }
  return n as PgMajor;
}

export function validateReads(value: unknown): ReadsMode {
  if (typeof value !== 'string' || !(READS_MODES as readonly string[]).includes(value)) {
    throw new PgappError(
      `Invalid reads mode ${JSON.stringify(value)}`,
      'Use replica (local tables kept in sync by logical replication) or fdw (every read through postgres_fdw).',
    );
  }
  return value as ReadsMode;
}

/**
 * "reads": a mode, or {"default": mode, "tables": {"<schema>.<table>": mode}} — the per-table modes
 * are the same thing as "tables"' "reads", and go there.
 */
function splitReads(value: unknown): { reads: unknown; tables: Record<string, unknown> } {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { reads: value, tables: {} };
  const { default: def, tables, ...rest } = value as Record<string, unknown>;
  if (
    Object.keys(rest).length > 0 ||
    (tables !== undefined && (tables === null || typeof tables !== 'object' || Array.isArray(tables)))
  )
    throw new PgappError(
      `Invalid reads ${JSON.stringify(value)}`,
      'Use a mode ("reads": "replica"), or {"default": "replica", "tables": {"public.events": "fdw"}}.',
    );
  return {
    reads: def,
    tables: Object.fromEntries(Object.entries(tables ?? {}).map(([rel, mode]) => [rel, { reads: mode }])),
  };
}

/** "copyLimit": bytes, or a size with a unit ("500MB", "2GB"; 1024-based). */
export function validateCopyLimit(value: unknown): number {
  const units: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '';
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*$/i.exec(text);
  const unit = (m?.[2] ?? '').toUpperCase().replace(/^([KMGT]?)$/, '$1B');
  const n = m?.[1] !== undefined && units[unit] !== undefined ? Number(m[1]) * units[unit] : Number.NaN;
  if (!Number.isFinite(n))
    throw new PgappError(
      `Invalid copyLimit ${JSON.stringify(value)}`,
      'Give a size: bytes, or with a unit ("500MB", "2GB"); 0 asks before every first copy.',
    );
  return Math.round(n);
}

/** A PostgreSQL identifier as written unquoted, or any name when `quoted` (a table's, say). */
const IDENT = /^[a-z_][a-z0-9_$]{0,62}$/;

/** "schemas": a list (or a comma-separated string, from a flag or env) of rds schema names. */
export function validateSchemas(value: unknown): string[] | undefined {
  if (value === undefined || value === '' || value === '*') return undefined;
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((s) => typeof s === 'string' && s !== '' && s.length <= 63 && !s.includes(','))
  )
    throw new PgappError(
      `Invalid schemas ${JSON.stringify(value)}`,
      'Name rds schemas as a list ("schemas": ["public", "billing"]) or comma-separated (--schemas public,billing); leave it unset to bridge every schema that holds tables.',
    );
  if (new Set(list).size !== list.length)
    throw new PgappError(`schemas names a schema twice: ${list.join(', ')}`, 'Name each once.');
  return list as string[];
}

export function validateAccess(value: unknown, name: string, allowOwner: boolean): Access {
  const allowed = ACCESS_LEVELS.filter((a) => allowOwner || a !== 'owner');
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    throw new PgappError(
      `Invalid ${name} ${JSON.stringify(value)}`,
      `Use one of ${allowed.join(', ')}${allowOwner ? '' : ' ("owner" is what a table with the owner column gets by itself)'}.`,
    );
  return value as Access;
}

const TABLE_KEYS = ['access', 'reads'];

/**
 * What an earlier pgapp took per table and this one does not, and why: the API serves each of rds's
 * tables as PostgREST on rds would — under its own name, whole.
 */
const RETIRED_TABLE_KEYS: Record<string, string> = {
  name: 'Every table is served under its own name, in its schema\'s profile (a client sends `Accept-Profile: <schema>` for a schema after the first): drop "name".',
  where:
    'A replica holds the whole table (custom serves it as rds\'s table, and a table part local and part remote would need objects on rds that stand in the way of your migrations): drop "where"; to copy nothing of it, "reads": "fdw".',
  columns:
    'A replica holds every column of the table (custom serves it as rds\'s table): drop "columns"; to copy nothing of it, "reads": "fdw".',
};

/** "tables": {"<schema>.<table>": {"access": …, "reads": …}}. Whether each exists is rds's to say (plan_api). */
export function validateTables(value: unknown): Record<string, TableSettings> {
  if (value === undefined || value === '') return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new PgappError(
      '"tables" must be an object',
      'For example: "tables": {"public.events": {"access": "none"}, "public.audit": {"reads": "fdw"}}.',
    );
  const out: Record<string, TableSettings> = {};
  for (const [rel, v] of Object.entries(value)) {
    if (!/^[^.]+\.[^.]+$/.test(rel))
      throw new PgappError(
        `"tables" names ${JSON.stringify(rel)}`,
        'Name a table as "<schema>.<table>", e.g. "public.events".',
      );
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw new PgappError(`"tables"."${rel}" must be an object`, 'For example: {"access": "write"}.');
    const retired = Object.keys(v).find((k) => k in RETIRED_TABLE_KEYS);
    if (retired)
      throw new PgappError(
        `"tables"."${rel}" has "${retired}", which pgapp no longer takes`,
        RETIRED_TABLE_KEYS[retired],
      );
    const unknown = Object.keys(v).filter((k) => !TABLE_KEYS.includes(k));
    if (unknown.length > 0)
      throw new PgappError(
        `"tables"."${rel}" has unknown key(s): ${unknown.join(', ')}`,
        `A table takes ${TABLE_KEYS.map((k) => `"${k}"`).join(', ')}.`,
      );
    const t = v as { access?: unknown; reads?: unknown };
    const settings: TableSettings = {};
    if (t.access !== undefined) settings.access = validateAccess(t.access, `access of ${rel}`, true);
    if (t.reads !== undefined) settings.reads = validateReads(t.reads);
    out[rel] = settings;
  }
  return out;
}

/** Extension names (as CREATE EXTENSION takes them): a list, or comma-separated. */
export function validateExtensions(value: unknown): string[] {
  if (value === undefined || value === '') return [];
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && /^[a-z0-9_-]{1,63}$/.test(s)))
    throw new PgappError(
      `Invalid extensions ${JSON.stringify(value)}`,
      'Name PostgreSQL extensions as CREATE EXTENSION does: "extensions": ["vector", "postgis"].',
    );
  return [...new Set(list as string[])];
}

export function validateBoolean(value: unknown, name: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false|yes|no|on|off|1|0)$/i.test(value)) {
    return /^(true|yes|on|1)$/i.test(value);
  }
  throw new PgappError(`Invalid value ${JSON.stringify(value)} for ${name}`, 'Use true or false.');
}

export function validateImage(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^[a-z0-9][a-z0-9._/:@-]{0,254}$/i.test(value)) {
    throw new PgappError(
      `Invalid image reference ${JSON.stringify(value)} for ${name}`,
      'Use a reference such as postgrest/postgrest:v12.2.3.',
    );
  }
  return value;
}

/** A partial config as read from a file, env or flags: every field optional, nothing validated yet. */
export interface RawConfig {
  project?: unknown;
  ports?: Partial<Record<PortKey, unknown>>;
  postgres?: unknown;
  seed?: unknown;
  cronJobs?: unknown;
  reads?: unknown;
  copyLimit?: unknown;
  postgrestImage?: unknown;
  postgrestTarball?: unknown;
  /** pgapp.config.json's `rds` section: `{ "parameters": { name: value } }`. */
  rds?: unknown;
  typesOut?: unknown;
  rdsUrl?: unknown;
  rdsInsecure?: unknown;
  seedRemote?: unknown;
  schemas?: unknown;
  access?: unknown;
  ownerColumn?: unknown;
  tables?: unknown;
  extensions?: unknown;
  /** pgapp.config.json's `custom` section, key by key (env gives each key on its own). */
  custom?: Partial<Record<CustomKey, unknown>>;
  limits?: unknown;
}

/** Merge layers (later wins) over the defaults and validate every field. */
export function resolveConfig(...layers: RawConfig[]): Config {
  const merged: RawConfig = { ...DEFAULTS, ports: { ...DEFAULTS.ports } };
  // "reads": {"default", "tables"} in a layer: a later layer's mode (a flag, env) sets the default
  // only; the per-table modes join "tables" (a mode said twice must agree).
  let readsTables: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      if (k === 'ports') merged.ports = { ...merged.ports, ...stripUndefined(v as object) };
      else if (k === 'custom') {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) validateCustom(v); // throws: not a section
        merged.custom = { ...merged.custom, ...stripUndefined(v as object) };
      } else if (k === 'reads') {
        const split = splitReads(v);
        if (split.reads !== undefined) merged.reads = split.reads;
        readsTables = { ...readsTables, ...split.tables };
      } else (merged as Record<string, unknown>)[k] = v;
    }
  }
  const ports = {} as Record<PortKey, number>;
  for (const key of PORT_KEYS) {
    ports[key] =
      key === 'postgrest'
        ? validateHttpPort(merged.ports?.[key], key)
        : validatePort(merged.ports?.[key], key);
  }
  const seen = new Map<number, string>();
  for (const key of PORT_KEYS) {
    const other = seen.get(ports[key]);
    if (other)
      throw new PgappError(
        `Ports ${other} and ${key} are both ${ports[key]}`,
        'Give each service its own host port.',
      );
    seen.set(ports[key], key);
  }
  const config: Config = {
    project: validateProject(merged.project),
    ports,
    postgres: validatePostgres(merged.postgres),
    seed: validateSeed(merged.seed),
    cronJobs: validateBoolean(merged.cronJobs, 'cronJobs'),
    reads: validateReads(merged.reads),
    copyLimit: validateCopyLimit(merged.copyLimit),
    postgrestImage: validateImage(merged.postgrestImage, 'postgrestImage'),
    rdsParameters: validateRdsSection(merged.rds),
    access: validateAccess(merged.access, 'access', false) as DefaultAccess,
    ownerColumn: validateOwnerColumn(merged.ownerColumn),
    tables: validateTables(mergeReadsIntoTables(merged.tables, readsTables)),
    extensions: validateExtensions(merged.extensions),
    custom: validateCustom(merged.custom),
    limits: validateLimits(merged.limits),
  };
  const schemas = validateSchemas(merged.schemas);
  if (schemas) config.schemas = schemas;
  if (config.rdsParameters['rds.logical_replication'] === '0' && anyReplica(config)) {
    throw new PgappError(
      'rds.parameters: rds.logical_replication = 0 leaves nothing to feed the local replica (reads: replica)',
      'Read through postgres_fdw instead (--reads fdw, or "reads": "fdw", and no table with "reads": "replica"), or keep rds.logical_replication = 1.',
    );
  }
  if (merged.postgrestTarball !== undefined && merged.postgrestTarball !== '') {
    if (typeof merged.postgrestTarball !== 'string') {
      throw new PgappError(
        'postgrestTarball must be a file path',
        'Point it at postgrest-vX.Y.Z-linux-static-x64.tar.xz.',
      );
    }
    config.postgrestTarball = merged.postgrestTarball;
  }
  if (merged.typesOut !== undefined && merged.typesOut !== '') {
    if (typeof merged.typesOut !== 'string' || !/\.ts$/.test(merged.typesOut))
      throw new PgappError(
        `typesOut must be the path of a .ts file, not ${JSON.stringify(merged.typesOut)}`,
        'For example: "typesOut": "src/database.types.ts".',
      );
    config.typesOut = merged.typesOut;
  }
  if (merged.rdsUrl !== undefined && merged.rdsUrl !== '') {
    config.remote = validateRdsUrl(
      merged.rdsUrl,
      merged.rdsInsecure === undefined ? false : validateBoolean(merged.rdsInsecure, 'rdsInsecure'),
      merged.seedRemote === undefined ? false : validateBoolean(merged.seedRemote, 'seedRemote'),
    );
  }
  if (config.remote && Object.keys(config.rdsParameters).length > 0) {
    throw new PgappError(
      'rds.parameters configure the RDS stand-in, but --rds-url bridges to a real server',
      'Change a real RDS\'s settings in its own DB parameter group (AWS console or CLI), and drop "rds" from pgapp.config.json.',
    );
  }
  return config;
}

function mergeReadsIntoTables(tables: unknown, modes: Record<string, unknown>): unknown {
  if (Object.keys(modes).length === 0) return tables;
  const base =
    tables && typeof tables === 'object' && !Array.isArray(tables) ? (tables as Record<string, unknown>) : {};
  const out: Record<string, unknown> = { ...base };
  for (const [rel, m] of Object.entries(modes)) {
    const t = out[rel];
    const prior = t && typeof t === 'object' ? (t as { reads?: unknown }).reads : undefined;
    if (prior !== undefined && prior !== (m as { reads: unknown }).reads)
      throw new PgappError(
        `"reads" and "tables" disagree on where ${rel} reads`,
        `Say it once: "tables": {"${rel}": {"reads": …}}.`,
      );
    out[rel] = { ...(t && typeof t === 'object' ? t : {}), ...(m as object) };
  }
  return out;
}

function validateOwnerColumn(value: unknown): string {
  if (typeof value !== 'string' || !IDENT.test(value))
    throw new PgappError(
      `Invalid ownerColumn ${JSON.stringify(value)}`,
      "Name the column that holds a row's owner (default owner_id): lower-case letters, digits and _.",
    );
  return value;
}

function stripUndefined(o: object): object {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
