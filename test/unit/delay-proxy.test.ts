/**
 * The bench's delaying TCP hop (bench/delay-proxy.mjs): every round trip through it takes at least
 * the round-trip time it is given, and the bytes arrive intact and in order. (A lower bound only: the
 * machine may always be slower, never faster.)
 */
import net, { type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs of the bench, without types
import { delayProxy } from '../../bench/delay-proxy.mjs';

describe('delay proxy (bench)', () => {
  const echo = net.createServer((s) => s.pipe(s));
  const servers: net.Server[] = [echo];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  /** `n` ping-pongs of `size` bytes through a proxy of `rttMs`: the time of each, and what came back. */
  async function pingPong(rttMs: number, n: number, size: number) {
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const proxy: net.Server = await delayProxy({
      targetHost: '127.0.0.1',
      targetPort: (echo.address() as AddressInfo).port,
      rttMs,
    });
    servers.push(proxy);
    const socket = net.connect((proxy.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const times: number[] = [];
    const back: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const sent = Buffer.alloc(size, 65 + i);
      const t0 = performance.now();
      const got: Buffer[] = [];
      await new Promise<void>((resolve) => {
        const onData = (c: Buffer) => {
          got.push(c);
          if (Buffer.concat(got).length >= size) {
            socket.off('data', onData);
            resolve();
          }
        };
        socket.on('data', onData);
        socket.write(sent);
      });
      times.push(performance.now() - t0);
      back.push(Buffer.concat(got));
    }
    socket.destroy();
    return { times, back };
  }

  it('adds its round-trip time to every round trip, bytes intact and in order', async () => {
    const { times, back } = await pingPong(20, 5, 100_000);
    for (const t of times) expect(t).toBeGreaterThanOrEqual(19.5);
    expect(back.map((b, i) => b.equals(Buffer.alloc(100_000, 65 + i)))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
  });
});
