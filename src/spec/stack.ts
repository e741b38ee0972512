/**
 * The declarative stack: one ServiceSpec per service. `dev`, the tests and compose.yaml all read it.
 * Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import type { Limits } from '../config/limits.ts';
import type { PortKey } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { CONTAINER_CA_DIR, CONTAINER_TLS_DIR, TLS_MOUNTS, type TlsState } from '../config/tls.ts';
import { stateDir } from '../paths.ts';

export const SERVICES = ['rds', 'custom', 'postgrest', 'gateway'] as const;
export type Service = (typeof SERVICES)[number];

export const LABELS = {
  project: 'pgapp.project',
  service: 'pgapp.service',
  specHash: 'pgapp.spec-hash',
  /** The PostgreSQL major version of a Postgres image, and of the data in a volume. */
  postgres: 'pgapp.postgres',
} as const;

/** Users and database names inside the stack. */
export const RDS_MASTER_USER = 'postgres';
export const CUSTOM_SUPERUSER = 'postgres';
export const BRIDGE_USER = 'pgapp_bridge';
/** The role custom's subscription logs in as on the stand-in (reads: replica): rds_replication, SELECT on the bridged tables. */
export const REPLICATOR_USER = 'pgapp_replicator';
/** The publication on rds and the subscription on custom (reads: replica). */
export const PUBLICATION = 'pgapp';
export const AUTHENTICATOR = 'authenticator';
/** The roles sql/custom/api grants to the authenticator: PostgREST's anonymous and signed-in roles. */
export const API_ROLES = ['web_anon', 'web_user'];
export const PG_PORT = 5432;
export const POSTGREST_PORT = 3000;
export const GATEWAY_PORT = 3000;
/** PostgREST's db-max-rows: the most rows one response holds. */
export const MAX_ROWS = 1000;

/** A host port: a number for a running stack, a `${VAR:-default}` placeholder in compose.yaml. */
export interface PortSpec<P = number> {
  container: number;
  host: P;
}

export interface ServiceSpec<P = number> {
  service: Service;
  /** Container name: <project>-<service>. */
  name: string;
  image: string;
  env: Record<string, string>;
  cmd: string[];
  ports: PortSpec<P>[];
  volumes: { name: string; target: string }[];
  /** Host directories mounted read-only (the project's CA, rds's certificate). */
  binds: { source: string; target: string }[];
  /**
   * How readiness is known: the image's Docker HEALTHCHECK, an HTTP GET from the host, or (PostgREST,
   * which publishes nothing and has no shell) running steadily — the gateway's check covers it.
   */
  ready: { kind: 'healthcheck' } | { kind: 'http'; url: string } | { kind: 'running' };
}

export interface StackImages {
  rds: string;
  custom: string;
  postgrest: string;
  gateway: string;
}

/**
 * The API is ready when it answers 200 through the gateway (PostgREST's schema cache loaded, pool
 * connected). Not PostgREST's admin server: it also serves GET /config — the JWT secret and the
 * database URI — so it is never run.
 */
export const apiReadyUrl = (port: number | string) => `http://127.0.0.1:${port}/`;

/** The config port (and so the `--<key>-port` flag) each publishing service's host port comes from. */
export const PORT_KEY_OF: Partial<Record<Service, PortKey>> = {
  rds: 'rds',
  custom: 'custom',
  gateway: 'postgrest',
};

export const networkName = (project: string) => `${project}_net`;
export const volumeName = (project: string, service: 'rds' | 'custom') => `${project}_${service}_data`;
export const containerName = (project: string, service: Service) => `${project}-${service}`;
export const PGDATA_VOLUME_TARGET = '/var/lib/postgresql/data';

/** What a stack is made from: a validated Config, or compose.yaml's placeholders. */
export interface StackParams<P> {
  project: string;
  ports: Record<PortKey, P>;
  /** The gateway's request bounds (config/limits.ts), or compose's placeholder for their JSON. */
  limits: Limits | string;
}

/**
 * The project's files its containers mount read-only, under its state directory (.pgapp/<project>):
 * the CA and rds's certificate (config/tls.ts), rds's parameter group (stack/parameters.ts).
 */
export interface StackFiles {
  stateDir: string;
  /** SHA-256 of rds's certificate: rds refuses to serve another, and a new one re-creates it. */
  rdsCertSha256: string;
}
export const stackFiles = (project: string, tls: TlsState): StackFiles => ({
  stateDir: stateDir(project),
  rdsCertSha256: tls.serverFingerprint,
});
/** Where rds reads its parameter group: the host directory (under the state directory), and in the container. */
export const PARAMETER_GROUP_MOUNT = 'rds-parameters';
export const CONTAINER_PARAMETER_GROUP_DIR = '/etc/pgapp/parameter-group';

/**
 * PostgREST's settings past where it connects and its JWT secret: the same locally and in the cloud
 * (src/deploy/api.ts). `publicUrl`: where clients reach the API (the OpenAPI document names it).
 */
