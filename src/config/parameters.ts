/**
 * The RDS stand-in's DB parameter group: what `"rds": {"parameters": {…}}` in pgapp.config.json may
 * hold, checked as RDS checks a parameter group before it accepts it. Pure: no I/O. The server's own
 * parser checks each value's type and range when `dev` applies the group (stack/parameters.ts).
 */
import { PgappError } from '../errors.ts';

/** RDS's own parameters the stand-in models, with the values RDS allows. */
export const RDS_PARAMETERS: Record<string, { values: string[]; default: string; about: string }> = {
  'rds.force_ssl': {
    values: ['0', '1'],
    default: '1',
    about: '1 refuses connections without TLS (the default from PostgreSQL 15); dynamic',
  },
  'rds.logical_replication': {
    values: ['0', '1'],
    default: '1',
    about: '1 sets wal_level = logical (custom reads through its subscription); needs a reboot',
  },
};

/**
 * Libraries an RDS for PostgreSQL parameter group (15 and 17 alike) may preload (the allowed values of its
 * shared_preload_libraries, as the RDS console offers them), and which of them the stand-in ships.
 */
export const RDS_PRELOADABLE = [
  'auto_explain',
  'pg_bigm',
  'pg_cron',
  'pg_hint_plan',
  'pg_partman_bgw',
  'pg_prewarm',
  'pg_similarity',
  'pg_stat_statements',
  'pg_tle',
  'pg_transport',
  'pgaudit',
  'pglogical',
  'plprofiler',
];
export const STANDIN_PRELOADABLE = ['auto_explain', 'pg_cron', 'pg_prewarm', 'pg_stat_statements'];
/** What the stand-in always preloads, before the group's libraries (images/rds/conf.d/00-rds.conf). */
export const STANDIN_LIBRARIES = ['pgextwlist', 'pgapp_rds_guard'];

/** Server settings RDS does not let a parameter group change, and what to do instead. */
const NOT_MODIFIABLE: Record<string, string> = {
  wal_level: 'RDS sets it from rds.logical_replication (1: logical)',
  listen_addresses: 'RDS manages the network; the host port is --rds-port',
  port: 'the host port is --rds-port',
  ssl: 'TLS is always on; rds.force_ssl decides whether it is required',
  data_directory: 'RDS manages storage',
  config_file: 'RDS manages the server files',
  hba_file: 'RDS manages client authentication',
  ident_file: 'RDS manages client authentication',
  external_pid_file: 'RDS manages the server files',
  unix_socket_directories: 'RDS offers TCP only',
  unix_socket_group: 'RDS offers TCP only',
  unix_socket_permissions: 'RDS offers TCP only',
  archive_mode: 'RDS manages backups',
  archive_command: 'RDS manages backups',
  restore_command: 'RDS manages backups',
  'rds.extensions': 'it lists what RDS supports; load libraries with shared_preload_libraries',
};
const NOT_MODIFIABLE_PREFIXES = ['ssl_', 'extwlist.'];

/** A server setting's name: letters, digits and _, one dot for an extension's own (rds.*, pg_stat_statements.*). */
export const SETTING_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

function refuse(name: string, why: string, hint: string): never {
  throw new PgappError(`rds.parameters: ${name} ${why}`, hint);
}

/**
 * A setting's value as a conf file holds it: a string (booleans as on/off). `where` names the section
 * ("rds.parameters", "custom.settings") in the error.
 */
export function settingValue(where: string, name: string, v: unknown): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && !/[\n\r\0]/.test(v)) return v.trim();
  throw new PgappError(
    `${where}: ${name} has an unusable value ${JSON.stringify(v)}`,
    'Use a string, a number or true/false.',
  );
}

/** The libraries a shared_preload_libraries value names (comma-separated, quotes allowed). */
export function libraryList(value: string): string[] {
  return value
    .split(',')
    .map((l) => l.trim().replace(/^"(.*)"$/, '$1'))
    .filter((l) => l !== '');
}

/** A JSON object, or the error that says what it should be. */
export function objectOr(value: unknown, what: string, example: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new PgappError(`${what} must be an object`, `For example: ${example}.`);
  return value as Record<string, unknown>;
}

