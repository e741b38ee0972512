// A TCP hop that delays every byte by half a round trip each way: the cloud's distance between two
// availability zones, on one machine (this kernel has no `tc netem`). For the bench only (bench/cases/
// latency.ts puts it between custom and rds); tested in test/unit/delay-proxy.test.ts.
// Plain Node, no dependencies: it also runs in the gateway image's Node.
//
//   node delay-proxy.mjs LISTEN_PORT TARGET_HOST TARGET_PORT RTT_MS
import net from 'node:net';
import { pathToFileURL } from 'node:url';

/**
 * Forward `from` to `to`, each chunk `ms` later, in order (equal delays fire in the order they were
 * set). Back-pressure is not kept: the bench's streams are small.
 */
function delayed(from, to, ms) {
  from.on('data', (chunk) => {
    setTimeout(() => to.writable && to.write(chunk), ms);
  });
  from.on('end', () => setTimeout(() => to.end(), ms));
  from.on('error', () => to.destroy());
  from.on('close', () => setTimeout(() => to.destroy(), ms + 1));
}

/** A server on `listenPort` (127.0.0.1 unless `host` says) relaying to target with `rttMs` per round trip. */
export function delayProxy({ listenPort = 0, host = '127.0.0.1', targetHost, targetPort, rttMs }) {
  const half = rttMs / 2;
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host: targetHost, port: targetPort, noDelay: true });
    delayed(client, upstream, half);
    delayed(upstream, client, half);
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
