/**
 * `pgapp deploy synth`: the project as an AWS CDK app (src/deploy), synthesized into a cloud assembly
 * with no AWS account and no network, and refused while cdk-nag's AwsSolutions rules report an error
 * nobody acknowledged with a reason.
 * `pgapp deploy` and `pgapp deploy destroy`: those stacks deployed (and removed) in order with the
 * CDK CLI, the bootstrap task (deploy-apply.ts) run between the data and API stages.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { Listr, PRESET_TIMER } from 'listr2';
import { API_URL_OUTPUT } from '../deploy/api.ts';
import { cloudApp, synth } from '../deploy/app.ts';
import { awsAccess, readOutputs, regionOf, runBootstrap, runCdk } from '../deploy/aws.ts';
import { type CloudSettings, cloudSettings } from '../deploy/settings.ts';
import { PgappError } from '../errors.ts';
import { workDir } from '../paths.ts';
import { type PublicApi, verifyPublicApi } from '../stack/verify.ts';
import { commandConfig, type GlobalOptions } from './common.ts';

export interface SynthResult {
  dir: string;
  region: string;
  stacks: { name: string; template: string; resources: number }[];
  https: boolean;
}

export type DeployOptions = GlobalOptions & {
  out?: string;
  region?: string;
  multiAz?: boolean;
  certificateArn?: string;
  signal?: AbortSignal;
};

/** The cloud's settings from the project's and the deploy flags, resolved once. */
function settingsOf(
  opts: DeployOptions,
  region: string | undefined,
  deletionProtection = true,
): CloudSettings {
  return cloudSettings(commandConfig(opts), {
    region,
    multiAz: opts.multiAz,
    certificateArn: opts.certificateArn,
    deletionProtection,
  });
}

/** `pgapp deploy synth`: the assembly, with no credentials (the region: the flag, AWS's env or profile, or the default). */
export function deploySynth(opts: DeployOptions): SynthResult {
  return synthTo(settingsOf(opts, regionOf(opts.region)), opts.out);
}

/** Synthesize `settings` into `out` (default cdk.out), refused while cdk-nag reports an error. */
function synthTo(settings: CloudSettings, out: string | undefined): SynthResult {
  const dir = resolve(workDir(), out ?? 'cdk.out');
  // A fresh assembly: nothing of an earlier synth is left to deploy. Only an assembly is removed,
  // never a folder of anything else that --out happened to name.
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(resolve(dir, 'manifest.json')))
    throw new PgappError(
      `${dir} is not empty and holds no cloud assembly`,
      'Name an empty or new directory with --out (default cdk.out).',
    );
  rmSync(dir, { recursive: true, force: true });
  const { assembly, findings } = synth(cloudApp(settings, dir));
  if (!assembly)
    throw new PgappError(
      `cdk-nag (AwsSolutions) reports ${findings.length} error${findings.length === 1 ? '' : 's'} nobody acknowledged`,
      'Fix the resource, or acknowledge the rule on it in src/deploy with its reason (deploy/nag.ts).',
      findings.map((f) => `${f.rule} at ${f.paths.join(', ')}\n  ${f.description}`).join('\n'),
    );
  return {
    dir,
    region: settings.region,
    https: settings.certificateArn !== undefined,
    stacks: assembly.stacks.map((s) => ({
      name: s.stackName,
      template: s.templateFullPath,
      resources: Object.keys((s.template as { Resources?: object }).Resources ?? {}).length,
    })),
  };
}

export interface DeployResult {
  region: string;
  /** Where the credentials came from (never the credentials). */
  credentials: string;
  apiUrl: string;
  /** What the API answered through the load balancer. */
  api: PublicApi;
  https: boolean;
  /** The data stage's outputs: how to connect (names and ARNs, no secret's value). */
  data: Record<string, string>;
  stacks: string[];
  ms: number;
}

/** The stages' stack names. */
const stackNames = (s: CloudSettings) => ({
  network: `${s.prefix}-network`,
  data: `${s.prefix}-data`,
  api: `${s.prefix}-api`,
});

/**
 * What deploying and destroying start from: credentials and a region (or what is missing, before
 * anything is written), a fresh assembly of the settings, the stages' names, and the CDK CLI over it.
 */
function forAws(opts: DeployOptions, deletionProtection = true) {
  const access = awsAccess(opts.region);
  const settings = settingsOf(opts, access.region, deletionProtection);
  const assembly = synthTo(settings, opts.out);
  const cdk = (args: string[], t: { output: string }) =>
    runCdk(args, {
      app: assembly.dir,
      region: access.region,
      onLine: (l) => (t.output = l),
      signal: opts.signal,
    });
  return { access, assembly, names: stackNames(settings), cdk };
}

type Step = { title: string; task: (t: { title: string; output: string }) => Promise<void> };

