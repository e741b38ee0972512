/**
 * Every option pgapp takes, described once: its flag, type, env variable, pgapp.config.json key, help,
 * and which commands take it. The command line's parser and help, the env and file readers
 * (config/load.ts) are derived from this table; schema.ts validates what they read. Pure: no I/O.
 */
import type { CustomKey } from './custom.ts';
import type { RawConfig } from './schema.ts';

export const COMMANDS = [
  'init',
  'dev',
  'status',
  'env',
  'down',
  'reset',
  'snapshot',
  'logs',
  'psql',
  'jobs',
  'test',
  'token',
  'explain',
  'gen',
  'images',
  'compose',
  'compose-env',
  'deploy',
] as const;
export type Command = (typeof COMMANDS)[number];

/** Where an option's value goes in the raw config (a port under `ports`). */
export type ConfigPath =
  | Exclude<keyof RawConfig, 'ports' | 'custom'>
  | `ports.${'rds' | 'custom' | 'postgrest'}`
  | `custom.${CustomKey}`;

export interface OptionSpec {
  /** The long flag, without dashes; absent for settings only a file or env can give. */
  flag?: string;
  short?: string;
  type: 'string' | 'boolean';
  /** A boolean that `--no-<flag>` turns off. */
  negatable?: boolean;
  /** What the value looks like, for the help (`N`, `small|medium|large`). */
  value?: string;
  /** Where it lands in the config; absent for options of one command's own (`--json`). */
  config?: ConfigPath;
  env?: string;
  /** Its key in pgapp.config.json, when the file may hold it (`custom.python`: a key of a section). */
  file?: string;
  /** Env only: the value is JSON (`PGAPP_RDS_PARAMETERS`), wrapped as the file would hold it. */
  envJson?: (value: unknown) => unknown;
  help: string;
  /**
   * The commands that take it; `stack`: every command that reads the project's settings; `project`:
   * those and `init`, which names the project.
   */
  commands: readonly Command[] | 'stack' | 'project' | 'all';
}

/**
 * The commands that read the project's settings (every one but `compose`, which writes the defaults,
 * and `init`, which makes the project).
 */
export const STACK_COMMANDS: readonly Command[] = COMMANDS.filter((c) => c !== 'compose' && c !== 'init');

/** The cloud's bootstrap task's environment (`pgapp deploy apply`), each with its help. */
const CLOUD_ENV_HELP = {
  PGAPP_CLOUD_RDS_HOST: "`deploy apply` (the cloud's bootstrap task sets it): the deployed rds's endpoint",
  PGAPP_CLOUD_RDS_PORT: "`deploy apply`: the deployed rds's port (default 5432)",
  PGAPP_CLOUD_RDS_CA:
    "`deploy apply`: the CA bundle that verifies the deployed rds (sslmode=verify-full; the bootstrap image holds RDS's global bundle)",
  PGAPP_CLOUD_RDS_PASSWORD: "`deploy apply`: the deployed rds's master password (from Secrets Manager)",
  PGAPP_CLOUD_CUSTOM_HOST: "`deploy apply`: the cloud's custom Postgres, by its private host name",
  PGAPP_CLOUD_CUSTOM_PASSWORD: "`deploy apply`: custom's superuser password (from Secrets Manager)",
  PGAPP_CLOUD_BRIDGE_PASSWORD:
    "`deploy apply`: the password of the bridge's role on rds (from Secrets Manager)",
  PGAPP_CLOUD_REPLICATOR_PASSWORD:
    "`deploy apply`: the password of the replica's role on rds (from Secrets Manager)",
  PGAPP_CLOUD_AUTHENTICATOR_PASSWORD:
    "`deploy apply`: the password of PostgREST's login role on custom (from Secrets Manager)",
} as const;

