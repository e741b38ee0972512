/**
 * `pgapp deploy apply`, the cloud's bootstrap task, as the cloud runs it: from inside the network the
 * databases are in (the VPC's stand-in: the project's Docker network), reaching rds and custom by
 * host name, rds over verify-full TLS with the CA it is given, and nothing of the project's local
 * state (.pgapp/) — every value from the task definition's environment. rds and custom are bare, as
 * CloudFormation leaves them: started from the project's images, no SQL applied.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commandConfig } from '../../src/commands/common.ts';
import type { CloudEnv } from '../../src/config/options.ts';
import type { Config } from '../../src/config/schema.ts';
import { newSecrets, type Secrets } from '../../src/config/secrets.ts';
import { ensureTls, installRemoteCa, removeTls, tlsPaths } from '../../src/config/tls.ts';
import {
  ensureContainer,
  ensureNetwork,
  ensureVolume,
  newCreated,
  removeProject,
  waitReady,
} from '../../src/docker/containers.ts';
import { docker } from '../../src/docker/engine.ts';
import { ensurePgImage } from '../../src/docker/pg-images.ts';
import { freePort } from '../../src/net/ports.ts';
import { PACKAGE_ROOT, stateDir } from '../../src/paths.ts';
import {
  BRIDGE_USER,
  containerName,
  LABELS,
  networkName,
  REPLICATOR_USER,
  stackFiles,
  stackSpec,
} from '../../src/spec/stack.ts';
import { ensureParameterGroupFile } from '../../src/stack/parameters.ts';
import { imageNeeds } from '../../src/stack/sql.ts';
import { verifyPublicApi } from '../../src/stack/verify.ts';
import { useStack } from '../../src/testing/index.ts';
import { CLI, query, TSX, throwawayProjectName } from '../helpers.ts';

const run = promisify(execFile);
const project = throwawayProjectName('cloud');
/** Where the bootstrap image keeps RDS's CA bundle (images/pgapp/Dockerfile); here, the project's CA. */
const CA_IN_TASK = '/etc/pgapp/rds-ca.pem';
const NOT_THE_CA = '/etc/pgapp/not-the-ca.pem';

