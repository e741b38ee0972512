/** `pgapp test`'s output: each file's TAP as it finishes, the failures with file and line, a summary. */
import chalk from 'chalk';
import type { DbTestRun } from '../commands/test.ts';
import type { DbTestFileResult } from '../stack/dbtests.ts';

/** One file: its name and verdict, its TAP, and for each failure where it is and what pgTAP said. */
export function renderDbTestFile(r: DbTestFileResult): string {
  const verdict = r.passed ? chalk.green('ok') : chalk.red('FAILED');
  const lines = [
    `${chalk.bold(r.file.name)} .. ${verdict} ${chalk.dim(`(${r.results.length} tests, ${(r.ms / 1000).toFixed(1)} s)`)}`,
  ];
  for (const t of r.results) {
    const text = `${t.ok ? 'ok' : 'not ok'} ${t.n}${t.description ? ` - ${t.description}` : ''}${t.directive ? ` # ${t.directive}` : ''}`;
    lines.push(`  ${t.ok || t.directive ? chalk.dim(text) : chalk.red(text)}`);
    if (!t.ok && !t.directive) {
      lines.push(`    ${chalk.red('at')} ${r.file.name}${t.line ? `:${t.line}` : ''}`);
      for (const d of t.diag) lines.push(`    ${chalk.dim(`# ${d}`)}`);
    }
  }
  if (r.error) lines.push(`  ${chalk.red('✖')} ${r.error}`);
  return lines.join('\n');
}

/** The summary line (and where the JUnit XML went). */
export function renderDbTestSummary(run: DbTestRun): string {
  const tests = run.files.reduce((a, r) => a + r.results.length, 0);
  const failed = run.files.reduce((a, r) => a + r.results.filter((t) => !t.ok && !t.directive).length, 0);
  const broken = run.files.filter((r) => r.error).length;
  const ms = run.files.reduce((a, r) => a + r.ms, 0);
  const counts = `Files=${run.files.length}, Tests=${tests}, ${(ms / 1000).toFixed(1)} s`;
  const line = run.passed
    ? `${chalk.green('All tests successful.')} ${counts}`
    : `${chalk.red(`Failed: ${failed} assertion${failed === 1 ? '' : 's'}${broken ? `, ${broken} file${broken === 1 ? '' : 's'} stopped` : ''}.`)} ${counts}. Result: FAIL`;
  return [line, ...(run.junit ? [chalk.dim(`JUnit XML: ${run.junit}`)] : [])].join('\n');
}
