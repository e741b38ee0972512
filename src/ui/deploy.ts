/** What the `deploy` commands print: the assembly, the bootstrap's hops, the deployed API and how to connect. */
import chalk from 'chalk';
import type { DeployResult, DestroyResult, SynthResult } from '../commands/deploy.ts';
import type { ApplyResult } from '../commands/deploy-apply.ts';
import { DATA_OUTPUTS } from '../deploy/data.ts';
import { hopLine } from './summary.ts';

const ok = chalk.green('✔');

export function renderSynth(r: SynthResult): string {
  return [
    ...r.stacks.map((s) => `${ok} ${s.name}: ${s.resources} resources → ${s.template}`),
    `${ok} cdk-nag AwsSolutions: no unacknowledged error; region ${r.region}${r.https ? '' : chalk.yellow(' — HTTP only: add --certificate-arn for HTTPS')}`,
  ].join('\n');
}

export function renderApply(r: ApplyResult): string {
  return [
    ...r.hops.map(hopLine),
    `${ok} applied in ${(r.ms / 1000).toFixed(1)} s: schemas ${r.schemas.join(', ') || '(none)'}, ${r.endpoints} endpoints`,
  ].join('\n');
}

export function renderDeploy(r: DeployResult): string {
  const d = (k: keyof typeof DATA_OUTPUTS) => r.data[DATA_OUTPUTS[k]] ?? '?';
  const h = (s: string) => chalk.bold(s);
  return [
    '',
    `${ok} ${h('Deployed')} to ${r.region} in ${Math.round(r.ms / 60_000)} min: ${r.stacks.join(', ')}`,
    '',
    `${h('API')}        ${r.apiUrl}${r.https ? '' : chalk.yellow('  (HTTP: `pgapp deploy --certificate-arn ARN` for HTTPS)')}`,
    `  ${r.api.endpoints.length} endpoints: ${r.api.endpoints.slice(0, 8).join(' ')}${r.api.endpoints.length > 8 ? ' …' : ''}`,
    ...(r.api.probe ? [chalk.dim(`  ${r.api.probe.hop}: ${r.api.probe.ms} ms, ${r.api.probe.detail}`)] : []),
    `  tokens are HS256 JWTs signed with the secret ${d('jwtSecret')}`,
    chalk.dim(
      `  aws secretsmanager get-secret-value --secret-id ${d('jwtSecret')} --query SecretString --output text`,
    ),
    '',
    `${h('custom')}     private (no address outside the VPC); through SSM port forwarding:`,
    chalk.dim(
      `  aws ssm start-session --target ${d('customInstance')} --document-name AWS-StartPortForwardingSession --parameters portNumber=5432,localPortNumber=15432`,
    ),
    `  then psql -h 127.0.0.1 -p 15432 -U postgres, the password in ${d('customSecret')}`,
    '',
    `${h('rds')}        private at ${d('rdsEndpoint')}:5432 (TLS required), reached through custom's instance:`,
    chalk.dim(
      `  aws ssm start-session --target ${d('customInstance')} --document-name AWS-StartPortForwardingSessionToRemoteHost --parameters host=${d('rdsEndpoint')},portNumber=5432,localPortNumber=15433`,
    ),
    `  master password in ${d('rdsSecret')} ("password")`,
    '',
    chalk.dim(
      `The SQL phases' log: CloudWatch Logs group ${d('logGroup')}. Again after a change: \`pgapp deploy\`.`,
    ),
  ].join('\n');
}

export function renderDestroy(r: DestroyResult): string {
  return [
    `${ok} removed ${r.removed.join(', ')}`,
    ...(r.kept.length
      ? [
          `${chalk.yellow('kept')} ${r.kept.join(', ')} (rds, custom and their data): \`pgapp deploy destroy --delete-data\` removes them, after final snapshots`,
        ]
      : [
          chalk.dim(
            "rds's final snapshot and custom's volume's snapshot stay in the account (RDS and EC2 consoles)",
          ),
        ]),
  ].join('\n');
}