describe('pgapp deploy apply (the cloud bootstrap task) on bare servers, from inside their network', () => {
  let config: Config;
  let secrets: Secrets;
  let gateway: string;
  const home = mkdtempSync(join(tmpdir(), 'pgapp-cloud-'));
  const custom = () => ({
    host: '127.0.0.1',
    port: config.ports.custom,
    user: 'postgres',
    password: secrets.customPassword,
    database: project,
  });
  const rds = () => ({
    host: '127.0.0.1',
    port: config.ports.rds,
    user: 'postgres',
    password: secrets.rdsMasterPassword,
    database: project,
    ssl: { ca: readFileSync(tlsPaths(project).caCert, 'utf8'), rejectUnauthorized: true },
  });

  beforeAll(async () => {
    config = commandConfig({
      flags: {
        project,
        ports: { rds: await freePort(), custom: await freePort(), postgrest: await freePort() },
      },
      yes: true,
      hermetic: true,
    });
    secrets = newSecrets();
    const tls = ensureTls(project);
    ensureParameterGroupFile(project); // the stand-in's parameter group (the cloud's is CloudFormation's)
    // What custom's instance does at boot (its user data): RDS's CA where the bridge looks for it.
    installRemoteCa(project, tlsPaths(project).caCert);
    const opts = { progress: () => {}, confirm: async () => true };
    const needs = imageNeeds(config);
    const images = {
      rds: await ensurePgImage('rds', config.postgres, opts, needs),
      custom: await ensurePgImage('postgres', config.postgres, opts, needs),
    };
    gateway = (await ensurePgImage('gateway', config.postgres, opts)).ref;
    const spec = stackSpec(
      config,
      secrets,
      { rds: images.rds.ref, custom: images.custom.ref, postgrest: '', gateway: '' },
      stackFiles(project, tls),
    );
    const created = newCreated();
    await ensureNetwork(project, created);
    for (const service of ['rds', 'custom'] as const) {
      for (const v of spec[service].volumes)
        await ensureVolume(project, service, v.name, config.postgres, created);
      const { id } = await ensureContainer(project, spec[service], images[service].id, created);
      await waitReady(id, spec[service], { timeoutMs: 120_000 });
    }
  }, 600_000);

  afterAll(async () => {
    await removeProject(project);
    removeTls(project);
    rmSync(stateDir(project), { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  /**
   * The task: pgapp's CLI in a container on the project's network (this machine's node and checkout,
   * mounted read-only), with the task definition's environment. Its exit code and output.
   */
  async function bootstrap(env: Partial<Record<CloudEnv, string>>): Promise<{ code: number; out: string }> {
    const c = await docker().createContainer({
      Image: gateway,
      User: '0',
      WorkingDir: home,
      Cmd: ['/usr/local/bin/node', TSX, CLI, 'deploy', 'apply'],
      Env: Object.entries({ PGAPP_HOME: home, PGAPP_PROJECT: project, CI: 'true', ...env }).map(
        ([k, v]) => `${k}=${v}`,
      ),
      Labels: { [LABELS.project]: project },
      HostConfig: {
        NetworkMode: networkName(project),
        Binds: [
          `${process.execPath}:/usr/local/bin/node:ro`,
          `${PACKAGE_ROOT}:${PACKAGE_ROOT}:ro`,
          `${home}:${home}`,
          `${tlsPaths(project).caCert}:${CA_IN_TASK}:ro`,
          // A certificate that is not the CA which signed rds's (rds's own, not a CA at all).
          `${tlsPaths(project).serverCert}:${NOT_THE_CA}:ro`,
        ],
      },
    });
    try {
      await c.start();
      const { StatusCode } = await c.wait();
      const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as Buffer;
      // Docker's multiplexed stream: an 8-byte header per frame.
      let out = '';
      for (let i = 0; i + 8 <= logs.length; ) {
        const n = logs.readUInt32BE(i + 4);
        out += logs.subarray(i + 8, i + 8 + n).toString('utf8');
        i += 8 + n;
      }
      return { code: StatusCode, out };
    } finally {
      await c.remove({ force: true });
    }
  }

  const taskEnv = (): Partial<Record<CloudEnv, string>> => ({
    PGAPP_CLOUD_RDS_HOST: 'rds',
    PGAPP_CLOUD_RDS_PORT: '5432',
    PGAPP_CLOUD_RDS_CA: CA_IN_TASK,
    PGAPP_CLOUD_RDS_PASSWORD: secrets.rdsMasterPassword,
    PGAPP_CLOUD_CUSTOM_HOST: 'custom',
    PGAPP_CLOUD_CUSTOM_PASSWORD: secrets.customPassword,
    PGAPP_CLOUD_BRIDGE_PASSWORD: secrets.bridgePassword,
    PGAPP_CLOUD_REPLICATOR_PASSWORD: secrets.replicatorPassword,
    PGAPP_CLOUD_AUTHENTICATOR_PASSWORD: secrets.authenticatorPassword,
  });

  it('wires the bare servers as dev wires the local ones: least-privileged roles on rds, the bridge, the replica, the api', async () => {
    const first = await bootstrap(taskEnv());
    expect(first.out).toContain('rds (deployed): migrations, seed, bridge');
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain('custom → rds (postgres_fdw)');
    expect(first.out).toContain('rds → custom (logical replication)');

    // rds: the project's migrations and seed, and pgapp's own roles, neither a superuser.
    const [contacts] = await query<{ n: number }>(rds(), 'SELECT count(*)::int AS n FROM crm.contacts');
    expect(contacts?.n).toBeGreaterThan(0);
    expect(
      await query(
        rds(),
        `SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ($1, $2) ORDER BY rolname`,
        [BRIDGE_USER, REPLICATOR_USER],
      ),
    ).toEqual([
      { rolname: BRIDGE_USER, rolsuper: false },
      { rolname: REPLICATOR_USER, rolsuper: false },
    ]);
    // custom logs in to rds as those roles, never as the master user, verifying rds's certificate.
    const [mapping] = await query<{ o: string[] }>(custom(), 'SELECT umoptions AS o FROM pg_user_mappings');
    expect(mapping?.o).toContain(`user=${BRIDGE_USER}`);
    const [server] = await query<{ o: string[] }>(custom(), 'SELECT srvoptions AS o FROM pg_foreign_server');
    expect(server?.o).toEqual(expect.arrayContaining(['host=rds', 'sslmode=verify-full']));
    const [sub] = await query<{ c: string }>(custom(), 'SELECT subconninfo AS c FROM pg_subscription');
    expect(sub?.c).toContain(`user='${REPLICATOR_USER}'`);
    expect(sub?.c).not.toContain(secrets.rdsMasterPassword);
    // rds's schema is served (PostgREST's profiles), its tables on custom with their write triggers.
    const [served] = await query<{ schemas: string[]; triggers: number }>(
      custom(),
      `SELECT (SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'authenticator'::regrole AND setdatabase = 0) AS schemas,
              (SELECT count(*)::int FROM pg_trigger WHERE tgname = 'pgapp_write') AS triggers`,
    );
    expect(served?.schemas).toContain('pgrst.db_schemas=crm');
    expect(served?.triggers).toBeGreaterThan(0);

    // Run again (every `pgapp deploy` does), with custom not answering at first, as an instance
    // still booting: it waits for it; then nothing is applied twice and every hop is proven again.
    const customContainer = docker().getContainer(containerName(project, 'custom'));
    await customContainer.pause();
    const running = bootstrap(taskEnv());
    await new Promise((r) => setTimeout(r, 8_000));
    await customContainer.unpause();
    const again = await running;
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('not answering yet');
    expect(again.out.match(/nothing to apply/g)?.length).toBe(4);
    if (process.env.PGAPP_TEST_VERBOSE) console.log(first.out, again.out);
  }, 600_000);

  it('names every value it is missing, and changes nothing', async () => {
    const { PGAPP_CLOUD_RDS_HOST: _, PGAPP_CLOUD_BRIDGE_PASSWORD: __, ...rest } = taskEnv();
    const r = await bootstrap(rest);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('PGAPP_CLOUD_RDS_HOST, PGAPP_CLOUD_BRIDGE_PASSWORD are not set');
    expect(r.out).toContain('`pgapp deploy`');
  }, 120_000);

  it('stops with the reason when rds does not verify against the CA it is given', async () => {
    const r = await bootstrap({ ...taskEnv(), PGAPP_CLOUD_RDS_CA: NOT_THE_CA });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/certificate/i);
  }, 120_000);
});

// A plain run of the CLI: the same refusal outside any network.
describe('pgapp deploy apply outside the cloud', () => {
  it('says it is the bootstrap task and points at `pgapp deploy`', async () => {
    const home = mkdtempSync(join(tmpdir(), 'pgapp-cloud-'));
    try {
      const r = await run(process.execPath, [TSX, CLI, 'deploy', 'apply'], {
        cwd: home,
        env: { ...process.env, PGAPP_HOME: home },
      }).then(
        () => ({ code: 0, out: '' }),
        (e: { code: number; stderr: string; stdout: string }) => ({ code: e.code, out: e.stderr + e.stdout }),
      );
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/PGAPP_CLOUD_RDS_HOST, .* are not set/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});

// What `pgapp deploy` checks last, from outside the VPC: the API behind a URL, read anonymously.
const postgrest = inject('postgrest');
describe.skipIf(!postgrest.available)(
  postgrest.available
    ? "pgapp deploy's check of the API through its public URL"
    : `pgapp deploy's check of the API — SKIPPED: ${postgrest.reason}`,
  () => {
    it('lists the endpoints from the OpenAPI document and reads the first one anonymously', async () => {
      const stack = await useStack();
      const api = await verifyPublicApi(stack.apiUrl, { timeoutMs: 30_000 });
      expect(api.endpoints).toEqual(expect.arrayContaining(['/companies', '/contacts', '/deals']));
      expect(api.endpoints.some((p) => p.startsWith('/rpc/'))).toBe(false);
      expect(api.probe).toMatchObject({ hop: `GET ${api.endpoints[0]} (anonymous)`, detail: '1 row(s)' });
    });

    it('gives up with the last answer when nothing answers 200 in time', async () => {
      const url = `http://127.0.0.1:${await freePort()}`;
      await expect(verifyPublicApi(url, { timeoutMs: 1_000, everyMs: 200 })).rejects.toThrow(
        `The API at ${url} did not answer 200 within 1 s`,
      );
    });
  },
);