export const OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'project',
    type: 'string',
    value: 'NAME',
    config: 'project',
    env: 'PGAPP_PROJECT',
    file: 'project',
    help: "project name: letters, digits, _ (default pgapp; `init`: the directory's name)",
    commands: 'project',
  },
  {
    flag: 'postgres',
    type: 'string',
    value: '15|17',
    config: 'postgres',
    env: 'PGAPP_POSTGRES',
    file: 'postgres',
    help: 'PostgreSQL major version of rds and custom (default 17, as new RDS instances; a project with data keeps its own)',
    commands: 'stack',
  },
  {
    flag: 'rds-port',
    type: 'string',
    value: 'N',
    config: 'ports.rds',
    env: 'PGAPP_RDS_PORT',
    help: 'host port of rds on 127.0.0.1 (default 5433)',
    commands: 'stack',
  },
  {
    flag: 'custom-port',
    type: 'string',
    value: 'N',
    config: 'ports.custom',
    env: 'PGAPP_CUSTOM_PORT',
    help: 'host port of custom on 127.0.0.1 (default 5434)',
    commands: 'stack',
  },
  {
    flag: 'postgrest-port',
    type: 'string',
    value: 'N',
    config: 'ports.postgrest',
    env: 'PGAPP_POSTGREST_PORT',
    help: 'host port of the API (the gateway) on 127.0.0.1 (default 3000)',
    commands: 'stack',
  },
  {
    file: 'ports',
    type: 'string',
    help: 'the three host ports in pgapp.config.json: {"rds": 5433, "custom": 5434, "postgrest": 3000}',
    commands: 'stack',
  },
  {
    flag: 'seed',
    type: 'string',
    value: 'small|medium|large',
    config: 'seed',
    env: 'PGAPP_SEED',
    file: 'seed',
    help: '1k, 100k or 1M contacts (default small)',
    commands: 'stack',
  },
  {
    flag: 'cron-jobs',
    type: 'boolean',
    negatable: true,
    config: 'cronJobs',
    env: 'PGAPP_CRON_JOBS',
    file: 'cronJobs',
    help: 'the sample pg_cron jobs (default on)',
    commands: 'stack',
  },
  {
    flag: 'reads',
    type: 'string',
    value: 'replica|fdw',
    config: 'reads',
    env: 'PGAPP_READS',
    file: 'reads',
    help:
      'where the API reads by default: local tables kept in sync by logical replication (default replica), or ' +
      'through postgres_fdw; per table in "tables" (file: also {"default": …, "tables": {"public.events": "fdw"}})',
    commands: 'stack',
  },
  {
    flag: 'copy-limit',
    type: 'string',
    value: 'SIZE',
    config: 'copyLimit',
    env: 'PGAPP_COPY_LIMIT',
    file: 'copyLimit',
    help: 'a table larger than this on rds is not copied to the replica without a yes (default 1GB)',
    commands: 'stack',
  },
  {
    flag: 'postgrest-image',
    type: 'string',
    value: 'REF',
    config: 'postgrestImage',
    env: 'PGAPP_POSTGREST_IMAGE',
    file: 'postgrestImage',
    help: 'default postgrest/postgrest:v12.2.3',
    commands: 'stack',
  },
  {
    flag: 'postgrest-tarball',
    type: 'string',
    value: 'FILE',
    config: 'postgrestTarball',
    env: 'PGAPP_POSTGREST_TARBALL',
    file: 'postgrestTarball',
    help: 'build PostgREST from an official release tarball',
    commands: 'stack',
  },
  {
    flag: 'rds-url',
    type: 'string',
    value: 'URL',
    config: 'rdsUrl',
    env: 'PGAPP_RDS_URL',
    file: 'rdsUrl',
    help:
      'bridge to an existing Postgres/RDS instead of the rds container (TLS required; nothing written there but ' +
      "the bridge's views and ledger; add sslrootcert=/path/global-bundle.pem, AWS's RDS CA bundle, to verify it)",
    commands: 'stack',
  },
  {
    flag: 'seed-remote',
    type: 'boolean',
    config: 'seedRemote',
    env: 'PGAPP_SEED_REMOTE',
    file: 'seedRemote',
    help: "run the project's rds migrations and seed (db/rds) on that database too (off by default)",
    commands: 'stack',
  },
  {
    flag: 'rds-insecure',
    type: 'boolean',
    config: 'rdsInsecure',
    env: 'PGAPP_RDS_INSECURE',
    file: 'rdsInsecure',
    help: 'allow sslmode=disable in --rds-url (a server without TLS)',
    commands: 'stack',
  },
  {
    flag: 'schemas',
    type: 'string',
    value: 'A,B',
    config: 'schemas',
    env: 'PGAPP_SCHEMAS',
    file: 'schemas',
    help:
      'the rds schemas to mirror, in order (file: a list); default: every schema of rds that holds tables, ' +
      "listed by `dev` (the demo's crm, yours, or --rds-url's)",
    commands: 'stack',
  },
  {
    flag: 'extensions',
    type: 'string',
    value: 'A,B',
    config: 'extensions',
    env: 'PGAPP_EXTENSIONS',
    file: 'extensions',
    help:
      'PostgreSQL extensions the schema uses (file: a list, e.g. ["vector", "postgis"]): their Debian packages ' +
      'go into both images; rds gets those RDS offers',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'access',
    env: 'PGAPP_ACCESS',
    file: 'access',
    help:
      'what the API lets web_anon and web_user do with a table that has no owner column: "read" (default: both ' +
      'read), "write" (web_user also writes every row) or "none" (not published)',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'ownerColumn',
    env: 'PGAPP_OWNER_COLUMN',
    file: 'ownerColumn',
    help: 'the column that makes a table per-user ("access": "owner": rows stamped and filtered by the token\'s sub; default owner_id)',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'tables',
    env: 'PGAPP_TABLES',
    file: 'tables',
    envJson: (tables) => tables,
    help: 'per table: "tables": {"public.events": {"access": "none", "reads": "fdw"}} (env: as JSON)',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'rds',
    env: 'PGAPP_RDS_PARAMETERS',
    file: 'rds',
    envJson: (parameters) => ({ parameters }),
    help: 'the stand-in\'s parameter group: "rds": {"parameters": {"work_mem": "8MB"}} (env: the parameters as JSON)',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'custom.extensions',
    env: 'PGAPP_CUSTOM_EXTENSIONS',
    file: 'custom.extensions',
    help:
      'extensions for custom only, RDS\'s list or not (a list, e.g. ["vector", "pgrouting", "mysql_fdw"]): ' +
      "their Debian packages go into custom's image, and its build creates each once to check it",
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'custom.python',
    env: 'PGAPP_CUSTOM_PYTHON',
    file: 'custom.python',
    help:
      'Python libraries plpython3u functions import (a list, e.g. ["numpy", "scikit-learn"]): Debian\'s ' +
      "python3-* packages in custom's image; its build imports each to check it",
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'custom.preload',
    env: 'PGAPP_CUSTOM_PRELOAD',
    file: 'custom.preload',
    help: 'libraries custom preloads after pg_cron (a list, e.g. ["pg_stat_statements", "auto_explain"])',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'custom.settings',
    env: 'PGAPP_CUSTOM_SETTINGS',
    file: 'custom.settings',
    envJson: (settings) => settings,
    help:
      'custom\'s server settings: {"work_mem": "64MB", "pg_stat_statements.track": "all"} (env: as JSON); ' +
      'its build starts a server with them and stops at any the server refuses',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'limits',
    env: 'PGAPP_LIMITS',
    file: 'limits',
    envJson: (limits) => limits,
    help:
      'the gateway\'s bounds on one request: "limits": {"maxEmbedDepth": 6, "maxEmbeds": 16, "maxUrlBytes": 8192, ' +
      '"maxBodyBytes": 1048576, "maxInFlightPerClient": 4, "maxQueuedPerClient": 16} (the defaults; env: as JSON)',
    commands: 'stack',
  },
  {
    type: 'string',
    config: 'typesOut',
    env: 'PGAPP_TYPES_OUT',
    file: 'typesOut',
    help: "a .ts file `dev` keeps holding the api schema's types",
    commands: 'stack',
  },
  // The environment only: where pgapp works, and knobs for slow machines and tests.
  {
    type: 'string',
    env: 'PGAPP_HOME',
    help: 'the directory pgapp.config.json and .pgapp/ live in (default: the current directory)',
    commands: 'all',
  },
  {
    type: 'string',
    env: 'PGAPP_DEBIAN_MIRROR',
    help: 'the Debian mirror debootstrap builds base images from (default http://deb.debian.org/debian)',
    commands: ['dev', 'images', 'snapshot'],
  },
  {
    type: 'string',
    env: 'PGAPP_READY_TIMEOUT_MS',
    help: 'how long `dev` waits for a service to become ready (default 120000)',
    commands: ['dev', 'snapshot'],
  },
  {
    type: 'string',
    env: 'PGAPP_TEST_PROJECT',
    help: "pgapp/testing's useStack(): the shared test stack's project (default pgapp_test_<hash of the directory>)",
    commands: [],
  },
  {
    type: 'string',
    env: 'PGAPP_TEST_HOLD',
    help: "the tests of Ctrl-C: holds `dev`'s phase of that title half-way until interrupted",
    commands: ['dev'],
  },
  // The cloud's bootstrap task (`pgapp deploy apply`), set by its task definition (src/deploy/data.ts).
  ...Object.entries(CLOUD_ENV_HELP).map(([env, help]) => ({
    type: 'string' as const,
    env,
    help,
    commands: ['deploy'] as const,
  })),
  // One command's own.
  {
    flag: 'example',
    type: 'string',
    value: 'NAME',
    help: "start from an example (crm: the demo CRM's schema, seed and app layer) instead of empty folders",
    commands: ['init'],
  },
  {
    flag: 'rotate-ca',
    type: 'boolean',
    help: 'a new project CA and rds certificate (clients then need the new root.crt)',
    commands: ['dev'],
  },
  {
    flag: 'json',
    type: 'boolean',
    help: 'as JSON',
    commands: ['status', 'jobs', 'explain', 'snapshot'],
  },
  {
    flag: 'show-secrets',
    type: 'boolean',
    help: 'passwords in the URLs instead of ****',
    commands: ['status'],
  },
  {
    flag: 'snapshot',
    type: 'string',
    value: 'NAME',
    help: 'save a snapshot first, that `snapshot restore NAME` brings back',
    commands: ['reset'],
  },
  {
    flag: 'drop-remote',
    type: 'boolean',
    help: 'with --rds-url: also drop what pgapp made there (publication pgapp, schemas pgapp_bridge and pgapp_ledger)',
    commands: ['reset'],
  },
  {
    flag: 'force',
    type: 'boolean',
    help: 'replace a snapshot of that name',
    commands: ['snapshot'],
  },
  { flag: 'follow', short: 'f', type: 'boolean', help: 'keep printing new lines', commands: ['logs'] },
  { flag: 'tail', type: 'string', value: 'N', help: 'the last N lines (default 200)', commands: ['logs'] },
  {
    flag: 'role',
    type: 'string',
    value: 'R',
    help: 'the API role (default web_user)',
    commands: ['token', 'explain'],
  },
  {
    flag: 'claims',
    type: 'string',
    value: 'JSON',
    help: 'more JWT claims, e.g. {"sub":"alice"}',
    commands: ['token', 'explain'],
  },
  {
    flag: 'method',
    type: 'string',
    value: 'M',
    help: 'GET (default), or POST, PATCH or DELETE: a dry run of the write, rolled back on custom and rds',
    commands: ['explain'],
  },
  {
    flag: 'body',
    type: 'string',
    value: 'JSON',
    help: "the write's body (POST, PATCH)",
    commands: ['explain'],
  },
  {
    flag: 'profile',
    type: 'string',
    value: 'SCHEMA',
    help: "the schema of the request's table (Accept-Profile / Content-Profile; default: the first mirrored schema)",
    commands: ['explain'],
  },
  {
    flag: 'exp',
    type: 'string',
    value: '1h',
    help: 'how long the token lasts (1s to 365d)',
    commands: ['token'],
  },
  {
    flag: 'out',
    type: 'string',
    value: 'FILE',
    help: 'write to FILE (gen: only when it changes); deploy synth: the cloud assembly goes to this directory (default cdk.out)',
    commands: ['gen', 'deploy'],
  },
  {
    flag: 'junit',
    type: 'string',
    value: 'FILE',
    help: 'also write the results as JUnit XML to FILE (for CI)',
    commands: ['test'],
  },
  {
    flag: 'region',
    type: 'string',
    value: 'REGION',
    help: "the AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the AWS profile's region; synth alone falls back to us-east-1)",
    commands: ['deploy'],
  },
  {
    flag: 'multi-az',
    type: 'boolean',
    help: 'rds in two availability zones (a standby; twice the price)',
    commands: ['deploy'],
  },
  {
    flag: 'delete-data',
    type: 'boolean',
    help: '`deploy destroy`: remove rds, custom and the network too (after final snapshots), not only the API',
    commands: ['deploy'],
  },
  {
    flag: 'certificate-arn',
    type: 'string',
    value: 'ARN',
    help: 'HTTPS on the load balancer with this ACM certificate (without one it listens on HTTP and says so)',
    commands: ['deploy'],
  },
  {
    flag: 'no-postgrest',
    type: 'boolean',
    help: 'leave the PostgREST image out',
    commands: ['images'],
  },
  {
    flag: 'yes',
    short: 'y',
    type: 'boolean',
    help: 'never ask (also when CI is set or stdin is not a terminal)',
    commands: 'all',
  },
  { flag: 'help', short: 'h', type: 'boolean', help: 'this help', commands: 'all' },
];

