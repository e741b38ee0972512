/** `pgapp psql <service>`: psql inside the container. */
import { spawn } from 'node:child_process';
import { CONTAINER_CA_FILE } from '../config/tls.ts';
import { checkEngine } from '../docker/engine.ts';
import { PgappError } from '../errors.ts';
import { CUSTOM_SUPERUSER, RDS_MASTER_USER } from '../spec/stack.ts';
import { commandConfig, containerOf, type GlobalOptions, requireSecrets, serviceArg } from './common.ts';

/** psql inside the container: rds as the master user over TLS (never the rdsadmin superuser), custom as postgres. */
export async function psql(opts: GlobalOptions & { service?: string; args: string[] }): Promise<number> {
  const config = commandConfig(opts);
  const service = serviceArg(opts.service);
  if (service === 'postgrest' || service === 'gateway')
    throw new PgappError(
      `${service} has no psql`,
      'Use `pgapp psql custom` (the database PostgREST serves).',
    );

  const secrets = requireSecrets(config.project);
  await checkEngine();
  const id = await containerOf(config.project, service);
  const conn =
    service === 'rds'
      ? `host=127.0.0.1 sslmode=verify-full sslrootcert=${CONTAINER_CA_FILE} user=${RDS_MASTER_USER} dbname=${config.project}`
      : `host=127.0.0.1 user=${CUSTOM_SUPERUSER} dbname=${config.project}`;
  const password = service === 'rds' ? secrets.rdsMasterPassword : secrets.customPassword;
  const tty = process.stdin.isTTY ? ['-it'] : ['-i'];
  return new Promise((resolve, reject) => {
    const p = spawn('docker', ['exec', ...tty, '-e', 'PGPASSWORD', id, 'psql', conn, ...opts.args], {
      stdio: 'inherit',
      env: { ...process.env, PGPASSWORD: password },
    });
    p.on('error', (err) =>
      reject(
        new PgappError(`Cannot run docker exec: ${err.message}`, 'pgapp psql needs the docker CLI on PATH.'),
      ),
    );
    p.on('close', (code) => resolve(code ?? 1));
  });
}
