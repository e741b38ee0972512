import chalk from 'chalk';

/** A plain text table: a dim header, padded columns, an optional colour per row. */
export function renderTable(
  header: string[],
  rows: string[][],
  color: (row: string[]) => (s: string) => string = () => (s) => s,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [chalk.dim(fmt(header)), ...rows.map((r) => color(r)(fmt(r)))].join('\n');
}
