/**
 * What `pgapp deploy` needs of AWS, and the calls it makes: the credentials and region it finds (or
 * exactly what is missing), the CDK CLI (`aws-cdk` from npm) over a synthesized assembly, and the
 * one-off bootstrap task on ECS. (The API's answer through the load balancer: stack/verify.ts.)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DescribeTasksCommand, ECSClient, RunTaskCommand, waitUntilTasksStopped } from '@aws-sdk/client-ecs';
import { PgappError } from '../errors.ts';
import { DATA_OUTPUTS } from './data.ts';
import { DEFAULT_REGION } from './settings.ts';

export interface AwsAccess {
  region: string;
  /** Where the credentials come from, for the summary (never the credentials). */
  source: string;
}

/** The profile names an AWS shared config or credentials file declares. */
function profilesIn(file: string): { name: string; region?: string }[] {
  if (!existsSync(file)) return [];
  const out: { name: string; region?: string }[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const section = /^\s*\[\s*(?:profile\s+)?([^\]\s]+)\s*\]/.exec(line);
    if (section) out.push({ name: section[1] as string });
    const region = /^\s*region\s*=\s*(\S+)/.exec(line);
    const last = out.at(-1);
    if (region && last) last.region = region[1];
  }
  return out;
}

/**
 * The region, where the AWS CLI finds it: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's in
 * the config file; undefined when none says (synth then takes DEFAULT_REGION, deploy stops).
 */
export function regionOf(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  if (env.AWS_REGION || env.AWS_DEFAULT_REGION) return env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const profile = env.AWS_PROFILE || 'default';
  const config = env.AWS_CONFIG_FILE || join(homedir(), '.aws', 'config');
  return profilesIn(config).find((p) => p.name === profile)?.region;
}

/**
 * AWS credentials and a region for `pgapp deploy`, found where the AWS CLI and the CDK look, or an
 * error naming exactly what is missing. Nothing is sent anywhere: the CDK CLI checks them for real.
 */
export function awsAccess(regionFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): AwsAccess {
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE || join(homedir(), '.aws', 'credentials');
  const configFile = env.AWS_CONFIG_FILE || join(homedir(), '.aws', 'config');
  const profiles = [...profilesIn(credentialsFile), ...profilesIn(configFile)].map((p) => p.name);
  let source: string | undefined;
  if (env.AWS_ACCESS_KEY_ID && !env.AWS_SECRET_ACCESS_KEY)
    throw new PgappError(
      'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not',
      'Set both (and AWS_SESSION_TOKEN for temporary credentials), or unset AWS_ACCESS_KEY_ID and use a profile.',
    );
  if (env.AWS_ACCESS_KEY_ID) source = 'AWS_ACCESS_KEY_ID (environment)';
  else if (env.AWS_PROFILE) {
    if (!profiles.includes(env.AWS_PROFILE))
      throw new PgappError(
        `AWS_PROFILE=${env.AWS_PROFILE}, but no such profile is in ${credentialsFile} or ${configFile}`,
        `Create it (\`aws configure --profile ${env.AWS_PROFILE}\`, or \`aws configure sso\`), or set AWS_PROFILE to one of: ${profiles.join(', ') || '(none)'}.`,
      );
    source = `profile ${env.AWS_PROFILE}`;
  } else if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) source = 'web identity (AWS_ROLE_ARN)';
  else if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI)
    source = 'the container credentials endpoint';
  else if (profiles.includes('default')) source = 'profile default';
  if (!source)
    throw new PgappError(
      'No AWS credentials: `pgapp deploy` found none of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ' +
        `AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or a [default] profile in ${credentialsFile} or ${configFile}`,
      'Give it an account: `aws configure` (keys) or `aws configure sso` then AWS_PROFILE=<profile>. `pgapp deploy synth` needs none: it builds and checks the templates offline.',
    );
  const region = regionOf(regionFlag, env);
  if (!region)
    throw new PgappError(
      `No AWS region: none of --region, AWS_REGION, AWS_DEFAULT_REGION or a region for the profile in ${configFile}`,
      `Add --region (e.g. --region ${DEFAULT_REGION}) or set AWS_REGION.`,
    );
  return { region, source };
}