/** Variables of the environment only (no flag, no file key), as the table names them. */
export type EnvOnly =
  | 'PGAPP_HOME'
  | 'PGAPP_DEBIAN_MIRROR'
  | 'PGAPP_READY_TIMEOUT_MS'
  | 'PGAPP_TEST_PROJECT'
  | 'PGAPP_TEST_HOLD'
  | CloudEnv;

/** What the cloud's bootstrap task is given: its task definition sets exactly these. */
export type CloudEnv = keyof typeof CLOUD_ENV_HELP;
export const CLOUD_ENV = Object.keys(CLOUD_ENV_HELP) as CloudEnv[];

/** The value of an environment-only variable (read here, not ad hoc). PGAPP_HOME is read by paths.ts, below this layer. */
export function envOnly(name: EnvOnly, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const o = OPTIONS.find((x) => x.env === name && !x.flag && !x.config);
  if (!o) throw new Error(`${name} is not in the options table`);
  return env[name] || undefined;
}

/** The commands an option is taken by. */
export function commandsOf(o: OptionSpec): readonly Command[] {
  if (o.commands === 'all') return COMMANDS;
  if (o.commands === 'stack') return STACK_COMMANDS;
  if (o.commands === 'project') return [...STACK_COMMANDS, 'init'];
  return o.commands;
}

