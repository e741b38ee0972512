/**
 * The price of each hop, counted: the statements one API write sends to rds — each a round trip, the
 * transaction's own START and COMMIT included — from rds's pg_stat_statements, for POST, PATCH and
 * DELETE on each of the example's tables (no reference, one, two). On a stack of its own
 * (pgapp_bench_trips, small seed: the count does not depend on the data) whose parameter group
 * preloads pg_stat_statements, as RDS's default parameter group does.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeToken } from '../../src/auth/jwt.ts';
import { freePort } from '../../src/net/ports.ts';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { BRIDGE_USER } from '../../src/spec/stack.ts';
import { run, withDb } from '../lib.ts';
import { notes, report } from '../report.ts';

const PROJECT = 'pgapp_bench_trips';
/** Issue 26's target: the statement and its commit. */
const TARGET = 2;

export async function benchTrips() {
  const home = join(PACKAGE_ROOT, '.pgapp', 'bench-trips');
  mkdirSync(home, { recursive: true });
  const configFile = join(home, 'pgapp.config.json');
  const had = existsSync(configFile) ? JSON.parse(readFileSync(configFile, 'utf8')) : {};
  const ports = had.ports ?? { rds: await freePort(), custom: await freePort(), postgrest: await freePort() };
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        project: PROJECT,
        seed: 'small',
        ports,
        rds: { parameters: { shared_preload_libraries: 'pg_stat_statements' } },
      },
      null,
      2,
    ),
  );
  const tsx = join(PACKAGE_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  await run(process.execPath, [tsx, join(PACKAGE_ROOT, 'src', 'cli.ts'), 'dev'], {
    cwd: home,
    env: { ...process.env, CI: 'true', PGAPP_HOME: home },
    maxBuffer: 1 << 26,
  });
  const secrets = JSON.parse(readFileSync(join(home, '.pgapp', PROJECT, 'secrets.json'), 'utf8'));
  const rdsUrl = `postgres://postgres:${encodeURIComponent(secrets.rdsMasterPassword)}@127.0.0.1:${ports.rds}/${PROJECT}?sslmode=no-verify`;
  const api = `http://127.0.0.1:${ports.postgrest}`;
  const token = makeToken(secrets.jwtSecret, {
    role: 'web_user',
    expiresIn: 600,
    claims: { sub: 'bench-trips' },
  });

  await withDb(rdsUrl, async (rds) => {
    await rds.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    /** The bridge's statements on rds so far, by their first word. */
    const counts = async () =>
      Object.fromEntries(
        (
          await rds.query<{ kind: string; n: number }>(
            `SELECT upper(split_part(ltrim(query), ' ', 1)) AS kind, sum(calls)::int AS n FROM pg_stat_statements
             WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1) GROUP BY 1`,
            [BRIDGE_USER],
          )
        ).rows.map((r) => [r.kind, r.n]),
      ) as Record<string, number>;
    /** One request, and what it sent to rds. */
    const trips = async (method: string, path: string, body?: unknown) => {
      const before = await counts();
      const res = await fetch(`${api}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          Prefer: 'return=representation',
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      const after = await counts();
      const kinds = Object.entries(after)
        .map(([k, n]) => [k, n - (before[k] ?? 0)] as const)
        .filter(([, n]) => n > 0);
      return { rows: text ? JSON.parse(text) : [], total: kinds.reduce((a, [, n]) => a + n, 0), kinds };
    };
    const row = (what: string, t: { total: number; kinds: (readonly [string, number])[] }) =>
      report({
        benchmark: `remote round trips: ${what}`,
        measured: `${t.total} statements to rds (${t.kinds.map(([k, n]) => `${k} ${n}`).join(', ')})`,
        baseline: '—',
        ratio: '—',
        target: `≤ ${TARGET}`,
        verdict: t.total <= TARGET ? 'met' : 'missed',
      });
    const stamp = Date.now();
    const company = await trips('POST', '/companies', {
      name: 'Trips Co',
      domain: `trips-${stamp}.example.com`,
      industry: 'media',
      employees: 2,
    });
    row('POST /companies (no reference)', company);
    const cid = company.rows[0].id;
    const contact = await trips('POST', '/contacts', {
      company_id: cid,
      first_name: 'Tess',
      last_name: 'Trips',
      email: `tess-${stamp}@trips.example.com`,
    });
    row('POST /contacts (1 reference)', contact);
    const deal = await trips('POST', '/deals', {
      company_id: cid,
      contact_id: contact.rows[0].id,
      title: 'Trips deal',
      stage: 'lead',
      amount: 10,
    });
    row('POST /deals (2 references)', deal);
    row(
      'PATCH /deals (no reference changed)',
      await trips('PATCH', `/deals?id=eq.${deal.rows[0].id}`, { amount: 11 }),
    );
    row(
      'PATCH /deals (a reference changed)',
      await trips('PATCH', `/deals?id=eq.${deal.rows[0].id}`, { contact_id: null }),
    );
    row('DELETE /deals', await trips('DELETE', `/deals?id=eq.${deal.rows[0].id}`));
    await trips('DELETE', `/contacts?id=eq.${contact.rows[0].id}`);
    await trips('DELETE', `/companies?id=eq.${cid}`);
  });
  notes.push(
    '',
    `**remote round trips.** Statements the bridge user sent to rds for one API write, counted by rds's pg_stat_statements on a stack of its own (\`${PROJECT}\`, its parameter group preloading pg_stat_statements as RDS's default does); each is a round trip. The START TRANSACTION and COMMIT of postgres_fdw's remote transaction are among them; a reference check is a cursor (DECLARE, FETCH, CLOSE) on the foreign table; the fence is an UPDATE. At 0.1 ms on a laptop they cost little; in the cloud, 0.5–2 ms each. Issue 26's target is ${TARGET} (the statement and its commit).`,
  );
}
