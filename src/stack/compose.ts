/**
 * compose.yaml, generated from the stack spec (`npm run compose`): the same services, images,
 * healthchecks, ports on 127.0.0.1, volumes and SQL as `pgapp dev`, with `${VAR:-default}`
 * placeholders where dev has values. A test fails when the committed file is stale.
 */
import { type Config, DEFAULTS, fdwOnly, PORT_KEYS, type PortKey, SEED_SIZES } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { CONTAINER_CA_FILE } from '../config/tls.ts';
import { imageAdditions } from '../docker/extensions.ts';
import { additionArgs, baseOf } from '../docker/pg-images.ts';
import { LABELS, type ServiceSpec, type StackFiles, stackSpec } from '../spec/stack.ts';
import { imageNeeds, PHASES, settingsParams, sqlSettings } from './sql.ts';

/** The env variables compose.yaml reads (`pgapp compose-env` writes them to .env). */
export const COMPOSE_ENV = {
  project: 'PGAPP_PROJECT',
  /** The PostgreSQL major version, and the Debian base image it comes from (images/common/check-base.sh). */
  postgres: 'PGAPP_POSTGRES',
  pgBaseImage: 'PGAPP_PG_BASE_IMAGE',
  ports: {
    rds: 'PGAPP_RDS_PORT',
    custom: 'PGAPP_CUSTOM_PORT',
    postgrest: 'PGAPP_POSTGREST_PORT',
  } as Record<PortKey, string>,
  seed: 'PGAPP_SEED',
  seedRows: 'PGAPP_SEED_ROWS',
  cronJobs: 'PGAPP_CRON_JOBS',
  schemas: 'PGAPP_SCHEMAS',
  access: 'PGAPP_ACCESS',
  ownerColumn: 'PGAPP_OWNER_COLUMN',
  tables: 'PGAPP_TABLES',
  /** The gateway's request bounds, as JSON (empty: its defaults). */
  limits: 'PGAPP_LIMITS',
  /** The directory holding the project's db/ (yours, or the example's): mounted for setup. */
  projectRoot: 'PGAPP_PROJECT_ROOT',
  /**
   * What each Postgres image adds for the project, as its build arguments (docker/pg-images.ts
   * additionArgs): the packages, and custom's extensions and Python modules to check and its settings.
   */
  buildArgs: {
    rds: { EXTENSION_PACKAGES: 'PGAPP_RDS_PACKAGES' },
    postgres: {
      EXTENSION_PACKAGES: 'PGAPP_CUSTOM_PACKAGES',
      CUSTOM_EXTENSIONS: 'PGAPP_CUSTOM_EXTENSIONS_CHECKED',
      PYTHON_MODULES: 'PGAPP_CUSTOM_PYTHON_MODULES',
      CUSTOM_CONF: 'PGAPP_CUSTOM_CONF',
    },
  } as Record<'rds' | 'postgres', Record<string, string>>,
  /** The project's state directory (.pgapp/<project>: TLS files, parameter group) and rds's certificate. */
  stateDir: 'PGAPP_STATE_DIR',
  rdsCert: 'PGAPP_RDS_CERT_SHA256',
  secrets: {
    rdsMasterPassword: 'PGAPP_RDS_MASTER_PASSWORD',
    customPassword: 'PGAPP_CUSTOM_PASSWORD',
    bridgePassword: 'PGAPP_BRIDGE_PASSWORD',
    authenticatorPassword: 'PGAPP_AUTHENTICATOR_PASSWORD',
    jwtSecret: 'PGAPP_JWT_SECRET',
    replicatorPassword: 'PGAPP_REPLICATOR_PASSWORD',
    explainKey: 'PGAPP_EXPLAIN_KEY',
  } as Record<keyof Secrets, string>,
};

const orDefault = (name: string, value: string | number | boolean) => `\${${name}:-${value}}`;
const required = (name: string) => `\${${name}:?set ${name}: run \`npm run compose:env\` to write .env}`;

type Yaml = string | number | boolean | Yaml[] | { [k: string]: Yaml };

/** A small YAML emitter: maps, lists and scalars (strings double-quoted, as JSON). */
export function toYaml(value: Yaml, indent = 0): string {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    return value
      .map((v) => (typeof v === 'object' ? `${pad}-\n${toYaml(v, indent + 2)}` : `${pad}- ${toYaml(v)}`))
      .join('\n');
  }
  if (typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => {
        const key = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k);
        if (typeof v === 'object' && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0))
          return `${pad}${key}:\n${toYaml(v, indent + 2)}`;
        if (typeof v === 'object') return `${pad}${key}: ${Array.isArray(v) ? '[]' : '{}'}`;
        return `${pad}${key}: ${toYaml(v)}`;
      })
      .join('\n');
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

