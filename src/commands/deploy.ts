/**
 * `pgapp deploy synth`: the project as an AWS CDK app (src/deploy), synthesized into a cloud assembly
 * with no AWS account and no network, and refused while cdk-nag's AwsSolutions rules report an error
 * nobody acknowledged with a reason.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { cloudApp, synth } from '../deploy/app.ts';
import { cloudSettings } from '../deploy/settings.ts';
import { PgappError } from '../errors.ts';
import { workDir } from '../paths.ts';
import { commandConfig, type GlobalOptions } from './common.ts';

export interface SynthResult {
  dir: string;
  region: string;
  stacks: { name: string; template: string; resources: number }[];
  https: boolean;
}

export function deploySynth(
  opts: GlobalOptions & { out?: string; region?: string; multiAz?: boolean; certificateArn?: string },
): SynthResult {
  const config = commandConfig(opts);
  const region = opts.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  const settings = cloudSettings(config, {
    region,
    multiAz: opts.multiAz,
    certificateArn: opts.certificateArn,
  });
  const dir = resolve(workDir(), opts.out ?? 'cdk.out');
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
