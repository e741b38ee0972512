/**
 * `pgapp dev` end to end: the real CLI, non-interactive, under a throwaway project against a real
 * engine. Every hop, the warm re-run, data surviving down+dev and restarts, and the error paths.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULTS } from '../../src/config/schema.ts';
import { issueServerCert, makeCa } from '../../src/config/tls.ts';
import { docker, execIn } from '../../src/docker/engine.ts';
import { EXAMPLES_DIR } from '../../src/paths.ts';
import { LABELS } from '../../src/spec/stack.ts';
import {
  cli,
  portFlags,
  postCompany,
  query,
  startCli,
  ThrowawayStack,
  tempHome,
  throwawayProjectName,
} from '../helpers.ts';
import { crmCorpus } from '../oracle/corpus/crm.ts';
import { expectOracleEqual, oracleRun } from '../oracle/stack.ts';

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'pgapp dev end to end'
  : `pgapp dev end to end — SKIPPED: ${postgrest.reason}`;

async function projectResources(project: string) {
  const filter = { label: [`${LABELS.project}=${project}`] };
  const containers = await docker().listContainers({ all: true, filters: filter });
  const { Volumes } = await docker().listVolumes({ filters: filter });
  const networks = await docker().listNetworks({ filters: filter });
  return {
    containers: containers.length,
    volumes: Volumes?.length ?? 0,
    networks: networks.length,
    ids: containers.map((c) => c.Id).sort(),
  };
}

describe.skipIf(!postgrest.available)(title, () => {
  const stack = new ThrowawayStack('main');
  const { home, project, send } = stack;
  let firstRun: { code: number | null; output: string };

  beforeAll(async () => {
    firstRun = await stack.dev();
  });
  afterAll(async () => {
    await stack.reset();
  });

  it('comes up from nothing, proves every hop and prints the summary', () => {
    expect(firstRun.code, firstRun.output).toBe(0);
    for (const hop of [
      'rds (TLS, master user)',
      'custom → rds (postgres_fdw)',
      'rds → custom (logical replication)',
      'PostgREST GET → custom (replica)',
      'PostgREST POST → rds',
      'PostgREST GET after the POST',
    ]) {
      expect(firstRun.output).toContain(`✔ ${hop}`);
    }
    expect(firstRun.output).toContain(`pgapp "${project}" is up`);
    expect(firstRun.output).toMatch(/web_user {4}eyJ/);
    expect(firstRun.output).toContain(stack.api());
  });

  it('answers as PostgREST on rds does: the example, read and written as two users and nobody', async () => {
    const outcomes = await oracleRun(stack, 'replica', crmCorpus);
    expectOracleEqual('crm, reads: replica', outcomes);
    expect(outcomes.filter((o) => o.oracle.status < 300).length).toBeGreaterThan(20);
  });

  it('re-runs warm: reuses every container and applies no SQL', async () => {
    const before = await projectResources(project);
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    for (const svc of ['rds', 'custom', 'postgrest', 'gateway'])
      expect(r.output).toContain(`${svc}: ready (reused)`);
    for (const phase of [
      'rds: migrations, seed, bridge',
      'Bridge custom → rds (postgres_fdw)',
      'API schema',
      'App layer',
    ]) {
      expect(r.output).toContain(`${phase}: nothing to apply`);
    }
    expect(r.output).toMatch(/Replica custom ← rds \(logical replication\): \d+ tables, subscription kept/);
    expect((await projectResources(project)).ids).toEqual(before.ids);
  });

  it('refuses to take over the project from another directory (no secrets for its data there)', async () => {
    const before = await projectResources(project);
    const r = await cli(['dev', '--project', project, ...stack.args], { home: tempHome() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`Project "${project}" already has data in Docker`));
    expect(r.stderr).toMatch(/copy its \.pgapp\/.*secrets\.json here/);
    expect((await projectResources(project)).ids).toEqual(before.ids);
  });

  it('keeps data written through the API across down + dev and a container restart', async () => {
    const { id } = await postCompany(send, {
      name: 'Survivor',
      domain: `survivor-${project}.example.com`,
      industry: 'media',
      employees: 9,
    });

    const down = await cli(['down', '--project', project], { home });
    expect(down.code, down.output).toBe(0);
    expect(
      (await docker().listContainers({ filters: { label: [`${LABELS.project}=${project}`] } })).length,
    ).toBe(0);
    const up = await stack.dev();
    expect(up.code, up.output).toBe(0);
    expect(up.output).toContain('rds: ready (started)');
    expect((await (await send('GET', `/companies?id=eq.${id}`)).json()) as unknown[]).toHaveLength(1);

    const [rds] = await docker().listContainers({
      filters: { label: [`${LABELS.project}=${project}`, `${LABELS.service}=rds`] },
    });
    await docker()
      .getContainer(rds?.Id as string)
      .restart({ t: 5 });
    const again = await stack.dev();
    expect(again.code, again.output).toBe(0);
    expect(await query(stack.rds(), 'SELECT name FROM crm.companies WHERE id = $1', [id])).toEqual([
      { name: 'Survivor' },
    ]);
  });

  it('a rotated bridge password re-runs only the repeatable SQL that reads it, and the bridge keeps working', async () => {
    const file = join(home, '.pgapp', project, 'secrets.json');
    const rotated = { ...stack.secrets, bridgePassword: randomBytes(32).toString('base64url') };
    writeFileSync(file, JSON.stringify(rotated), { mode: 0o600 });
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('rds: migrations, seed, bridge: 1 applied');
    expect(r.output).toContain('Bridge custom → rds (postgres_fdw): 1 applied');
    expect(r.output).toContain('API schema: nothing to apply');
    for (const svc of ['rds', 'custom', 'postgrest', 'gateway'])
      expect(r.output).toContain(`${svc}: ready (reused)`);
    expect(r.output).toContain('✔ custom → rds (postgres_fdw)');
  });

  it('--rotate-ca: a new CA and certificate, rds re-created with it, the old CA refused, the bridge and replica verify the new one', async () => {
    const caFile = join(home, '.pgapp', project, 'tls', 'ca', 'root.crt');
    const oldCa = readFileSync(caFile, 'utf8');
    const before = await projectResources(project);
    const r = await stack.dev(['--rotate-ca']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('rds: ready (recreated)');
    expect(r.output).toContain('custom: ready (reused)');
    expect(r.output).toContain('✔ custom → rds (postgres_fdw)');
    expect(r.output).toContain('✔ rds → custom (logical replication)');
    expect(readFileSync(caFile, 'utf8')).not.toBe(oldCa);
    expect((await projectResources(project)).volumes).toBe(before.volumes);
    // The rds volume's certificate was replaced: the old CA no longer verifies the server.
    await expect(
      query({ ...stack.rds(), ssl: { ca: oldCa, rejectUnauthorized: true } }, 'SELECT 1'),
    ).rejects.toThrow(/certificate/);
    expect(await query(stack.rds(), 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    // A write through the API crosses the bridge (verify-full against the new CA) and comes back by the replica.
    await postCompany(send, {
      name: 'Rotated',
      domain: `rotated-${project}.example.com`,
      industry: 'media',
      employees: 1,
    });
  });

  it('a damaged CA key or a certificate of another CA: a clear error, exit 1, nothing changed', async () => {
    const tls = join(home, '.pgapp', project, 'tls');
    const key = join(tls, 'ca.key');
    const saved = readFileSync(key);
    const before = await projectResources(project);
    try {
      writeFileSync(key, 'not a key\n', { mode: 0o600 });
      const r = await stack.dev();
      expect(r.code, r.output).toBe(1);
      expect(r.stderr).toContain(`${key} is not a PEM private key`);
      expect(r.stderr).toContain('--rotate-ca');
      writeFileSync(key, saved, { mode: 0o600 });
      const other = makeCa('other');
      const cert = join(tls, 'rds', 'server.crt');
      const good = readFileSync(cert);
      writeFileSync(cert, issueServerCert(other).cert);
      const r2 = await stack.dev();
      expect(r2.code, r2.output).toBe(1);
      expect(r2.stderr).toContain("was not issued by the project's CA");
      writeFileSync(cert, good);
    } finally {
      writeFileSync(key, saved, { mode: 0o600 });
    }
    expect((await projectResources(project)).ids).toEqual(before.ids);
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('rds: ready (reused)');
  });

  it('the parameter group: refused values change nothing; dynamic ones apply, static ones reboot rds; status shows what is pending', async () => {
    const configFile = join(home, 'pgapp.config.json');
    const group = join(home, '.pgapp', project, 'rds-parameters', 'parameters.conf');
    const setGroup = (parameters?: Record<string, unknown>) =>
      writeFileSync(configFile, JSON.stringify(parameters ? { rds: { parameters } } : {}));
    const plain = () => query({ ...stack.rds(), ssl: false }, 'SHOW work_mem');
    const applied = readFileSync(group, 'utf8');
    const before = await projectResources(project);
    await expect(plain()).rejects.toThrow(/no encryption/); // rds.force_ssl = 1 by default, as on RDS 15
    try {
      for (const [parameters, message] of [
        [{ work_mem: 'bogus' }, 'invalid value for parameter "work_mem": "bogus"'],
        [{ max_connections: 5_000_000 }, 'outside the valid range for parameter "max_connections"'],
        [{ no_such_setting: 1 }, 'unrecognized configuration parameter "no_such_setting"'],
        [{ wal_level: 'minimal' }, 'wal_level cannot be changed in an RDS parameter group'],
        [{ 'work_mem; DROP': '1' }, 'is not a parameter name'],
        [{ shared_preload_libraries: 'plpython3' }, 'names plpython3, which RDS does not preload'],
        [{ 'rds.force_ssl': 2 }, 'rds.force_ssl cannot be "2"'],
      ] as const) {
        setGroup(parameters);
        const r = await stack.dev();
        expect(r.code, r.output).toBe(1);
        expect(r.stderr).toContain(message);
      }
      expect(readFileSync(group, 'utf8')).toBe(applied);
      expect((await projectResources(project)).ids).toEqual(before.ids);

      setGroup({
        work_mem: '8MB',
        'rds.force_ssl': 0,
        shared_preload_libraries: 'pg_stat_statements,pg_cron',
        'cron.database_name': project,
      });
      const pending = await cli(['status', '--json', '--project', project], { home });
      expect(JSON.parse(pending.stdout).parameterGroup).toMatchObject({
        notApplied: true,
        pendingReboot: [],
      });
      const r = await stack.dev();
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain(
        'rds: parameter group (4 parameters, applied; rebooted for shared_preload_libraries)',
      );
      expect(r.output).toContain('✔ rds → custom (logical replication)');
      expect(await plain()).toEqual([{ work_mem: '8MB' }]); // rds.force_ssl = 0: plain text allowed
      // What the group preloads, the master user may now use, as on RDS.
      await query(stack.rds(), 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      expect(await query(stack.rds(), 'SELECT count(*) > 0 AS ok FROM pg_stat_statements')).toEqual([
        { ok: true },
      ]);
      await query(stack.rds(), 'CREATE EXTENSION IF NOT EXISTS pg_cron');
      expect(
        await query(stack.rds(), "SELECT cron.schedule('pgapp-test', '0 0 1 1 *', 'SELECT 1') > 0 AS ok"),
      ).toEqual([{ ok: true }]);

      // Applied but not rebooted (a file changed behind dev's back, reloaded): status says pending-reboot.
      writeFileSync(group, readFileSync(group, 'utf8').replace('pg_stat_statements,pg_cron', 'pg_cron'));
      const [rds] = await docker().listContainers({
        filters: { label: [`${LABELS.project}=${project}`, `${LABELS.service}=rds`] },
      });
      await execIn(rds?.Id as string, ['sh', '-c', 'pg_ctl reload -D "$PGDATA"'], { user: 'postgres' });
      await new Promise((r) => setTimeout(r, 1_000));
      const st = await cli(['status', '--json', '--project', project], { home });
      expect(JSON.parse(st.stdout).parameterGroup).toMatchObject({
        notApplied: true,
        pendingReboot: ['shared_preload_libraries'],
      });
      expect((await cli(['status', '--project', project], { home })).stdout).toContain(
        'pending-reboot: shared_preload_libraries',
      );
    } finally {
      await query(
        stack.rds(),
        'DROP EXTENSION IF EXISTS pg_cron; DROP EXTENSION IF EXISTS pg_stat_statements',
      ).catch(() => {});
      setGroup(undefined);
    }
    const back = await stack.dev();
    expect(back.code, back.output).toBe(0);
    expect(back.output).toMatch(
      /rds: parameter group \(RDS's defaults, applied; rebooted for .*shared_preload_libraries/,
    );
    await expect(plain()).rejects.toThrow(/no encryption/);
  });

  it("a project's own SQL in db/: the example copied (as `init --example crm` does) applies nothing new; a table it adds is an endpoint; SQL left in sql/*/local is refused", async () => {
    // The example's files under the project's own db/: the same ledger names, so nothing runs again.
    // With them, what they need of custom (numpy, scikit-learn, pg_trgm), as init copies it.
    cpSync(join(EXAMPLES_DIR, 'crm', 'db'), join(home, 'db'), { recursive: true });
    const own = join(home, 'pgapp.config.json');
    const example = JSON.parse(readFileSync(join(EXAMPLES_DIR, 'crm', 'pgapp.config.json'), 'utf8'));
    writeFileSync(
      own,
      JSON.stringify({ ...(existsSync(own) ? JSON.parse(readFileSync(own, 'utf8')) : {}), ...example }),
    );
    const same = await stack.dev();
    expect(same.code, same.output).toBe(0);
    expect(same.output).toContain('rds: migrations, seed, bridge: nothing to apply');
    expect(same.output).not.toContain('the example app');
    writeFileSync(
      join(home, 'db', 'rds', 'migrations', '060_tags.sql'),
      'CREATE TABLE crm.tags (id bigint PRIMARY KEY, name text NOT NULL);\n',
    );
    writeFileSync(
      join(home, 'db', 'custom', '040_hello.sql'),
      "CREATE VIEW crm.hello AS SELECT 'hi'::text AS greeting;\nGRANT SELECT ON crm.hello TO web_anon;\n",
    );
    const ok = await stack.dev();
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toContain('rds: migrations, seed, bridge: 1 applied');
    expect(ok.output).toContain('App layer: 1 applied');
    expect(await (await fetch(stack.api('/hello'))).json()).toEqual([{ greeting: 'hi' }]);
    // The new table is published with the others (read-only: no owner column, the default access).
    expect(ok.output).toMatch(/\/tags +read \(read-only\) ← crm\.tags, replica/);
    expect(await (await fetch(stack.api('/tags'))).json()).toEqual([]);
    // On rds it ran as the master user, who owns what it made.
    expect(
      await query(
        stack.rds(),
        `SELECT tableowner FROM pg_tables WHERE schemaname = 'crm' AND tablename = 'tags'`,
      ),
    ).toEqual([{ tableowner: 'postgres' }]);

    // SQL where an earlier pgapp read it is never silently left out: dev stops and says where it goes.
    mkdirSync(join(home, 'sql', 'rds', 'local'), { recursive: true });
    writeFileSync(join(home, 'sql', 'rds', 'local', '010_old.sql'), 'SELECT 1;\n');
    const moved = await stack.dev();
    expect(moved.code).toBe(1);
    expect(moved.stderr).toContain("sql/rds/local/ hold SQL, but pgapp now reads a project's SQL from db/");
    expect(moved.stderr).toContain('git mv sql/rds/local/*.sql db/rds/migrations/');
    rmSync(join(home, 'sql'), { recursive: true });

    const bad = join(home, 'db', 'custom', '050_bad.sql');
    writeFileSync(bad, 'CREATE TABLE crm.half_done (x int);\nSELEC 2;\n');
    const r = await stack.dev();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      '✖ SQL failed in db/custom/050_bad.sql:2: syntax error at or near "SELEC" (SQLSTATE 42601)',
    );
    expect(r.stderr).toContain('2 | SELEC 2;');
    expect(r.stderr).toMatch(/hint: Fix the file and run again/);
    // Nothing of the file was applied, and the running stack was left alone.
    const [c] = await query<{ t: string | null }>(
      {
        host: '127.0.0.1',
        port: stack.ports.custom,
        user: 'postgres',
        password: stack.secrets.customPassword,
        database: project,
      },
      `SELECT to_regclass('crm.half_done')::text AS t`,
    );
    expect(c?.t).toBeNull();
    unlinkSync(bad);
    const again = await stack.dev();
    expect(again.code, again.output).toBe(0);
    for (const svc of ['rds', 'custom', 'postgrest', 'gateway'])
      expect(again.output).toContain(`${svc}: ready (reused)`);
  });

  it('"typesOut": dev keeps the api types fresh; a column user SQL adds is in them after the next dev', async () => {
    const configFile = join(home, 'pgapp.config.json');
    const types = join(home, 'src', 'database.types.ts');
    // Beside what the file holds (the example's "custom", copied with its db/ above).
    const before = readFileSync(configFile, 'utf8');
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(before), typesOut: 'src/database.types.ts' }));
    try {
      const first = await stack.dev();
      expect(first.code, first.output).toBe(0);
      expect(first.output).toContain('Types → src/database.types.ts (written)');
      expect(readFileSync(types, 'utf8')).toMatch(/hello: \{\s+Row: \{\s+greeting: string \| null\s+\}/);
      writeFileSync(
        join(home, 'db', 'custom', '060_hello_answer.sql'),
        "CREATE OR REPLACE VIEW crm.hello AS SELECT 'hi'::text AS greeting, 42 AS answer;\n",
      );
      const next = await stack.dev();
      expect(next.code, next.output).toBe(0);
      expect(next.output).toContain('Types → src/database.types.ts (written)');
      expect(readFileSync(types, 'utf8')).toMatch(/greeting: string \| null\s+answer: number \| null/);
      const same = await stack.dev();
      expect(same.output).toContain('Types → src/database.types.ts (unchanged)');
    } finally {
      writeFileSync(configFile, before);
    }
  });

  it('a seed that violates a constraint: the file, the constraint and the key, exit 1, nothing of it applied', async () => {
    const file = join(home, 'db', 'rds', 'seed', '020_dupe.sql');
    writeFileSync(
      file,
      "INSERT INTO crm.tags VALUES (1, 'one');\n" +
        "INSERT INTO crm.companies (name, domain, industry, employees)\n  SELECT 'Dupe', domain, industry, employees FROM crm.companies WHERE id = 1;\n",
    );
    const r = await stack.dev();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /✖ SQL failed in db\/rds\/seed\/020_dupe\.sql\S*: duplicate key value violates unique constraint "companies_owner_domain_key" \(SQLSTATE 23505\)/,
    );
    expect(r.stderr).toMatch(/DETAIL: Key \(owner_id, domain\)=\(.+\) already exists/);
    expect(r.stderr).toMatch(/hint: Fix the file and run again/);
    expect(await query(stack.rds(), 'SELECT count(*)::int AS n FROM crm.tags')).toEqual([{ n: 0 }]);
    expect(
      await query(stack.rds(), `SELECT count(*)::int AS n FROM crm.companies WHERE name = 'Dupe'`),
    ).toEqual([{ n: 0 }]);
    unlinkSync(file);
    const again = await stack.dev();
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain('rds: migrations, seed, bridge: nothing to apply');
  });

  it("a table and a column added to crm by the project's SQL reach the local replica and the api on the next dev", async () => {
    // crm.tags came from the test above: a new table is created locally and copied.
    expect(await query(stack.custom(), `SELECT to_regclass('crm.tags')::text AS t`)).toEqual([
      { t: 'crm.tags' },
    ]);
    writeFileSync(
      join(home, 'db', 'rds', 'migrations', '070_tier.sql'),
      "ALTER TABLE crm.companies ADD COLUMN tier text NOT NULL DEFAULT 'basic';\n" +
        "INSERT INTO crm.tags VALUES (7, 'seven');\n",
    );
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    // That table alone is copied again (rows replicated before had no value for the column).
    expect(r.output).toMatch(
      /Replica custom ← rds \(logical replication\): \d+ tables, subscription refreshed, 1 copied again \(crm\.companies\)/,
    );
    // Every row has the column's value locally.
    const [counts] = await query<{ all: number; basic: number }>(
      stack.custom(),
      `SELECT count(*)::int AS all, count(*) FILTER (WHERE tier = 'basic')::int AS basic FROM crm.companies`,
    );
    const [onRds] = await query<{ n: number }>(stack.rds(), 'SELECT count(*)::int AS n FROM crm.companies');
    expect(counts).toEqual({ all: onRds?.n, basic: onRds?.n });
    expect(await query(stack.custom(), 'SELECT name FROM crm.tags WHERE id = 7')).toEqual([
      { name: 'seven' },
    ]);
    // New rows keep coming: a write through the API, read back through the replica.
    const { id } = await postCompany(send, {
      name: 'Tiered',
      domain: `tier-${project}.example`,
      industry: 'x',
      employees: 1,
    });
    expect(await (await send('GET', `/companies?id=eq.${id}&select=name`)).json()).toEqual([
      { name: 'Tiered' },
    ]);
    expect(await query(stack.custom(), 'SELECT tier FROM crm.companies WHERE id = $1', [id])).toEqual([
      { tier: 'basic' },
    ]);
    // The column is in the api too, and its default works as on rds.
    expect(await (await send('GET', `/companies?id=eq.${id}&select=tier`)).json()).toEqual([
      { tier: 'basic' },
    ]);
  });

  it('--reads fdw: the api reads through postgres_fdw, no subscription; back to replica copies again', async () => {
    const fdw = await stack.dev(['--reads', 'fdw']);
    expect(fdw.code, fdw.output).toBe(0);
    expect(fdw.output).toContain('Replica: off (reads: fdw; subscription dropped)');
    expect(fdw.output).toContain('✔ PostgREST GET → custom → rds');
    // crm.companies: rds's rows through its foreign child; none of its own.
    expect(
      await query(
        stack.custom(),
        `SELECT (SELECT count(*)::int FROM ONLY crm.companies) AS own,
                (SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'crm.companies'::regclass) AS child`,
      ),
    ).toEqual([{ own: 0, child: 'rds_crm.companies' }]);
    expect(await query(stack.custom(), `SELECT subname FROM pg_subscription`)).toEqual([]);
    expect(await query(stack.rds(), `SELECT slot_name FROM pg_replication_slots`)).toEqual([]);
    // End to end over FDW: a write, read back at once, with an embed.
    const { id } = await postCompany(send, {
      name: 'Over FDW',
      domain: `fdw-${project}.example`,
      industry: 'x',
      employees: 2,
    });
    expect(await (await send('GET', `/companies?id=eq.${id}&select=name,contacts(id)`)).json()).toEqual([
      { name: 'Over FDW', contacts: [] },
    ]);
    expect((await send('PATCH', `/companies?id=eq.${id}`, { employees: 3 })).status).toBe(200);
    expect(await query(stack.rds(), 'SELECT employees FROM crm.companies WHERE id = $1', [id])).toEqual([
      { employees: 3 },
    ]);
    // `pgapp explain` over FDW: a read by key pushes down (one remote query, one row) ...
    const explain = async (path: string) => {
      const r = await cli(['explain', path, '--json', '--project', project], { home });
      expect(r.code, r.output).toBe(0);
      return JSON.parse(r.stdout) as {
        remoteQueries: number;
        rowsFetched: number;
        answerRows: number;
        warnings: string[];
      };
    };
    expect(await explain('/contacts?id=eq.1')).toMatchObject({
      remoteQueries: 1,
      rowsFetched: 1,
      answerRows: 1,
      warnings: [],
    });
    // ... an embed does not: the companies cross the bridge whole, or one remote query per row (the
    // planner's pick depends on the table sizes), and it says so.
    const embed = await explain('/contacts?select=id,company(name)&order=id&limit=10');
    expect(embed.answerRows).toBe(10);
    expect(embed.remoteQueries).toBeGreaterThan(1);
    expect(embed.rowsFetched).toBeGreaterThan(10);
    expect(embed.warnings.join('\n')).toMatch(
      /the bridge fetched [\d,]+ rows from rds for an answer of 10|N\+1: rds_crm\.companies was queried \d+ times/,
    );
    const human = await cli(['explain', '/contacts?select=id,company(name)&limit=10', '--project', project], {
      home,
    });
    expect(human.stdout).toMatch(/Remote queries to rds/);
    expect(human.stdout).toMatch(/SELECT .* FROM crm\.companies/);

    const back = await stack.dev(['--reads', 'replica']);
    expect(back.code, back.output).toBe(0);
    expect(back.output).toMatch(/subscription created/);
    // What was written meanwhile is in the replica (copied again from rds, not left stale).
    expect(await query(stack.custom(), 'SELECT employees FROM crm.companies WHERE id = $1', [id])).toEqual([
      { employees: 3 },
    ]);
    expect(await (await send('GET', `/companies?id=eq.${id}&select=employees`)).json()).toEqual([
      { employees: 3 },
    ]);
    // The same embed over the replica: no remote query at all.
    const local = await cli(
      ['explain', '/contacts?select=id,company(name)&limit=10', '--json', '--project', project],
      {
        home,
      },
    );
    expect(JSON.parse(local.stdout)).toMatchObject({ remoteQueries: 0, rowsFetched: 0, warnings: [] });
  });

  it("a full disk: the server's own words from its logs, a hint, exit 1, and the next run recovers", async () => {
    const other = throwawayProjectName('full');
    // The data volume on a disk with 8 MB free (a tmpfs): initdb runs out of space.
    await docker().createVolume({
      Name: `${other}_rds_data`,
      Driver: 'local',
      DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=8m' },
    });
    const p = await portFlags();
    const r = await cli(['dev', '--project', other, ...p.args], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /rds (exited \(code [1-9]\d*\)|keeps crashing \(restarted \d+ time\(s\)\)) instead of becoming ready/,
    );
    expect(r.stderr).toMatch(/│ .*No space left on device/);
    expect(r.stderr).toMatch(/hint: The disk holding its volume is full\. Free space/);
    expect(await projectResources(other)).toMatchObject({ containers: 0 });
    // With room again (the user's volume removed), the same command succeeds.
    await docker().getVolume(`${other}_rds_data`).remove();
    const next = await cli(['dev', '--project', other, ...p.args], { home });
    expect(next.code, next.output).toBe(0);
    await cli(['reset', '--yes', '--project', other], { home });
  });

  it('a port in use: clear message, exit 1, and nothing left behind', async () => {
    const other = throwawayProjectName('port');
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const taken = (blocker.address() as { port: number }).port;
    const p = await portFlags();
    const r = await cli(
      ['dev', '--project', other, ...p.args.slice(0, 0), '--rds-port', String(taken), ...p.args.slice(2)],
      { home },
    );
    blocker.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Port ${taken} on 127.0.0.1 is already in use (wanted by rds)`);
    expect(r.stderr).toMatch(/hint: .*--rds-port/);
    expect(await projectResources(other)).toMatchObject({ containers: 0, volumes: 0, networks: 0 });
  });

  it('a failure after some services are ready keeps them for the next run to reuse', async () => {
    const other = throwawayProjectName('keep');
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const taken = (blocker.address() as { port: number }).port;
    const p = await portFlags();
    const blocked = [...p.args.slice(0, 4), '--postgrest-port', String(taken), ...p.args.slice(6)];
    const r = await cli(['dev', '--project', other, ...blocked], { home });
    blocker.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Port ${taken} on 127.0.0.1 is already in use (wanted by gateway)`);
    expect(r.stderr).toContain(`--postgrest-port ${taken + 10}`); // the flag that sets the API's port
    // rds (seeded), custom (bridged) and postgrest were ready: kept, with their volumes and network.
    expect(await projectResources(other)).toMatchObject({ containers: 3, volumes: 2, networks: 1 });
    const next = await cli(['dev', '--project', other, ...p.args], { home });
    expect(next.code, next.output).toBe(0);
    expect(next.output).toContain('rds: ready (reused)');
    expect(next.output).toContain('rds: migrations, seed, bridge: nothing to apply');
    await cli(['reset', '--yes', '--project', other], { home });
  });

  it('an unhealthy service: its last log lines, exit 1, and the next run recovers', async () => {
    const other = throwawayProjectName('sick');
    // A data volume from an incompatible server: postgres refuses to start on it.
    // Unlabelled (a stray volume of that name, not a pgapp project with secrets elsewhere).
    await docker().createVolume({ Name: `${other}_rds_data` });
    const prep = await docker().createContainer({
      Image: 'debian:bookworm-slim',
      Cmd: ['sh', '-c', 'mkdir -p /d/pgdata && echo 9 > /d/pgdata/PG_VERSION && chown -R 101:101 /d'],
      HostConfig: { Mounts: [{ Type: 'volume', Source: `${other}_rds_data`, Target: '/d' }] },
    });
    await prep.start();
    await prep.wait();
    await prep.remove();
    const p = await portFlags();
    const r = await cli(['dev', '--project', other, ...p.args], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /rds (exited \(code [1-9]\d*\)|keeps crashing \(restarted \d+ time\(s\)\)) instead of becoming ready/,
    );
    // The image's entrypoint names the mismatch (a data directory of PostgreSQL 9) before postgres runs.
    expect(r.stderr).toMatch(
      new RegExp(
        `│ pgapp-entrypoint: this data directory holds PostgreSQL 9 data, but this image runs PostgreSQL ${DEFAULTS.postgres}`,
      ),
    );
    expect(r.stderr).toMatch(/pgapp logs rds/);
    // The run's own container is gone; the volume it found is the user's, and stays.
    expect(await projectResources(other)).toMatchObject({ containers: 0 });
    expect((await docker().getVolume(`${other}_rds_data`).inspect()).Name).toBe(`${other}_rds_data`);
    await docker().getVolume(`${other}_rds_data`).remove();
    await cli(['reset', '--yes', '--project', other], { home });
  });

  it('Ctrl-C in each phase removes what that run created, and the next dev succeeds', async () => {
    const other = throwawayProjectName('intr');
    const p = await portFlags();
    // Each run is held half-way through one phase (PGAPP_TEST_HOLD) and interrupted there. Every
    // run starts from nothing again, so it also proves the previous interrupted run left nothing
    // in its way: it gets through that phase and on to the next.
    const phases = [
      'Docker engine',
      'Images',
      'Network',
      'rds: start',
      'rds: migrations, seed, bridge',
      'custom: start',
      'Bridge custom → rds (postgres_fdw)',
      'Replica custom ← rds',
      'API schema',
      'App layer',
      'postgrest: start',
      'gateway: start',
      'Verify every hop',
    ];
    const interrupt = async (phase: string) => {
      const run = startCli(['dev', '--project', other, ...p.args], { home, env: { PGAPP_TEST_HOLD: phase } });
      await run.waitFor(/held half-way by PGAPP_TEST_HOLD/);
      run.child.kill('SIGINT');
      return run.done;
    };
    for (const phase of phases) {
      const r = await interrupt(phase);
      expect(r.code, `${phase}:\n${r.output}`).toBe(1);
      expect(r.output).toContain(`❯ ${phase}`);
      expect(r.stderr).toMatch(/✖ Interrupted/);
      expect(await projectResources(other), phase).toMatchObject({ containers: 0, volumes: 0, networks: 0 });
    }
    const next = await cli(['dev', '--project', other, ...p.args], { home });
    expect(next.code, next.output).toBe(0);

    // Ctrl-C in a warm run creates nothing, so it removes nothing: the running stack stays as it was.
    const before = await projectResources(other);
    const warm = await interrupt('API schema');
    expect(warm.code).toBe(1);
    expect(await projectResources(other)).toEqual(before);
    const after = await cli(['dev', '--project', other, ...p.args], { home });
    expect(after.code, after.output).toBe(0);
    for (const svc of ['rds', 'custom', 'postgrest', 'gateway'])
      expect(after.output).toContain(`${svc}: ready (reused)`);

    await cli(['reset', '--yes', '--project', other], { home });
    expect(await projectResources(other)).toMatchObject({ containers: 0, volumes: 0, networks: 0 });
    // Fifteen runs of dev, thirteen of them from nothing: longer than one test's default budget.
  }, 400_000);
});
