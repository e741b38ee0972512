/** `pgapp explain`'s reading of a plan (src/stack/explain.ts): remote queries, rows, warnings. */
import { describe, expect, it } from 'vitest';
import {
  bridgeWarnings,
  bridgeWrites,
  type PlanNode,
  readsOfPlan,
  remoteQueries,
} from '../../src/stack/explain.ts';

const foreign = (rel: string, rows: number, loops = 1): PlanNode => ({
  'Node Type': 'Foreign Scan',
  'Relation Name': rel,
  Schema: 'rds_crm',
  'Remote SQL': `SELECT * FROM crm.${rel}`,
  'Actual Rows': rows,
  'Actual Loops': loops,
});

describe('explain', () => {
  it('finds every remote scan, with rows over all its runs and its round trips', () => {
    const plan: PlanNode = {
      'Node Type': 'Aggregate',
      Plans: [
        { 'Node Type': 'Nested Loop', Plans: [foreign('contacts', 10), foreign('companies', 1, 10)] },
        { 'Node Type': 'Hash', Plans: [foreign('deals', 2500)] },
      ],
    };
    expect(remoteQueries(plan)).toEqual([
      { relation: 'rds_crm.contacts', sql: 'SELECT * FROM crm.contacts', rows: 10, runs: 1, roundTrips: 1 },
      {
        relation: 'rds_crm.companies',
        sql: 'SELECT * FROM crm.companies',
        rows: 10,
        runs: 10,
        roundTrips: 10,
      },
      { relation: 'rds_crm.deals', sql: 'SELECT * FROM crm.deals', rows: 2500, runs: 1, roundTrips: 3 },
    ]);
    expect(remoteQueries({ 'Node Type': 'Index Scan', 'Relation Name': 'contacts' })).toEqual([]);
  });

  it('warns where the bridge fetches far more than the answer, and of N+1', () => {
    expect(bridgeWarnings(remoteQueries(foreign('contacts', 10)), 10)).toEqual([]);
    const whole = bridgeWarnings(remoteQueries(foreign('companies', 5000)), 10);
    expect(whole).toHaveLength(1);
    expect(whole[0]).toMatch(
      /fetched 5,000 rows from rds for an answer of 10: rds_crm\.companies sent 5,000/,
    );
    const nPlusOne = bridgeWarnings(remoteQueries(foreign('companies', 1, 100)), 100);
    expect(nPlusOne).toEqual([expect.stringMatching(/^N\+1: rds_crm\.companies was queried 100 times/)]);
  });

  it("says where a request read each of rds's tables: the replica, or rds (an fdw table's empty own part is no read)", () => {
    const plan: PlanNode = {
      'Node Type': 'Nested Loop',
      Plans: [
        { 'Node Type': 'Index Scan', 'Relation Name': 'tickets', Schema: 'desk' },
        {
          'Node Type': 'Append',
          Plans: [
            { 'Node Type': 'Seq Scan', 'Relation Name': 'agents', Schema: 'desk' },
            { 'Node Type': 'Foreign Scan', 'Relation Name': 'agents', Schema: 'rds_desk' },
          ],
        },
        { 'Node Type': 'Seq Scan', 'Relation Name': 'replica_fence', Schema: 'pgapp_bridge' },
        { 'Node Type': 'Seq Scan', 'Relation Name': 'pg_class', Schema: 'pg_catalog' },
      ],
    };
    expect(readsOfPlan(plan)).toEqual([
      { table: 'desk.tickets', from: ['replica'] },
      { table: 'desk.agents', from: ['rds'] },
    ]);
  });

  it("counts a write's round trips from what its trigger reports (X-Pgapp-Bridge)", () => {
    // Nothing written: nothing sent, not even postgres_fdw's START and COMMIT.
    expect(bridgeWrites(null)).toEqual({ writes: [], roundTrips: 0 });
    expect(bridgeWrites('{"writes": []}').roundTrips).toBe(0);
    // One write: START, the write, COMMIT; two rows (a bulk POST): a statement each.
    expect(bridgeWrites('{"writes": ["crm.deals"]}').roundTrips).toBe(3);
    expect(bridgeWrites('{"writes": ["desk.articles", "desk.articles"]}').roundTrips).toBe(4);
  });
});
