/**
 * What to copy, table by table: the desk fixture with a table read through postgres_fdw beside the
 * replica (both served as tables, embedded in each other as PostgREST does), writes read back at
 * once, the size gate without a terminal, a table switched between modes on the next `dev` with
 * nothing else copied again, and a part of a table ("where", "columns") refused with the way out.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeToken } from '../../src/auth/jwt.ts';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import { apiClient, CLI, cli, query, ThrowawayStack, TSX } from '../helpers.ts';

const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'desk');
/** util-linux's script(1) gives the CLI a pseudo-terminal (Debian's bsdutils, an essential package). */
const terminal = spawnSync('script', ['--version']).status === 0;

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'reads per table (the desk fixture)'
  : `reads per table (the desk fixture) — SKIPPED: ${postgrest.reason}`;

describe.skipIf(!postgrest.available)(title, () => {
  const stack = new ThrowawayStack('reads');
  const configFile = () => join(stack.home, 'pgapp.config.json');
  type Tables = Record<string, Record<string, unknown>>;
  const configure = (change: (c: { tables: Tables; copyLimit?: string }) => void) => {
    const c = JSON.parse(readFileSync(configFile(), 'utf8'));
    change(c);
    writeFileSync(configFile(), JSON.stringify(c, null, 2));
  };
  const call = async (sub: string | null, method: string, path: string, body?: unknown) => {
    const token = sub
      ? makeToken(stack.secrets.jwtSecret, { role: 'web_user', expiresIn: 600, claims: { sub } })
      : null;
    const res = await apiClient(
      () => stack.api(),
      () => token,
    )(method, path, body);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };
  /** When each replica table's copy finished (its sync LSN): the same after a run that copied nothing of it. */
  const synced = async () =>
    Object.fromEntries(
      (
        await query<{ t: string; lsn: string }>(
          stack.custom(),
          `SELECT format('%I.%I', n.nspname, c.relname) AS t, sr.srsublsn::text AS lsn
           FROM pg_subscription_rel sr JOIN pg_class c ON c.oid = sr.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace`,
        )
      ).map((r) => [r.t, r.lsn]),
    );
  let first: { code: number | null; output: string };

  beforeAll(async () => {
    cpSync(FIXTURE, stack.home, { recursive: true });
    configure((c) => {
      c.tables['desk.agents'] = { ...c.tables['desk.agents'], reads: 'fdw' };
    });
    first = await stack.dev();
  });
  afterAll(async () => {
    await stack.reset();
  });

  /** A table on custom: its own rows, and the foreign table that is its inheritance child (fdw). */
  const local = async (t: string) =>
    (
      await query<{ rows: number; child: string | null }>(
        stack.custom(),
        `SELECT (SELECT count(*)::int FROM ONLY ${t}) AS rows,
                (SELECT string_agg(inhrelid::regclass::text, ', ') FROM pg_inherits WHERE inhparent = '${t}'::regclass) AS child`,
      )
    )[0];

  it('reads each table where its config says, and says so', async () => {
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/\/agents +write ← desk\.agents, fdw\n/);
    expect(first.output).toMatch(/\/labels +write ← desk\.labels, replica\n/);
    expect(first.output).toMatch(/\/tickets +owner ← desk\.tickets, replica\n/);
    // agents: a table on custom of its own (rds's keys, for PostgREST) holding no rows, its foreign
    // table its child; tickets: the replica, every row.
    expect(await local('desk.agents')).toEqual({ rows: 0, child: 'rds_desk.agents' });
    expect(await local('desk.tickets')).toEqual({ rows: 1000, child: null });
    const status = await cli(['status', '--project', stack.project], { home: stack.home });
    expect(status.output).toMatch(/\/agents +desk\.agents +write +fdw /);
    expect(status.output).toMatch(/\/tickets +desk\.tickets +owner +replica /);
    // Each table's size on rds, and how long a replica table's last copy took.
    expect(status.output).toMatch(/\/labels +desk\.labels +write +replica +~5 rows, 16 kB +[\d.]+ s /);
    expect(status.output).toMatch(/\/agents +desk\.agents +write +fdw +~10 rows, 16 kB +- /);
  });

  it('embeds a replica table in a foreign one and back', async () => {
    // Ticket 3's assignee, Agent 4, read through postgres_fdw, by PostgREST's own spelling and by pgapp's.
    expect(
      (await call(null, 'GET', '/tickets?select=id,assignee_id(name),assignee(name)&id=in.(2,3)&order=id'))
        .body,
    ).toEqual([
      { id: 2, assignee_id: { name: 'Agent 3' }, assignee: { name: 'Agent 3' } },
      { id: 3, assignee_id: { name: 'Agent 4' }, assignee: { name: 'Agent 4' } },
    ]);
    expect(
      (
        await call(
          null,
          'GET',
          '/agents?select=name,tickets(id)&name=eq.Agent%204&tickets.order=id&tickets.limit=2',
        )
      ).body,
    ).toEqual([{ name: 'Agent 4', tickets: [{ id: 3 }, { id: 13 }] }]);
    // explain says where each table was read.
    const e = await cli(
      ['explain', '--project', stack.project, '/tickets?select=id,assignee_id(name)&id=eq.3'],
      {
        home: stack.home,
      },
    );
    expect(e.output).toMatch(/desk\.tickets +replica/);
    expect(e.output).toMatch(/desk\.agents +rds/);
  });

  it('writes land in rds and read back at once, and references to them are checked where the API reads them', async () => {
    const made = [];
    for (const subject of ['first', 'second']) {
      const r = await call('ann', 'POST', '/tickets', { subject, body: `${subject} body` });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      made.push(r.body[0].id as number);
    }
    for (const id of made) {
      const patched = await call('ann', 'PATCH', `/tickets?id=eq.${id}`, { body: `changed ${id}` });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      // The writer's next request sees the write.
      expect((await call('ann', 'GET', `/tickets?id=eq.${id}&select=id,body,owner_id`)).body).toEqual([
        { id, body: `changed ${id}`, owner_id: 'ann' },
      ]);
    }
    // A reference to one: the owner's is accepted at once, another user's refused (row-level security,
    // which reads tickets where the API does: the replica).
    const kb = (sub: string, body: unknown) =>
      fetch(stack.api('/articles'), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${makeToken(stack.secrets.jwtSecret, { role: 'web_user', expiresIn: 600, claims: { sub } })}`,
          'Content-Type': 'application/json',
          'Content-Profile': 'kb',
        },
        body: JSON.stringify(body),
      });
    for (const id of made) {
      expect((await kb('ann', { title: `on ${id}`, ticket_id: id })).status).toBe(201);
      expect((await kb('bo', { title: `on ${id}`, ticket_id: id })).status).toBe(403);
    }
    // `pgapp explain` of a write: a dry run, rolled back on custom and rds, that says what it sends
    // to rds: one statement (with postgres_fdw's START and COMMIT, three round trips).
    const articles = () => query(stack.rds(), 'SELECT count(*)::int AS n FROM kb.articles');
    const before = await articles();
    const dry = await cli(
      [
        'explain',
        '--project',
        stack.project,
        '/articles',
        '--method',
        'POST',
        '--profile',
        'kb',
        '--body',
        JSON.stringify({ title: 'a dry run', ticket_id: made[0] }),
        '--claims',
        '{"sub":"ann"}',
        '--json',
      ],
      { home: stack.home },
    );
    expect(dry.code, dry.output).toBe(0);
    const explained = JSON.parse(dry.stdout);
    expect(explained).toMatchObject({ method: 'POST', status: 201, answerRows: 1 });
    expect(explained.bridge).toEqual({ writes: ['kb.articles'], roundTrips: 3 });
    expect(await articles()).toEqual(before);
    const gone = await call('ann', 'DELETE', `/tickets?id=in.(${made.join(',')})`);
    expect(gone.status).toBe(200);
    expect((await call('ann', 'GET', `/tickets?id=in.(${made.join(',')})`)).body).toEqual([]);
  });

  it('refuses a replica of part of a table ("where", "columns"), saying why and what to do, changing nothing', async () => {
    configure((c) => {
      c.tables['desk.tickets'] = { where: 'id % 2 = 0' };
    });
    const r = await stack.dev();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"tables"."desk.tickets" has "where", which pgapp no longer takes');
    expect(r.stderr).toMatch(/hint: A replica holds the whole table .*"reads": "fdw"/);
    configure((c) => {
      delete c.tables['desk.tickets'];
    });
    expect(await local('desk.tickets')).toEqual({ rows: 1000, child: null });
  });

  it('does not copy a table over copyLimit without a yes; --yes copies it, and nothing else', async () => {
    const before = await synced();
    configure((c) => {
      c.tables['desk.agents'] = { ...c.tables['desk.agents'], reads: 'replica' };
      c.copyLimit = '1kB';
    });
    const r = await stack.dev();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /desk\.agents \(~10 rows, 16 kB\) is over copyLimit \(1\.0 kB\): not copied to the replica without a yes/,
    );
    expect(r.stderr).toMatch(/pass --yes .*"reads": "fdw"/s);
    expect(await local('desk.agents')).toEqual({ rows: 0, child: 'rds_desk.agents' });
    // The API is as it was.
    expect((await call(null, 'GET', '/agents?select=name&name=eq.Agent%201')).body).toEqual([
      { name: 'Agent 1' },
    ]);

    const yes = await stack.dev(['--yes']);
    expect(yes.code, yes.output).toBe(0);
    expect(yes.output).toMatch(
      /Replica custom ← rds \(logical replication\): 7 tables, subscription refreshed, 1 new/,
    );
    expect(yes.output).toMatch(/\/agents +write ← desk\.agents, replica\n/);
    expect(await local('desk.agents')).toEqual({ rows: 10, child: null });
    const after = await synced();
    for (const [t, lsn] of Object.entries(before)) expect(after[t], t).toBe(lsn);
  });

  it('switching a table to postgres_fdw drops its copy alone; back to the replica copies it again, alone', async () => {
    const before = await synced();
    configure((c) => {
      c.tables['desk.labels'] = { ...c.tables['desk.labels'], reads: 'fdw' };
    });
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect(await local('desk.labels')).toEqual({ rows: 0, child: 'rds_desk.labels' });
    expect((await call(null, 'GET', '/labels?select=name&order=id&limit=2')).body).toEqual([
      { name: 'bug' },
      { name: 'question' },
    ]);
    let after = await synced();
    for (const [t, lsn] of Object.entries(before)) if (t !== 'desk.labels') expect(after[t], t).toBe(lsn);
    expect(after['desk.labels']).toBeUndefined();
    configure((c) => {
      c.tables['desk.labels'] = { ...c.tables['desk.labels'], reads: 'replica' };
    });
    const back = await stack.dev(['--yes']); // over the copyLimit the test before set
    expect(back.code, back.output).toBe(0);
    expect(back.output).toMatch(/subscription refreshed, 1 new/);
    expect(await local('desk.labels')).toEqual({ rows: 5, child: null });
    after = await synced();
    for (const [t, lsn] of Object.entries(before)) if (t !== 'desk.labels') expect(after[t], t).toBe(lsn);
  });

  it.skipIf(!terminal)(
    `on a terminal, asks before a copy over copyLimit, and a yes copies it${terminal ? '' : ' — SKIPPED: no script(1) to give the CLI a terminal (util-linux)'}`,
    async () => {
      configure((c) => {
        c.tables['desk.settings'] = { reads: 'fdw' };
      });
      expect((await stack.dev()).code).toBe(0);
      // Made again for postgres_fdw, the table keeps the project's own rule (db/custom: no secret row).
      const shown = [{ key: 'greeting' }, { key: 'hours' }];
      expect((await call(null, 'GET', '/settings?order=key&select=key')).body).toEqual(shown);
      configure((c) => {
        c.tables['desk.settings'] = { reads: 'replica' };
      });
      // A real pseudo-terminal (util-linux's script), no CI variable: what a person at a shell has. The
      // flags answer the other questions a terminal gets (what the config file leaves unset).
      const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
      const command = [
        process.execPath,
        TSX,
        CLI,
        'dev',
        '--project',
        stack.project,
        ...stack.args,
        '--cron-jobs',
        '--reads',
        'replica',
        '--seed',
        'small',
      ]
        .map(quote)
        .join(' ');
      const { CI: _ci, ...env } = process.env;
      const child = spawn('script', ['-qfec', command, '/dev/null'], {
        cwd: stack.home,
        env: { ...env, PGAPP_HOME: stack.home, NO_COLOR: '1' },
      });
      let screen = '';
      let answered = false;
      child.stdout.on('data', (d) => {
        screen += d;
        if (!answered && /Copy desk\.settings \(~3 rows, 16 kB\) to the replica\?/.test(screen)) {
          answered = true;
          child.stdin.write('y');
          setTimeout(() => child.stdin.write('\r'), 200);
        }
      });
      const stop = setTimeout(() => child.kill('SIGKILL'), 120_000); // a question nobody answers
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(stop);
      expect(answered, screen).toBe(true);
      expect(code, screen).toBe(0);
      expect(await query(stack.custom(), 'SELECT count(*)::int AS n FROM desk.settings')).toEqual([{ n: 3 }]);
      expect((await call(null, 'GET', '/settings?order=key&select=key')).body).toEqual(shown);
    },
  );
});