export function composeModel(): { [k: string]: Yaml } {
  const project = orDefault(COMPOSE_ENV.project, DEFAULTS.project);
  const ports = Object.fromEntries(
    PORT_KEYS.map((k) => [k, orDefault(COMPOSE_ENV.ports[k], DEFAULTS.ports[k])]),
  ) as Record<PortKey, string>;
  const secrets = Object.fromEntries(
    Object.entries(COMPOSE_ENV.secrets).map(([k, v]) => [k, required(v)]),
  ) as unknown as Secrets;
  const postgres = orDefault(COMPOSE_ENV.postgres, DEFAULTS.postgres);
  const images = {
    rds: `pgapp/rds:compose-pg${postgres}`,
    custom: `pgapp/postgres:compose-pg${postgres}`,
    postgrest: orDefault('PGAPP_POSTGREST_IMAGE', DEFAULTS.postgrestImage),
    gateway: 'pgapp/gateway:compose',
  };
  const files = { stateDir: required(COMPOSE_ENV.stateDir), rdsCertSha256: required(COMPOSE_ENV.rdsCert) };
  const spec = stackSpec(
    { project, ports, limits: orDefault(COMPOSE_ENV.limits, '') },
    secrets,
    images,
    files,
  );
  const settings = sqlSettings(
    {
      project,
      seed: orDefault(COMPOSE_ENV.seed, DEFAULTS.seed),
      seedRows: orDefault(COMPOSE_ENV.seedRows, SEED_SIZES[DEFAULTS.seed]),
      cronJobs: orDefault(COMPOSE_ENV.cronJobs, DEFAULTS.cronJobs),
      // The colocated read path is set up by `pgapp dev` (src/stack/replica.ts): compose reads over FDW.
      reads: 'fdw',
      copyLimit: DEFAULTS.copyLimit,
      schemas: orDefault(COMPOSE_ENV.schemas, '*'),
      access: orDefault(COMPOSE_ENV.access, DEFAULTS.access),
      ownerColumn: orDefault(COMPOSE_ENV.ownerColumn, DEFAULTS.ownerColumn),
      tables: orDefault(COMPOSE_ENV.tables, '{}'),
    },
    secrets,
  );
  const build = (kind: 'postgres' | 'rds' | 'gateway'): { [k: string]: Yaml } => ({
    context: './images',
    dockerfile: `${kind}/Dockerfile`,
    args:
      kind === 'gateway'
        ? { BASE_IMAGE: orDefault('PGAPP_BASE_IMAGE', baseOf('gateway', DEFAULTS.postgres)) }
        : {
            BASE_IMAGE: orDefault(COMPOSE_ENV.pgBaseImage, baseOf(kind, DEFAULTS.postgres)),
            PG_MAJOR: postgres,
            ...Object.fromEntries(
              Object.entries(COMPOSE_ENV.buildArgs[kind]).map(([arg, env]) => [arg, orDefault(env, '')]),
            ),
          },
  });
  const service = (s: ServiceSpec<string>): { [k: string]: Yaml } => ({
    image: s.image,
    ...(s.env ? { environment: s.env } : {}),
    ...(s.cmd.length ? { command: s.cmd } : {}),
    ...(s.ports.length ? { ports: s.ports.map((p) => `127.0.0.1:${p.host}:${p.container}`) } : {}),
    ...(s.volumes.length || s.binds.length
      ? {
          volumes: [
            ...s.volumes.map((v) => `${volumeKey(s.service)}:${v.target}`),
            ...s.binds.map((b) => `${b.source}:${b.target}:ro`),
          ],
        }
      : {}),
    restart: 'unless-stopped',
  });
  const volumeKey = (svc: string) => `${svc}_data`;
  const target = (t: 'rds' | 'custom') => {
    const s = spec[t];
    const user = s.env.POSTGRES_USER as string;
    return {
      [`PGAPP_CONN_${t}`]: `host=${t} port=5432 dbname=${project} user=${user}${t === 'rds' ? ` sslmode=verify-full sslrootcert=${CONTAINER_CA_FILE}` : ''}`,
      [`PGAPP_PASSWORD_${t}`]: s.env.POSTGRES_PASSWORD as string,
    };
  };
  return {
    name: project,
    services: {
      rds: { build: build('rds'), ...service(spec.rds) },
      custom: { build: build('postgres'), ...service(spec.custom) },
      // One-shot: the same SQL files and steps, through the same ledger, as `pgapp dev` (sql/apply.sh):
      // pgapp's own from ./sql, the project's db/ (yours, or the example's) from PGAPP_PROJECT_ROOT.
      setup: {
        build: build('postgres'),
        image: spec.custom.image,
        entrypoint: ['bash', '/sql/apply.sh'],
        volumes: [
          './sql:/sql:ro',
          `${orDefault(COMPOSE_ENV.projectRoot, './examples/crm')}/db:/db:ro`,
          ...spec.custom.binds.map((b) => `${b.source}:${b.target}:ro`),
        ],
        environment: {
          PGAPP_PHASES: Object.values(PHASES)
            .flatMap((p) => [
              ...p.dirs.map((d) => `${p.target}:${d.dir}`),
              ...p.steps.map((fn) => `${p.target}:call:${fn}`),
            ])
            .join(' '),
          ...target('rds'),
          ...target('custom'),
          ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [`PGAPP_SETTING_${k}`, v])),
        },
        depends_on: { rds: { condition: 'service_healthy' }, custom: { condition: 'service_healthy' } },
        restart: 'no',
      },
      postgrest: {
        ...service(spec.postgrest),
        depends_on: { setup: { condition: 'service_completed_successfully' } },
      },
      // Healthy once the API answers through it: `docker compose up --wait` waits for that.
      gateway: {
        build: build('gateway'),
        ...service(spec.gateway),
        depends_on: { postgrest: { condition: 'service_started' } },
      },
    },
    volumes: Object.fromEntries(
      (['rds', 'custom'] as const).map((svc) => [
        volumeKey(svc),
        // The same volume names as `pgapp dev`: one project's data, whichever tool starts it.
        {
          name: spec[svc].volumes[0]?.name as string,
          labels: { [LABELS.project]: project, [LABELS.service]: svc, [LABELS.postgres]: postgres },
        },
      ]),
    ),
  };
}

