/**
 * --rds-url: the bridge wired to a Postgres that is not part of the stack (started here, published
 * on the Docker bridge gateway so this machine and the custom container both reach it).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { issueServerCert, makeCa } from '../../src/config/tls.ts';
import { docker } from '../../src/docker/engine.ts';
import { EXAMPLES_DIR } from '../../src/paths.ts';
import { LABELS } from '../../src/spec/stack.ts';
import { cli, freePorts, portFlags, query, startPg, type Throwaway, tempHome } from '../helpers.ts';

const postgrest = inject('postgrest');
const images = inject('images');
const title = postgrest.available
  ? '--rds-url (an existing Postgres)'
  : `--rds-url — SKIPPED: ${postgrest.reason}`;
/** Docker's default bridge gateway: an address of this machine that containers reach too. */
const GATEWAY = '172.17.0.1';

type External = Throwaway;

/** Somebody's Postgres on the bridge's gateway address (testcontainers, as the helpers' throwaways). */
const startExternal = (
  image: string,
  env: Record<string, string>,
  binds: { source: string; target: string }[] = [],
) => startPg(image, env, [], GATEWAY, binds);

/**
 * "Amazon's" CA for the external server: a bundle file (as AWS's global-bundle.pem), and a server
 * certificate naming the address the stack reaches it at, mounted where the image's entrypoint takes it.
 */
function externalCa(home: string): { bundle: string; tlsDir: string } {
  const ca = makeCa('external');
  const dir = mkdtempSync(join(home, 'external-ca-'));
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir);
  const server = issueServerCert(ca, { dns: [], ip: [GATEWAY] });
  writeFileSync(join(tlsDir, 'server.crt'), server.cert);
  writeFileSync(join(tlsDir, 'server.key'), server.key, { mode: 0o600 });
  const bundle = join(dir, 'global-bundle.pem');
  writeFileSync(bundle, `${makeCa('unrelated').cert}${ca.cert}`);
  return { bundle, tlsDir };
}

