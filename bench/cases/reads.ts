/**
 * What to copy, table by table: the price of each choice on the desk fixture (medium seed), on a stack
 * of its own (pgapp_bench_reads) whose tickets' replica holds the even ones (a row filter) and whose
 * agents are read through postgres_fdw — against local tables with the same rows, in the same run.
 */
import { notes } from '../report.ts';
import { deskStack, ensureLocal, type Shape, TICKETS, versusLocal } from './schema.ts';

const PROJECT = 'pgapp_bench_reads';

export async function benchReads() {
  const stack = await deskStack(PROJECT, {
    'desk.tickets': { where: 'id % 2 = 0' },
    'desk.agents': { reads: 'fdw' },
  });
  await ensureLocal(stack.custom);
  const even = () => 2 * (1 + Math.floor(Math.random() * (TICKETS / 2 - 1)));
  const odd = () => even() - 1;
  const shapes: Shape[] = [
    { name: 'filtered table, read by key inside the filter', path: (t) => `/${t}?id=eq.${even()}` },
    { name: 'filtered table, read by key outside the filter', path: (t) => `/${t}?id=eq.${odd()}` },
    {
      name: 'replica → FDW to-one embed, by key',
      path: (t) => `/${t}?select=id,subject,assignee(name)&id=eq.${even()}`,
    },
    {
      name: 'replica → FDW to-one embed, page of 10',
      path: (t) => `/${t}?select=id,subject,assignee(name)&order=id&limit=10&id=gt.${even()}`,
    },
  ];
  for (const shape of shapes)
    await versusLocal(stack, shape, { benchmark: `Reads per table: ${shape.name}`, table: 'tickets' });
  notes.push(
    '',
    `"Reads per table" rows: the desk fixture, medium seed (${TICKETS.toLocaleString('en')} tickets), on a stack of its own (\`${PROJECT}\`) with \`"desk.tickets": {"where": "id % 2 = 0"}\` and \`"desk.agents": {"reads": "fdw"}\`, against local tables with the same rows. A filtered table's keyed read asks the replica and rds (the rows outside the filter) alike, so both sides of the filter cost one pushed-down remote query; an embed into a table read through postgres_fdw costs a remote query per row embedded. What a whole replica costs instead is the "Your schema" rows.`,
  );
}