export function composeYaml(): string {
  return [
    '# Generated by `npm run compose` from src/stack (the spec `pgapp dev` runs): do not edit by hand.',
    '# A test fails when this file is stale. Secrets come from .env: `npm run compose:env` writes one',
    "# (mode 0600, git-ignored) from the project's generated secrets; nothing starts without them.",
    '# The API is the gateway (PostgREST behind it publishes nothing); its healthcheck waits for PostgREST.',
    toYaml(composeModel()),
    '',
  ].join('\n');
}

/** What compose.yaml's variables say for one project. */
export interface ComposeParams {
  config: Config;
  secrets: Secrets;
  files: StackFiles;
  /** The directory holding the project's db/ (paths.projectSqlRoot). */
  projectRoot: string;
}

/** The variables compose.yaml reads, for one project. */
export function composeVars(p: ComposeParams): Record<string, string> {
  const { config, secrets, files } = p;
  const settings = settingsParams(config);
  const needs = imageNeeds(config);
  const added = (kind: 'rds' | 'postgres') => {
    const args = additionArgs(imageAdditions(kind, needs, config.postgres));
    return Object.entries(COMPOSE_ENV.buildArgs[kind]).map(([arg, env]) => [env, args[arg] ?? '']);
  };
  return {
    [COMPOSE_ENV.project]: config.project,
    [COMPOSE_ENV.postgres]: String(config.postgres),
    [COMPOSE_ENV.pgBaseImage]: baseOf('rds', config.postgres),
    [COMPOSE_ENV.stateDir]: files.stateDir,
    [COMPOSE_ENV.rdsCert]: files.rdsCertSha256,
    [COMPOSE_ENV.projectRoot]: p.projectRoot,
    ...Object.fromEntries(PORT_KEYS.map((k) => [COMPOSE_ENV.ports[k], String(config.ports[k])])),
    [COMPOSE_ENV.seed]: settings.seed,
    [COMPOSE_ENV.seedRows]: String(settings.seedRows),
    [COMPOSE_ENV.cronJobs]: String(settings.cronJobs),
    [COMPOSE_ENV.schemas]: settings.schemas,
    [COMPOSE_ENV.access]: settings.access,
    [COMPOSE_ENV.ownerColumn]: settings.ownerColumn,
    // compose reads over FDW: what a table's replica would hold is left out.
    [COMPOSE_ENV.tables]: JSON.stringify(fdwOnly(config).tables),
    // The same build arguments as `dev`'s images (docker/pg-images.ts), so the same images.
    ...Object.fromEntries([...added('rds'), ...added('postgres')]),
    ...Object.fromEntries(
      (Object.keys(COMPOSE_ENV.secrets) as (keyof Secrets)[]).map((k) => [
        COMPOSE_ENV.secrets[k],
        secrets[k],
      ]),
    ),
  };
}

/** The same as the .env file compose.yaml reads. */
export function composeEnv(p: ComposeParams): string {
  const lines = Object.entries(composeVars(p)).map(([k, v]) => `${k}=${v}`);
  return `# pgapp compose environment (secrets: keep private; git-ignored)\n${lines.join('\n')}\n`;
}
