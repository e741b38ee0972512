/**
 * `pgapp deploy synth`: the CDK app from the project's own settings, synthesized with no AWS account
 * and no network, asserted on its templates, and clean under cdk-nag's AwsSolutions rules.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { CLOUD_ENV } from '../../src/config/options.ts';
import { resolveConfig } from '../../src/config/schema.ts';
import { cloudApp, synth } from '../../src/deploy/app.ts';
import { awsAccess, regionOf, runCdk } from '../../src/deploy/aws.ts';
import { cloudSettings } from '../../src/deploy/settings.ts';
import { GATEWAY_PORT, PG_PORT } from '../../src/spec/stack.ts';

const out = mkdtempSync(join(tmpdir(), 'pgapp-cdk-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const config = resolveConfig({ project: 'shop', postgres: 15, rds: { parameters: { work_mem: '8MB' } } });
const app = cloudApp(cloudSettings(config, { region: 'eu-west-1' }), out);
const result = synth(app);
const network = Template.fromStack(app.network);
const data = Template.fromStack(app.data);
const api = Template.fromStack(app.api);

describe('deploy synth', () => {
  it('has no cdk-nag AwsSolutions error left unacknowledged', () => {
    expect(result.findings).toEqual([]);
    expect(result.assembly?.stacks.map((s) => s.stackName)).toEqual([
      'pgapp-shop-network',
      'pgapp-shop-data',
      'pgapp-shop-api',
    ]);
  });

  it('runs RDS for PostgreSQL at the project major, private, encrypted, backed up and protected', () => {
    data.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      EngineVersion: '15',
      PubliclyAccessible: false,
      StorageEncrypted: true,
      BackupRetentionPeriod: 7,
      DeletionProtection: true,
      CACertificateIdentifier: 'rds-ca-rsa2048-g1',
    });
    data.hasResource('AWS::RDS::DBInstance', { DeletionPolicy: 'Snapshot' });
  });

  it("gives rds the project's parameters and what pgapp needs", () => {
    data.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Family: 'postgres15',
      Parameters: { work_mem: '8MB', 'rds.force_ssl': '1', 'rds.logical_replication': '1' },
    });
  });

  it("keeps custom's data on an encrypted volume snapshotted on removal, the host's disk encrypted", () => {
    data.hasResource('AWS::EC2::Volume', { Properties: { Encrypted: true }, DeletionPolicy: 'Snapshot' });
    data.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required' } },
    });
    data.hasResourceProperties('AWS::EC2::Instance', {
      BlockDeviceMappings: [{ Ebs: { Encrypted: true } }],
    });
  });

  it('opens PostgreSQL on rds to custom and the bootstrap only, custom to the API tasks and the bootstrap only', () => {
    const ingress = network.findResources('AWS::EC2::SecurityGroupIngress');
    const rules = Object.values(ingress).map((r) => r.Properties as Record<string, unknown>);
    const groupId = (name: string) => {
      const [id] = Object.keys(network.findResources('AWS::EC2::SecurityGroup')).filter((k) =>
        k.startsWith(name),
      );
      return id;
    };
    const ref = (v: unknown) => (v as { 'Fn::GetAtt'?: string[] })?.['Fn::GetAtt']?.[0];
    const from = (to: string, port: number) =>
      rules
        .filter((r) => ref(r.GroupId) === groupId(to) && r.FromPort === port)
        .map((r) => ref(r.SourceSecurityGroupId) ?? r.CidrIp)
        .sort();
    expect(from('RdsGroup', PG_PORT)).toEqual([groupId('BootstrapGroup'), groupId('CustomGroup')].sort());
    expect(from('CustomGroup', PG_PORT)).toEqual([groupId('ApiGroup'), groupId('BootstrapGroup')].sort());
    expect(from('ApiGroup', GATEWAY_PORT)).toEqual([groupId('AlbGroup')]);
    // Only the load balancer takes traffic from outside, and on one port.
    const open = Object.values(network.findResources('AWS::EC2::SecurityGroup')).flatMap(
      (g) =>
        (g.Properties as { SecurityGroupIngress?: { CidrIp?: string; FromPort: number }[] })
          .SecurityGroupIngress ?? [],
    );
    expect(open.filter((r) => r.CidrIp === '0.0.0.0/0').map((r) => r.FromPort)).toEqual([80]);
  });

  it('puts rds in isolated subnets, the load balancer in public ones, the API in private ones', () => {
    network.resourceCountIs('AWS::EC2::NatGateway', 1);
    data.hasResourceProperties('AWS::RDS::DBSubnetGroup', {
      SubnetIds: Match.arrayWith([{ 'Fn::ImportValue': Match.stringLikeRegexp('dataSubnet') }]),
    });
    api.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    api.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } },
    });
    api.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/',
      Matcher: { HttpCode: '200' },
      Port: GATEWAY_PORT,
    });
  });

  it('takes every secret from Secrets Manager: none in plain text in any template', () => {
    for (const s of result.assembly?.stacks ?? []) {
      const text = readFileSync(s.templateFullPath, 'utf8');
      expect(text).not.toMatch(
        /"(POSTGRES_PASSWORD|PGPASSWORD|PGRST_JWT_SECRET|PGAPP_EXPLAIN_KEY|MasterUserPassword)"\s*:\s*"[^{]/,
      );
      expect(text).not.toMatch(/postgres:\/\/[^@"]*:[^@"]+@/); // no password in a connection URI
    }
    api.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({
          Name: 'postgrest',
          Secrets: Match.arrayWith([
            Match.objectLike({ Name: 'PGPASSWORD' }),
            Match.objectLike({ Name: 'PGRST_JWT_SECRET' }),
          ]),
        }),
      ]),
    });
  });

  it('listens on HTTPS with a certificate, and then only 443 is open', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgapp-cdk-'));
    try {
      const arn = 'arn:aws:acm:eu-west-1:123456789012:certificate/abc';
      const https = cloudApp(cloudSettings(config, { region: 'eu-west-1', certificateArn: arn }), dir);
      expect(synth(https).findings).toEqual([]);
      Template.fromStack(https.api).hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 443,
        Certificates: [{ CertificateArn: arn }],
      });
      const groups = Template.fromStack(https.network).findResources('AWS::EC2::SecurityGroup');
      const open = Object.values(groups).flatMap(
        (g) =>
          (g.Properties as { SecurityGroupIngress?: { CidrIp?: string; FromPort: number }[] })
            .SecurityGroupIngress ?? [],
      );
      expect(open.filter((r) => r.CidrIp === '0.0.0.0/0').map((r) => r.FromPort)).toEqual([443]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the bootstrap task exactly what `deploy apply` reads, its passwords from Secrets Manager and no API secret', () => {
    const tasks = data.findResources('AWS::ECS::TaskDefinition');
    const [bootstrap] = Object.values(tasks).flatMap(
      (t) =>
        (t.Properties as { ContainerDefinitions: { Name: string; Command?: string[] }[] })
          .ContainerDefinitions,
    ) as {
      Name: string;
      Command: string[];
      Environment: { Name: string }[];
      Secrets: { Name: string; ValueFrom: unknown }[];
    }[];
    expect(bootstrap?.Command).toEqual(['deploy', 'apply']);
    const names = [...(bootstrap?.Environment ?? []), ...(bootstrap?.Secrets ?? [])].map((e) => e.Name);
    // The RDS CA is the image's own (images/pgapp/Dockerfile); everything else comes from here.
    expect([...names].sort()).toEqual(
      ['PGAPP_PROJECT', ...CLOUD_ENV.filter((k) => k !== 'PGAPP_CLOUD_RDS_CA')].sort(),
    );
    expect((bootstrap?.Secrets ?? []).map((x) => x.Name).sort()).toEqual(
      CLOUD_ENV.filter((k) => k.endsWith('_PASSWORD')).sort(),
    );
  });

  it("is read by pgapp's own CDK CLI (aws-cdk), offline: the stages `pgapp deploy` hands it", async () => {
    const lines: string[] = [];
    const home = mkdtempSync(join(tmpdir(), 'pgapp-nohome-'));
    const saved = process.env.HOME;
    process.env.HOME = home; // no ~/.aws, no ~/.cdk: nothing of this machine's
    try {
      await runCdk(['ls'], { app: out, region: 'eu-west-1', onLine: (l) => lines.push(l) });
    } finally {
      process.env.HOME = saved;
      rmSync(home, { recursive: true, force: true });
    }
    expect(lines).toEqual(['pgapp-shop-network', 'pgapp-shop-data', 'pgapp-shop-api']);
  }, 60_000);
});

describe('deploy: AWS credentials and region', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgapp-aws-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const files = {
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
    AWS_CONFIG_FILE: join(dir, 'config'),
  };

  it('names what is missing when nothing is set', () => {
    expect(() => awsAccess(undefined, { ...files })).toThrow(
      /No AWS credentials: .*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE/,
    );
    expect(() => awsAccess(undefined, { ...files, AWS_ACCESS_KEY_ID: 'AKIA' })).toThrow(
      'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not',
    );
    expect(() => awsAccess(undefined, { ...files, AWS_PROFILE: 'work' })).toThrow(
      /AWS_PROFILE=work, but no such profile is in/,
    );
    expect(() =>
      awsAccess(undefined, { ...files, AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's' }),
    ).toThrow(/No AWS region: none of --region, AWS_REGION/);
  });

  it('finds keys, a profile and its region where the AWS CLI looks, and never echoes a secret', () => {
    writeFileSync(
      files.AWS_SHARED_CREDENTIALS_FILE,
      '[work]\naws_access_key_id = AKIA\naws_secret_access_key = s3cret\n',
    );
    writeFileSync(files.AWS_CONFIG_FILE, '[profile work]\nregion = eu-central-1\n');
    const byProfile = awsAccess(undefined, { ...files, AWS_PROFILE: 'work' });
    expect(byProfile).toEqual({ region: 'eu-central-1', source: 'profile work' });
    const byKeys = awsAccess('ap-south-1', {
      ...files,
      AWS_ACCESS_KEY_ID: 'AKIA',
      AWS_SECRET_ACCESS_KEY: 's3cret',
      AWS_REGION: 'us-west-2',
    });
    expect(byKeys).toEqual({ region: 'ap-south-1', source: 'AWS_ACCESS_KEY_ID (environment)' }); // the flag wins
    expect(JSON.stringify([byProfile, byKeys])).not.toContain('s3cret');
    expect(regionOf(undefined, { ...files, AWS_DEFAULT_REGION: 'sa-east-1' })).toBe('sa-east-1');
  });
});
