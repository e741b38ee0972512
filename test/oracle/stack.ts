/**
 * The oracle against a throwaway stack of the suite (test/helpers.ts's ThrowawayStack), as it is now:
 * its databases saved as snapshot "oracle", PostgREST over a copy of that snapshot's rds database,
 * each request of a corpus to both. Shared by the test files whose stacks it runs on.
 */
import { expect } from 'vitest';
import { cli, replicaCaughtUp, type ThrowawayStack } from '../helpers.ts';
import { type OracleRequest, type Outcome, renderOutcomes } from './compare.ts';
import { oracleOnStack, runCorpus } from './harness.ts';

export async function oracleRun(
  stack: ThrowawayStack,
  run: string,
  requests: OracleRequest[],
): Promise<Outcome[]> {
  const saved = await cli(['snapshot', 'save', 'oracle', '--force', '--project', stack.project], {
    home: stack.home,
  });
  expect(saved.code, saved.output).toBe(0);
  const oracle = await oracleOnStack({
    custom: stack.custom(),
    rds: stack.rds(),
    template: 'pgapp_snapshot_oracle',
    database: 'pgapp_oracle',
    network: `${stack.project}_net`,
    host: 'rds',
    port: 5432,
    jwtSecret: stack.secrets.jwtSecret,
  });
  try {
    return await runCorpus({
      oracle: oracle.url,
      pgapp: stack.api(),
      jwtSecret: stack.secrets.jwtSecret,
      requests,
      settle: () => replicaCaughtUp(stack.rds(), stack.custom()),
      run,
    });
  } finally {
    await oracle.stop();
  }
}

/** Print the tally and every difference; fail on any that is not documented. */
export function expectOracleEqual(title: string, outcomes: Outcome[]): void {
  const report = renderOutcomes(title, outcomes);
  console.log(report);
  expect(
    outcomes.filter((o) => o.verdict === 'differ').map((o) => o.label),
    report,
  ).toEqual([]);
}
