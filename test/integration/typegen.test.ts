/**
 * `pgapp gen types`: the api schema as TypeScript for @supabase/postgrest-js. A small program typed
 * with the generated Database type-checks; the same program with a misspelt column, a wrong argument
 * type or a column PostgREST's user may not write fails `tsc`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { workDir } from '../../src/paths.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { cli, typeCheckDir } from '../helpers.ts';

const postgrest = inject('postgrest');
const title = postgrest.available ? 'pgapp gen types' : `pgapp gen types — SKIPPED: ${postgrest.reason}`;

const PROGRAM = `import { PostgrestClient } from '@supabase/postgrest-js';
import type { Database } from './database.types.ts';

const api = new PostgrestClient<Database>(process.env.PGAPP_API_URL ?? '');
export async function main() {
  const { data } = await api.from('contacts').select('id, first_name, company(name)').limit(3);
  const first: string | undefined = data?.[0]?.first_name;
  const company: string | undefined = data?.[0]?.company?.name;
  await api.from('contacts').insert({ first_name: 'A', last_name: 'B', email: 'a@example.com', company_id: 1 });
  const dup = await api.rpc('duplicate_contacts', { company_id: 1, threshold: 0.5 });
  const id: number | null | undefined = dup.data?.[0]?.contact_id;
  const pipeline = await api.from('company_pipeline').select('name, open_deals');
  return [first, company, id, pipeline.data?.[0]?.open_deals];
}
`;

describe.skipIf(!postgrest.available)(title, () => {
  let stack: TestStack;
  const program = typeCheckDir('typegen-');
  const tsc = program.check;

  beforeAll(async () => {
    stack = await useStack();
  });
  afterAll(async () => {
    program.remove();
    await stack?.[Symbol.asyncDispose]();
  });

  it('writes the Database type: views with Row, Insert/Update only of what web_user may write, RPCs, computed relationships', async () => {
    const out = join(program.dir, 'database.types.ts');
    const r = await cli(['gen', 'types', '--project', stack.project, '--out', out], { home: workDir() });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('written');
    const text = readFileSync(out, 'utf8');
    expect(text).toContain('export type Database = {');
    // contacts: owner_id and id are the database's (not granted to web_user): in Row, not in Insert.
    const contacts = /contacts: \{\s+Row: \{([^}]*)\}\s+Insert: \{([^}]*)\}/.exec(text);
    expect(contacts?.[1]).toMatch(/first_name: string\n/);
    expect(contacts?.[1]).toMatch(/owner_id: string \| null/);
    expect(contacts?.[2]).toMatch(/first_name: string\n/);
    expect(contacts?.[2]).toMatch(/phone\?: string \| null/);
    expect(contacts?.[2]).not.toMatch(/owner_id|\bid\b|created_at/);
    expect(text).toMatch(/duplicate_contacts: \{\s+Args: \{\s+company_id: number\s+threshold\?: number/);
    expect(text).toContain(
      'SetofOptions: { from: "contacts"; to: "companies"; isOneToOne: true; isSetofReturn: true }',
    );
    // Without --out: the same, on stdout.
    const printed = await cli(['gen', 'types', '--project', stack.project], { home: workDir() });
    expect(printed.stdout).toBe(text);
  });

  it('a program using @supabase/postgrest-js with the types type-checks', async () => {
    expect(await tsc(PROGRAM)).toBe('');
  });

  it.each([
    [
      'a misspelt column',
      (p: string) =>
        p
          .replace("select('id, first_name", "select('id, frist_name")
          .replace('data?.[0]?.first_name', 'data?.[0]?.frist_name'),
      /frist_name/,
    ],
    [
      'a wrong argument type',
      (p: string) => p.replace('company_id: 1, threshold', "company_id: 'one', threshold"),
      /not assignable to type 'number'/,
    ],
    [
      'a column web_user may not write',
      (p: string) => p.replace("email: 'a@example.com',", "email: 'a@example.com', owner_id: 'me',"),
      /error TS/,
    ],
  ])('the same program with %s fails tsc', async (_what, change, message) => {
    const errors = await tsc(change(PROGRAM));
    expect(errors).toMatch(message);
  });
});
