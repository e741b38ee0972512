/** status, down, reset, logs, psql, token, images: thin compositions of the core. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import chalk from 'chalk';
import { MAX_TOKEN_LIFETIME, makeToken, parseDuration } from '../auth/jwt.ts';
import { lockProject } from '../config/lock.ts';
import { confirmPrompt, textPrompt } from '../config/prompts.ts';
import { SEED_SIZES } from '../config/schema.ts';
import { ensureSecrets, readSecrets, type Secrets } from '../config/secrets.ts';
import { CONTAINER_CA_FILE, ensureTls, removeTls } from '../config/tls.ts';
import { connectionConfig, withClient } from '../db/connect.ts';
import { findContainer, projectContainers, removeProject, stopProject } from '../docker/containers.ts';
import { checkEngine, docker, logFrames } from '../docker/engine.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { PACKAGE_ROOT, workDir } from '../paths.ts';
import {
  API_ROLES,
  AUTHENTICATOR,
  CUSTOM_SUPERUSER,
  LABELS,
  RDS_MASTER_USER,
  SERVICES,
  type Service,
  stackFiles,
} from '../spec/stack.ts';
import { type ArchivedSnapshot, archiveStack, findArchive } from '../stack/archive.ts';
import { composeEnv, composeYaml } from '../stack/compose.ts';
import { type ConnectionDetails, connectionDetails, dotenv } from '../stack/connections.ts';
import { type Explained, explainRequest } from '../stack/explain.ts';
import { type ParameterGroupStatus, parameterGroupStatus, writeParameterGroup } from '../stack/parameters.ts';
import { dropReplica, type ReplicaStatus, replicaStatus, slotLeftHint } from '../stack/replica.ts';
import { checkSnapshotName } from '../stack/snapshot.ts';
import { apiUrl } from '../stack/verify.ts';
import {
  commandConfig,
  ensureOptions,
  ensureStackImages,
  type GlobalOptions,
  isInteractive,
  liveConfig,
  requireSecrets,
} from './common.ts';

export interface ServiceStatus {
  service: string;
  container: string;
  state: string;
  health: string;
  ports: string[];
  image: string;
}

export interface StackStatus {
  project: string;
  services: ServiceStatus[];
  /** How tools reach it (passwords as **** unless `showSecrets`); absent before the first `dev`. */
  connections?: ConnectionDetails;
  /** The colocated read path (reads: replica): the subscription and its lag; absent when custom is down. */
  replica?: ReplicaStatus | { error: string };
  /** The stand-in's parameter group: what is not in force yet (pending-reboot); absent when rds is down. */
  parameterGroup?: ParameterGroupStatus | { error: string };
}