/** node:util parseArgs options: every flag, with `--no-<flag>` for the negatable ones. */
export function parseArgsOptions(): Record<string, { type: 'string' | 'boolean'; short?: string }> {
  const out: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const o of OPTIONS) {
    if (!o.flag) continue;
    out[o.flag] = { type: o.type, ...(o.short ? { short: o.short } : {}) };
    if (o.negatable) out[`no-${o.flag}`] = { type: 'boolean' };
  }
  return out;
}

/** The option a parsed flag name belongs to (`no-cron-jobs` → cron-jobs). */
export function optionOfFlag(name: string): OptionSpec | undefined {
  return OPTIONS.find((o) => o.flag === name || (o.negatable && `no-${o.flag}` === name));
}

/** Set `value` at a config path of `raw`. */
function put(raw: RawConfig, path: ConfigPath, value: unknown): void {
  if (value === undefined) return;
  if (path.startsWith('ports.')) {
    const key = path.slice('ports.'.length) as 'rds' | 'custom' | 'postgrest';
    raw.ports = { ...raw.ports, [key]: value };
  } else if (path.startsWith('custom.')) {
    const key = path.slice('custom.'.length) as CustomKey;
    raw.custom = { ...raw.custom, [key]: value };
  } else (raw as Record<string, unknown>)[path] = value;
}

