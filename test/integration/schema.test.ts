/**
 * Your schema, not a demo: a project of its own (test/fixtures/desk, a ticket desk in two schemas,
 * nothing like the CRM example) brought up by the real CLI, its whole API made from rds's catalog —
 * in both read modes the same endpoints (each schema a profile), embeds from foreign keys, writes
 * with read-your-writes, per-user rows for the tables that have an owner and the default for those
 * that do not, the project's own rule, types that compile, a schema change on the next `dev` — and
 * every answer of the desk corpus equal to PostgREST's pointed straight at rds (the oracle).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeToken } from '../../src/auth/jwt.ts';
import { NO_CUSTOM } from '../../src/config/custom.ts';
import { DEFAULTS } from '../../src/config/schema.ts';
import { ensurePgImage } from '../../src/docker/pg-images.ts';
import { PACKAGE_ROOT } from '../../src/paths.ts';
import {
  apiClient,
  cli,
  portFlags,
  query,
  replicaCaughtUp,
  startPg,
  type Throwaway,
  ThrowawayStack,
  tempHome,
  throwawayProjectName,
  typeCheckDir,
} from '../helpers.ts';
import { deskCorpus } from '../oracle/corpus/desk.ts';
import { oracleOnStack, runCorpus } from '../oracle/harness.ts';
import { expectOracleEqual, oracleRun } from '../oracle/stack.ts';

const postgrest = inject('postgrest');
const title = postgrest.available
  ? 'your own schema (the desk fixture)'
  : `your own schema (the desk fixture) — SKIPPED: ${postgrest.reason}`;

export const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'desk');

describe.skipIf(!postgrest.available)(title, () => {
  const stack = new ThrowawayStack('desk');
  const token = (sub: string) =>
    makeToken(stack.secrets.jwtSecret, { role: 'web_user', expiresIn: 600, claims: { sub } });
  const as = (sub: string | null) =>
    apiClient(
      () => stack.api(),
      () => (sub ? token(sub) : null),
    );
  const call = async (sub: string | null, method: string, path: string, body?: unknown, profile?: string) => {
    const res = profile
      ? await fetch(stack.api(path), {
          method,
          headers: {
            ...(sub ? { Authorization: `Bearer ${token(sub)}` } : {}),
            'Content-Type': 'application/json',
            Prefer: 'return=representation',
            [method === 'GET' ? 'Accept-Profile' : 'Content-Profile']: profile,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
      : await as(sub)(method, path, body);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  let first: { code: number | null; output: string };

  beforeAll(async () => {
    cpSync(FIXTURE, stack.home, { recursive: true });
    first = await stack.dev();
  });
  afterAll(async () => {
    await stack.reset();
  });

  it('mirrors the schemas it names, with the types and the extension they use', async () => {
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain('schemas desk, kb');
    expect(first.output).toContain('8 foreign tables (8 new)');
    // A column of an enum, a domain and pgvector's type, on custom as on rds.
    const types = await query<{ t: string }>(
      stack.custom(),
      `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute
       WHERE attrelid IN ('desk.tickets'::regclass, 'desk.agents'::regclass, 'kb.articles'::regclass)
         AND attname IN ('priority', 'email', 'embedding') ORDER BY 1`,
    );
    expect(types.map((r) => r.t)).toEqual(['desk.email', 'desk.priority', 'vector(3)']);
    // What each table became: its own name, in its schema's profile.
    expect(first.output).toMatch(/\/Audit Log +read \(read-only\) ← desk\.Audit Log, fdw/);
    expect(first.output).toMatch(/\/labels \(profile kb\) +read \(read-only\) ← kb\.labels, replica/);
    // rds's view: made on custom over the replica's tables (local speed), read-only by default.
    expect(first.output).toMatch(/\/ticket_board +read \(read-only\) ← desk\.ticket_board \(view\), replica/);
    expect(first.output).toContain('✔ PostgREST POST → rds');
  });

  for (const reads of ['replica', 'fdw'] as const) {
    describe(`reads: ${reads}`, () => {
      let alice: number;
      beforeAll(async () => {
        if (reads === 'fdw') {
          const r = await stack.dev(['--reads', 'fdw']);
          expect(r.code, r.output).toBe(0);
          expect(r.output).toContain('Replica: off (reads: fdw; subscription dropped)');
        }
      });

      it('answers every request of the desk corpus as PostgREST on rds does (the oracle)', async () => {
        expectOracleEqual(`desk, reads: ${reads}`, await oracleRun(stack, reads, deskCorpus()));
      });

      it("embeds what rds's foreign keys relate: to-one, to-many, a self-reference, many-to-many, across schemas", async () => {
        const agents = await call(
          null,
          'GET',
          '/agents?select=name,lead(name),agents(name)&name=eq.Agent%201&agents.order=name',
        );
        expect(agents.status).toBe(200);
        expect(agents.body[0]).toEqual({
          name: 'Agent 1',
          lead: null,
          agents: [{ name: 'Agent 2' }, { name: 'Agent 3' }, { name: 'Agent 4' }],
        });
        const tickets = await call(
          null,
          'GET',
          '/tickets?select=id,priority,meta,assignee(name),labels(name)&id=eq.2&labels.order=name',
        );
        expect(tickets.body).toEqual([
          {
            id: 2,
            priority: 'high',
            meta: { channel: 'phone', order: 14 },
            assignee: { name: 'Agent 3' },
            labels: [{ name: 'billing' }, { name: 'urgent' }],
          },
        ]);
        const labels = await call(
          null,
          'GET',
          '/labels?select=name,tickets(id)&name=eq.bug&tickets.order=id&tickets.limit=2',
        );
        expect(labels.body).toEqual([{ name: 'bug', tickets: [{ id: 5 }, { id: 10 }] }]);
        // kb's profile: its own labels (desk has labels too); across schemas (kb.articles →
        // desk.tickets) by pgapp's extra name, as PostgREST relates tables within a schema only.
        const articles = await call(
          null,
          'GET',
          '/articles?select=id,words,embedding,ticket(subject),labels(tag)&id=eq.2',
          undefined,
          'kb',
        );
        expect(articles.body).toEqual([
          {
            id: 2,
            words: 7,
            embedding: '[2,2,2]',
            ticket: { subject: 'Ticket 10' },
            labels: [{ tag: 'reference' }],
          },
        ]);
        // A table without a key, whose name needs quoting: read-only, through postgres_fdw.
        const audit = await call(null, 'GET', '/Audit%20Log?ticket_id=eq.3');
        expect(audit.body).toEqual([{ at: '2025-01-01T08:21:00+00:00', ticket_id: 3, action: 'opened' }]);
      });

      it('writes every key kind, with defaults as on rds, and reads them back at once', async () => {
        // bigserial, an enum's default, jsonb; the clock and the owner are rds's and the token's.
        const t = await call('alice', 'POST', '/tickets', {
          subject: `alice ${reads}`,
          meta: { via: 'api' },
        });
        expect(t.status, JSON.stringify(t.body)).toBe(201);
        alice = t.body[0].id;
        expect(t.body[0]).toMatchObject({ priority: 'normal', meta: { via: 'api' }, owner_id: 'alice' });
        expect(Date.now() - Date.parse(t.body[0].opened_at)).toBeLessThan(60_000);
        expect((await call('alice', 'GET', `/tickets?id=eq.${alice}&select=subject`)).body).toEqual([
          { subject: `alice ${reads}` },
        ]);
        // An update sends only what changed: the key and the clock column keep rds's values.
        const patched = await call('alice', 'PATCH', `/tickets?id=eq.${alice}`, { priority: 'high' });
        expect(patched.body[0]).toMatchObject({
          id: alice,
          priority: 'high',
          opened_at: t.body[0].opened_at,
        });
        // uuid: the default makes one, or the client names it.
        const a1 = await call('alice', 'POST', '/agents', {
          email: `a-${reads}@desk.example`,
          name: 'New',
          skills: ['x'],
        });
        expect(a1.status).toBe(201);
        expect(a1.body[0].id).toMatch(/^[0-9a-f-]{36}$/);
        const id =
          reads === 'replica'
            ? '11111111-1111-4111-8111-111111111111'
            : '22222222-2222-4222-8222-222222222222';
        const a2 = await call('alice', 'POST', '/agents', {
          id,
          email: `b-${reads}@desk.example`,
          name: 'Named',
          lead_id: a1.body[0].id,
        });
        expect(a2.body[0]).toMatchObject({ id, lead_id: a1.body[0].id });
        expect((await call(null, 'GET', `/agents?id=eq.${id}&select=lead(name)`)).body).toEqual([
          { lead: { name: 'New' } },
        ]);
        // identity ALWAYS: rds's id; one from the client is refused as PostgREST on rds refuses it.
        const l = await call('alice', 'POST', '/labels', { name: `label-${reads}` });
        expect(l.status).toBe(201);
        expect(l.body[0]).toMatchObject({ id: expect.any(Number), color: 'grey' });
        const chosen = await call('alice', 'POST', '/labels', { id: 999, name: 'x' });
        expect(chosen.status).toBe(400);
        expect(chosen.body.code).toBe('428C9');
        // A composite key: the many-to-many row, made and removed by both its columns.
        const link = await call('alice', 'POST', '/ticket_labels', {
          ticket_id: alice,
          label_id: l.body[0].id,
        });
        expect(link.status).toBe(201);
        expect((await call(null, 'GET', `/tickets?id=eq.${alice}&select=labels(name)`)).body).toEqual([]);
        expect((await call('alice', 'GET', `/tickets?id=eq.${alice}&select=labels(name)`)).body).toEqual([
          { labels: [{ name: `label-${reads}` }] },
        ]);
        const unlinked = await call(
          'alice',
          'DELETE',
          `/ticket_labels?ticket_id=eq.${alice}&label_id=eq.${l.body[0].id}`,
        );
        expect(unlinked.body).toHaveLength(1);
        // A generated column and a vector: rds computes the one, keeps the other.
        const art = await call(
          'alice',
          'POST',
          '/articles',
          { title: 'x', body: 'one two three', embedding: '[1,2,3]', ticket_id: alice },
          'kb',
        );
        expect(art.status, JSON.stringify(art.body)).toBe(201);
        expect(art.body[0]).toMatchObject({ words: 3, embedding: '[1,2,3]', owner_id: 'alice' });
        // A value for the generated column: refused (rds's 400 over the replica, where the column is
        // generated here too; 403 through postgres_fdw, where it is not: README, answers that differ).
        expect((await call('alice', 'POST', '/articles', { title: 'x', words: 3 }, 'kb')).status).toBe(
          reads === 'replica' ? 400 : 403,
        );
        // Rows written straight on rds reach the API, and the rows written here are on rds.
        const [onRds] = await query<{ n: number }>(
          stack.rds(),
          'SELECT count(*)::int AS n FROM desk.tickets WHERE id = $1',
          [alice],
        );
        expect(onRds?.n).toBe(1);
      });

      it('keeps per-user rows for the tables with an owner: two users and anonymous', async () => {
        expect((await call('bob', 'GET', `/tickets?id=eq.${alice}`)).body).toEqual([]);
        expect((await call(null, 'GET', `/tickets?id=eq.${alice}`)).body).toEqual([]);
        // Nor through rds's view over the table (desk.ticket_board): it reads under the caller's rules.
        expect((await call('alice', 'GET', `/ticket_board?id=eq.${alice}&select=id`)).body).toEqual([
          { id: alice },
        ]);
        expect((await call('bob', 'GET', `/ticket_board?id=eq.${alice}`)).body).toEqual([]);
        expect((await call(null, 'GET', `/ticket_board?id=eq.${alice}`)).body).toEqual([]);
        const board = await call('bob', 'GET', '/ticket_board?select=owner_id&owner_id=not.is.null');
        expect(board.body.every((r: { owner_id: string }) => r.owner_id === 'bob')).toBe(true);
        // A reference to someone else's private row: row-level security refuses it (as it would on rds).
        const ref = await call('bob', 'POST', '/articles', { title: 'x', ticket_id: alice }, 'kb');
        expect(ref.status).toBe(403);
        expect(ref.body.message).toBe('new row violates row-level security policy for table "articles"');
        expect((await call('bob', 'PATCH', `/tickets?id=eq.${alice}`, { priority: 'low' })).body).toEqual([]);
        expect((await call('bob', 'DELETE', `/tickets?id=eq.${alice}`)).body).toEqual([]);
        // Shared rows (no owner): everyone reads them, no API user changes them.
        expect((await call('bob', 'GET', '/tickets?id=eq.1&select=id')).body).toEqual([{ id: 1 }]);
        expect((await call('alice', 'PATCH', '/tickets?id=eq.1', { priority: 'low' })).body).toEqual([]);
        // The owner can, and the delete reaches rds (its articles' references are set NULL there).
        expect((await call('alice', 'DELETE', `/tickets?id=eq.${alice}`)).body).toHaveLength(1);
        expect(await query(stack.rds(), 'SELECT 1 FROM desk.tickets WHERE id = $1', [alice])).toEqual([]);
      });

      it('gives tables without an owner the default, read, unless the project says otherwise', async () => {
        // kb.labels: read for everyone, writes for nobody (401 anonymous, 403 signed in).
        expect((await call(null, 'GET', '/labels?limit=1', undefined, 'kb')).status).toBe(200);
        expect((await call(null, 'POST', '/labels', { article_id: 1, tag: 'x' }, 'kb')).status).toBe(401);
        expect((await call('alice', 'POST', '/labels', { article_id: 1, tag: 'x' }, 'kb')).status).toBe(403);
        // desk.labels: "write" in pgapp.config.json — web_user writes, web_anon still only reads.
        expect((await call(null, 'POST', '/labels', { name: 'anon' })).status).toBe(401);
        // "Audit Log" is "read" (the default): nobody writes it.
        expect((await call('alice', 'POST', '/Audit%20Log', { action: 'x' })).status).toBe(403);
        // The project's own rule (db/custom: row-level security on custom's table): no secret row.
        expect((await call(null, 'GET', '/settings?order=key&select=key,value')).body).toEqual([
          { key: 'greeting', value: 'Hello, how can we help?' },
          { key: 'hours', value: { open: 8, close: 18 } },
        ]);
      });
    });
  }

  it('types from the api compile with @supabase/postgrest-js, and a misspelt column does not', async () => {
    const program = typeCheckDir('desk-types-');
    try {
      const out = join(program.dir, 'database.types.ts');
      const r = await cli(['gen', 'types', '--project', stack.project, '--out', out], { home: stack.home });
      expect(r.code, r.output).toBe(0);
      const types = readFileSync(out, 'utf8');
      expect(types).toContain('"Audit Log"');
      // Each profile its schema, each table its foreign keys (PostgREST's relationships).
      expect(types).toMatch(/\n {2}desk: \{/);
      expect(types).toMatch(/\n {2}kb: \{/);
      expect(types).toContain('foreignKeyName: "tickets_assignee_id_fkey"');
      expect(types).toMatch(/priority: "low" \| "normal" \| "high"/);
      const tsc = (body: string) =>
        program.check(
          [
            "import { PostgrestClient } from '@supabase/postgrest-js';",
            "import type { Database } from './database.types.ts';",
            // Two schemas: the client names the one it speaks to (the default profile), as postgrest-js has it.
            "const db = new PostgrestClient<Database, {}, 'desk'>('http://127.0.0.1', { schema: 'desk' });",
            'export async function main() {',
            body,
            '}',
          ].join('\n'),
        );
      expect(
        await tsc(
          [
            "  const t = await db.from('tickets').select('id, subject, priority, assignee(name), labels(name)').eq('priority', 'high');",
            "  const p: 'low' | 'normal' | 'high' | undefined = t.data?.[0]?.priority;",
            "  await db.from('agents').insert({ email: 'a@b.c', name: 'x', skills: ['y'] });",
            "  const a = await db.schema('kb').from('articles').select('words, embedding, ticket_id');",
            '  return [p, a.data?.[0]?.words];',
          ].join('\n'),
        ),
      ).toBe('');
      expect(
        await tsc(
          "  const t = await db.from('tickets').select('id, subjct');\n  const s: string | undefined = t.data?.[0]?.subjct;\n  return s;",
        ),
      ).toMatch(/error TS/);
      // Columns rds fills are not the client's: not in Insert.
      expect(await tsc("  return db.from('labels').insert({ id: 1, name: 'x' });")).toMatch(/error TS/);
    } finally {
      program.remove();
    }
  });

  it('a schema change reaches the API on the next dev: a table, a column, a foreign key, an enum value, a dropped column and table', async () => {
    writeFileSync(
      join(stack.home, 'db', 'rds', 'migrations', '020_change.sql'),
      [
        "ALTER TYPE desk.priority ADD VALUE 'urgent' AFTER 'high';",
        'ALTER TABLE desk.tickets ADD COLUMN due date;',
        'CREATE TABLE desk.sla (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, ticket_id bigint NOT NULL REFERENCES desk.tickets, hours integer NOT NULL);',
        'INSERT INTO desk.sla (ticket_id, hours) VALUES (1, 4);',
        'ALTER TABLE kb.articles DROP COLUMN words;',
        'DROP TABLE kb.labels;',
      ].join('\n'),
    );
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    expect((await call(null, 'GET', '/sla?select=hours,ticket(id)')).body).toEqual([
      { hours: 4, ticket: { id: 1 } },
    ]);
    expect((await call(null, 'GET', '/tickets?id=eq.1&select=id,due,sla(hours)')).body).toEqual([
      { id: 1, due: null, sla: [{ hours: 4 }] },
    ]);
    const urgent = await call('carol', 'POST', '/tickets', { subject: 'now', priority: 'urgent' });
    expect(urgent.status, JSON.stringify(urgent.body)).toBe(201);
    expect((await call(null, 'GET', '/articles?select=words&limit=1', undefined, 'kb')).status).toBe(400);
    expect((await call(null, 'GET', '/labels', undefined, 'kb')).status).toBe(404);
    expect(r.output).toMatch(/foreign tables \(1 new, \d+ columns changed, 1 gone\)/);
  });

  it('writes every column in its own text form, whatever its type: hstore, timestamp, interval, float, jsonb, an array', async () => {
    // hstore's JSON form (an object) is not its text form: a write must not go through JSON.
    writeFileSync(
      join(stack.home, 'db', 'rds', 'migrations', '030_kinds.sql'),
      [
        'CREATE EXTENSION IF NOT EXISTS hstore;',
        'CREATE TABLE desk.kinds (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, tags hstore, at timestamp,',
        '  span interval, ratio double precision, doc jsonb, pair integer[]);',
      ].join('\n'),
    );
    const config = join(stack.home, 'pgapp.config.json');
    const c = JSON.parse(readFileSync(config, 'utf8'));
    c.tables['desk.kinds'] = { access: 'write' };
    writeFileSync(config, JSON.stringify(c, null, 2));
    const r = await stack.dev();
    expect(r.code, r.output).toBe(0);
    const row = {
      tags: '"a"=>"1", "b c"=>"x,y"',
      at: '2024-02-29T23:59:59.123456',
      span: '1 day 02:03:04',
      ratio: 0.1 + 0.2,
      doc: { nested: ['a', 1, null] },
      pair: [3, 4],
    };
    const made = await call('carol', 'POST', '/kinds', row);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const id = made.body[0].id as number;
    // What rds wrote, as PostgREST shows it (hstore as JSON, through its cast).
    expect(made.body[0]).toEqual({ id, ...row, tags: { a: '1', 'b c': 'x,y' } });
    const onRds = () =>
      query(
        stack.rds(),
        'SELECT tags::text, at::text, span::text, ratio, doc::text, pair::text FROM desk.kinds WHERE id = $1',
        [id],
      );
    expect(await onRds()).toEqual([
      {
        tags: '"a"=>"1", "b c"=>"x,y"',
        at: '2024-02-29 23:59:59.123456',
        span: '1 day 02:03:04',
        ratio: 0.30000000000000004,
        doc: '{"nested": ["a", 1, null]}',
        pair: '{3,4}',
      },
    ]);
    const patched = await call('carol', 'PATCH', `/kinds?id=eq.${id}`, { tags: 'k=>v' });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect((await onRds())[0]).toMatchObject({ tags: '"k"=>"v"', pair: '{3,4}' });
    expect((await call('carol', 'DELETE', `/kinds?id=eq.${id}`)).status).toBe(200);
    expect(await onRds()).toEqual([]);
  });

  it('a schema and table whose names need quoting: served as a profile, with embeds, on every dev', async () => {
    // pgapp's extra to-one name (`ticket` for ticket_id) is a function in the table's schema: once
    // made under a name quoted twice, so `dev`'s second pass could not find it to replace it.
    writeFileSync(
      join(stack.home, 'db', 'rds', 'migrations', '040_quoted.sql'),
      [
        'CREATE SCHEMA "Sales Team";',
        'CREATE TABLE "Sales Team"."Deal" ("Id" integer PRIMARY KEY, "Name" text NOT NULL,',
        '  ticket_id bigint REFERENCES desk.tickets, "parent" integer REFERENCES "Sales Team"."Deal");',
        `INSERT INTO "Sales Team"."Deal" VALUES (1, 'first', 1, NULL), (2, 'second', NULL, 1);`,
      ].join('\n'),
    );
    const config = join(stack.home, 'pgapp.config.json');
    const c = JSON.parse(readFileSync(config, 'utf8'));
    c.schemas = [...c.schemas, 'Sales Team'];
    writeFileSync(config, JSON.stringify(c, null, 2));
    for (const run of [1, 2]) {
      const r = await stack.dev();
      expect(r.code, `dev #${run}: ${r.output}`).toBe(0);
    }
    const deals = await call(
      null,
      'GET',
      '/Deal?select=Name,ticket(id),parent(Name)&order=Id',
      undefined,
      'Sales Team',
    );
    expect(deals.status, JSON.stringify(deals.body)).toBe(200);
    expect(deals.body).toEqual([
      { Name: 'first', ticket: { id: 1 }, parent: null },
      { Name: 'second', ticket: null, parent: { Name: 'first' } },
    ]);
  });
});

/**
 * --rds-url with any schema: the same fixture in `public` (and `kb`) of a plain Postgres — pgapp's
 * custom image, pgvector and all, standing in for somebody's database — bridged as it is: no `crm`,
 * nothing seeded by pgapp, the schemas found by themselves.
 */
