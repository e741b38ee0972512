/** `pgapp explain`'s report: the plan on custom, each remote query, and plain-words warnings. */
import chalk from 'chalk';
import type { Explained, PlanNode } from '../stack/explain.ts';

function planLines(n: PlanNode, depth = 0): string[] {
  const rows = n['Actual Rows'] ?? 0;
  const loops = n['Actual Loops'] ?? 1;
  const rel = n['Relation Name'] ? ` on ${n.Schema ? `${n.Schema}.` : ''}${n['Relation Name']}` : '';
  const tag = n['Subplan Name'] ? ` (${n['Subplan Name']})` : '';
  const remote = n['Node Type'] === 'Foreign Scan' ? chalk.yellow(' [rds]') : '';
  const line = `${'  '.repeat(depth)}${n['Node Type']}${rel}${tag}${remote} ${chalk.dim(
    `rows ${rows}${loops > 1 ? ` × ${loops} runs` : ''}, ${(n['Actual Total Time'] ?? 0).toFixed(2)} ms`,
  )}`;
  return [line, ...(n.Plans ?? []).flatMap((p) => planLines(p, depth + 1))];
}

/** What a write's trigger sent to rds. */
function bridgeLines(b: NonNullable<Explained['bridge']>): string[] {
  if (b.writes.length === 0)
    return [chalk.green('Nothing sent to rds: no row was written (none matched, or nothing changed).')];
  const byTable = new Map<string, number>();
  for (const w of b.writes) byTable.set(w, (byTable.get(w) ?? 0) + 1);
  return [
    chalk.bold('Sent to rds') +
      chalk.dim(
        ` (${b.roundTrips} round trips: postgres_fdw's START TRANSACTION and COMMIT, ${b.writes.length} write statement${b.writes.length === 1 ? '' : 's'})`,
      ),
    ...[...byTable].map(
      ([table, n]) =>
        `  ${chalk.yellow(table)} ${chalk.dim(`${n} × UPDATE pgapp_bridge.writes (rds makes the write, and bumps the read-your-writes fence)`)}`,
    ),
  ];
}

export function renderExplain(e: Explained): string {
  const lines = [
    chalk.bold(`${e.method} ${e.path}`) +
      chalk.dim(
        `  as ${e.as}: HTTP ${e.status}, ${e.answerRows} rows in the answer` +
          (e.bridge ? ' (a dry run: rolled back on custom and on rds, nothing written)' : ''),
      ),
    '',
    chalk.bold('Plan on custom') +
      chalk.dim(
        ` (PostgREST's own query; planning ${e.planningMs.toFixed(2)} ms, execution ${e.executionMs.toFixed(2)} ms)`,
      ),
    ...planLines(e.plan).map((l) => `  ${l}`),
    '',
  ];
  if (e.reads.length > 0)
    lines.push(
      chalk.bold('Where it read') +
        chalk.dim(' (the replica on custom, or rds through postgres_fdw; a filtered replica reads both)'),
      ...e.reads.map(
        (r) =>
          `  ${r.table.padEnd(28)} ${r.from.map((f) => (f === 'rds' ? chalk.yellow('rds') : chalk.green('replica'))).join(' + ')}`,
      ),
      '',
    );
  if (e.bridge) lines.push(...bridgeLines(e.bridge), '');
  if (e.remote.length === 0 && e.bridge) {
    // A write's plan reads nothing remote: what it sent is above.
  } else if (e.remote.length === 0) {
    lines.push(
      chalk.green('No remote query: answered from custom alone (the local replica, or local tables).'),
    );
  } else {
    lines.push(
      chalk.bold('Remote queries to rds') +
        chalk.dim(
          ` (${e.remoteQueries} queries, ${e.roundTrips} round trips, ${e.rowsFetched.toLocaleString('en')} rows fetched)`,
        ),
    );
    for (const r of e.remote) {
      lines.push(
        `  ${chalk.yellow(r.relation)} ${chalk.dim(`${r.rows.toLocaleString('en')} rows, ${r.runs} run${r.runs === 1 ? '' : 's'}`)}`,
        `    ${r.sql}`,
      );
    }
  }
  if (e.warnings.length > 0) lines.push('', ...e.warnings.map((w) => chalk.yellow(`! ${w}`)));
  return lines.join('\n');
}
