/** retryUntil: the one polling loop (connections, replica catch-up, sessions ending, the API coming back). */
import { describe, expect, it } from 'vitest';
import { retryUntil } from '../../src/net/time.ts';

describe('retryUntil', () => {
  it('returns the first value an attempt gives, trying again in between', async () => {
    let n = 0;
    const got = await retryUntil(async () => (++n === 3 ? 'ready' : undefined), {
      timeoutMs: 5_000,
      intervalMs: 1,
      timedOut: () => new Error('never'),
    });
    expect([got, n]).toEqual(['ready', 3]);
  });

  it('throws what timedOut makes, seeing the state the attempts left', async () => {
    let last = 0;
    await expect(
      retryUntil(async () => void last++, {
        timeoutMs: 20,
        intervalMs: 1,
        timedOut: () => new Error(`gave up after ${last > 1 ? 'several' : 'one'} attempts`),
      }),
    ).rejects.toThrow('gave up after several attempts');
  });

  it('ends with the signal’s reason when aborted, and with an attempt’s own error', async () => {
    const abort = new AbortController();
    const waiting = retryUntil(async () => undefined, {
      timeoutMs: 60_000,
      intervalMs: 10_000,
      signal: abort.signal,
      timedOut: () => new Error('timeout'),
    });
    abort.abort(new Error('interrupted'));
    await expect(waiting).rejects.toThrow('interrupted');
    await expect(
      retryUntil(
        async () => {
          throw new Error('refused');
        },
        { timeoutMs: 1_000, intervalMs: 1, timedOut: () => new Error('timeout') },
      ),
    ).rejects.toThrow('refused');
  });
});
