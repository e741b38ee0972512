/** `pgapp status`: the stack's containers, how to reach it, the replica and rds's parameter group. */
import { readSecrets } from '../config/secrets.ts';
import { connectionConfig } from '../db/connect.ts';
import { dataPgMajor, projectContainers } from '../docker/containers.ts';
import { checkEngine } from '../docker/engine.ts';
import { errorMessage } from '../errors.ts';
import { LABELS, SERVICES } from '../spec/stack.ts';
import {
  type ApiFunctions,
  type ApiTable,
  apiFunctions,
  apiTables,
  apiUnserved,
  type Unserved,
} from '../stack/api.ts';
import { type ConnectionDetails, connectionDetails } from '../stack/connections.ts';
import { type ParameterGroupStatus, parameterGroupStatus } from '../stack/parameters.ts';
import { type ReplicaStatus, replicaStatus } from '../stack/replica.ts';
import { commandConfig, type GlobalOptions, liveConfig } from './common.ts';

export interface ServiceStatus {
  service: string;
  container: string;
  state: string;
  health: string;
  ports: string[];
  image: string;
}

export interface StackStatus {
  project: string;
  /** The PostgreSQL major version of the project's data (rds and custom); absent before the first `dev`. */
  postgres?: number;
  services: ServiceStatus[];
  /** How tools reach it (passwords as **** unless `showSecrets`); absent before the first `dev`. */
  connections?: ConnectionDetails;
  /** The colocated read path (reads: replica): the subscription and its lag; absent when custom is down. */
  replica?: ReplicaStatus | { error: string };
  /** The stand-in's parameter group: what is not in force yet (pending-reboot); absent when rds is down. */
  parameterGroup?: ParameterGroupStatus | { error: string };
  /** What each of rds's tables became in the api (endpoint, access, where it reads); absent when custom is down. */
  api?: ApiTable[] | { error: string };
  /** What rds's bridged schemas hold that the API does not serve, and why; absent when custom is down. */
  unserved?: Unserved[];
  /** rds's functions at /rpc/<name>, by where they run; absent when custom is down. */
  functions?: ApiFunctions;
}

export async function status(opts: GlobalOptions & { showSecrets?: boolean }): Promise<StackStatus> {
  const config = commandConfig(opts);
  await checkEngine();
  const list = await projectContainers(config.project);
  const services = SERVICES.map((service): ServiceStatus => {
    const c = list.find((x) => x.Labels[LABELS.service] === service);
    if (!c) return { service, container: '-', state: 'absent', health: '-', ports: [], image: '-' };
    const health =
      /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1] ??
      (c.State === 'running' ? 'running' : '-');
    return {
      service,
      container: (c.Names[0] ?? '').replace(/^\//, ''),
      state: c.State,
      health,
      ports: c.Ports.filter((p) => p.PublicPort).map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}`),
      image: c.Image,
    };
  });
  const result: StackStatus = {
    project: config.project,
    postgres: await dataPgMajor(config.project),
    services,
  };
  const secrets = readSecrets(config.project);
  const live = await liveConfig(opts);
  if (secrets) result.connections = connectionDetails(live, secrets, { showSecrets: opts.showSecrets });
  if (secrets && !config.remote && services.find((s) => s.service === 'rds')?.state === 'running') {
    result.parameterGroup = await parameterGroupStatus(live, connectionConfig('rds', live, secrets)).catch(
      (err) => ({ error: errorMessage(err) }),
    );
  }
  if (secrets && services.find((s) => s.service === 'custom')?.state === 'running') {
    result.api = await apiTables(live, secrets).catch((err) => ({ error: errorMessage(err) }));
    result.unserved = await apiUnserved(live, secrets).catch(() => undefined);
    result.functions = await apiFunctions(live, secrets).catch(() => undefined);
    result.replica = await replicaStatus(live, secrets).catch((err) => ({ error: errorMessage(err) }));
  }
  return result;
}
