/**
 * The container decisions of docker/containers.ts — reuse, start, recreate, create; volumes and the
 * network made once; rollback of what a run made — against a fake engine that records every call.
 * (The real engine is exercised by the integration tests; this is the logic alone.)
 */
import { describe, expect, it } from 'vitest';
import {
  type Created,
  ensureContainer,
  ensureNetwork,
  ensureVolume,
  keep,
  newCreated,
  rollback,
} from '../../src/docker/containers.ts';
import type { DockerClient } from '../../src/docker/engine.ts';
import { LABELS, type ServiceSpec, specHash } from '../../src/spec/stack.ts';

interface FakeContainer {
  Id: string;
  Labels: Record<string, string>;
  State: 'running' | 'exited';
}

/** An engine in memory: containers, volumes and networks, and the list of calls made to it. */
function fakeEngine(
  opts: { containers?: FakeContainer[]; volumes?: string[]; failRemove?: Set<string> } = {},
) {
  const containers = [...(opts.containers ?? [])];
  const volumes = new Map((opts.volumes ?? []).map((v) => [v, {}]));
  const networks: { Name: string; Labels: Record<string, string> }[] = [];
  const calls: string[] = [];
  let next = 0;
  const notFound = () => Object.assign(new Error('no such'), { statusCode: 404 });
  const matches = (labels: Record<string, string>, filter: string[]) =>
    filter.every((f) => {
      const [k, v] = f.split('=');
      return labels[k as string] === v;
    });
  const client = {
    listContainers: async ({ filters }: { filters: { label: string[] } }) =>
      containers.filter((c) => matches(c.Labels, filters.label)),
    createContainer: async (o: { name: string; Labels: Record<string, string> }) => {
      const id = `c${++next}`;
      calls.push(`create ${o.name}`);
      containers.push({ Id: id, Labels: o.Labels, State: 'exited' });
      return { id };
    },
    getContainer: (id: string) => ({
      start: async () => {
        calls.push(`start ${id}`);
        const c = containers.find((x) => x.Id === id);
        if (!c) throw notFound();
        c.State = 'running';
      },
      remove: async () => {
        calls.push(`remove ${id}`);
        if (opts.failRemove?.has(id)) throw new Error('engine said no');
        const i = containers.findIndex((x) => x.Id === id);
        if (i < 0) throw notFound();
        containers.splice(i, 1);
      },
    }),
    listVolumes: async () => ({ Volumes: [...volumes.keys()].map((Name) => ({ Name })) }),
    createVolume: async (o: { Name: string; Labels: Record<string, string> }) => {
      calls.push(`create volume ${o.Name} ${JSON.stringify(o.Labels)}`);
      volumes.set(o.Name, o.Labels);
    },
    getVolume: (name: string) => ({
      inspect: async () => {
        if (!volumes.has(name)) throw notFound();
        return {};
      },
      remove: async () => {
        calls.push(`remove volume ${name}`);
        volumes.delete(name);
      },
    }),
    listNetworks: async () => networks,
    createNetwork: async (o: { Name: string; Labels: Record<string, string> }) => {
      calls.push(`create network ${o.Name}`);
      networks.push({ Name: o.Name, Labels: o.Labels });
    },
    getNetwork: (name: string) => ({
      remove: async () => {
        calls.push(`remove network ${name}`);
      },
    }),
  };
  return { client: client as unknown as DockerClient, containers, calls };
}

const spec: ServiceSpec = {
  service: 'custom',
  name: 'p-custom',
  image: 'pgapp/postgres:pg17-abc',
  env: { POSTGRES_PASSWORD: 'x' },
  cmd: [],
  ports: [], // no host port: the decisions alone (ports are checked on the real host)
  volumes: [{ name: 'p_custom_data', target: '/var/lib/postgresql/data' }],
  binds: [],
  ready: { kind: 'healthcheck' },
};
const labels = (hash: string) => ({
  [LABELS.project]: 'p',
  [LABELS.service]: 'custom',
  [LABELS.specHash]: hash,
});

