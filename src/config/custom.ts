/**
 * The custom Postgres is the project's: `"custom": {"extensions", "python", "preload", "settings"}` in
 * pgapp.config.json — what RDS will not give. Checked here for form (pure: no I/O); the image build
 * checks the rest on a throwaway server of the new image before it exists (images/postgres/check-custom.sh):
 * Debian has each package, each extension is created, each Python library is imported, and the server's
 * own parser takes every setting.
 */
import { PgappError } from '../errors.ts';
import { objectOr, SETTING_NAME, settingValue } from './parameters.ts';

export interface CustomSettings {
  /** Extensions for custom only (any Debian packages for the major version, RDS's list or not). */
  extensions: string[];
  /** Python libraries for plpython3u, by their PyPI names (numpy, scikit-learn): Debian's python3-* packages. */
  python: string[];
  /** Libraries preloaded after pg_cron (shared_preload_libraries). */
  preload: string[];
  /** Server settings (a postgresql.conf fragment), names lower-cased. */
  settings: Record<string, string>;
}

export const CUSTOM_KEYS = ['extensions', 'python', 'preload', 'settings'] as const;
export type CustomKey = (typeof CUSTOM_KEYS)[number];

export const NO_CUSTOM: CustomSettings = { extensions: [], python: [], preload: [], settings: {} };

/** What custom always preloads (images/postgres/conf.d/00-pgapp.conf): the project's come after. */
export const CUSTOM_LIBRARIES = ['pg_cron'];

/**
 * Settings pgapp owns on custom, and where the project says the same thing instead. A `-c` on the
 * server's command line would win over the project's file without a word: these are refused instead.
 */
const PGAPP_OWNS: Record<string, string> = {
  shared_preload_libraries: 'list the libraries in "custom": {"preload": [...]}: pgapp keeps pg_cron first',
  'cron.database_name': "pg_cron runs in the project's database: pgapp sets it",
  'cron.use_background_workers': "pgapp's jobs run in background workers, without a login",
  listen_addresses: 'pgapp publishes custom on 127.0.0.1 (--custom-port)',
  port: 'the host port is --custom-port',
  data_directory: 'the data lives in the project volume',
  config_file: 'pgapp writes the server files',
  hba_file: 'pgapp writes client authentication',
  ident_file: 'pgapp writes client authentication',
  external_pid_file: 'pgapp writes the server files',
  unix_socket_directories: 'pgapp and the healthcheck use the socket it has',
  include: 'give the settings themselves',
  include_dir: 'give the settings themselves',
  include_if_exists: 'give the settings themselves',
};

/**
 * Where a Python library's Debian package (python3-<name>) and module are not its PyPI name: checked
 * against Debian bookworm and trixie.
 */
const PYTHON_PACKAGES: Record<string, { pkg: string; module: string }> = {
  'scikit-learn': { pkg: 'sklearn', module: 'sklearn' },
  sklearn: { pkg: 'sklearn', module: 'sklearn' },
  'scikit-image': { pkg: 'skimage', module: 'skimage' },
  pyyaml: { pkg: 'yaml', module: 'yaml' },
  pillow: { pkg: 'pil', module: 'PIL' },
  beautifulsoup4: { pkg: 'bs4', module: 'bs4' },
  'python-dateutil': { pkg: 'dateutil', module: 'dateutil' },
  psycopg2: { pkg: 'psycopg2', module: 'psycopg2' },
  'psycopg2-binary': { pkg: 'psycopg2', module: 'psycopg2' },
  'opencv-python': { pkg: 'opencv', module: 'cv2' },
  torch: { pkg: 'torch', module: 'torch' },
};

/** A Python library's Debian package and the module a function imports. */
export function pythonPackage(name: string): { pkg: string; module: string } {
  const known = PYTHON_PACKAGES[name];
  if (known) return { pkg: `python3-${known.pkg}`, module: known.module };
  return { pkg: `python3-${name}`, module: name.replace(/-/g, '_') };
}

