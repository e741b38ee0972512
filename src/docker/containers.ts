/**
 * Containers, volumes and the network of a project, found by labels (never by guessing names).
 * A container whose spec hash (spec + image ID) matches is reused; one that differs is recreated.
 * The decisions (ensure*, rollback) take the engine's client as their last argument (the real one
 * by default), so their unit tests pass a fake.
 */
import type Docker from 'dockerode';
import type { PortKey } from '../config/schema.ts';
import { errorMessage, PgappError } from '../errors.ts';
import { portFree } from '../net/ports.ts';
import { retryUntil } from '../net/time.ts';
import {
  GATEWAY_PORT,
  LABELS,
  networkName,
  PG_PORT,
  PORT_KEY_OF,
  type Service,
  type ServiceSpec,
  specHash,
} from '../spec/stack.ts';
import { type DockerClient, docker, lastLogLines } from './engine.ts';

export type Action = 'reused' | 'started' | 'created' | 'recreated';

/**
 * What a run created, so an interrupted or failed run can remove exactly that. Resources of a
 * service that became ready are `kept`: a failure later in the run leaves them for the next run
 * to reuse; only an interruption (Ctrl-C) removes them too.
 */
export interface Created {
  containers: string[];
  volumes: string[];
  networks: string[];
  kept: Set<string>;
}

export const newCreated = (): Created => ({ containers: [], volumes: [], networks: [], kept: new Set() });

export function keep(created: Created, ...names: string[]): void {
  for (const n of names) created.kept.add(n);
}

const projectFilter = (project: string, service?: Service) => ({
  label: [`${LABELS.project}=${project}`, ...(service ? [`${LABELS.service}=${service}`] : [])],
});

export async function findContainer(
  project: string,
  service: Service,
  client: DockerClient = docker(),
): Promise<Docker.ContainerInfo | undefined> {
  const list = await client.listContainers({ all: true, filters: projectFilter(project, service) });
  return list[0];
}

export async function projectContainers(project: string): Promise<Docker.ContainerInfo[]> {
  return docker().listContainers({ all: true, filters: projectFilter(project) });
}

/** Host ports the project's containers publish, by service and container port. */
export async function publishedPorts(
  project: string,
): Promise<Partial<Record<Service, Record<number, number>>>> {
  const out: Partial<Record<Service, Record<number, number>>> = {};
  for (const c of await projectContainers(project)) {
    const svc = c.Labels[LABELS.service] as Service | undefined;
    if (!svc) continue;
    for (const p of c.Ports) if (p.PublicPort) out[svc] = { ...out[svc], [p.PrivatePort]: p.PublicPort };
  }
  return out;
}