describe('container decisions (fake engine)', () => {
  it('creates and starts a container the project does not have, and records it', async () => {
    const e = fakeEngine();
    const created = newCreated();
    const r = await ensureContainer('p', spec, 'sha256:img', created, e.client);
    expect(r).toEqual({ id: 'c1', action: 'created' });
    expect(e.calls).toEqual(['create p-custom', 'start c1']);
    expect(created.containers).toEqual(['c1']);
    expect(e.containers[0]?.Labels[LABELS.specHash]).toBe(specHash(spec, 'sha256:img'));
  });

  it('reuses a running container of the same spec and image without touching it', async () => {
    const hash = specHash(spec, 'sha256:img');
    const e = fakeEngine({ containers: [{ Id: 'old', Labels: labels(hash), State: 'running' }] });
    const created = newCreated();
    expect(await ensureContainer('p', spec, 'sha256:img', created, e.client)).toEqual({
      id: 'old',
      action: 'reused',
    });
    expect(e.calls).toEqual([]);
    expect(created.containers).toEqual([]);
  });

  it('starts a stopped one of the same spec (its data and id kept)', async () => {
    const hash = specHash(spec, 'sha256:img');
    const e = fakeEngine({ containers: [{ Id: 'old', Labels: labels(hash), State: 'exited' }] });
    expect(await ensureContainer('p', spec, 'sha256:img', newCreated(), e.client)).toEqual({
      id: 'old',
      action: 'started',
    });
    expect(e.calls).toEqual(['start old']);
  });

  it('recreates one whose spec or image changed: the old one removed first, the new one recorded', async () => {
    const e = fakeEngine({ containers: [{ Id: 'old', Labels: labels('stale'), State: 'running' }] });
    const created = newCreated();
    const r = await ensureContainer(
      'p',
      { ...spec, env: { POSTGRES_PASSWORD: 'y' } },
      'sha256:img',
      created,
      e.client,
    );
    expect(r.action).toBe('recreated');
    expect(e.calls).toEqual(['remove old', 'create p-custom', `start ${r.id}`]);
    expect(created.containers).toEqual([r.id]);
    // A new image alone is a change too.
    const again = await ensureContainer('p', spec, 'sha256:other', newCreated(), e.client);
    expect(again.action).toBe('recreated');
  });

  it('makes a volume (labelled with its PostgreSQL version) and the network once', async () => {
    const e = fakeEngine({ volumes: ['p_rds_data'] });
    const created = newCreated();
    await ensureVolume('p', 'rds', 'p_rds_data', 17, created, e.client);
    await ensureVolume('p', 'custom', 'p_custom_data', 17, created, e.client);
    await ensureNetwork('p', created, e.client);
    await ensureNetwork('p', created, e.client);
    expect(created.volumes).toEqual(['p_custom_data']);
    expect(created.networks).toEqual(['p_net']);
    expect(e.calls).toEqual([
      `create volume p_custom_data ${JSON.stringify({ [LABELS.project]: 'p', [LABELS.service]: 'custom', [LABELS.postgres]: '17' })}`,
      'create network p_net',
    ]);
  });

  it('rolls back newest first: a failure keeps what became ready, Ctrl-C removes all; never throws', async () => {
    const run = (): Created => {
      const c = newCreated();
      c.networks.push('p_net');
      c.volumes.push('p_rds_data', 'p_custom_data');
      c.containers.push('rds1', 'custom1');
      keep(c, 'rds1', 'p_rds_data', 'p_net'); // rds became ready
      return c;
    };
    const failed = fakeEngine({ containers: [] });
    expect(await rollback(run(), { all: false }, failed.client)).toEqual([
      // custom1 is not there any more: its removal fails, and the rollback goes on
      'volume p_custom_data',
    ]);
    expect(failed.calls).toEqual(['remove custom1', 'remove volume p_custom_data']);

    const interrupted = fakeEngine({
      containers: [
        { Id: 'rds1', Labels: labels('a'), State: 'running' },
        { Id: 'custom1', Labels: labels('b'), State: 'running' },
      ],
      failRemove: new Set(['rds1']),
    });
    expect(await rollback(run(), { all: true }, interrupted.client)).toEqual([
      'container custom1',
      'volume p_custom_data',
      'volume p_rds_data',
      'network p_net',
    ]);
    expect(interrupted.calls).toEqual([
      'remove custom1',
      'remove rds1',
      'remove volume p_custom_data',
      'remove volume p_rds_data',
      'remove network p_net',
    ]);
  });
});
