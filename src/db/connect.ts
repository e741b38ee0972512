import pg from 'pg';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { CUSTOM_SUPERUSER, RDS_MASTER_USER } from '../stack/spec.ts';

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

/** Connection settings from the host (ports on 127.0.0.1). rds demands TLS, as RDS does. */
export function connectionConfig(target: Target, config: Config, secrets: Secrets): pg.ClientConfig {
  const r = config.remote;
  if (target === 'rds' && r) {
    const ssl =
      r.sslmode === 'disable'
        ? false
        : r.sslmode === 'require'
          ? { rejectUnauthorized: false }
          : { rejectUnauthorized: true };
    return { host: r.host, port: r.port, user: r.user, password: r.password, database: r.database, ssl };
  }
  return target === 'rds'
    ? {
        host: '127.0.0.1',
        port: config.ports.rds,
        user: RDS_MASTER_USER,
        password: secrets.rdsMasterPassword,
        database: config.project,
        // sslmode=require: encrypted; the stand-in's certificate is self-signed per container.
        ssl: { rejectUnauthorized: false },
      }
    : {
        host: '127.0.0.1',
        port: config.ports.custom,
        user: CUSTOM_SUPERUSER,
        password: secrets.customPassword,
        database: config.project,
      };
}

/** A libpq URL for people: the summary prints these. */
export function connectionUrl(target: Target, config: Config, secrets: Secrets): string {
  const r = config.remote;
  if (target === 'rds' && r) {
    // The user's own credentials: never echoed back.
    return `postgres://${encodeURIComponent(r.user)}:****@${r.host}:${r.port}/${r.database}?sslmode=${r.sslmode}`;
  }
  const c = connectionConfig(target, config, secrets);
  const url = `postgres://${c.user}:${encodeURIComponent(String(c.password))}@127.0.0.1:${c.port}/${c.database}`;
  return target === 'rds' ? `${url}?sslmode=require` : url;
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
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return 'The host name does not resolve from this machine.';
  if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH')
    return 'Nothing answers there: is the server up, and listening on an address this machine reaches?';
  return hint ?? 'Check `pgapp status` and `pgapp logs <service>`.';
}

/** Connect, retrying briefly while the server finishes starting. */
export async function connect(cfg: pg.ClientConfig, timeoutMs = 15_000, hint?: string): Promise<pg.Client> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ types: PG_TYPES, ...cfg, connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => {});
      const code = (err as { code?: string }).code;
      const transient = code === '57P03' || code === 'ECONNREFUSED' || code === 'ECONNRESET';
      if (!transient || Date.now() > deadline) {
        throw new PgappError(
          `Cannot connect to ${cfg.user}@${cfg.host}:${cfg.port}/${cfg.database}: ${errorMessage(err)}`,
          connectHint(err, hint),
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
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
