// The README's example: your own integration test on a ready pgapp stack, reused across runs.

import { useStack } from 'pgapp/testing';
import { describe, expect, inject, it } from 'vitest';

describe.skipIf(!inject('postgrest').available)('example: my API test with pgapp/testing', () => {
  it('reads contacts with their company, and creates a deal as web_user', async () => {
    const stack = await useStack();

    const contacts = await fetch(`${stack.apiUrl}/contacts?select=first_name,company(name)&limit=2`).then(
      (r) => r.json(),
    );
    expect(contacts).toHaveLength(2);
    expect(contacts[0].company.name).toBeTruthy();

    const res = await fetch(`${stack.apiUrl}/deals`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${stack.token()}`,
        'Content-Type': 'application/json',
        Prefer: 'return=representation',
      },
      body: JSON.stringify({ company_id: 1, title: 'Example deal', stage: 'lead', amount: 1200 }),
    });
    expect(res.status).toBe(201);
    const [deal] = await res.json();
    await fetch(`${stack.apiUrl}/deals?id=eq.${deal.id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${stack.token()}` },
    });
  });
});