/** The project's host ports by config key, for the services that have containers. */
export async function projectPorts(project: string): Promise<Partial<Record<PortKey, number>>> {
  const p = await publishedPorts(project);
  const out: Partial<Record<PortKey, number>> = {
    rds: p.rds?.[PG_PORT],
    custom: p.custom?.[PG_PORT],
    postgrest: p.gateway?.[GATEWAY_PORT],
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

/**
 * The PostgreSQL major version of the project's data: its rds and custom volumes say (a volume from
 * before versions were offered holds 15); undefined when it has none.
 */
export async function dataPgMajor(project: string): Promise<number | undefined> {
  const { Volumes } = await docker().listVolumes({ filters: { label: [`${LABELS.project}=${project}`] } });
  const data = (Volumes ?? []).filter((v) => ['rds', 'custom'].includes(v.Labels?.[LABELS.service] ?? ''));
  if (data.length === 0) return undefined;
  const majors = data.map((v) => Number(v.Labels?.[LABELS.postgres] ?? 15));
  return Math.max(...majors);
}

export async function projectVolumes(project: string): Promise<string[]> {
  const { Volumes } = await docker().listVolumes({ filters: { label: [`${LABELS.project}=${project}`] } });
  return (Volumes ?? []).map((v) => v.Name);
}

export async function ensureNetwork(
  project: string,
  created: Created,
  client: DockerClient = docker(),
): Promise<string> {
  const name = networkName(project);
  const found = await client.listNetworks({ filters: { label: [`${LABELS.project}=${project}`] } });
  if (found.some((n) => n.Name === name)) return name;
  await client.createNetwork({ Name: name, Driver: 'bridge', Labels: { [LABELS.project]: project } });
  created.networks.push(name);
  return name;
}

/** A data volume, labelled with the PostgreSQL major version whose data it will hold. */
export async function ensureVolume(
  project: string,
  service: Service,
  name: string,
  pgMajor: number,
  created: Created,
  client: DockerClient = docker(),
): Promise<void> {
  try {
    await client.getVolume(name).inspect();
    return;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  await client.createVolume({
    Name: name,
    Labels: { [LABELS.project]: project, [LABELS.service]: service, [LABELS.postgres]: String(pgMajor) },
  });
  created.volumes.push(name);
}

async function assertPortsFree(spec: ServiceSpec): Promise<void> {
  for (const p of spec.ports) {
    if (!(await portFree(p.host))) {
      throw new PgappError(
        `Port ${p.host} on 127.0.0.1 is already in use (wanted by ${spec.service})`,
        `Stop whatever listens there (\`ss -ltnp 'sport = :${p.host}'\` shows it), or choose another port, e.g. ` +
          `\`--${PORT_KEY_OF[spec.service] ?? spec.service}-port ${p.host + 10}\`.`,
      );
    }
  }
}

/**
 * Make the service's container exist, match its spec and run. Returns what had to be done.
 */
export async function ensureContainer(
  project: string,
  spec: ServiceSpec,
  imageId: string,
  created: Created,
  client: DockerClient = docker(),
): Promise<{ id: string; action: Action }> {
  const hash = specHash(spec, imageId);
  const existing = await findContainer(project, spec.service, client);
  let action: Action = 'created';
  if (existing) {
    if (existing.Labels[LABELS.specHash] === hash) {
      if (existing.State === 'running') return { id: existing.Id, action: 'reused' };
      await assertPortsFree(spec);
      await startContainer(existing.Id, spec, client);
      return { id: existing.Id, action: 'started' };
    }
    await client.getContainer(existing.Id).remove({ force: true });
    action = 'recreated';
  }
  await assertPortsFree(spec);
  const net = networkName(project);
  const container = await client.createContainer({
    name: spec.name,
    Image: spec.image,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Cmd: spec.cmd.length > 0 ? spec.cmd : undefined,
    Labels: { [LABELS.project]: project, [LABELS.service]: spec.service, [LABELS.specHash]: hash },
    ExposedPorts: Object.fromEntries(spec.ports.map((p) => [`${p.container}/tcp`, {}])),
    HostConfig: {
      PortBindings: Object.fromEntries(
        spec.ports.map((p) => [`${p.container}/tcp`, [{ HostIp: '127.0.0.1', HostPort: String(p.host) }]]),
      ),
      Mounts: [
        ...spec.volumes.map((v) => ({ Type: 'volume' as const, Source: v.name, Target: v.target })),
        ...spec.binds.map((b) => ({
          Type: 'bind' as const,
          Source: b.source,
          Target: b.target,
          ReadOnly: true,
        })),
      ],
      NetworkMode: net,
      RestartPolicy: { Name: 'unless-stopped' },
    },
    NetworkingConfig: { EndpointsConfig: { [net]: { Aliases: [spec.service] } } },
  });
  created.containers.push(container.id);
  await startContainer(container.id, spec, client);
  return { id: container.id, action };
}

async function startContainer(id: string, spec: ServiceSpec, client: DockerClient): Promise<void> {
  try {
    await client.getContainer(id).start();
  } catch (err) {
    const msg = errorMessage(err);
    if (/port is already allocated|address already in use/i.test(msg)) {
      throw new PgappError(
        `A host port of ${spec.service} is already in use: ${msg}`,
        'Stop what uses it, or pick another port (see `pgapp dev --help`).',
      );
    }
    throw new PgappError(
      `Cannot start ${spec.service}: ${msg}`,
      `See \`pgapp logs ${spec.service}\`.`,
      await lastLogLines(id),
    );
  }
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Wait until the service is ready (Docker healthcheck, HTTP 200 from the host, or running steadily); on failure show its logs. */
export async function waitReady(id: string, spec: ServiceSpec, opts: WaitOptions): Promise<void> {
  let last = '';
  let restarts: number | undefined;
  const failed = async (message: string) => {
    const logs = await lastLogLines(id);
    return new PgappError(message, failureHint(spec.service, logs), logs);
  };
  /** One look: true once ready, false when it will not be (unhealthy), undefined to look again. */
  const look = async (): Promise<boolean | undefined> => {
    const info = await docker().getContainer(id).inspect();
    restarts ??= info.RestartCount;
    // The restart policy brings a crashed server back: a restart while waiting is a crash loop.
    const crashLoop = info.RestartCount > restarts || info.State.Restarting;
    if (!info.State.Running || crashLoop) {
      throw await failed(
        crashLoop
          ? `${spec.service} keeps crashing (restarted ${info.RestartCount - restarts || 1} time(s)) instead of becoming ready`
          : `${spec.service} exited (code ${info.State.ExitCode}) instead of becoming ready`,
      );
    }
    if (spec.ready.kind === 'healthcheck') {
      last = info.State.Health?.Status ?? 'no healthcheck';
      if (last === 'healthy') return true;
      if (last === 'unhealthy') return false;
    } else if (spec.ready.kind === 'running') {
      // Up for a moment without a restart: a configuration it cannot run with has exited by then.
      last = 'starting';
      if (Date.now() - Date.parse(info.State.StartedAt) > 500) return true;
    } else {
      try {
        const res = await fetch(spec.ready.url, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return true;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = errorMessage(err);
      }
    }
    return undefined;
  };
  const timedOut = new Error('not ready in time');
  const ready = await retryUntil(look, {
    timeoutMs: opts.timeoutMs,
    intervalMs: 200,
    signal: opts.signal,
    timedOut: () => timedOut,
  }).catch((err) => {
    if (err === timedOut) return false;
    throw err;
  });
  if (ready) return;
  throw await failed(
    `${spec.service} did not become ready within ${Math.round(opts.timeoutMs / 1000)} s (last state: ${last})`,
  );
}

/** A hint from what a failed service logged: a full disk and an unwritable volume are named. */
export function failureHint(service: string, logs: string): string {
  const more = `Its last log lines are above; \`pgapp logs ${service}\` shows more.`;
  const other = /this data directory holds PostgreSQL (\d+) data, but this image runs PostgreSQL (\d+)/.exec(
    logs,
  );
  if (other)
    return (
      `Its volume holds PostgreSQL ${other[1]} data, which PostgreSQL ${other[2]} cannot read: a major version ` +
      `change needs a dump and restore. Run it on ${other[1]} (\`--postgres ${other[1]}\`), or start over with ` +
      `\`pgapp reset\` (deletes its data). ${more}`
    );
  if (/No space left on device|could not extend file|disk quota exceeded/i.test(logs))
    return (
      'The disk holding its volume is full. Free space (see `docker system df`; `docker system prune` ' +
      `removes what no container uses) and run \`pgapp dev\` again. ${more}`
    );
  if (/Permission denied|Operation not permitted|Read-only file system/i.test(logs))
    return (
      'The server cannot write its data volume. Check the volume (`docker volume inspect`) and the disk it ' +
      `is on, or start over with \`pgapp reset\` (deletes its data). ${more}`
    );
  return more;
}

/** Remove what a run created (newest first), all of it or only what was not kept; never throws. */
export async function rollback(
  created: Created,
  opts: { all: boolean },
  client: DockerClient = docker(),
): Promise<string[]> {
  const removed: string[] = [];
  const drop = (name: string) => opts.all || !created.kept.has(name);
  const attempt = async (label: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      removed.push(label);
    } catch {}
  };
  for (const id of [...created.containers].reverse().filter(drop)) {
    await attempt(`container ${id.slice(0, 12)}`, () => client.getContainer(id).remove({ force: true }));
  }
  for (const name of [...created.volumes].reverse().filter(drop)) {
    await attempt(`volume ${name}`, () => client.getVolume(name).remove());
  }
  for (const name of [...created.networks].reverse().filter(drop)) {
    await attempt(`network ${name}`, () => client.getNetwork(name).remove());
  }
  return removed;
}

/** Stop the project's containers (keep them and their data). */
export async function stopProject(project: string): Promise<string[]> {
  const stopped: string[] = [];
  for (const c of await projectContainers(project)) {
    if (c.State === 'running') {
      await docker().getContainer(c.Id).stop({ t: 10 });
      stopped.push(c.Labels[LABELS.service] ?? c.Names[0] ?? c.Id);
    }
  }
  return stopped;
}

/** Remove the project's containers, volumes and network. */
export async function removeProject(
  project: string,
): Promise<{ containers: number; volumes: number; networks: number }> {
  const containers = await projectContainers(project);
  for (const c of containers) await docker().getContainer(c.Id).remove({ force: true });
  const { Volumes } = await docker().listVolumes({ filters: { label: [`${LABELS.project}=${project}`] } });
  for (const v of Volumes ?? []) await docker().getVolume(v.Name).remove();
  const nets = await docker().listNetworks({ filters: { label: [`${LABELS.project}=${project}`] } });
  for (const n of nets) await docker().getNetwork(n.Id).remove();
  return { containers: containers.length, volumes: Volumes?.length ?? 0, networks: nets.length };
}

/** Restart a container (a fast shutdown, then the same container): rds's reboot for its parameter group. */
export async function restartContainer(id: string): Promise<void> {
  await docker().getContainer(id).restart({ t: 10 });
}