/** What a CDK failure's last lines mean, where they say. */
function cdkHint(tail: string[]): string {
  const text = tail.join('\n');
  if (/Unable to resolve AWS account|ExpiredToken|InvalidClientTokenId|SignatureDoesNotMatch/.test(text))
    return 'AWS did not accept the credentials (or could not be reached): `aws sts get-caller-identity` says which. Refresh them (`aws sso login`, new keys) and run `pgapp deploy` again.';
  if (/is in [A-Z_]+_FAILED state|ROLLBACK/.test(text))
    return 'CloudFormation rolled a stack back: its events (console → CloudFormation → the stack → Events) say which resource failed and why.';
  return 'Its last lines are above; CloudFormation keeps the events of each stack (console → CloudFormation).';
}

/** The CDK CLI of pgapp's own dependencies (`aws-cdk`), run with node. */
const cdkCli = () => createRequire(import.meta.url).resolve('aws-cdk/bin/cdk');

/**
 * Run the CDK CLI over the synthesized assembly `app` (a directory). Each output line goes to
 * `onLine`; a failure is an error with its last lines.
 */
export function runCdk(
  args: string[],
  opts: { app: string; region: string; onLine: (line: string) => void; signal?: AbortSignal },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cdkCli(), ...args, '--app', opts.app, '--ci', '--no-color'], {
      // No version check and no telemetry: the CDK CLI sends nothing but what the deploy needs.
      env: {
        ...process.env,
        AWS_REGION: opts.region,
        CDK_DISABLE_VERSION_CHECK: '1',
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        NODE_NO_WARNINGS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const tail: string[] = [];
    const lines = (chunk: Buffer) => {
      for (const line of chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim())) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        opts.onLine(line);
      }
    };
    child.stdout.on('data', lines);
    child.stderr.on('data', lines);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new PgappError(`cdk ${args[0]} failed (exit ${code})`, cdkHint(tail), tail.join('\n'))),
    );
  });
}

/** The outputs `cdk deploy --outputs-file` wrote: stack → key → value. */
export type StackOutputs = Record<string, Record<string, string>>;
export const readOutputs = (file: string): StackOutputs => JSON.parse(readFileSync(file, 'utf8'));

/**
 * Run the bootstrap task (pgapp deploy apply, inside the VPC) and wait for it; its exit code is the
 * answer, its log stream the details.
 */
export async function runBootstrap(
  region: string,
  out: Record<string, string>,
  signal?: AbortSignal,
): Promise<void> {
  const get = (k: string) => {
    const v = out[k];
    if (!v)
      throw new PgappError(
        `The data stack has no output ${k}`,
        'Run `pgapp deploy` again: it deploys the data stack first.',
      );
    return v;
  };
  const ecs = new ECSClient({ region });
  const cluster = get(DATA_OUTPUTS.cluster);
  const started = await ecs.send(
    new RunTaskCommand({
      cluster,
      taskDefinition: get(DATA_OUTPUTS.task),
      launchType: 'FARGATE',
      count: 1,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: get(DATA_OUTPUTS.subnets).split(','),
          securityGroups: [get(DATA_OUTPUTS.group)],
          assignPublicIp: 'DISABLED',
        },
      },
    }),
    { abortSignal: signal },
  );
  const arn = started.tasks?.[0]?.taskArn;
  if (!arn)
    throw new PgappError(
      `ECS did not start the bootstrap task: ${started.failures?.map((f) => `${f.arn ?? ''} ${f.reason ?? ''}`).join('; ') || 'no reason given'}`,
      'Check the ECS cluster in the console; `pgapp deploy` runs it again.',
    );
  await waitUntilTasksStopped(
    { client: ecs, maxWaitTime: 1800, abortSignal: signal },
    { cluster, tasks: [arn] },
  );
  const task = (await ecs.send(new DescribeTasksCommand({ cluster, tasks: [arn] }))).tasks?.[0];
  const exit = task?.containers?.[0]?.exitCode;
  if (exit !== 0)
    throw new PgappError(
      `The bootstrap task (pgapp deploy apply) failed: ${exit === undefined ? (task?.stoppedReason ?? 'it did not run') : `exit ${exit}`}`,
      `Its output is in CloudWatch Logs, group ${get(DATA_OUTPUTS.logGroup)}, stream bootstrap/pgapp/${arn.split('/').pop()}.`,
    );
}
