import pg from 'pg';
import type { Config, RemoteRds } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { caPem, tlsPaths } from '../config/tls.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { retryUntil } from '../net/time.ts';
import { CUSTOM_SUPERUSER, PG_PORT, RDS_MASTER_USER } from '../spec/stack.ts';

/**
 * pgapp's own clients read bigint (int8) as a number (counts, ids). Per client, never pg's global
 * parsers: a program that imports pgapp (pgapp/testing) keeps its own.
 */
export const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export type Target = 'rds' | 'custom';

/** The CA file that verifies rds from this machine: the project's own, or --rds-url's sslrootcert. */
export function rdsCaFile(config: Config): string | undefined {
  if (config.remote) return config.remote.sslrootcert;
  return ownCa(config);
}
/** The project's own CA (config/tls.ts), which signed the stand-in's certificate. */
const ownCa = (config: Config) => tlsPaths(config.project).caCert;

/** A real rds (--rds-url): everything is in its URL (no secret of the stack's). */
export function remoteConnectionConfig(project: string, r: RemoteRds): pg.ClientConfig {
  const ca = r.sslrootcert ? caPem(r.sslrootcert, project) : undefined;
  const ssl =
    r.sslmode === 'disable'
      ? false
      : r.sslmode === 'require'
        ? { rejectUnauthorized: false }
        : r.sslmode === 'verify-ca'
          ? { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }
          : { ca, rejectUnauthorized: true };
  return { host: r.host, port: r.port, user: r.user, password: r.password, database: r.database, ssl };
}

/** Connection settings from the host (ports on 127.0.0.1). rds demands TLS, as RDS does. */
export function connectionConfig(target: Target, config: Config, secrets: Secrets): pg.ClientConfig {
  if (target === 'rds' && config.remote) return remoteConnectionConfig(config.project, config.remote);
  const c = ownServer(target, config, secrets);
  // sslmode=verify-full: the project's CA signed rds's certificate, which names 127.0.0.1.
  return target === 'rds'
    ? { ...c, ssl: { ca: caPem(ownCa(config), config.project), rejectUnauthorized: true } }
    : c;
}

/**
 * One of the stack's own servers, from the host: its port on 127.0.0.1, its user and password
 * (custom at its own host, inside the cloud's network, when config.customHost says so).
 */
function ownServer(target: Target, config: Config, secrets: Secrets) {
  const rds = target === 'rds';
  const atHost = !rds && config.customHost !== undefined;
  return {
    host: atHost ? (config.customHost as string) : '127.0.0.1',
    port: atHost ? PG_PORT : rds ? config.ports.rds : config.ports.custom,
    user: rds ? RDS_MASTER_USER : CUSTOM_SUPERUSER,
    password: rds ? secrets.rdsMasterPassword : secrets.customPassword,
    database: config.project,
  };
}

/** A query value for a libpq URL: percent-encoded, slashes of a path kept readable. */
const uriValue = (v: string) =>
  encodeURIComponent(v)
    .replace(/%2F/gi, '/')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * A libpq URL for people and their tools: the summary prints these, `pgapp env` writes them. rds's
 * verifies the server (sslmode=verify-full with the CA as sslrootcert) and works as printed with
 * psql, node-postgres and psycopg.
 */
export function connectionUrl(target: Target, config: Config, secrets: Secrets): string {
  const r = config.remote;
  if (target === 'rds' && r) {
    // The user's own credentials: never echoed back.
    const ca = r.sslrootcert ? `&sslrootcert=${uriValue(r.sslrootcert)}` : '';
    return `postgres://${encodeURIComponent(r.user)}:****@${r.host}:${r.port}/${r.database}?sslmode=${r.sslmode}${ca}`;
  }
  const c = ownServer(target, config, secrets);
  const url = `postgres://${c.user}:${encodeURIComponent(String(c.password))}@127.0.0.1:${c.port}/${c.database}`;
  return target === 'rds' ? `${url}?sslmode=verify-full&sslrootcert=${uriValue(ownCa(config))}` : url;
}

function connectHint(err: unknown, hint?: string): string {
  const code = (err as { code?: string }).code;
  const msg = errorMessage(err);
  if (code === '28P01') {
    return (
      hint ??
      "Wrong password. For the stack's own servers: restore .pgapp/<project>/secrets.json (the volume was initialised with it) or `pgapp reset`; for --rds-url: check the URL."
    );
  }
  if (/does not support SSL/i.test(msg))
    return 'The server refuses TLS. pgapp requires it (as RDS does); for a server without TLS add --rds-insecure and sslmode=disable.';
  if (/no encryption|hostnossl|SSL off/i.test(msg)) return 'The server requires TLS: drop sslmode=disable.';
  if (/self[- ]signed|unable to (get|verify)|certificate|altnames/i.test(msg))
    return "The server's certificate does not verify against the CA in use. For the stack's own rds: `pgapp dev` (it installs the project's certificate); for --rds-url: set sslrootcert to the server's CA bundle.";
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return 'The host name does not resolve from this machine.';
  if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH')
    return 'Nothing answers there: is the server up, and listening on an address this machine reaches?';
  return hint ?? 'Check `pgapp status` and `pgapp logs <service>`.';
}

/** Connect, retrying briefly while the server finishes starting. */
export async function connect(cfg: pg.ClientConfig, timeoutMs = 15_000, hint?: string): Promise<pg.Client> {
  const failed = (err: unknown) =>
    new PgappError(
      `Cannot connect to ${cfg.user}@${cfg.host}:${cfg.port}/${cfg.database}: ${errorMessage(err)}`,
      connectHint(err, hint),
      undefined,
      { cause: err },
    );
  let last: unknown;
  return retryUntil(
    async () => {
      const client = new pg.Client({ types: PG_TYPES, ...cfg, connectionTimeoutMillis: 5_000 });
      try {
        await client.connect();
        return client;
      } catch (err) {
        await client.end().catch(() => {});
        const code = (err as { code?: string }).code;
        // Still starting (or restarting): try again; anything else is the answer.
        if (code !== '57P03' && code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw failed(err);
        last = err;
        return undefined;
      }
    },
    { timeoutMs, intervalMs: 250, timedOut: () => failed(last) },
  );
}

/** Run fn with a connection; an abort ends the connection (the server rolls back what was open). */
export async function withClient<T>(
  cfg: pg.ClientConfig,
  fn: (c: pg.Client) => Promise<T>,
  signal?: AbortSignal,
  timeoutMs?: number,
): Promise<T> {
  signal?.throwIfAborted();
  const client = await connect(cfg, timeoutMs);
  const onAbort = () => void client.end().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(client);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}
