/**
 * The images, started for real: the custom one's extensions work (pg_cron jobs really run), the RDS
 * stand-in behaves like RDS (no superuser powers, TLS forced, passwords only), the gateway stops cleanly.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Wait } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docker } from '../../src/docker/engine.ts';
import { BoundContainer } from '../bound-container.ts';
import { dockerExec, query, sqlState, startPg, type Throwaway } from '../helpers.ts';

const images = inject('images');

describe('images/postgres (custom)', () => {
  let pg: Throwaway;
  const cfg = () => ({
    host: '127.0.0.1',
    port: pg.port,
    user: 'postgres',
    password: 'custom-secret',
    database: 'app',
  });

  beforeAll(async () => {
    pg = await startPg(images.custom, { POSTGRES_PASSWORD: 'custom-secret', POSTGRES_DB: 'app' }, [
      '-c',
      'cron.database_name=app',
    ]);
  });
  afterAll(async () => pg?.stop());

  it('creates postgres_fdw, pg_cron and plpython3u', async () => {
    await query(
      cfg(),
      'CREATE EXTENSION postgres_fdw; CREATE EXTENSION pg_cron; CREATE EXTENSION plpython3u',
    );
    const rows = await query<{ extname: string }>(cfg(), 'SELECT extname FROM pg_extension ORDER BY extname');
    expect(rows.map((r) => r.extname)).toEqual(
      expect.arrayContaining(['pg_cron', 'plpython3u', 'postgres_fdw']),
    );
  });

  it('runs a plpython3u function that computes in Python', async () => {
    await query(
      cfg(),
      `CREATE FUNCTION py_stats(xs int[]) RETURNS text LANGUAGE plpython3u AS $$
         import statistics, sys
         return f"{statistics.median(xs)}|{sys.version_info.major}"
       $$`,
    );
    const [row] = await query<{ v: string }>(cfg(), 'SELECT py_stats(ARRAY[5, 1, 9, 3]) AS v');
    expect(row?.v).toBe('4.0|3');
  });

  it('refuses a wrong password (scram, no trust)', async () => {
    await expect(query({ ...cfg(), password: 'wrong' }, 'SELECT 1')).rejects.toThrow(
      /password authentication failed/,
    );
  });

  it('runs a scheduled pg_cron job and records it succeeded', async () => {
    await query(cfg(), `CREATE TABLE cron_hits (at timestamptz)`);
    const [job] = await query<{ id: number }>(
      cfg(),
      `SELECT cron.schedule('test-job', '1 seconds', 'INSERT INTO cron_hits VALUES (now())') AS id`,
    );
    // pg_cron 1.6 (PostgreSQL 17's) schedules in seconds: the first run comes within about a second.
    const deadline = Date.now() + 20_000;
    let runs: { status: string; return_message: string }[] = [];
    while (Date.now() < deadline) {
      runs = await query(cfg(), 'SELECT status, return_message FROM cron.job_run_details WHERE jobid = $1', [
        job?.id,
      ]);
      if (runs.some((r) => r.status === 'succeeded' || r.status === 'failed')) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(runs[0]).toMatchObject({ status: 'succeeded', return_message: 'INSERT 0 1' });
    expect((await query(cfg(), 'SELECT * FROM cron_hits')).length).toBeGreaterThanOrEqual(1);
    await query(cfg(), `SELECT cron.unschedule('test-job')`);
  }, 40_000);

  it('shuts down fast and clean on SIGTERM even with a client connected', async () => {
    const other = await startPg(images.custom, { POSTGRES_PASSWORD: 'x' });
    const pgmod = await import('pg');
    const client = new pgmod.default.Client({
      host: '127.0.0.1',
      port: other.port,
      user: 'postgres',
      password: 'x',
      database: 'postgres',
    });
    await client.connect();
    client.on('error', () => {});
    const c = docker().getContainer(other.id);
    const t = Date.now();
    await c.kill({ signal: 'SIGTERM' });
    await c.wait();
    const elapsed = Date.now() - t;
    const info = await c.inspect();
    await client.end().catch(() => {});
    await other.stop();
    expect(info.State.ExitCode).toBe(0);
    // Postgres' own SIGTERM ("smart") would wait for the client forever; fast shutdown does not.
    expect(elapsed).toBeLessThan(8_000);
  });
});

describe('images/rds (the RDS stand-in)', () => {
  let rds: Throwaway;
  const master = () => ({
    host: '127.0.0.1',
    port: rds.port,
    user: 'postgres',
    password: 'master-secret',
    database: 'crmdb',
    ssl: { rejectUnauthorized: false },
  });

  beforeAll(async () => {
    rds = await startPg(images.rds, { POSTGRES_PASSWORD: 'master-secret', POSTGRES_DB: 'crmdb' });
  });
  afterAll(async () => rds?.stop());

  it('gives a master user that is no superuser, in rds_superuser, owning the database', async () => {
    const [r] = await query(
      master(),
      `SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolinherit, pg_has_role('postgres', 'rds_superuser', 'member') AS rds_su,
              (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS owner,
              (SELECT count(*)::int FROM pg_roles WHERE rolsuper AND rolname <> 'rdsadmin') AS other_superusers
       FROM pg_roles r WHERE r.rolname = current_user`,
    );
    expect(r).toEqual({
      rolsuper: false,
      rolcreatedb: true,
      rolcreaterole: true,
      rolinherit: true,
      rds_su: true,
      owner: 'postgres',
      other_superusers: 0,
    });
  });

  it('refuses plpython3u, ALTER SYSTEM and COPY FROM PROGRAM to the master user', async () => {
    await expect(query(master(), 'CREATE EXTENSION plpython3u')).rejects.toThrow(/plpython3u/);
    await expect(query(master(), `ALTER SYSTEM SET work_mem = '64MB'`)).rejects.toThrow(
      /must be superuser|permission denied/,
    );
    await expect(query(master(), `CREATE TEMP TABLE t (x text); COPY t FROM PROGRAM 'id'`)).rejects.toThrow(
      /permission denied|must be superuser/,
    );
  });

  it("follows RDS's extension rules: what rds.extensions lists (superuser-only ones included), nothing else", async () => {
    const [shown] = await query<{ 'rds.extensions': string }>(master(), 'SHOW rds.extensions');
    const allowed = (shown?.['rds.extensions'] ?? '').split(',');
    expect(allowed).toEqual(
      expect.arrayContaining(['pg_stat_statements', 'postgres_fdw', 'pgcrypto', 'pg_cron']),
    );
    expect(allowed).not.toContain('plpython3u');
    // Stock Postgres reserves these to superusers; RDS's master user may create them.
    await query(master(), 'CREATE EXTENSION pg_stat_statements; CREATE EXTENSION postgres_fdw');
    const made = await query<{ extname: string }>(
      master(),
      `SELECT extname FROM pg_extension WHERE extname IN ('pg_stat_statements', 'postgres_fdw') ORDER BY 1`,
    );
    expect(made.map((e) => e.extname)).toEqual(['pg_stat_statements', 'postgres_fdw']);
    await query(master(), 'DROP EXTENSION pg_stat_statements; DROP EXTENSION postgres_fdw');
    // Not listed: refused with RDS's reason, whatever the name looks like.
    for (const name of ['plpython3u', 'plperlu', 'adminpack', 'no such; thing'])
      await expect(query(master(), `CREATE EXTENSION "${name}"`)).rejects.toThrow(
        new RegExp(`extension "${name}" is not allowed on Amazon RDS`),
      );
  });

  it('refuses plain-text TCP connections', async () => {
    await expect(query({ ...master(), ssl: false }, 'SELECT 1')).rejects.toThrow(/no encryption/);
  });

  it('accepts TLS with the right password and refuses a wrong one', async () => {
    const [r] = await query<{ ssl: boolean }>(
      master(),
      'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    expect(r?.ssl).toBe(true);
    await expect(query({ ...master(), password: 'nope' }, 'SELECT 1')).rejects.toThrow(
      /password authentication failed/,
    );
  });

  it('gives no way in as the rdsadmin superuser from outside', async () => {
    await expect(query({ ...master(), user: 'rdsadmin', password: '' }, 'SELECT 1')).rejects.toThrow();
    await expect(
      query({ ...master(), user: 'rdsadmin', password: 'master-secret' }, 'SELECT 1'),
    ).rejects.toThrow(/pg_hba.conf rejects connection for host .* user "rdsadmin"/);
  });

  it("gives no way in as rdsadmin even to the server's own OS user (socket or TCP)", async () => {
    for (const host of ['/run/postgresql', '127.0.0.1']) {
      const r = await dockerExec(
        rds.id,
        ['psql', '-X', '-h', host, '-U', 'rdsadmin', '-d', 'crmdb', '-c', 'SELECT 1'],
        'postgres',
      );
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/pg_hba.conf rejects connection for host .* user "rdsadmin"/);
    }
  });

  /** A login role the master user creates (CREATEROLE, as on RDS), for the duration of `fn`. */
  const withRoleOfMaster = async (name: string, fn: (login: ReturnType<typeof master>) => Promise<void>) => {
    await query(master(), `DROP ROLE IF EXISTS ${name}; CREATE ROLE ${name} LOGIN PASSWORD 'probe-secret'`);
    try {
      await fn({ ...master(), user: name, password: 'probe-secret' });
    } finally {
      await query(master(), `DROP ROLE IF EXISTS ${name}`);
    }
  };

  // On PG15 CREATEROLE may grant any non-superuser role, and these reach the OS (COPY ... PROGRAM runs
  // commands as the server's user) or every file and row: RDS refuses them to its master user.
  const reserved = [
    'pg_execute_server_program',
    'pg_read_server_files',
    'pg_write_server_files',
    'pg_read_all_data',
    'pg_write_all_data',
  ];

  it.each(reserved)(
    'refuses the master user %s: to itself, to a role it creates, by any syntax',
    async (role) => {
      await withRoleOfMaster('probe_role', async () => {
        for (const sql of [
          `GRANT ${role} TO postgres`,
          `GRANT ${role} TO probe_role`,
          `GRANT ${role} TO probe_role WITH ADMIN OPTION`,
          `CREATE ROLE probe_role2 IN ROLE ${role}`,
          `ALTER GROUP ${role} ADD USER probe_role`,
          `DO $$ BEGIN EXECUTE 'GRANT ${role} TO probe_role'; END $$`,
        ]) {
          expect(await sqlState(master(), sql), sql).toBe('42501');
        }
        const [m] = await query<{ n: number }>(
          master(),
          `SELECT count(*)::int AS n FROM pg_auth_members WHERE roleid = '${role}'::regrole`,
        );
        expect(m?.n).toBe(0);
      });
    },
  );

  it('refuses server-side COPY with a program or a file, to the master user and to roles it creates', async () => {
    await withRoleOfMaster('probe_copy', async (probe) => {
      for (const who of [master(), probe]) {
        expect(await sqlState(who, `COPY (SELECT 1) TO PROGRAM 'id'`)).toBe('42501');
        expect(await sqlState(who, `CREATE TEMP TABLE t (x text); COPY t FROM PROGRAM 'id'`)).toBe('42501');
        expect(await sqlState(who, `COPY (SELECT 1) TO '/tmp/x'`)).toBe('42501');
        expect(await sqlState(who, `SELECT pg_read_file('server.key')`)).toBe('42501');
      }
      const err = await query(master(), `COPY (SELECT 1) TO PROGRAM 'id'`).catch((e: Error) => e.message);
      expect(err).toMatch(/permission denied to COPY to a file or program/);
    });
  });

  it('refuses *_preload_libraries on roles and databases (the parameter group owns them): the master stays able to log in', async () => {
    for (const sql of [
      `ALTER ROLE postgres SET local_preload_libraries = 'nope'`,
      `ALTER ROLE postgres IN DATABASE crmdb SET session_preload_libraries = 'nope'`,
      `ALTER DATABASE crmdb SET local_preload_libraries = 'nope'`,
    ]) {
      expect(await sqlState(master(), sql), sql).toBe('42501');
    }
    expect(await query(master(), 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  });

  it('keeps other databases, temporary tables there and large objects from roles the master creates', async () => {
    await withRoleOfMaster('probe_lo', async (probe) => {
      expect(await sqlState(probe, 'SELECT lo_create(0)')).toBe('42501');
      expect(await sqlState(probe, `SELECT lo_from_bytea(0, 'x')`)).toBe('42501');
      for (const database of ['postgres', 'template1'])
        await expect(query({ ...probe, database }, 'SELECT 1')).rejects.toThrow(
          /permission denied for database/,
        );
      // The master user (rds_superuser) keeps them, as on RDS.
      expect(await sqlState({ ...master(), database: 'postgres' }, 'SELECT 1')).toBe('ok');
    });
  });

  it('made a TLS key of its own at first start (not one baked into the image)', async () => {
    const other = await startPg(images.rds, { POSTGRES_PASSWORD: 'x' });
    const fingerprint = async (id: string) => {
      const exec = await docker()
        .getContainer(id)
        .exec({ Cmd: ['sha256sum', '/var/lib/postgresql/data/pgdata/server.crt'], AttachStdout: true });
      const stream = await exec.start({});
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks)
        .toString()
        .replace(/[^0-9a-f]/g, '')
        .slice(0, 64);
    };
    const a = await fingerprint(rds.id);
    const b = await fingerprint(other.id);
    await other.stop();
    expect(a).toHaveLength(64);
    expect(a).not.toBe(b);
  });
});