/** Libraries postgresql-<major> ships itself: no package to add for them. */
const BUILT_IN_LIBRARIES = new Set([
  'auto_explain',
  'auth_delay',
  'passwordcheck',
  'pg_prewarm',
  'pg_stat_statements',
  'pg_cron',
  'pgoutput',
  'sepgsql',
]);
/** Where a preloaded library's Debian package is not named after it. */
const LIBRARY_PACKAGES: Record<string, string> = {
  pg_partman_bgw: 'pg_partman',
  'timescaledb-2': 'timescaledb',
};

/** The extension whose package holds a preloaded library, or undefined when the server has it. */
export function libraryExtension(lib: string): string | undefined {
  if (BUILT_IN_LIBRARIES.has(lib)) return undefined;
  return LIBRARY_PACKAGES[lib] ?? lib;
}

/** A list of names (or comma-separated, from env), each matching `re`. */
function nameList(value: unknown, key: CustomKey, re: RegExp, example: string): string[] {
  if (value === undefined || value === '') return [];
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && re.test(s)))
    throw new PgappError(
      `Invalid custom.${key} ${JSON.stringify(value)}`,
      `For example: "${key}": ${example}.`,
    );
  return [...new Set(list as string[])];
}

export function validateCustomSettings(value: unknown): Record<string, string> {
  if (value === undefined || value === '') return {};
  const group = objectOr(value, 'custom.settings (name: value)', '{"work_mem": "64MB", "jit": false}');
  const out: Record<string, string> = {};
  for (const [raw, v] of Object.entries(group)) {
    const name = raw.trim().toLowerCase();
    if (!SETTING_NAME.test(name))
      throw new PgappError(
        `custom.settings: ${JSON.stringify(raw)} is not a setting's name`,
        'Names are letters, digits and _ (one dot for an extension\'s own, e.g. "pg_stat_statements.max").',
      );
    const owned =
      PGAPP_OWNS[name] ??
      (name.startsWith('ssl') ? 'custom listens on this machine only: pgapp decides TLS' : undefined);
    if (owned) throw new PgappError(`custom.settings: ${name} is pgapp's to set`, `Leave it out: ${owned}.`);
    out[name] = settingValue('custom.settings', name, v);
  }
  return out;
}

/** `"custom"` of pgapp.config.json (and its env twins), checked for form. */
export function validateCustom(section: unknown): CustomSettings {
  if (section === undefined) return NO_CUSTOM;
  const s = objectOr(
    section,
    '"custom" in pgapp.config.json',
    '{"custom": {"extensions": ["vector"], "python": ["numpy"], "preload": ["pg_stat_statements"], "settings": {"work_mem": "64MB"}}}',
  );
  const unknown = Object.keys(s).filter((k) => !(CUSTOM_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new PgappError(
      `Unknown key(s) in "custom": ${unknown.join(', ')}`,
      `Allowed: ${CUSTOM_KEYS.join(', ')}.`,
    );
  const preload = nameList(
    s.preload,
    'preload',
    /^[a-z0-9_-]{1,63}$/,
    '["pg_stat_statements", "auto_explain"]',
  );
  return {
    extensions: nameList(s.extensions, 'extensions', /^[a-z0-9_-]{1,63}$/, '["vector", "pgrouting"]'),
    python: nameList(s.python, 'python', /^[a-z0-9][a-z0-9._-]{0,62}$/, '["numpy", "scikit-learn"]').map(
      (n) => n.toLowerCase(),
    ),
    preload: preload.filter((l) => !CUSTOM_LIBRARIES.includes(l)),
    settings: validateCustomSettings(s.settings),
  };
}

const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/**
 * The project's settings as custom reads them (images/postgres: conf.d/50-project.conf, after pgapp's
 * own 00-pgapp.conf, so they win): the preloaded libraries after pg_cron, then each setting. Empty
 * when the project sets nothing.
 */
export function customConf(custom: CustomSettings): string {
  const lines = Object.keys(custom.settings)
    .sort()
    .map((k) => `${k} = ${quote(custom.settings[k] as string)}`);
  if (custom.preload.length > 0)
    lines.unshift(`shared_preload_libraries = ${quote([...CUSTOM_LIBRARIES, ...custom.preload].join(','))}`);
  if (lines.length === 0) return '';
  return [
    '# The project\'s own settings: written by pgapp from pgapp.config.json ("custom"). Change them there.',
    ...lines,
    '',
  ].join('\n');
}
