/** How snapshots are shown. */
import chalk from 'chalk';
import type { SnapshotRow } from '../stack/snapshot.ts';
import { renderTable } from './table.ts';

const size = (b: number) =>
  b < 1024 * 1024 ? `${(b / 1024).toFixed(0)} kB` : `${(b / 1024 / 1024).toFixed(1)} MB`;

export function renderSnapshots(list: SnapshotRow[]): string {
  if (list.length === 0) return 'No snapshots yet: `npm run pgapp -- snapshot save <name>` takes one.';
  const rows = list.map((s) => [
    s.name,
    s.takenAt.replace('T', ' ').slice(0, 19),
    size(s.bytes),
    s.kind === 'servers' ? 'in the servers' : 'saved by reset (restore replaces the stack)',
    s.complete ? 'ok' : 'incomplete (rm it)',
  ]);
  return renderTable(['SNAPSHOT', 'TAKEN (UTC)', 'SIZE', 'WHERE', 'STATE'], rows, (r) =>
    r[4] === 'ok' ? chalk.green : chalk.yellow,
  );
}