export async function status(opts: GlobalOptions & { showSecrets?: boolean }): Promise<StackStatus> {
  const config = commandConfig(opts);
  await checkEngine();
  const list = await projectContainers(config.project);
  const services = SERVICES.map((service): ServiceStatus => {
    const c = list.find((x) => x.Labels[LABELS.service] === service);
    if (!c) return { service, container: '-', state: 'absent', health: '-', ports: [], image: '-' };
    const health =
      /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1] ??
      (c.State === 'running' ? 'running' : '-');
    return {
      service,
      container: (c.Names[0] ?? '').replace(/^\//, ''),
      state: c.State,
      health,
      ports: c.Ports.filter((p) => p.PublicPort).map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}`),
      image: c.Image,
    };
  });
  const result: StackStatus = { project: config.project, services };
  const secrets = readSecrets(config.project);
  const live = await liveConfig(opts);
  if (secrets) result.connections = connectionDetails(live, secrets, { showSecrets: opts.showSecrets });
  if (secrets && !config.remote && services.find((s) => s.service === 'rds')?.state === 'running') {
    result.parameterGroup = await parameterGroupStatus(live, connectionConfig('rds', live, secrets)).catch(
      (err) => ({ error: errorMessage(err) }),
    );
  }
  if (secrets && services.find((s) => s.service === 'custom')?.state === 'running') {
    result.replica = await replicaStatus(live, secrets).catch((err) => ({ error: errorMessage(err) }));
  }
  return result;
}

export interface JobRow {
  jobname: string;
  schedule: string;
  active: boolean;
  last_status: string | null;
  last_start: Date | null;
  last_message: string | null;
  failures: number;
}

/** pg_cron's jobs and their last run, commands and output included (GET /jobs shows web_user less). */
export async function jobs(opts: GlobalOptions): Promise<JobRow[]> {
  await checkEngine();
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  return withClient(connectionConfig('custom', config, secrets), async (c) => {
    const { rows } = await c.query<JobRow>(
      'SELECT jobname, schedule, active, last_status, last_start, last_message, failures FROM pgapp_private.jobs ORDER BY jobname',
    );
    return rows;
  });
}

export async function down(opts: GlobalOptions): Promise<string[]> {
  const config = commandConfig(opts);
  await checkEngine();
  return stopProject(config.project);
}

export interface ResetResult {
  containers: number;
  volumes: number;
  networks: number;
  note?: string;
  /** The snapshot saved first (`--snapshot NAME`, or named at the prompt). */
  snapshot?: ArchivedSnapshot;
}

export async function reset(opts: GlobalOptions & { snapshot?: string }): Promise<ResetResult | undefined> {
  const config = commandConfig(opts);
  await checkEngine();
  let snapshot = opts.snapshot === undefined ? undefined : checkSnapshotName(opts.snapshot);
  const fresh = (name: string) => {
    checkSnapshotName(name);
    if (findArchive(config.project, name))
      throw new PgappError(`A saved snapshot "${name}" already exists`, 'Choose another name.');
  };
  if (snapshot) fresh(snapshot);
  if (!opts.yes) {
    if (!isInteractive(false)) {
      throw new PgappError(
        `reset deletes every container and all data of "${config.project}" and needs confirmation`,
        'Run it in a terminal to be asked, or pass --yes (and --snapshot NAME to save the data first).',
      );
    }
    const ok = await confirmPrompt(
      `Delete the containers and ALL DATA of "${config.project}" (rds and custom volumes)?`,
    );
    if (!ok) return undefined;
    const exists = (await projectContainers(config.project)).length > 0;
    if (exists && snapshot === undefined) {
      const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
      const name = await textPrompt(
        'Save the data as a snapshot first, so this can be undone? Its name (empty: no snapshot)',
        { default: `before-reset-${stamp}`, check: (v) => v === '' || fresh(v) },
      );
      snapshot = name || undefined;
    }
  }
  const lock = await lockProject(config.project);
  try {
    const result = await removeStack(opts, config.project, snapshot);
    // A fresh start: the next `dev` issues a new CA and certificate (secrets stay, for saved snapshots).
    removeTls(config.project);
    return result;
  } finally {
    lock.release();
  }
}

/** Remove a stack (its replica's slot on rds first), saving it as archived snapshot `snapshot` first. */
export async function removeStack(
  opts: GlobalOptions,
  project: string,
  snapshot?: string,
): Promise<ResetResult> {
  // A subscription's slot lives on rds — on a real one (--rds-url) it would outlive the stack and keep
  // WAL there: drop it first while custom runs.
  let note: string | undefined;
  const secrets = readSecrets(project);
  const custom = await findContainer(project, 'custom');
  if (secrets && custom?.State === 'running') {
    const left = await dropReplica(await liveConfig(opts), secrets).catch(() => undefined);
    if (left?.slotLeft) note = slotLeftHint(left.slotLeft);
  }
  // The snapshot from stopped servers (each data directory consistent), before anything is removed.
  let saved: ArchivedSnapshot | undefined;
  if (snapshot) {
    await stopProject(project);
    saved = await archiveStack(project, snapshot);
  }
  return { ...(await removeProject(project)), note, snapshot: saved };
}

function serviceArg(arg: string | undefined): Service {
  if (!arg || !(SERVICES as readonly string[]).includes(arg)) {
    throw new PgappError(
      `Which service? Got ${JSON.stringify(arg ?? '')}`,
      `Name one of: ${SERVICES.join(', ')} (e.g. \`pgapp logs rds\`).`,
    );
  }
  return arg as Service;
}

async function containerOf(project: string, service: Service): Promise<string> {
  const c = await findContainer(project, service);
  if (!c) throw new PgappError(`${service} of "${project}" does not exist`, 'Run `npm run dev` first.');
  return c.Id;
}

export async function logs(
  opts: GlobalOptions & { service?: string; follow: boolean; tail?: number },
): Promise<void> {
  const config = commandConfig(opts);
  const service = serviceArg(opts.service);
  await checkEngine();
  const id = await containerOf(config.project, service);
  const c = docker().getContainer(id);
  if (!opts.follow) {
    // Without -f: every existing line asked for (not a follow stream cut after a while), each to
    // the stream the service wrote it to.
    const buf = (await c.logs({
      stdout: true,
      stderr: true,
      follow: false,
      tail: opts.tail ?? 200,
    })) as unknown as Buffer;
    const frames = logFrames(buf);
    const write = (to: NodeJS.WriteStream, stream: number) =>
      new Promise<void>((resolve) =>
        to.write(Buffer.concat(frames.filter((f) => f.stream === stream).map((f) => f.data)), () =>
          resolve(),
        ),
      );
    await Promise.all([write(process.stdout, 1), write(process.stderr, 2)]);
    return;
  }
  const stream = (await c.logs({
    stdout: true,
    stderr: true,
    follow: true,
    tail: opts.tail ?? 200,
  })) as unknown as NodeJS.ReadableStream;
  docker().modem.demuxStream(stream, process.stdout, process.stderr);
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    process.once('SIGINT', () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      resolve();
    });
  });
}

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