/** The raw config the parsed flags give. */
export function configFromFlags(values: Record<string, unknown>): RawConfig {
  const raw: RawConfig = {};
  for (const o of OPTIONS) {
    if (!o.flag || !o.config) continue;
    const v = o.negatable && values[`no-${o.flag}`] ? false : values[o.flag];
    put(raw, o.config, v);
  }
  return raw;
}

/**
 * The raw config the environment gives. `parseJson` reads a JSON variable (throwing a clear error
 * for a bad one); the option's `envJson` wraps it as the file would hold it.
 */
export function configFromEnvVars(
  env: NodeJS.ProcessEnv,
  parseJson: (name: string, text: string) => unknown,
): RawConfig {
  const raw: RawConfig = {};
  for (const o of OPTIONS) {
    if (!o.env || !o.config) continue;
    const text = env[o.env];
    if (text === undefined) continue;
    put(raw, o.config, o.envJson ? (text ? o.envJson(parseJson(o.env, text)) : undefined) : text);
  }
  return raw;
}

/** The keys pgapp.config.json may hold. */
export const FILE_KEYS: readonly string[] = [
  ...new Set(OPTIONS.flatMap((o) => (o.file ? [o.file.split('.')[0] as string] : []))),
];

/**
 * The flags given to a command that does not take them, as a message: `status` does not take --tail
 * (it takes --json, --show-secrets).
 */
