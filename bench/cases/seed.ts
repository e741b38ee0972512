/** Seeding rds: bulk generation against row-by-row inserts. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { withClient } from '../../src/db/connect.ts';
import { EXAMPLES_DIR } from '../../src/paths.ts';
import type { TestStack } from '../../src/testing/index.ts';
import { run, timeIt } from '../lib.ts';
import { fmt, notes, report } from '../report.ts';
export async function benchSeed(stack: TestStack) {
  const n = 1_000_000;
  const db = `seedbench_${Date.now()}`;
  const rdsCfg = (database: string) => {
    const u = new URL(stack.rdsUrl);
    return {
      host: u.hostname,
      port: Number(u.port),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database,
      ssl: { rejectUnauthorized: false },
    };
  };
  // The example's rds as `dev` makes it: its migrations in order, then its seed.
  const rdsDir = join(EXAMPLES_DIR, 'crm', 'db', 'rds');
  const migrations = join(rdsDir, 'migrations');
  const schema = readdirSync(migrations)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => readFileSync(join(migrations, f), 'utf8'))
    .join('\n');
  const seedSql = readFileSync(join(rdsDir, 'seed', '010_crm_seed.sql'), 'utf8');
  const admin = new pg.Client(rdsCfg(stack.project));
  await admin.connect();
  const container = `${stack.project}-rds`;
  // psql inside the container as the master user (nobody reaches rds's superuser, as on RDS): its
  // \copy is the fastest bulk load an RDS user has.
  const master = rdsCfg(stack.project);
  const asMaster = (sql: string, database: string) =>
    run('docker', [
      'exec',
      '-e',
      `PGPASSWORD=${master.password}`,
      container,
      'psql',
      '-h',
      '/run/postgresql',
      '-U',
      String(master.user),
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      database,
      '-c',
      sql,
    ]);
  try {
    for (const d of [db, `${db}_copy`]) await admin.query(`CREATE DATABASE ${d}`);
    let rows = 0;
    const seedMs = await withClient(rdsCfg(db), async (c) => {
      await c.query(schema);
      await c.query(`SELECT set_config('pgapp.seed_rows', '${n}', false)`);
      const ms = await timeIt(() => c.query(seedSql));
      rows = (
        await c.query(
          `SELECT (SELECT count(*) FROM crm.companies) + (SELECT count(*) FROM crm.contacts) + (SELECT count(*) FROM crm.deals) + (SELECT count(*) FROM crm.activities) AS n`,
        )
      ).rows[0].n;
      return ms;
    });
    // Baseline: COPY of the same rows from files inside the container (psql's \copy, as the master user).
    const tables = ['companies', 'contacts', 'deals', 'activities'];
    for (const t of tables) await asMaster(`\\copy crm.${t} TO '/tmp/${db}_${t}.copy'`, db);
    await withClient(rdsCfg(`${db}_copy`), (c) => c.query(schema));
    const copyMs = await timeIt(async () => {
      for (const t of tables) await asMaster(`\\copy crm.${t} FROM '/tmp/${db}_${t}.copy'`, `${db}_copy`);
    });
    await run('docker', ['exec', container, 'sh', '-c', `rm -f /tmp/${db}_*.copy`]);
    const seedRate = Number(rows) / (seedMs / 1000);
    const copyRate = Number(rows) / (copyMs / 1000);
    report({
      benchmark: `seed (${(n / 1e6).toFixed(0)}M contacts)`,
      measured: `${fmt(seedRate / 1000, 0)}k rows/s (${Number(rows).toLocaleString('en')} rows, ${fmt(seedMs / 1000, 1)} s)`,
      baseline: `\\copy from files: ${fmt(copyRate / 1000, 0)}k rows/s (${fmt(copyMs / 1000, 1)} s)`,
      ratio: `${fmt(seedRate / copyRate, 2)}×`,
      target: '≥ 0.5×',
      verdict: seedRate / copyRate >= 0.5 ? 'met' : 'missed',
    });
    notes.push(
      "**seed.** The example's seed runs as `dev` runs a project's: after every migration, so its foreign keys,",
      'unique and partial indexes and checks are in place and both sides pay for them (the \\copy baseline loads into',
      'the same schema). Seeding before the constraints, as an earlier layout did, was about four times faster in',
      'absolute terms; a seed of your own meets your schema as it is.',
      '',
    );
  } finally {
    for (const d of [db, `${db}_copy`]) await admin.query(`DROP DATABASE IF EXISTS ${d}`).catch(() => {});
    await admin.end();
  }
}
