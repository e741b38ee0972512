/**
 * What to copy, table by table: the price of reading a table through postgres_fdw on the desk fixture
 * (medium seed), on a stack of its own (pgapp_bench_reads) whose agents are read through postgres_fdw —
 * against local tables with the same rows, in the same run.
 */
import { notes } from '../report.ts';
import { deskStack, ensureLocal, type Shape, TICKETS, versusLocal } from './schema.ts';

const PROJECT = 'pgapp_bench_reads';

export async function benchReads() {
  const stack = await deskStack(PROJECT, { 'desk.agents': { reads: 'fdw' } });
  await ensureLocal(stack.custom);
  const id = () => 1 + Math.floor(Math.random() * (TICKETS - 20));
  const shapes: Shape[] = [
    {
      name: 'replica → FDW to-one embed, by key',
      path: (s) => `/tickets${s}?select=id,subject,assignee:assignee_id(name)&id=eq.${id()}`,
    },
    {
      name: 'replica → FDW to-one embed, page of 10',
      path: (s) =>
        `/tickets${s}?select=id,subject,assignee:assignee_id(name)&order=id&limit=10&id=gt.${id()}`,
    },
    { name: 'FDW table, page of 10', path: (s) => `/agents${s}?order=id&limit=10` },
  ];
  for (const shape of shapes)
    await versusLocal(stack, shape, { benchmark: `Reads per table: ${shape.name}` });
  notes.push(
    '',
    `"Reads per table" rows: the desk fixture, medium seed (${TICKETS.toLocaleString('en')} tickets), on a stack of its own (\`${PROJECT}\`) with \`"desk.agents": {"reads": "fdw"}\`, against local tables with the same rows. A table read through postgres_fdw is an empty table over a foreign table: a read of it is one remote query (its filters and order pushed down, not its limit: HTTP shapes above), and an embed into it costs one per row embedded. What a whole replica costs instead is the "Your schema" rows.`,
  );
}