export function postgrestSettings(publicUrl: string): Record<string, string> {
  return {
    // The schemas it serves (rds's, each a profile) are the authenticator's pgrst.db_schemas, which
    // every `dev` sets from rds's catalog (sql/custom/api/050_api.sql) and PostgREST reads at start.
    PGRST_DB_ANON_ROLE: 'web_anon',
    PGRST_DB_POOL: '10',
    // No response holds more than this many rows, whatever `limit` asks (embedded rows aside:
    // the gateway bounds how many and how deep).
    PGRST_DB_MAX_ROWS: String(MAX_ROWS),
    // Read-your-writes over the local replica (sql/custom/api/020_write_through.sql): a request of a
    // user who just wrote waits until the replica has the write. Returns at once otherwise.
    PGRST_DB_PRE_REQUEST: 'rds_replica.await_writes',
    // Query plans (`pgapp explain`): only through the gateway with the project's explain key.
    PGRST_DB_PLAN_ENABLED: 'true',
    // `Prefer: tx=rollback` is honoured: a dry run of a write (`pgapp explain` of a POST, PATCH or
    // DELETE; a client's own dry runs). It rolls back the request's rds transaction too.
    PGRST_DB_TX_END: 'commit-allow-override',
    PGRST_OPENAPI_SERVER_PROXY_URI: publicUrl,
  };
}

/** The gateway's settings past where PostgREST is and the explain key: the same locally and in the cloud. */
export const GATEWAY_SETTINGS: Record<string, string> = {
  // Past the API roles' statement_timeout (sql/custom/api/010_roles.sql), which answers first.
  PGAPP_UPSTREAM_TIMEOUT_MS: '20000',
};

/** custom's server arguments, here and in the cloud: pg_cron lives in the app database, where the foreign tables and api are. */
export const customArgs = (db: string): string[] => ['-c', `cron.database_name=${db}`];

export function stackSpec<P extends number | string>(
  config: StackParams<P>,
  secrets: Secrets,
  images: StackImages,
  files: StackFiles,
): Record<Service, ServiceSpec<P>> {
  const db = config.project;
  // rds and custom run the same entrypoint: a user, a password, the app database, one data volume.
  const postgres = (
    service: 'rds' | 'custom',
    user: string,
    password: string,
    cmd: string[],
    more: Pick<ServiceSpec<P>, 'binds'> & { env?: Record<string, string> },
  ): ServiceSpec<P> => ({
    service,
    name: containerName(config.project, service),
    image: images[service],
    env: { POSTGRES_USER: user, POSTGRES_PASSWORD: password, POSTGRES_DB: db, ...more.env },
    cmd,
    ports: [{ container: PG_PORT, host: config.ports[service] }],
    volumes: [{ name: volumeName(config.project, service), target: PGDATA_VOLUME_TARGET }],
    binds: more.binds,
    ready: { kind: 'healthcheck' },
  });
  // The project's CA: every client of rds in the stack verifies it (sslmode=verify-full).
  const mount = (sub: string, target: string) => ({ source: `${files.stateDir}/${sub}`, target });
  const ca = mount(TLS_MOUNTS.ca, CONTAINER_CA_DIR);
  return {
    rds: postgres('rds', RDS_MASTER_USER, secrets.rdsMasterPassword, [], {
      binds: [
        mount(TLS_MOUNTS.rds, CONTAINER_TLS_DIR),
        ca,
        mount(PARAMETER_GROUP_MOUNT, CONTAINER_PARAMETER_GROUP_DIR),
      ],
      env: { PGAPP_TLS_CERT_SHA256: files.rdsCertSha256 },
    }),
    custom: postgres('custom', CUSTOM_SUPERUSER, secrets.customPassword, customArgs(db), {
      binds: [ca],
    }),
    postgrest: {
      service: 'postgrest',
      name: containerName(config.project, 'postgrest'),
      image: images.postgrest,
      env: {
        PGRST_DB_URI: `postgres://${AUTHENTICATOR}:${secrets.authenticatorPassword}@custom:${PG_PORT}/${db}`,
        PGRST_JWT_SECRET: secrets.jwtSecret,
        PGRST_SERVER_PORT: String(POSTGREST_PORT),
        ...postgrestSettings(`http://127.0.0.1:${config.ports.postgrest}`),
      },
      cmd: [],
      // Reached only through the gateway, inside the project network.
      ports: [],
      volumes: [],
      binds: [],
      ready: { kind: 'running' },
    },
    // The API's one door (images/gateway): request limits, per-client fairness, clear errors.
    gateway: {
      service: 'gateway',
      name: containerName(config.project, 'gateway'),
      image: images.gateway,
      env: {
        PGAPP_UPSTREAM: `http://postgrest:${POSTGREST_PORT}`,
        // Who may ask PostgREST for query plans (`pgapp explain`): the developer, with this key.
        PGAPP_EXPLAIN_KEY: secrets.explainKey,
        PGAPP_LIMITS: typeof config.limits === 'string' ? config.limits : JSON.stringify(config.limits),
        ...GATEWAY_SETTINGS,
      },
      cmd: [],
      ports: [{ container: GATEWAY_PORT, host: config.ports.postgrest }],
      volumes: [],
      binds: [],
      ready: { kind: 'http', url: apiReadyUrl(config.ports.postgrest) },
    },
  };
}

/** Identity of a container's configuration: the spec and the exact image it runs. */
export function specHash(spec: ServiceSpec<number>, imageId: string): string {
  const { ready: _ready, ...rest } = spec;
  return createHash('sha256')
    .update(JSON.stringify({ ...rest, imageId }))
    .digest('hex')
    .slice(0, 16);
}