describe.skipIf(!postgrest.available)(title, () => {
  const home = tempHome();
  const externalTls = externalCa(home);
  const projects: string[] = [];
  let tls: External;
  let plain: External;
  const project = (tag: string) => {
    const p = `e2e_remote_${tag}_${randomBytes(2).toString('hex')}`;
    projects.push(p);
    return p;
  };
  const ports = async () => {
    const { ports: p, args } = await portFlags({ rds: false });
    return { api: p.api, custom: p.custom, args };
  };
  const url = (e: External, db: string, extra = '') =>
    `postgres://postgres:extpw@${GATEWAY}:${e.port}/${db}${extra}`;
  const tlsDb = (db: string) => ({
    host: GATEWAY,
    port: tls.port,
    user: 'postgres',
    password: 'extpw',
    database: db,
    ssl: { rejectUnauthorized: false },
  });

  beforeAll(async () => {
    // The RDS stand-in image as "somebody's RDS" (TLS forced, no superuser), and a plain Postgres without TLS.
    tls = await startExternal(images.rds, { POSTGRES_PASSWORD: 'extpw', POSTGRES_DB: 'extdb' }, [
      { source: externalTls.tlsDir, target: '/etc/pgapp/tls' },
    ]);
    plain = await startExternal(images.custom, { POSTGRES_PASSWORD: 'extpw', POSTGRES_DB: 'plaindb' });
  });
  afterAll(async () => {
    for (const p of projects) await cli(['reset', '--yes', '--project', p], { home });
    for (const e of [tls, plain]) await e?.stop();
  });

  it('with --seed-remote: seeds it, bridges to it, starts no rds container, writes land there', async () => {
    const p = project('seed');
    const pp = await ports();
    const r = await cli(
      ['dev', '--project', p, '--rds-url', url(tls, 'extdb'), '--seed-remote', ...pp.args],
      { home },
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`rds: remote ${GATEWAY}:${tls.port}/extdb`);
    expect(r.output).toContain('sslmode=require');
    expect(r.output).not.toContain('extpw'); // the user's password is never echoed
    const own = await docker().listContainers({ all: true, filters: { label: [`${LABELS.project}=${p}`] } });
    expect(own.map((c) => c.Labels[LABELS.service]).sort()).toEqual(['custom', 'gateway', 'postgrest']);

    const token = (
      await cli(['token', '--project', p, '--claims', '{"sub":"remote-user"}'], { home })
    ).stdout.trim();
    const res = await fetch(`http://127.0.0.1:${pp.api}/companies`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Prefer: 'return=representation',
      },
      body: JSON.stringify({
        name: 'Remote Co',
        domain: 'remote.example.com',
        industry: 'energy',
        employees: 2,
      }),
    });
    expect(res.status).toBe(201);
    const [{ id }] = (await res.json()) as [{ id: number }];
    expect(
      await query(tlsDb('extdb'), 'SELECT name, owner_id FROM crm.companies WHERE id = $1', [id]),
    ).toEqual([{ name: 'Remote Co', owner_id: 'remote-user' }]);
  });

  it('without --seed-remote: writes nothing there but pgapp_bridge, the publication and its ledger; --drop-remote takes them away', async () => {
    // Somebody's existing database with crm in it (seeded outside pgapp, as a real one would be).
    await query(tlsDb('extdb'), 'CREATE DATABASE theirs');
    let theirs = new pg.Client(tlsDb('theirs'));
    await theirs.connect();
    await theirs.query(`SELECT set_config('pgapp.seed_rows', '200', false)`);
    const example = join(EXAMPLES_DIR, 'crm', 'db', 'rds');
    for (const f of [
      'migrations/010_crm_schema.sql',
      'migrations/020_crm_constraints.sql',
      'migrations/030_owner.sql',
      'seed/010_crm_seed.sql',
    ]) {
      await theirs.query(readFileSync(join(example, f), 'utf8'));
    }
    const snapshot = async () => ({
      schemas: (
        await theirs.query(
          `SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`,
        )
      ).rows.map((r) => r.nspname),
      roles: (await theirs.query('SELECT rolname FROM pg_roles ORDER BY 1')).rows.map((r) => r.rolname),
      crm: (
        await theirs.query(
          `SELECT string_agg(table_name, ',' ORDER BY table_name) AS t FROM information_schema.tables WHERE table_schema = 'crm'`,
        )
      ).rows[0].t,
      contacts: (await theirs.query('SELECT count(*)::int AS n FROM crm.contacts')).rows[0].n,
    });
    const before = await snapshot();

    const p = project('bare');
    const pp = await ports();
    const r = await cli(['dev', '--project', p, '--rds-url', url(tls, 'theirs'), ...pp.args], { home });
    expect(r.code, r.output).toBe(0);
    // pgapp_bridge (the catalog, the read-your-writes fence), then the publication the replica reads.
    expect(r.output).toContain('Remote rds: bridge only (no migrations, no seed): 3 applied, schemas crm');
    expect(r.output).toMatch(/Replica custom ← rds \(logical replication\): 4 tables, subscription created/);
    const rows = (await (
      await fetch(`http://127.0.0.1:${pp.api}/contacts?select=id&order=id`)
    ).json()) as unknown[];
    expect(rows).toHaveLength(200);

    const after = await snapshot();
    await theirs.end();
    expect(after.roles).toEqual(before.roles);
    expect(after.crm).toEqual(before.crm);
    expect(after.contacts).toBe(before.contacts);
    expect(after.schemas).toEqual([...before.schemas, 'pgapp_bridge', 'pgapp_ledger'].sort());
    expect(await query(tlsDb('theirs'), 'SELECT pubname FROM pg_publication')).toEqual([
      { pubname: 'pgapp' },
    ]);
    // Its replication slot keeps WAL on their server: `reset` drops it with the stack, and
    // --drop-remote what pgapp made there, leaving their database as it was.
    const slots = `SELECT slot_name FROM pg_replication_slots WHERE database = 'theirs'`;
    expect(await query(tlsDb('theirs'), slots)).toHaveLength(1);
    const gone = await cli(
      ['reset', '--yes', '--drop-remote', '--project', p, '--rds-url', url(tls, 'theirs')],
      {
        home,
      },
    );
    expect(gone.code, gone.output).toBe(0);
    expect(gone.stdout).toContain(
      'dropped on the remote rds: publication pgapp, schema pgapp_bridge, schema pgapp_ledger',
    );
    expect(await query(tlsDb('theirs'), slots)).toEqual([]);
    expect(await query(tlsDb('theirs'), 'SELECT pubname FROM pg_publication')).toEqual([]);
    const theirsAgain = new pg.Client(tlsDb('theirs'));
    await theirsAgain.connect();
    theirs = theirsAgain;
    expect(await snapshot()).toEqual(before);
    await theirsAgain.end();
  });

  it("with sslrootcert (the server's CA bundle): verify-full from this machine and from custom; another CA is refused, nothing made", async () => {
    const p = project('verify');
    const pp = await ports();
    const r = await cli(
      [
        'dev',
        '--project',
        p,
        '--rds-url',
        url(tls, 'extdb', `?sslrootcert=${externalTls.bundle}`),
        ...pp.args,
      ],
      {
        home,
      },
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('sslmode=verify-full');
    expect(r.output).toContain(`sslrootcert=${externalTls.bundle}`);
    const secrets = JSON.parse(readFileSync(join(home, '.pgapp', p, 'secrets.json'), 'utf8'));
    const [server] = await query<{ opts: string }>(
      { host: '127.0.0.1', port: pp.custom, user: 'postgres', password: secrets.customPassword, database: p },
      "SELECT array_to_string(srvoptions, ' ') AS opts FROM pg_foreign_server WHERE srvname = 'rds'",
    );
    const out = server?.opts ?? '';
    expect(out).toContain('sslmode=verify-full');
    expect(out).toContain('sslrootcert=/etc/pgapp/ca/remote.crt');
    // The API reads and writes through that verified bridge.
    const res = await fetch(`http://127.0.0.1:${pp.api}/contacts?limit=1`);
    expect(res.status).toBe(200);

    // A bundle without the server's CA: the connection is refused, with the way out, and nothing is made.
    const wrong = join(home, 'wrong-bundle.pem');
    writeFileSync(wrong, makeCa('wrong').cert);
    const p2 = project('wrongca');
    const bad = await cli(
      [
        'dev',
        '--project',
        p2,
        '--rds-url',
        url(tls, 'extdb', `?sslrootcert=${wrong}`),
        ...(await ports()).args,
      ],
      {
        home,
      },
    );
    expect(bad.code, bad.output).toBe(1);
    expect(bad.stderr).toMatch(/certificate/);
    expect(bad.stderr).toContain('sslrootcert');
    expect(
      await docker().listContainers({ all: true, filters: { label: [`${LABELS.project}=${p2}`] } }),
    ).toEqual([]);
    // A file that is no bundle at all: said before anything is tried.
    const notPem = await cli(
      [
        'dev',
        '--project',
        p2,
        '--rds-url',
        url(tls, 'extdb', `?sslrootcert=${join(home, 'nope.pem')}`),
        ...(await ports()).args,
      ],
      {
        home,
      },
    );
    expect(notPem.code).toBe(1);
    expect(notPem.stderr).toContain("Cannot read --rds-url's sslrootcert");
  });

  it('an empty database: comes up with nothing to serve and says so; a schema named that is not there stops, with the way out', async () => {
    await query(tlsDb('extdb'), 'CREATE DATABASE empty');
    const p = project('empty');
    const pp = await ports();
    const r = await cli(['dev', '--project', p, '--rds-url', url(tls, 'empty'), ...pp.args], { home });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(
      'Remote rds: bridge only (no migrations, no seed): 3 applied, no schema with tables yet',
    );
    expect(r.output).toContain('no tables in the bridged schemas yet');
    const asked = await cli(
      ['dev', '--project', p, '--rds-url', url(tls, 'empty'), '--schemas', 'crm', ...pp.args],
      { home },
    );
    expect(asked.code).toBe(1);
    expect(asked.stderr).toContain('schema crm not found in database empty');
    expect(asked.stderr).toMatch(/hint: It holds no tables yet: .*--seed-remote/);
  });

  it('a server without TLS is refused unless explicitly allowed', async () => {
    const p = project('plain');
    const pp = await ports();
    const refused = await cli(
      ['dev', '--project', p, '--rds-url', url(plain, 'plaindb'), '--seed-remote', ...pp.args],
      { home },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/does not support SSL/);
    expect(refused.stderr).toMatch(/hint: .*--rds-insecure/);
    const relaxed = await cli(
      [
        'dev',
        '--project',
        p,
        '--rds-url',
        url(plain, 'plaindb', '?sslmode=disable'),
        '--rds-insecure',
        '--seed-remote',
        ...pp.args,
      ],
      { home },
    );
    expect(relaxed.code, relaxed.output).toBe(0);
    expect(relaxed.output).toContain('sslmode=disable');
    // A server that does not publish logical replication: FDW reads, said plainly, never half set up.
    expect(relaxed.output).toMatch(
      /reads: fdw — the remote cannot feed a local replica: it does not publish logical replication \(wal_level = replica\): set rds\.logical_replication = 1/,
    );
    expect(relaxed.output).toContain('Replica: off (reads: fdw)');
    expect(relaxed.output).toContain('✔ PostgREST GET → custom → rds');
  });

  it('a wrong password and an address where nothing listens: clear errors, exit 1', async () => {
    const wrong = await cli(
      [
        'dev',
        '--project',
        project('pw'),
        '--rds-url',
        `postgres://postgres:nope@${GATEWAY}:${tls.port}/extdb`,
        ...(await ports()).args,
      ],
      { home },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/password authentication failed for user "postgres"/);
    expect(wrong.stderr).toMatch(/hint: Wrong password/);
    const [closed] = await freePorts(1);
    const none = await cli(
      [
        'dev',
        '--project',
        project('none'),
        '--rds-url',
        `postgres://postgres:x@${GATEWAY}:${closed}/db`,
        ...(await ports()).args,
      ],
      { home },
    );
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/Cannot connect to postgres@172\.17\.0\.1/);
    expect(none.stderr).toMatch(/hint: Nothing answers there/);
  });
});
