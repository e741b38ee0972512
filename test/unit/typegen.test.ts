/** The served schemas' catalog as TypeScript (the Database shape @supabase/postgrest-js takes). */
import { describe, expect, it } from 'vitest';
import { type ApiCatalog, type CatalogColumn, renderDatabaseTypes } from '../../src/stack/typegen.ts';

const t = (name: string, more: Partial<CatalogColumn['type']> = {}) => ({
  name,
  schema: 'pg_catalog',
  kind: 'b',
  ...more,
});
const col = (
  name: string,
  type: CatalogColumn['type'],
  more: Partial<CatalogColumn> = {},
): CatalogColumn => ({
  name,
  type,
  notNull: false,
  hasDefault: false,
  canInsert: false,
  canUpdate: false,
  ...more,
});

const catalog: ApiCatalog = {
  schema: 'api',
  relations: [
    {
      name: 'notes',
      kind: 'r',
      columns: [
        col('id', t('int8'), { notNull: true, hasDefault: true }),
        col('body', t('text'), { notNull: true, canInsert: true, canUpdate: true }),
        col('mood', { name: 'mood', schema: 'api', kind: 'e' }, { canInsert: true }),
        col('tags', { ...t('_text'), element: t('text') }, { canInsert: true }),
        col('level', { name: 'level', schema: 'crm', kind: 'e' }),
        col('odd name', t('jsonb')),
      ],
      relationships: [
        {
          foreignKeyName: 'notes_report_fkey',
          columns: ['body'],
          isOneToOne: false,
          referencedRelation: 'report',
          referencedColumns: ['total'],
        },
      ],
    },
    { name: 'report', kind: 'v', columns: [col('total', t('numeric'))], relationships: [] },
  ],
  functions: [
    {
      name: 'search',
      args: [
        { name: 'q', type: t('text'), hasDefault: false },
        { name: 'max', type: t('int4'), hasDefault: true },
      ],
      returns: { name: 'notes', schema: 'api', kind: 'c', relation: 'notes' },
      setof: true,
      rows: 1000,
    },
    { name: 'ping', args: [], returns: t('void'), setof: false, rows: 0 },
  ],
  enums: [
    { name: 'mood', schema: 'api', labels: ['happy', 'sad'] },
    { name: 'level', schema: 'crm', labels: ['low', 'high'] },
  ],
};

const other: ApiCatalog = { schema: 'kb', relations: [], functions: [], enums: [] };

describe('renderDatabaseTypes', () => {
  const text = renderDatabaseTypes([catalog, other], 'a test');

  it('tables: Row with nullability; Insert only of writable columns, optional when nullable or defaulted', () => {
    expect(text).toMatch(
      /Tables: \{\s+notes: \{\s+Row: \{\s+id: number\s+body: string\s+mood: Database\["api"\]\['Enums'\]\["mood"\] \| null\s+tags: string\[\] \| null\s+level: "low" \| "high" \| null\s+"odd name": Json \| null\s+\}/,
    );
    expect(text).toMatch(/Insert: \{\s+body: string\s+mood\?: [^\n]+\s+tags\?: string\[\] \| null\s+\}/);
    expect(text).toMatch(/Update: \{\s+body\?: string\s+\}/);
  });

  it('a view nobody may write has Row only; RPCs have Args (defaults optional) and Returns; api enums', () => {
    expect(text).toMatch(/report: \{\s+Row: \{\s+total: number \| null\s+\}\s+Relationships: \[\]/);
    expect(text).toMatch(
      /search: \{\s+Args: \{\s+q: string\s+max\?: number\s+\}\s+Returns: Database\["api"\]\["Tables"\]\["notes"\]\['Row'\]\[\]/,
    );
    expect(text).toMatch(/ping: \{\s+Args: \{ \[_ in never\]: never \}\s+Returns: undefined/);
    expect(text).toMatch(/Enums: \{\s+mood: "happy" \| "sad"\s+\}/);
    expect(text).not.toMatch(/level: "low" \| "high"\n\s+\}\n\s+CompositeTypes/);
  });

  it("each schema its own part (a profile), and a table's foreign keys as its Relationships", () => {
    expect(text).toMatch(/^export type Database = \{\n {2}api: \{/m);
    expect(text).toMatch(/\n {2}kb: \{\n {4}Tables: \{ \[_ in never\]: never \}/);
    expect(text).toMatch(
      /Relationships: \[\s+\{\s+foreignKeyName: "notes_report_fkey"\s+columns: \["body"\]\s+isOneToOne: false\s+referencedRelation: "report"\s+referencedColumns: \["total"\]\s+\},\s+\]/,
    );
  });
});