/**
 * The roles PostgREST can switch to (granted to authenticator), as custom says; undefined when
 * custom does not answer (stack down), so only pgapp's own API roles can be vouched for.
 */
async function apiRoles(opts: GlobalOptions, secrets: Secrets): Promise<string[] | undefined> {
  try {
    const cfg = connectionConfig('custom', await liveConfig(opts), secrets);
    return await withClient(
      cfg,
      async (db) =>
        (
          await db.query<{ r: string }>(
            `SELECT rolname AS r FROM pg_roles
             WHERE pg_has_role($1, oid, 'MEMBER') AND rolname <> $1 ORDER BY 1`,
            [AUTHENTICATOR],
          )
        ).rows.map((x) => x.r),
      undefined,
      2_000,
    );
  } catch {
    return undefined;
  }
}

export async function token(
  opts: GlobalOptions & { role?: string; claims?: string; exp?: string },
): Promise<string> {
  const config = commandConfig(opts);
  const secrets = requireSecrets(config.project);
  const role = opts.role ?? 'web_user';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role))
    throw new PgappError(
      `Invalid role ${JSON.stringify(role)}`,
      'Use a role name such as web_user or web_anon.',
    );
  // A token for a role PostgREST cannot switch to is refused by every request: say so now.
  if (!API_ROLES.includes(role)) {
    const live = await apiRoles(opts, secrets);
    if (!live)
      throw new PgappError(
        `Cannot check role "${role}": custom is not running`,
        `Start the stack (\`npm run dev\`) to issue tokens for your own roles; ${API_ROLES.join(' and ')} need no check.`,
      );
    if (!live.includes(role))
      throw new PgappError(
        `No API role "${role}" on custom: PostgREST would refuse every request with this token`,
        `Roles PostgREST can switch to: ${live.join(', ')}. To add one, create it and GRANT it TO authenticator in sql/custom/local/.`,
      );
  }
  let claims: Record<string, unknown> = {};
  if (opts.claims) {
    try {
      claims = JSON.parse(opts.claims);
    } catch {
      throw new PgappError('--claims is not valid JSON', `Example: --claims '{"sub":"42"}'`);
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
      throw new PgappError('--claims must be a JSON object', `Example: --claims '{"sub":"42"}'`);
  }
  const expiresIn = opts.exp === undefined ? 3600 : parseDuration(opts.exp);
  if (expiresIn === undefined || expiresIn < 1 || expiresIn > MAX_TOKEN_LIFETIME)
    throw new PgappError(
      `Invalid --exp ${JSON.stringify(opts.exp)}: every token expires, within a year`,
      'Use seconds or a duration from 1s to 365d, like 30m, 12h, 7d.',
    );
  // A web_user acts as someone: the `sub` claim is the user id its writes are owned by.
  if (role === 'web_user' && claims.sub === undefined) claims.sub = 'dev';
  return makeToken(secrets.jwtSecret, { role, claims, expiresIn });
}