describe.skipIf(!postgrest.available)(`${title}: over --rds-url, in public`, () => {
  const GATEWAY = '172.17.0.1';
  const home = tempHome();
  const project = throwawayProjectName('deskremote');
  let server: Throwaway;
  let ports: Awaited<ReturnType<typeof portFlags>>;
  const db = () => ({
    host: GATEWAY,
    port: server.port,
    user: 'postgres',
    password: 'extpw',
    database: 'theirs',
    ssl: { rejectUnauthorized: false },
  });
  const url = () => `postgres://postgres:extpw@${GATEWAY}:${server.port}/theirs`;

  beforeAll(async () => {
    const image = await ensurePgImage(
      'postgres',
      DEFAULTS.postgres,
      { progress: () => {}, confirm: async () => true },
      { extensions: ['vector'], custom: NO_CUSTOM },
    );
    server = await startPg(
      image.ref,
      { POSTGRES_PASSWORD: 'extpw', POSTGRES_DB: 'theirs', PGAPP_TLS: 'on' },
      ['-c', 'wal_level=logical'],
      GATEWAY,
    );
    // The fixture, with desk's tables in public.
    const inPublic = (sql: string) =>
      sql.replace(/CREATE SCHEMA desk;\n/, '').replace(/\bdesk\./g, 'public.');
    const client = new pg.Client(db());
    await client.connect();
    try {
      await client.query(`SELECT set_config('pgapp.seed_rows', '100', false)`);
      await client.query(
        inPublic(readFileSync(join(FIXTURE, 'db', 'rds', 'migrations', '010_desk.sql'), 'utf8')),
      );
      await client.query(
        inPublic(readFileSync(join(FIXTURE, 'db', 'rds', 'seed', '010_desk_seed.sql'), 'utf8')),
      );
    } finally {
      await client.end();
    }
    // Their database as it is now, for the oracle: PostgREST over a copy of it (nobody is connected yet).
    await query({ ...db(), database: 'postgres' }, 'CREATE DATABASE theirs_pristine TEMPLATE theirs');
    ports = await portFlags({ rds: false });
  });
  afterAll(async () => {
    await cli(['reset', '--yes', '--drop-remote', '--project', project, '--rds-url', url()], { home });
    await server?.stop();
  });

  it('mirrors every schema with tables (once custom has their extension), serves them with embeds, and writes land there', async () => {
    // Their columns use pgvector's type: a custom without the extension says what to add.
    const without = await cli(['dev', '--project', project, '--rds-url', url(), ...ports.args], { home });
    expect(without.code).toBe(1);
    expect(without.stderr).toContain("rds's tables use extension vector, which custom does not have");
    expect(without.stderr).toMatch(/hint: Add it to "extensions" in pgapp\.config\.json/);
    const r = await cli(
      ['dev', '--project', project, '--rds-url', url(), '--extensions', 'vector', ...ports.args],
      { home },
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(
      // pgapp_bridge was made by the run before, which stopped at custom's bridge.
      'Remote rds: bridge only (no migrations, no seed): nothing to apply, schemas kb, public',
    );
    expect(r.output).toMatch(/Replica custom ← rds \(logical replication\): 7 tables, subscription created/);
    // Each schema its profile, kb first (name order): the default.
    expect(r.output).toMatch(/\/labels +read \(read-only\) ← kb\.labels/);
    expect(r.output).toMatch(/\/labels \(profile public\) +read \(read-only\) ← public\.labels/);
    const api = (path: string, init?: RequestInit) =>
      fetch(`http://127.0.0.1:${ports.ports.api}${path}`, init);
    const pub = { 'Accept-Profile': 'public' };
    expect(
      await (
        await api('/tickets?select=id,assignee(name),labels(name)&id=eq.2&labels.order=name', {
          headers: pub,
        })
      ).json(),
    ).toEqual([{ id: 2, assignee: { name: 'Agent 3' }, labels: [{ name: 'billing' }, { name: 'urgent' }] }]);
    expect(await (await api('/articles?select=id,embedding,ticket(subject)&id=eq.2')).json()).toEqual([
      { id: 2, embedding: '[2,2,2]', ticket: { subject: 'Ticket 10' } },
    ]);
  });

  it('answers every request of the desk corpus as PostgREST on their database does (the oracle)', async () => {
    const secrets = JSON.parse(readFileSync(join(home, '.pgapp', project, 'secrets.json'), 'utf8'));
    const oracle = await oracleOnStack({
      custom: {
        host: '127.0.0.1',
        port: ports.ports.custom,
        user: 'postgres',
        password: secrets.customPassword,
        database: project,
      },
      rds: { ...db(), database: 'postgres' },
      template: 'theirs_pristine',
      database: 'theirs_oracle',
      host: GATEWAY,
      port: server.port,
      jwtSecret: secrets.jwtSecret,
    });
    try {
      const outcomes = await runCorpus({
        oracle: oracle.url,
        pgapp: `http://127.0.0.1:${ports.ports.api}`,
        jwtSecret: secrets.jwtSecret,
        requests: deskCorpus('public'),
        settle: () =>
          replicaCaughtUp(db(), {
            host: '127.0.0.1',
            port: ports.ports.custom,
            user: 'postgres',
            password: secrets.customPassword,
            database: project,
          }),
        run: 'remote',
      });
      expectOracleEqual('desk over --rds-url', outcomes);
    } finally {
      await oracle.stop();
    }
  });

  it('writes land there', async () => {
    const api = (path: string, init?: RequestInit) =>
      fetch(`http://127.0.0.1:${ports.ports.api}${path}`, init);
    const token = (
      await cli(['token', '--project', project, '--claims', '{"sub":"alice"}'], { home })
    ).stdout.trim();
    const res = await api('/tickets', {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        'Content-Profile': 'public',
        Prefer: 'return=representation',
      },
      body: JSON.stringify({ subject: 'on their server', priority: 'high' }),
    });
    expect(res.status).toBe(201);
    const [{ id }] = (await res.json()) as [{ id: number }];
    expect(await query(db(), 'SELECT subject, owner_id FROM public.tickets WHERE id = $1', [id])).toEqual([
      { subject: 'on their server', owner_id: 'alice' },
    ]);
  });
});
