/** Idle memory of the stack. */
import { PROJECT, run } from '../lib.ts';
import { fmt, report } from '../report.ts';
export async function benchMemory() {
  await new Promise((r) => setTimeout(r, 3000)); // idle
  const { stdout } = await run('docker', ['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}']);
  const toMiB = (s: string) => {
    const m = /([\d.]+)\s*([KMG]i?B)/.exec(s);
    if (!m) return 0;
    const n = Number(m[1]);
    return m[2]?.startsWith('G') ? n * 1024 : m[2]?.startsWith('K') ? n / 1024 : n;
  };
  const mine = stdout.split('\n').filter((l) => l.startsWith(`${PROJECT}-`));
  const parts = mine.map((l) => {
    const [name, usage] = l.split(' ', 2);
    return [name?.replace(`${PROJECT}-`, ''), toMiB(usage ?? '')] as const;
  });
  const total = parts.reduce((a, [, m]) => a + m, 0);
  report({
    benchmark: 'memory: idle stack RSS',
    measured: `${parts.map(([n, m]) => `${n} ${fmt(m, 0)}`).join(', ')} MiB`,
    baseline: '—',
    ratio: `${fmt(total, 0)} MiB`,
    target: '≤ 300 MiB',
    verdict: total <= 300 ? 'met' : 'missed',
  });
}