/** pgapp.config.json's `rds` section → the checked parameter group (names lower-cased). */
export function validateRdsSection(section: unknown): Record<string, string> {
  if (section === undefined) return {};
  const { parameters, ...rest } = objectOr(
    section,
    '"rds" in pgapp.config.json',
    '{"rds": {"parameters": {"work_mem": "8MB"}}}',
  );
  if (Object.keys(rest).length > 0)
    throw new PgappError(`Unknown key(s) in "rds": ${Object.keys(rest).join(', ')}`, 'Allowed: parameters.');
  return validateRdsParameters(parameters);
}

export function validateRdsParameters(parameters: unknown): Record<string, string> {
  if (parameters === undefined) return {};
  const group = objectOr(
    parameters,
    'rds.parameters (name: value)',
    '{"work_mem": "8MB", "rds.force_ssl": 1}',
  );
  const out: Record<string, string> = {};
  for (const [raw, v] of Object.entries(group)) {
    const name = raw.trim().toLowerCase();
    if (!SETTING_NAME.test(name))
      refuse(
        JSON.stringify(raw),
        'is not a parameter name',
        'Names are letters, digits and _ (one dot for rds.* and the like).',
      );
    const why =
      NOT_MODIFIABLE[name] ??
      (NOT_MODIFIABLE_PREFIXES.some((p) => name.startsWith(p))
        ? 'RDS manages TLS and the extension allowlist'
        : undefined);
    if (why) refuse(name, 'cannot be changed in an RDS parameter group', `${why}.`);
    const value = settingValue('rds.parameters', name, v);
    const rds = RDS_PARAMETERS[name];
    if (name.startsWith('rds.') && !rds)
      refuse(
        name,
        'is not an RDS parameter the stand-in models',
        `Known: ${Object.keys(RDS_PARAMETERS).join(', ')}.`,
      );
    if (rds && !rds.values.includes(value))
      refuse(name, `cannot be ${JSON.stringify(value)}`, `Use ${rds.values.join(' or ')} (${rds.about}).`);
    if (name === 'shared_preload_libraries') {
      for (const lib of libraryList(value)) {
        if (STANDIN_LIBRARIES.includes(lib)) continue;
        if (!RDS_PRELOADABLE.includes(lib))
          refuse(
            name,
            `names ${lib}, which RDS does not preload`,
            `RDS for PostgreSQL preloads: ${RDS_PRELOADABLE.join(', ')}.`,
          );
        if (!STANDIN_PRELOADABLE.includes(lib))
          refuse(
            name,
            `names ${lib}: RDS preloads it, but the stand-in does not ship it`,
            `The stand-in preloads: ${STANDIN_PRELOADABLE.join(', ')}.`,
          );
      }
    }
    out[name] = value;
  }
  return out;
}

/**
 * The group as a postgresql.conf fragment (images/rds reads it after its own conf.d): RDS's
 * defaults, the group's values, wal_level from rds.logical_replication, and shared_preload_libraries
 * always after the stand-in's own libraries.
 */
export function parameterGroupConf(project: string, params: Record<string, string>): string {
  const all: Record<string, string> = {
    ...Object.fromEntries(Object.entries(RDS_PARAMETERS).map(([k, p]) => [k, p.default])),
    ...params,
  };
  all.wal_level = all['rds.logical_replication'] === '1' ? 'logical' : 'replica';
  const libs = libraryList(all.shared_preload_libraries ?? '').filter((l) => !STANDIN_LIBRARIES.includes(l));
  all.shared_preload_libraries = [...STANDIN_LIBRARIES, ...libs].join(',');
  const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return [
    `# The DB parameter group of pgapp project "${project}": written by \`pgapp dev\` from pgapp.config.json`,
    '# ("rds": {"parameters": …}). Do not edit: change the config and run `pgapp dev`.',
    ...Object.keys(all)
      .sort()
      .map((k) => `${k} = ${quote(all[k] as string)}`),
    '',
  ].join('\n');
}