export function misplacedFlags(command: Command, given: string[]): string | undefined {
  const wrong = given.filter((name) => {
    const o = optionOfFlag(name);
    return o !== undefined && !commandsOf(o).includes(command);
  });
  if (wrong.length === 0) return undefined;
  const own = OPTIONS.filter(
    (o) => o.flag && Array.isArray(o.commands) && (o.commands as readonly Command[]).includes(command),
  ).map((o) => `--${o.flag}`);
  return `\`${command}\` does not take ${wrong.map((w) => `--${w}`).join(', ')}${
    own.length ? ` (its own options: ${own.join(', ')})` : ''
  }`;
}

/** The options part of the help: flag, value, help and env, from the table. */
export function optionsHelp(): string {
  const lines: string[] = [];
  const width = 34;
  const wrap = (text: string, indent: number, max = 100) => {
    const words = text.split(' ');
    const out: string[] = [];
    let line = '';
    for (const w of words) {
      if (line && indent + line.length + 1 + w.length > max) {
        out.push(line);
        line = w;
      } else line = line ? `${line} ${w}` : w;
    }
    if (line) out.push(line);
    return out;
  };
  for (const o of OPTIONS) {
    if (!o.flag) continue;
    const names = [
      o.short ? `-${o.short}, --${o.flag}` : `--${o.flag}`,
      o.negatable ? ` / --no-${o.flag}` : '',
      o.value ? ` ${o.value}` : '',
    ].join('');
    const who = !Array.isArray(o.commands) ? '' : ` [${(o.commands as readonly string[]).join(', ')}]`;
    const text = `${o.help}${who}${o.env ? ` · ${o.env}` : ''}`;
    const [first = '', ...rest] = wrap(text, width + 2);
    lines.push(`  ${names.padEnd(width)}${first}`);
    for (const r of rest) lines.push(`  ${' '.repeat(width)}${r}`);
  }
  lines.push('');
  lines.push('In pgapp.config.json (or env) only:');
  for (const o of OPTIONS) {
    if (o.flag || !o.file) continue;
    const [first = '', ...rest] = wrap(`${o.help}${o.env ? ` · ${o.env}` : ''}`, width + 2);
    lines.push(`  ${`"${o.file}"`.padEnd(width)}${first}`);
    for (const r of rest) lines.push(`  ${' '.repeat(width)}${r}`);
  }
  lines.push('');
  lines.push('In the environment only:');
  for (const o of OPTIONS) {
    if (o.flag || o.file || !o.env) continue;
    const [first = '', ...rest] = wrap(o.help, width + 2);
    lines.push(`  ${(o.env as string).padEnd(width)}${first}`);
    for (const r of rest) lines.push(`  ${' '.repeat(width)}${r}`);
  }
  return lines.join('\n');
}
