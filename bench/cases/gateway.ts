/**
 * Where the gateway's time goes (issue 26): the same read by key through the published port (how
 * clients reach it: Docker's proxy, then the gateway), the gateway by its container address, and
 * PostgREST direct — interleaved, so the machine's noise falls on all three alike. Beside the
 * latencies, each container's CPU per request (Docker's own accounting), and a CPU profile of a twin
 * gateway (the same image and code, `node --cpu-prof`) under the same load: what share of its time is
 * its own code (the limits it enforces), and what share is the HTTP hop itself.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker } from '../../src/docker/engine.ts';
import { containerName, networkName } from '../../src/spec/stack.ts';
import type { TestStack } from '../../src/testing/index.ts';
import { cpuNs, load, median } from '../lib.ts';
import { fmt, notes, report } from '../report.ts';
import { ensureBaselines } from './http.ts';

const ROUNDS = 3;

const addressOf = async (id: string) =>
  Object.values((await docker().getContainer(id).inspect()).NetworkSettings.Networks ?? {})[0]?.IPAddress;

/** A profile's self time, by where it was spent. */
function profileShares(file: string): { own: number; writes: number; idle: number; rest: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const t = { own: 0, writes: 0, idle: 0, rest: 0 };
  p.samples.forEach((id, i) => {
    const f = byId.get(id);
    const d = p.timeDeltas[i] ?? 0;
    if (f?.functionName === '(idle)') t.idle += d;
    else if (f?.url.endsWith('gateway.mjs')) t.own += d;
    else if (/^(writevGeneric|writeGeneric|handleWriteReq)$/.test(f?.functionName ?? '')) t.writes += d;
    else t.rest += d;
  });
  return t;
}

export async function benchGateway(stack: TestStack) {
  await ensureBaselines(stack);
  const gateway = containerName(stack.project, 'gateway');
  const postgrest = containerName(stack.project, 'postgrest');
  const [gatewayIp, postgrestIp] = [await addressOf(gateway), await addressOf(postgrest)];
  const direct = `http://${postgrestIp}:3000`;
  const reachable = await fetch(`${direct}/`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );
  if (!gatewayIp || !reachable) {
    notes.push('**gateway profile:** not measured: this host does not reach containers by address.', '');
    return;
  }
  const id = () => 1 + Math.floor(Math.random() * 100_000);
  const path = () => `/contacts_local?id=eq.${id()}`;
  const paths = { port: stack.apiUrl, address: `http://${gatewayIp}:3000`, direct } as const;
  const p50: Record<keyof typeof paths, number[]> = { port: [], address: [], direct: [] };
  const cpu = { gateway: [] as number[], postgrest: [] as number[] };
  for (let round = 0; round < ROUNDS; round++)
    for (const k of Object.keys(paths) as (keyof typeof paths)[]) {
      const [g0, p0] = [await cpuNs(gateway), await cpuNs(postgrest)];
      const r = await load(paths[k], path, stack.jwtSecret);
      if (r.errors + r.non2xx)
        throw new Error(`gateway bench: ${k} had ${r.errors} errors, ${r.non2xx} non-2xx`);
      p50[k].push(r.latency.p50);
      if (k === 'address') {
        cpu.gateway.push(((await cpuNs(gateway)) - g0) / r.requests.total / 1000);
        cpu.postgrest.push(((await cpuNs(postgrest)) - p0) / r.requests.total / 1000);
      }
    }
  const m = (xs: number[]) => median(xs);
  report({
    benchmark: 'gateway alone, by key (20 clients, by address)',
    measured: `gateway p50 ${fmt(m(p50.address))} ms`,
    baseline: `PostgREST direct p50 ${fmt(m(p50.direct))} ms (medians of ${ROUNDS} interleaved runs)`,
    ratio: `${fmt(m(p50.address) / Math.max(m(p50.direct), 0.01), 2)}×`,
    target: '≤ 1.2×',
    verdict: m(p50.address) / Math.max(m(p50.direct), 0.01) <= 1.2 ? 'met' : 'missed',
  });
  report({
    benchmark: "the published port's share (Docker's proxy)",
    measured: `by 127.0.0.1 port p50 ${fmt(m(p50.port))} ms`,
    baseline: `the gateway by address p50 ${fmt(m(p50.address))} ms`,
    ratio: `${fmt(m(p50.port) / Math.max(m(p50.address), 0.01), 2)}×`,
    target: 'report',
    verdict: 'see below',
  });
  report({
    benchmark: 'gateway CPU per request',
    measured: `gateway ${fmt(m(cpu.gateway), 0)} µs`,
    baseline: `PostgREST ${fmt(m(cpu.postgrest), 0)} µs (the same requests)`,
    ratio: `${fmt(m(cpu.gateway) / Math.max(m(cpu.postgrest), 1), 2)}×`,
    target: 'report',
    verdict: 'see below',
  });

  // The profile: a twin of the gateway (its image, its settings) under node --cpu-prof, loaded alike.
  const info = await docker().getContainer(gateway).inspect();
  const dir = mkdtempSync(join(tmpdir(), 'pgapp-gwprof-'));
  chmodSync(dir, 0o777); // the image runs as nobody
  const twin = await docker().createContainer({
    Image: info.Config.Image,
    Env: info.Config.Env,
    Cmd: ['node', '--cpu-prof', '--cpu-prof-dir=/prof', '/opt/pgapp/gateway.mjs'],
    Labels: { 'pgapp.bench': 'gateway-profile' },
    HostConfig: { NetworkMode: networkName(stack.project), Binds: [`${dir}:/prof`] },
  });
  try {
    await twin.start();
    const ip = (await twin.inspect()).NetworkSettings.Networks[networkName(stack.project)]?.IPAddress;
    await new Promise((r) => setTimeout(r, 1500));
    await load(`http://${ip}:3000`, path, stack.jwtSecret);
    await twin.stop({ t: 10 }); // SIGTERM: the gateway exits and node writes the profile
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('gateway bench: the profiling twin wrote no profile');
    const t = profileShares(join(dir, file));
    const busy = t.own + t.writes + t.rest;
    const pct = (x: number) => `${fmt((100 * x) / busy, 0)}%`;
    report({
      benchmark: "gateway profile: its own code's share of its CPU",
      measured: `own code ${pct(t.own)}, socket writes ${pct(t.writes)}, Node's HTTP and the rest ${pct(t.rest)}`,
      baseline: `busy ${fmt((100 * busy) / (busy + t.idle), 0)}% of the run`,
      ratio: '—',
      target: 'report',
      verdict: 'see below',
    });
  } finally {
    await twin.remove({ force: true }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  notes.push(
    "**gateway profile.** The gateway's own code (the URL, select and body limits, the per-client queue, the",
    "504 rewrite) is the small first share of its profile; the rest is the HTTP hop itself: Node's HTTP parser",
    'and serializer and the socket writes, which any proxy in front of PostgREST pays. Its CPU per request is',
    "set beside PostgREST's own for the same requests. On this machine the load generator, both servers, the",
    "gateway and Docker's port proxy share 2 cores, so that CPU shows up as latency; in the cloud layout the",
    'gateway has its own vCPU in the task and the load balancer replaces the port proxy.',
    '',
  );
}