describe('images/gateway (in the image, on the Node it ships)', () => {
  it('stops on SIGTERM: the request in flight is answered, then exit 0 in a few seconds, a keep-alive client connected', async () => {
    // A stand-in PostgREST on the Docker bridge's address (the container reaches it there): `/slow`
    // answers after 1 s, so a request is in flight when the signal comes.
    const bridge = (await docker().getNetwork('bridge').inspect()) as {
      IPAM: { Config: { Gateway?: string }[] };
    };
    const hostIp = bridge.IPAM.Config.find((c) => c.Gateway)?.Gateway ?? '172.17.0.1';
    const upstream = http.createServer((req, res) => {
      setTimeout(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'),
        req.url === '/slow' ? 1000 : 0,
      );
    });
    await new Promise<void>((r) => upstream.listen(0, hostIp, r));
    const upPort = (upstream.address() as AddressInfo).port;
    const started = await new BoundContainer(images.gateway, '127.0.0.1')
      .withEnvironment({ PGAPP_UPSTREAM: `http://${hostIp}:${upPort}` })
      .withExposedPorts(3000)
      .withLabels({ 'pgapp.test': 'throwaway' })
      .withWaitStrategy(Wait.forLogMessage(/listening on/))
      .start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const get = (path: string) =>
      new Promise<number>((resolve, reject) =>
        http
          .get({ host: '127.0.0.1', port: started.getMappedPort(3000), path, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject),
      );
    try {
      expect(await get('/')).toBe(200); // its connection stays open, idle (keep-alive)
      const inFlight = get('/slow');
      await new Promise((r) => setTimeout(r, 300));
      const c = docker().getContainer(started.getId());
      const t = Date.now();
      await c.kill({ signal: 'SIGTERM' });
      expect(await inFlight).toBe(200);
      await c.wait();
      const elapsed = Date.now() - t;
      expect((await c.inspect()).State.ExitCode).toBe(0);
      // Docker's grace is 10 s, then SIGKILL (137); the gateway bounds its own wait at 2 s. Without
      // closing its idle keep-alive connections it waited for their 5 s timeout (or, busy, for Docker).
      expect(elapsed).toBeLessThan(4_000);
    } finally {
      agent.destroy();
      upstream.close();
      await started.stop({ remove: true }).catch(() => {});
    }
  }, 60_000);
});
