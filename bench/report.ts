/** The results: each benchmark's row, printed as it comes, and BENCHMARKS.md written from them. */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/paths.ts';

export interface Row {
  benchmark: string;
  measured: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
}
export const rows: Row[] = [];
export const notes: string[] = [];
export const fmt = (n: number, d = 1) => n.toFixed(d);

export function report(r: Row) {
  rows.push(r);
  console.log(
    `${r.benchmark.padEnd(26)} ${r.measured.padEnd(34)} vs ${r.baseline.padEnd(34)} ratio ${r.ratio.padEnd(8)} ${r.verdict}`,
  );
}

/** BENCHMARKS.md from this run's rows and notes (`names`: the cases run, for the reproduce line). */
export async function writeBenchmarks(
  names: string[],
  {
    PROJECT,
    CONTACTS,
    SECONDS,
    postgres,
  }: { PROJECT: string; CONTACTS: number; SECONDS: number; postgres: number | undefined },
): Promise<void> {
  const table = [
    '| benchmark | measured | baseline (same run) | ratio | target | verdict |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) => `| ${r.benchmark} | ${r.measured} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.verdict} |`,
    ),
  ];
  const md = [
    '# Benchmarks',
    '',
    `Reproduce: \`npm run bench\` (or \`npm run bench -- ${names.join(' ')}\`). Stack: project \`${PROJECT}\` on PostgreSQL ${postgres ?? '?'}, medium seed`,
    `(${CONTACTS.toLocaleString('en')} contacts), images and containers as \`npm run dev\` makes them; load from autocannon,`,
    `20 connections for ${SECONDS} s per measurement, on 127.0.0.1. Machine: ${cpus().length} cores.`,
    'Only the ratios are comparable between runs: the absolute numbers move with the machine.',
    'Memory is RSS as `docker stats` reports it: it counts the shared buffers a server has touched, so it grows',
    'after big scans or seeding and is lowest on a freshly started stack.',
    '',
    ...table,
    '',
    ...notes,
  ].join('\n');
  writeFileSync(join(PACKAGE_ROOT, 'BENCHMARKS.md'), `${md}\n`);
}
