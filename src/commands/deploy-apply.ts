/**
 * `pgapp deploy apply`: what the cloud's bootstrap task runs inside the VPC — dev's SQL phases on the
 * deployed rds and custom, verified as dev verifies the local ones (the API is deployed after it).
 */
import { Listr, PRESET_TIMER } from 'listr2';
import { CLOUD_ENV, type CloudEnv, envOnly } from '../config/options.ts';
import type { Config } from '../config/schema.ts';
import type { Secrets } from '../config/secrets.ts';
import { PgappError } from '../errors.ts';
import { PG_PORT, RDS_MASTER_USER } from '../spec/stack.ts';
import type { Hop } from '../stack/verify.ts';
import { commandConfig, type GlobalOptions } from './common.ts';
import { type Ctx, devPhases, newCtx } from './dev-phases.ts';

/**
 * The cloud's stack as the bootstrap task sees it: the project's settings, with rds the one pgapp
 * deployed (its master user, verify-full against RDS's CA, pgapp's own roles made there, the
 * project's migrations and seed applied) and custom at its private host. Every value comes from the
 * task definition's environment (CLOUD_ENV); what is missing is named.
 */
export function cloudTarget(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): { config: Config; secrets: Secrets } {
  const optional: CloudEnv[] = ['PGAPP_CLOUD_RDS_PORT'];
  const missing = CLOUD_ENV.filter((k) => !optional.includes(k) && !envOnly(k, env));
  if (missing.length > 0)
    throw new PgappError(
      `pgapp deploy apply: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`,
      'It runs inside the cloud stack, as its bootstrap task (which `pgapp deploy` starts, with these set from the data stack and Secrets Manager). To deploy from here: `pgapp deploy`.',
    );
  const get = (k: CloudEnv) => envOnly(k, env) as string;
  const port = Number(envOnly('PGAPP_CLOUD_RDS_PORT', env) ?? PG_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new PgappError(
      `PGAPP_CLOUD_RDS_PORT=${get('PGAPP_CLOUD_RDS_PORT')} is not a port`,
      'A number 1–65535.',
    );
  const base = commandConfig(opts);
  const config: Config = {
    ...base,
    remote: {
      host: get('PGAPP_CLOUD_RDS_HOST'),
      port,
      user: RDS_MASTER_USER,
      password: get('PGAPP_CLOUD_RDS_PASSWORD'),
      database: base.project,
      sslmode: 'verify-full',
      sslrootcert: get('PGAPP_CLOUD_RDS_CA'),
      seed: true,
      owned: true,
    },
    customHost: get('PGAPP_CLOUD_CUSTOM_HOST'),
  };
  const secrets: Secrets = {
    rdsMasterPassword: get('PGAPP_CLOUD_RDS_PASSWORD'),
    customPassword: get('PGAPP_CLOUD_CUSTOM_PASSWORD'),
    bridgePassword: get('PGAPP_CLOUD_BRIDGE_PASSWORD'),
    replicatorPassword: get('PGAPP_CLOUD_REPLICATOR_PASSWORD'),
    authenticatorPassword: get('PGAPP_CLOUD_AUTHENTICATOR_PASSWORD'),
    // The API's own (its task has them); the SQL phases read neither.
    jwtSecret: '',
    explainKey: '',
  };
  return { config, secrets };
}

export interface ApplyResult {
  hops: Hop[];
  sql: Ctx['sql'];
  schemas: string[];
  endpoints: number;
  ms: number;
}

/**
 * `pgapp deploy apply`: the SQL phases on the cloud's servers, with plain line-by-line progress (its
 * output is the task's log). Run again, it applies nothing twice (the ledger is in each database).
 */
export async function deployApply(opts: GlobalOptions & { signal?: AbortSignal }): Promise<ApplyResult> {
  const started = performance.now();
  const { config, secrets } = cloudTarget(opts);
  const signal = opts.signal ?? new AbortController().signal;
  const ctx = newCtx(config, secrets);
  await new Listr<Ctx, 'default' | 'simple', 'simple'>(devPhases(config, signal, false, 'cloud'), {
    renderer: 'simple',
    fallbackRenderer: 'simple',
    rendererOptions: { timer: PRESET_TIMER },
    registerSignalListeners: false,
    exitOnError: true,
  }).run(ctx);
  return {
    hops: ctx.hops,
    sql: ctx.sql,
    schemas: ctx.schemas ?? [],
    endpoints: (ctx.api ?? []).filter((t) => t.apiName).length,
    ms: Math.round(performance.now() - started),
  };
}
