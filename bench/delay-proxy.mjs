// A TCP hop that adds a round-trip time to every round trip: the cloud's distance between two
// availability zones, on one machine (this kernel has no `tc netem`). The whole delay is on the way
// out (client → target) and the answers come back at once: Node's timers count whole milliseconds, so
// half a millisecond each way would be a millisecond each way. For the bench only (bench/cases/
// latency.ts puts it between custom and rds); tested in test/unit/delay-proxy.test.ts.
// Plain Node, no dependencies: it also runs in the gateway image's Node.
//
//   node delay-proxy.mjs LISTEN_PORT TARGET_HOST TARGET_PORT RTT_MS
import net from 'node:net';
import { pathToFileURL } from 'node:url';

/**
 * Forward `from` to `to`, each chunk `ms` later, in order (equal delays fire in the order they were
 * set); at 0, at once (a timer would add Node's minimum of 1 ms). Back-pressure is not kept: the
 * bench's streams are small.
 */
function delayed(from, to, ms) {
  const later = ms > 0 ? (fn) => setTimeout(fn, ms) : (fn) => fn();
  from.on('data', (chunk) => later(() => to.writable && to.write(chunk)));
  from.on('end', () => later(() => to.end()));
  from.on('error', () => to.destroy());
  from.on('close', () => later(() => to.destroy()));
}

/** A server on `listenPort` (127.0.0.1 unless `host` says) relaying to target with `rttMs` per round trip. */
export function delayProxy({ listenPort = 0, host = '127.0.0.1', targetHost, targetPort, rttMs }) {
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host: targetHost, port: targetPort, noDelay: true });
    delayed(client, upstream, rttMs);
    delayed(upstream, client, 0);
  });
  return new Promise((resolve) => server.listen(listenPort, host, () => resolve(server)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [listen, targetHost, targetPort, rtt] = process.argv.slice(2);
  const server = await delayProxy({
    listenPort: Number(listen),
    targetHost,
    targetPort: Number(targetPort),
    rttMs: Number(rtt),
  });
  console.log(
    `delay-proxy: 127.0.0.1:${server.address().port} → ${targetHost}:${targetPort}, ${rtt} ms per round trip`,
  );
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