/** Steps with listr2's progress (each CDK line as the step's output); Ctrl-C stops the one running. */
async function runSteps(steps: Step[]): Promise<void> {
  await new Listr<unknown, 'default' | 'simple', 'simple'>(
    steps.map((s) => ({ title: s.title, task: (_c, t) => s.task(t) })),
    {
      renderer: process.stdout.isTTY ? 'default' : 'simple',
      fallbackRenderer: 'simple',
      rendererOptions: { timer: PRESET_TIMER },
      fallbackRendererOptions: { timer: PRESET_TIMER },
      registerSignalListeners: false,
      exitOnError: true,
    },
  ).run();
}

/**
 * `pgapp deploy`: the stages in order, as the cloud needs them — CDK's bootstrap of the account and
 * region; network and data (rds, custom); the bootstrap task, which applies the SQL phases from inside
 * the VPC and verifies rds, the bridge and the replica; then the API, whose PostgREST logs in as the
 * role that task made; then the API's answer through the load balancer.
 */
export async function deployUp(opts: DeployOptions): Promise<DeployResult> {
  const started = performance.now();
  const { access, assembly, names, cdk } = forAws(opts);
  const outputsFile = (stage: string) => resolve(assembly.dir, `outputs-${stage}.json`);
  let data: Record<string, string> = {};
  let apiUrl = '';
  let api: PublicApi = { readyMs: 0, endpoints: [] };
  await runSteps([
    {
      title: `CDK bootstrap (${access.region}, credentials: ${access.source})`,
      task: (t) => cdk(['bootstrap'], t),
    },
    {
      title: `Deploy ${names.network}, ${names.data} (rds, custom)`,
      task: async (t) => {
        await cdk(
          [
            'deploy',
            names.network,
            names.data,
            '--require-approval',
            'never',
            '--outputs-file',
            outputsFile('data'),
          ],
          t,
        );
        data = readOutputs(outputsFile('data'))[names.data] ?? {};
      },
    },
    {
      title: 'Bootstrap task: pgapp deploy apply (the SQL phases, from inside the VPC)',
      task: async (t) => {
        t.output = 'running on ECS Fargate; its log is in CloudWatch';
        await runBootstrap(access.region, data, opts.signal);
      },
    },
    {
      title: `Deploy ${names.api} (PostgREST and the gateway behind the load balancer)`,
      task: async (t) => {
        await cdk(
          [
            'deploy',
            names.api,
            '--exclusively',
            '--require-approval',
            'never',
            '--outputs-file',
            outputsFile('api'),
          ],
          t,
        );
        apiUrl = readOutputs(outputsFile('api'))[names.api]?.[API_URL_OUTPUT] ?? '';
        if (!apiUrl)
          throw new PgappError(
            `${names.api} has no output ${API_URL_OUTPUT}`,
            'See the stack in the CloudFormation console.',
          );
      },
    },
    {
      title: 'The API answers through the load balancer',
      task: async (t) => {
        t.output = 'waiting for its targets to become healthy';
        api = await verifyPublicApi(apiUrl, { signal: opts.signal });
        t.title = `The API answers through the load balancer (after ${Math.round(api.readyMs / 1000)} s): ${api.endpoints.length} endpoints${api.probe ? `, ${api.probe.hop} in ${api.probe.ms} ms` : ''}`;
      },
    },
  ]);
  return {
    region: access.region,
    credentials: access.source,
    apiUrl,
    api,
    https: assembly.https,
    data,
    stacks: Object.values(names),
    ms: Math.round(performance.now() - started),
  };
}

export interface DestroyResult {
  removed: string[];
  kept: string[];
}

/**
 * `pgapp deploy destroy`: the API stage; with `deleteData` also data and network — rds's deletion
 * protection lifted first (a deploy of the data stage without it), CloudFormation then taking rds's
 * final snapshot and custom's volume's (their removal policy) before removing them.
 */
export async function deployDestroy(opts: DeployOptions & { deleteData?: boolean }): Promise<DestroyResult> {
  const { names, cdk } = forAws(opts, !opts.deleteData);
  const steps: Step[] = [
    { title: `Remove ${names.api}`, task: (t) => cdk(['destroy', names.api, '--exclusively', '--force'], t) },
  ];
  if (opts.deleteData)
    steps.push(
      {
        title: `Lift rds's deletion protection (${names.data})`,
        task: (t) => cdk(['deploy', names.data, '--exclusively', '--require-approval', 'never'], t),
      },
      {
        title: `Remove ${names.data} (final snapshots of rds and custom's volume), then ${names.network}`,
        task: (t) => cdk(['destroy', names.data, names.network, '--force'], t),
      },
    );
  await runSteps(steps);
  return opts.deleteData
    ? { removed: [names.api, names.data, names.network], kept: [] }
    : { removed: [names.api], kept: [names.data, names.network] };
}
