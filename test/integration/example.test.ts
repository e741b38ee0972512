// The README's example: your own integration tests on a ready pgapp stack, reused across runs, each
// test starting from the same data (a snapshot restored before each, in well under a second).

import { type TestStack, useStack } from 'pgapp/testing';
import { beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';

describe.skipIf(!inject('postgrest').available)('example: my API tests with pgapp/testing', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await useStack();
    await stack.snapshot('start'); // the data every test starts from
  });
  beforeEach(() => stack.restore('start'));

  const createDeal = (title: string) =>
    fetch(`${stack.apiUrl}/deals`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${stack.token()}`,
        'Content-Type': 'application/json',
        Prefer: 'return=representation',
      },
      body: JSON.stringify({ company_id: 1, title, stage: 'lead', amount: 1200 }),
    });

  it('reads contacts with their company, and creates a deal as web_user', async () => {
    const contacts = await fetch(`${stack.apiUrl}/contacts?select=first_name,company(name)&limit=2`).then(
      (r) => r.json(),
    );
    expect(contacts).toHaveLength(2);
    expect(contacts[0].company.name).toBeTruthy();

    const res = await createDeal('Example deal');
    expect(res.status).toBe(201);
  });

  it('starts from the snapshot: the deal the last test made is not there', async () => {
    const mine = await fetch(`${stack.apiUrl}/deals?title=eq.Example%20deal`, {
      headers: { Authorization: `Bearer ${stack.token()}` },
    }).then((r) => r.json());
    expect(mine).toEqual([]);
  });
});
