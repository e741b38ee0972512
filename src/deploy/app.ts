/**
 * The project as an AWS CDK app: three stages (network → data → compute/API), checked by cdk-nag's
 * AwsSolutions rules, synthesized into a cloud assembly (`cdk.out/`) with no AWS account or network.
 * `pgapp deploy` hands that assembly to the CDK CLI.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApiStack } from './api.ts';
import { DataStack } from './data.ts';
import { NetworkStack } from './network.ts';
import type { CloudSettings } from './settings.ts';

export interface CloudApp {
  app: App;
  network: NetworkStack;
  data: DataStack;
  api: ApiStack;
}

/** The stacks of `s`, in an app that writes to `outdir`. */
export function cloudApp(s: CloudSettings, outdir?: string): CloudApp {
  const app = new App({ outdir });
  const tags = { 'pgapp:project': s.project };
  const env = { region: s.region };
  const network = new NetworkStack(app, `${s.prefix}-network`, {
    https: s.certificateArn !== undefined,
    description: `pgapp ${s.project}: VPC, subnets, security groups`,
    tags,
    env,
  });
  const data = new DataStack(app, `${s.prefix}-data`, {
    settings: s,
    vpc: network.vpc,
    groups: network.groups,
    description: `pgapp ${s.project}: rds (RDS for PostgreSQL ${s.postgres}) and custom (EC2, EBS)`,
    tags,
    env,
  });
  const api = new ApiStack(app, `${s.prefix}-api`, {
    settings: s,
    vpc: network.vpc,
    groups: network.groups,
    data,
    description: `pgapp ${s.project}: PostgREST and the gateway (ECS Fargate, ALB), the bootstrap task`,
    tags,
    env,
  });
  // cdk-nag reports as errors on synth; `synth` below refuses an assembly with any unsuppressed one.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, network, data, api };
}

/** A cdk-nag finding that nothing acknowledged (with its reason). */
export interface NagFinding {
  rule: string;
  description: string;
  paths: string[];
}

interface ValidationReport {
  pluginReports: {
    violations: {
      ruleName: string;
      description: string;
      severity: string;
      violatingConstructs: { constructPath: string }[];
    }[];
  }[];
}

/**
 * Synthesize. cdk-nag's unacknowledged errors fail CDK's validation, which writes its report into the
 * assembly: they come back as findings, and the caller refuses the assembly.
 */
export function synth(c: CloudApp): { assembly?: CloudAssembly; findings: NagFinding[] } {
  try {
    return { assembly: c.app.synth(), findings: [] };
  } catch (err) {
    const report = join(c.app.outdir, 'validation-report.json');
    if (!existsSync(report)) throw err;
    const r = JSON.parse(readFileSync(report, 'utf8')) as ValidationReport;
    const findings = r.pluginReports.flatMap((p) =>
      p.violations
        .filter((v) => v.severity === 'error')
        .map((v) => ({
          rule: v.ruleName,
          description: v.description,
          paths: v.violatingConstructs.map((x) => x.constructPath),
        })),
    );
    if (findings.length === 0) throw err;
    return { findings };
  }
}