/** Ensure every image of the stack (base, custom, rds, PostgREST) with progress on stderr. */
export async function images(opts: GlobalOptions & { postgrest: boolean }): Promise<string[]> {
  const config = commandConfig(opts);
  await checkEngine();
  const eo = ensureOptions(opts.yes, (line) => process.stderr.write(`${chalk.dim(line)}\n`));
  const got = await ensureStackImages(config, eo, { postgrest: opts.postgrest });
  return Object.entries(got).map(([k, v]) => `${k}: ${v.ref} (${v.source})`);
}

/** The stack's connection details as dotenv lines, secrets included (`pgapp env > .env.local`). */
export async function env(opts: GlobalOptions): Promise<string> {
  await checkEngine();
  const config = await liveConfig(opts);
  return dotenv(
    config.project,
    connectionDetails(config, requireSecrets(config.project), { showSecrets: true }),
  );
}

/** Regenerate compose.yaml from the stack spec. */
export function compose(): string {
  const file = join(PACKAGE_ROOT, 'compose.yaml');
  writeFileSync(file, composeYaml());
  return file;
}

/** Write .env for compose.yaml from this project's config and (generated) secrets, mode 0600. */
export function composeEnvFile(opts: GlobalOptions): string {
  const config = commandConfig(opts);
  const secrets = ensureSecrets(config.project);
  writeParameterGroup(config);
  const file = join(workDir(), '.env');
  writeFileSync(
    file,
    composeEnv(
      config.project,
      config.ports,
      SEED_SIZES[config.seed],
      config.cronJobs,
      secrets,
      stackFiles(config.project, ensureTls(config.project)),
    ),
    { mode: 0o600 },
  );
  return file;
}

/** `pgapp explain <path>`: the request's plan and what it costs across the bridge (stack/explain.ts). */
export async function explain(
  opts: GlobalOptions & { path?: string; role?: string; claims?: string },
): Promise<Explained> {
  if (!opts.path)
    throw new PgappError(
      'explain needs the API path of a request',
      "For example: pgapp explain '/contacts?select=id,company(name)&limit=10' (add --role/--claims to ask as a user).",
    );
  await checkEngine();
  const config = await liveConfig(opts);
  const secrets = requireSecrets(config.project);
  const signedIn = opts.role !== undefined || opts.claims !== undefined;
  const jwt = signedIn ? await token({ ...opts, exp: '10m' }) : undefined;
  const claims = opts.claims ? (JSON.parse(opts.claims) as { sub?: unknown }) : {};
  const as = signedIn
    ? `${opts.role ?? 'web_user'}${claims.sub !== undefined ? ` (sub ${JSON.stringify(claims.sub)})` : ''}`
    : 'anonymous (web_anon)';
  return explainRequest(apiUrl(config), secrets.explainKey, opts.path, { token: jwt, as });
}
