/** The bridge: what postgres_fdw pushes down, and its fetch size. */
import type { TestStack } from '../../src/testing/index.ts';
import { CONTACTS, withDb } from '../lib.ts';
import { fmt, report } from '../report.ts';
import { ensureBaselines } from './http.ts';
export async function benchPushdown(stack: TestStack) {
  await ensureBaselines(stack);
  await withDb(stack.customUrl, async (c) => {
    const cases: [string, string][] = [
      ['filter by company', 'SELECT * FROM crm.contacts_fdw WHERE company_id = 42'],
      ['count per stage', 'SELECT stage, count(*) FROM rds_crm.deals GROUP BY stage'],
      [
        'join + aggregate',
        'SELECT co.name, count(d.id) FROM rds_crm.companies co JOIN rds_crm.deals d ON d.company_id = co.id WHERE co.id < 20 GROUP BY co.name',
      ],
    ];
    for (const [name, sql] of cases) {
      const plan = (await c.query(`EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) ${sql}`)).rows[0]['QUERY PLAN'][0];
      const answer = plan.Plan['Actual Rows'];
      const fetched: number[] = [];
      const walk = (n: { 'Node Type': string; 'Actual Rows': number; Plans?: unknown[] }) => {
        if (n['Node Type'] === 'Foreign Scan') fetched.push(n['Actual Rows']);
        for (const p of (n.Plans ?? []) as (typeof n)[]) walk(p);
      };
      walk(plan.Plan);
      const total = fetched.reduce((a, b) => a + b, 0);
      report({
        benchmark: `pushdown: ${name}`,
        measured: `${total} rows fetched from rds`,
        baseline: `${answer} rows in the answer`,
        ratio: `${fmt(total / Math.max(answer, 1), 2)}×`,
        target: 'equal',
        verdict: total === answer ? 'met' : 'missed',
      });
    }
  });
}

export async function benchFetchSize(stack: TestStack) {
  await withDb(stack.customUrl, async (c) => {
    // OFFSET 0 keeps the aggregate local, so every row crosses the bridge.
    const scan = 'SELECT count(*) FROM (SELECT * FROM rds_crm.contacts OFFSET 0) s';
    const time = async (size: string) => {
      await c.query(`ALTER FOREIGN TABLE rds_crm.contacts OPTIONS (ADD fetch_size '${size}')`);
      try {
        await c.query(scan);
        const t = performance.now();
        for (let i = 0; i < 3; i++) await c.query(scan);
        return (performance.now() - t) / 3;
      } finally {
        await c.query(`ALTER FOREIGN TABLE rds_crm.contacts OPTIONS (DROP fetch_size)`);
      }
    };
    const dflt = await time('100');
    const tuned = await time('1000');
    report({
      benchmark: `fetch_size: ${CONTACTS / 1000}k-row scan`,
      measured: `fetch_size 1000: ${fmt(tuned, 0)} ms`,
      baseline: `fetch_size 100 (default): ${fmt(dflt, 0)} ms`,
      ratio: `${fmt(tuned / dflt, 2)}×`,
      target: 'report',
      verdict: `${fmt(dflt / tuned, 1)}× faster`,
    });
  });
}
