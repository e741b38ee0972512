/**
 * What to copy, table by table: the desk fixture with a table read through postgres_fdw beside the
 * replica, a replica that holds a part of its table (a row filter and a column list) while the API
 * still serves every row and column, writes read back at once inside and outside the filter, the
 * size gate without a terminal, and a table switched between modes on the next `dev` with nothing
 * else copied again.
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
      // Even tickets, without their body: the rest is rds's to serve.
      c.tables['desk.tickets'] = {
        where: 'id % 2 = 0',
        columns: ['id', 'subject', 'priority', 'assignee_id', 'meta', 'opened_at', 'owner_id'],
      };
    });
    first = await stack.dev();
  });
  afterAll(async () => {
    await stack.reset();
  });

  it('reads each table where its config says, and says so', async () => {
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/\/agents +write ← desk\.agents, fdw\n/);
    expect(first.output).toMatch(/\/labels +write ← desk\.labels, replica\n/);
    expect(first.output).toMatch(
      /\/tickets +owner ← desk\.tickets, replica \(where \(\(id % .*\) = 0\), without body; the rest from rds\)/,
    );
    // No local copy of agents; tickets' holds the even rows, without body.
    const [local] = await query<{ agents: string | null; rows: number; even: boolean; body: boolean }>(
      stack.custom(),
      `SELECT to_regclass('desk.agents')::text AS agents, count(*)::int AS rows, bool_and(id % 2 = 0) AS even,
              EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'desk.tickets'::regclass AND attname = 'body') AS body
       FROM desk.tickets`,
    );
    expect(local).toEqual({ agents: null, rows: 500, even: true, body: false });
    const status = await cli(['status', '--project', stack.project], { home: stack.home });
    expect(status.output).toMatch(/\/agents +desk\.agents +write +fdw /);
    expect(status.output).toMatch(
      /\/tickets +desk\.tickets +owner +replica \(where .*without body; the rest from rds\)/,
    );
    // Each table's size on rds, and how long a replica table's last copy took.
    expect(status.output).toMatch(/\/labels +desk\.labels +write +replica +~5 rows, 16 kB +[\d.]+ s /);
    expect(status.output).toMatch(/\/agents +desk\.agents +write +fdw +~10 rows, 16 kB +- /);
  });

  it('embeds a replica table in a foreign one and back, inside and outside the filter', async () => {
    // Ticket 3 is odd (rds's), its assignee Agent 4 read through postgres_fdw.
    expect((await call(null, 'GET', '/tickets?select=id,assignee(name)&id=in.(2,3)&order=id')).body).toEqual([
      { id: 2, assignee: { name: 'Agent 3' } },
      { id: 3, assignee: { name: 'Agent 4' } },
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
      ['explain', '--project', stack.project, '/tickets?select=id,assignee(name)&id=eq.3'],
      {
        home: stack.home,
      },
    );
    expect(e.output).toMatch(/desk\.tickets +replica \+ rds/);
    expect(e.output).toMatch(/desk\.agents +rds/);
  });

  it('serves every row and column of a filtered table: what the replica leaves out comes from rds', async () => {
    expect((await call(null, 'GET', '/tickets?select=id,body&id=in.(2,3)&order=id')).body).toEqual([
      { id: 2, body: 'Something about order 14' },
      { id: 3, body: 'Something about order 21' },
    ]);
    const counted = await fetch(stack.api('/tickets?select=id&limit=1'), {
      headers: { Prefer: 'count=exact' },
    });
    expect(counted.headers.get('content-range')).toBe('0-0/1000');
    // A page: rds is asked for its side in the request's order, not for every row outside the filter.
    const page = await cli(
      ['explain', '--project', stack.project, '/tickets?select=id&order=id&limit=10&id=gt.100'],
      { home: stack.home },
    );
    expect(page.code, page.output).toBe(0);
    expect(page.output).toMatch(/ORDER BY id ASC/);
    expect(Number(/([\d,]+) rows fetched\)/.exec(page.output)?.[1]?.replace(/,/g, ''))).toBeLessThanOrEqual(
      10,
    );
    // A filter on another column: the even rows from the replica, the odd ones from rds.
    const odd = await call(null, 'GET', '/tickets?select=id&priority=eq.low&id=lt.20&order=id');
    expect(odd.body).toEqual([{ id: 3 }, { id: 6 }, { id: 9 }, { id: 12 }, { id: 15 }, { id: 18 }]);
  });

  it('writes land in rds and read back at once, inside and outside the filter, and references to them are checked on both sides', async () => {
    const made = [];
    for (const subject of ['first', 'second']) {
      const r = await call('ann', 'POST', '/tickets', { subject, body: `${subject} body` });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      made.push(r.body[0].id as number);
    }
    // Consecutive ids: one inside the filter (even), one outside.
    expect(new Set(made.map((id) => id % 2))).toEqual(new Set([0, 1]));
    for (const id of made) {
      const patched = await call('ann', 'PATCH', `/tickets?id=eq.${id}`, { body: `changed ${id}` });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      // The writer's next request sees the write, wherever the row lives.
      expect((await call('ann', 'GET', `/tickets?id=eq.${id}&select=id,body,owner_id`)).body).toEqual([
        { id, body: `changed ${id}`, owner_id: 'ann' },
      ]);
    }
    const even = made.find((id) => id % 2 === 0);
    expect(
      await query(stack.custom(), 'SELECT id FROM desk.tickets WHERE id = ANY ($1) ORDER BY id', [made]),
    ).toEqual([{ id: even }]);
    // A reference to either is checked where the API reads tickets (the replica and rds beside it):
    // the owner's is accepted at once, another user's answers as a ticket that does not exist.
    for (const id of made) {
      const mine = await call('ann', 'POST', '/articles', { title: `on ${id}`, ticket_id: id });
      expect(mine.status, JSON.stringify(mine.body)).toBe(201);
      const theirs = await call('bo', 'POST', '/articles', { title: `on ${id}`, ticket_id: id });
      expect(theirs.status).toBe(409);
      expect(theirs.body.message).toBe(`ticket ${id} does not exist`);
    }
    // `pgapp explain` of a write: a dry run, rolled back on custom and rds, that says what it sends to
    // rds and where it looks each reference up (a filtered replica: the replica, and rds past it).
    const articles = () => query(stack.rds(), 'SELECT count(*)::int AS n FROM kb.articles');
    const before = await articles();
    const odd = made.find((id) => id % 2 === 1);
    const dry = await cli(
      [
        'explain',
        '--project',
        stack.project,
        '/articles',
        '--method',
        'POST',
        '--body',
        JSON.stringify({ title: 'a dry run', ticket_id: odd }),
        '--claims',
        '{"sub":"ann"}',
        '--json',
      ],
      { home: stack.home },
    );
    expect(dry.code, dry.output).toBe(0);
    const explained = JSON.parse(dry.stdout);
    expect(explained).toMatchObject({ method: 'POST', status: 201, answerRows: 1 });
    expect(explained.bridge).toEqual({
      writes: ['kb.articles'],
      checks: [{ table: 'desk.tickets', on: 'replica + rds' }],
      roundTrips: 2 + 1 + 3,
    });
    expect(await articles()).toEqual(before);
    const gone = await call('ann', 'DELETE', `/tickets?id=in.(${made.join(',')})`);
    expect(gone.status).toBe(200);
    expect((await call('ann', 'GET', `/tickets?id=in.(${made.join(',')})`)).body).toEqual([]);
  });

  it('refuses a filter that would stop UPDATE and DELETE on rds, changing nothing', async () => {
    configure((c) => {
      (c.tables['desk.tickets'] as Record<string, unknown>).where = "subject <> ''";
    });
    const r = await stack.dev();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('rds would refuse UPDATE and DELETE on desk.tickets with that replica');
    expect(r.stderr).toMatch(
      /hint: Filter on its key's columns, or give it REPLICA IDENTITY FULL in a migration/,
    );
    expect(
      await query(
        stack.rds(),
        `SELECT rowfilter FROM pg_publication_tables WHERE pubname = 'pgapp' AND tablename = 'tickets'`,
      ),
    ).toEqual([{ rowfilter: '((id % (2)::bigint) = 0)' }]);
    // rds still takes updates of that table.
    const r2 = await call('ann', 'POST', '/tickets', { subject: 'still' });
    expect(r2.status).toBe(201);
    expect((await call('ann', 'PATCH', `/tickets?id=eq.${r2.body[0].id}`, { subject: 'yes' })).status).toBe(
      200,
    );
    await call('ann', 'DELETE', `/tickets?id=eq.${r2.body[0].id}`);
    configure((c) => {
      (c.tables['desk.tickets'] as Record<string, unknown>).where = 'id % 2 = 0';
    });
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
    expect(r.stderr).toMatch(/pass --yes .*"reads": "fdw".*"where"/s);
    expect(await query(stack.custom(), `SELECT to_regclass('desk.agents')::text AS t`)).toEqual([
      { t: null },
    ]);
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
    expect(await query(stack.custom(), 'SELECT count(*)::int AS n FROM desk.agents')).toEqual([{ n: 10 }]);
    const after = await synced();
    for (const [t, lsn] of Object.entries(before)) expect(after[t], t).toBe(lsn);
  });

  it('switching a table to postgres_fdw drops its copy alone; a new filter copies that table again, alone', async () => {
    const before = await synced();
    configure((c) => {
      c.tables['desk.labels'] = { ...c.tables['desk.labels'], reads: 'fdw' };
      (c.tables['desk.tickets'] as Record<string, unknown>).where = 'id > 900';
    });
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/subscription refreshed, 1 copied again \(desk\.tickets\)/);
    expect(await query(stack.custom(), `SELECT to_regclass('desk.labels')::text AS t`)).toEqual([
      { t: null },
    ]);
    expect((await call(null, 'GET', '/labels?select=name&order=id&limit=2')).body).toEqual([
      { name: 'bug' },
      { name: 'question' },
    ]);
    expect(
      await query(stack.custom(), 'SELECT count(*)::int AS n, min(id)::int AS min FROM desk.tickets'),
    ).toEqual([{ n: 100, min: 901 }]);
    expect((await call(null, 'GET', '/tickets?select=id,body&id=eq.3')).body).toEqual([
      { id: 3, body: 'Something about order 21' },
    ]);
    const after = await synced();
    for (const [t, lsn] of Object.entries(before))
      if (t !== 'desk.labels' && t !== 'desk.tickets') expect(after[t], t).toBe(lsn);
    expect(after['desk.labels']).toBeUndefined();
  });

  it('a row that an update moves out of the filter (REPLICA IDENTITY FULL) is read back at once, from rds', async () => {
    writeFileSync(
      join(stack.home, 'db', 'rds', 'migrations', '020_labels_identity.sql'),
      'ALTER TABLE desk.labels REPLICA IDENTITY FULL;\n',
    );
    configure((c) => {
      c.tables['desk.labels'] = { ...c.tables['desk.labels'], reads: 'replica', where: "color <> 'grey'" };
    });
    const r = await stack.dev(['--yes']);
    expect(r.code, r.output).toBe(0);
    expect(await query(stack.custom(), 'SELECT name FROM desk.labels ORDER BY id')).toEqual([
      { name: 'bug' },
      { name: 'question' },
      { name: 'billing' },
      { name: 'urgent' },
    ]);
    // Out of the filter and back in: the writer reads each state at once.
    for (const color of ['grey', 'purple']) {
      const patched = await call('ann', 'PATCH', '/labels?name=eq.bug', { color });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect((await call('ann', 'GET', '/labels?name=eq.bug&select=name,color')).body).toEqual([
        { name: 'bug', color },
      ]);
    }
    expect(await query(stack.custom(), "SELECT color FROM desk.labels WHERE name = 'bug'")).toEqual([
      { color: 'purple' },
    ]);
  });

  it.skipIf(!terminal)(
    `on a terminal, asks before a copy over copyLimit, and a yes copies it${terminal ? '' : ' — SKIPPED: no script(1) to give the CLI a terminal (util-linux)'}`,
    async () => {
      configure((c) => {
        c.tables['desk.settings'] = { reads: 'fdw' };
      });
      expect((await stack.dev()).code).toBe(0);
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
    },
  );
});
