/**
 * The data stage: what keeps the project's data, and so outlives the API stage.
 * - rds: RDS for PostgreSQL at the project's major version, in isolated subnets, with the project's
 *   parameter group (plus what pgapp needs), encrypted storage, automated backups, deletion
 *   protection, a final snapshot on removal, and its master password generated into Secrets Manager.
 * - custom: the project's custom image (built as a CDK asset, pushed to ECR) run by Docker on an EC2
 *   instance in a private subnet, its data on an encrypted EBS volume that is snapshotted on removal.
 * - the stack's own secrets (custom's superuser, PostgREST's login, the JWT secret, the explain key).
 * - the bootstrap: a one-off Fargate task running pgapp itself (`pgapp deploy apply`) inside the VPC,
 *   which applies the SQL phases to the cloud databases as `dev` does to the local ones.
 */
import { CfnOutput, Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { CloudEnv } from '../config/options.ts';
import { CONTAINER_CA_DIR } from '../config/tls.ts';
import {
  CUSTOM_SUPERUSER,
  customArgs,
  PG_PORT,
  PGDATA_VOLUME_TARGET,
  RDS_MASTER_USER,
} from '../spec/stack.ts';
import { imageAsset } from './assets.ts';
import { acknowledge } from './nag.ts';
import type { Groups } from './network.ts';
import type { CloudSettings } from './settings.ts';

/** The stack's own secrets: one Secrets Manager secret each, generated at deploy time. */
export const STACK_SECRETS = ['custom', 'bridge', 'replicator', 'authenticator', 'jwt', 'explain'] as const;
export type StackSecret = (typeof STACK_SECRETS)[number];

/** Where custom's host keeps what the container mounts. */
const DATA_MOUNT = '/var/lib/pgapp';
const CA_HOST_DIR = '/etc/pgapp-ca';
/** The CA bundle RDS's certificates chain to, which custom's clients of rds verify (sslmode=verify-full). */
export const RDS_CA_BUNDLE_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';

/** What `pgapp deploy` reads from the data stage's outputs: to run the bootstrap task, and to say how to connect. */
export const DATA_OUTPUTS = {
  cluster: 'ClusterName',
  task: 'BootstrapTaskArn',
  subnets: 'BootstrapSubnetIds',
  group: 'BootstrapSecurityGroupId',
  logGroup: 'BootstrapLogGroup',
  customInstance: 'CustomInstanceId',
  rdsEndpoint: 'RdsEndpoint',
  rdsSecret: 'RdsMasterSecretArn',
  customSecret: 'CustomSecretArn',
  jwtSecret: 'JwtSecretArn',
} as const;

export interface DataProps extends StackProps {
  settings: CloudSettings;
  vpc: ec2.IVpc;
  groups: Groups;
}

export class DataStack extends Stack {
  readonly rds: rds.DatabaseInstance;
  readonly custom: ec2.Instance;
  readonly secrets: Record<StackSecret, secrets.Secret>;
  readonly cluster: ecs.Cluster;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id, props);
    const { settings: s, vpc, groups } = props;

    const engine = rds.DatabaseInstanceEngine.postgres({
      version: rds.PostgresEngineVersion.of(String(s.postgres), String(s.postgres)),
    });
    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: `${s.project}: rds.parameters of pgapp.config.json, and what pgapp needs`,
      parameters: s.rdsParameters,
    });
    this.rds = new rds.DatabaseInstance(this, 'Rds', {
      engine,
      instanceType: new ec2.InstanceType(s.rdsInstanceType),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [groups.rds],
      publiclyAccessible: false,
      databaseName: s.project,
      credentials: rds.Credentials.fromGeneratedSecret(RDS_MASTER_USER),
      parameterGroup,
      allocatedStorage: s.rdsStorageGiB,
      storageType: rds.StorageType.GP3,
      storageEncrypted: true,
      backupRetention: Duration.days(7),
      deletionProtection: s.deletionProtection,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
      cloudwatchLogsExports: ['postgresql'],
      multiAz: s.multiAz,
      autoMinorVersionUpgrade: true,
    });

    this.secrets = Object.fromEntries(
      STACK_SECRETS.map((name) => [
        name,
        new secrets.Secret(this, `Secret-${name}`, {
          description: `${s.project}: ${name}`,
          // URL- and connection-string-safe, as pgapp's own secrets are locally.
          generateSecretString: { passwordLength: 43, excludePunctuation: true },
        }),
      ]),
    ) as Record<StackSecret, secrets.Secret>;

    const image = imageAsset(this, 'CustomImage', s.images.custom);

    const role = new iam.Role(this, 'CustomRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `${s.project}: custom's host (its image, its password, Session Manager)`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    image.repository.grantPull(role);
    this.secrets.custom.grantRead(role);

    const subnet = vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS })
      .subnets[0] as ec2.ISubnet;
    this.custom = new ec2.Instance(this, 'Custom', {
      vpc,
      vpcSubnets: { subnets: [subnet] },
      securityGroup: groups.custom,
      instanceType: new ec2.InstanceType(s.customInstanceType),
      machineImage: ec2.MachineImage.latestAmazonLinux2023(),
      role,
      requireImdsv2: true,
      detailedMonitoring: true,
      disableApiTermination: s.deletionProtection,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(30, { encrypted: true }) }],
      userDataCausesReplacement: false,
    });
    const volume = new ec2.Volume(this, 'CustomData', {
      availabilityZone: subnet.availabilityZone,
      size: Size.gibibytes(s.customVolumeGiB),
      volumeType: ec2.EbsDeviceVolumeType.GP3,
      encrypted: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    new ec2.CfnVolumeAttachment(this, 'CustomDataAttachment', {
      instanceId: this.custom.instanceId,
      volumeId: volume.volumeId,
      device: '/dev/sdf',
    });

    this.custom.userData.addCommands(
      ...customUserData({
        project: s.project,
        region: this.region,
        image: image.imageUri,
        registry: `${this.account}.dkr.ecr.${this.region}.${this.urlSuffix}`,
        volumeId: volume.volumeId,
        passwordSecret: this.secrets.custom.secretArn,
      }),
    );

    // The bootstrap: pgapp itself, run once per `pgapp deploy` from inside the VPC (before the API
    // stage, whose PostgREST logs in as the role it makes).
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const customHost = this.custom.instancePrivateDnsName;
    const bootstrapLogs = new logs.LogGroup(this, 'BootstrapLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const bootstrap = new ecs.FargateTaskDefinition(this, 'BootstrapTask', {
      cpu: 512,
      memoryLimitMiB: 1024,
    });
    bootstrap.addContainer('pgapp', {
      image: ecs.ContainerImage.fromDockerImageAsset(imageAsset(this, 'BootstrapImage', s.images.bootstrap)),
      command: ['deploy', 'apply'],
      // Exactly CLOUD_ENV (config/options.ts), what `pgapp deploy apply` reads; the RDS CA is the
      // image's own. Not the JWT secret nor the explain key: the SQL phases need neither.
      environment: {
        PGAPP_PROJECT: s.project,
        PGAPP_CLOUD_RDS_HOST: this.rds.dbInstanceEndpointAddress,
        PGAPP_CLOUD_RDS_PORT: this.rds.dbInstanceEndpointPort,
        PGAPP_CLOUD_CUSTOM_HOST: customHost,
      } satisfies Partial<Record<CloudEnv | 'PGAPP_PROJECT', string>>,
      secrets: {
        PGAPP_CLOUD_RDS_PASSWORD: ecs.Secret.fromSecretsManager(
          this.rds.secret as secrets.ISecret,
          'password',
        ),
        PGAPP_CLOUD_CUSTOM_PASSWORD: ecs.Secret.fromSecretsManager(this.secrets.custom),
        PGAPP_CLOUD_BRIDGE_PASSWORD: ecs.Secret.fromSecretsManager(this.secrets.bridge),
        PGAPP_CLOUD_REPLICATOR_PASSWORD: ecs.Secret.fromSecretsManager(this.secrets.replicator),
        PGAPP_CLOUD_AUTHENTICATOR_PASSWORD: ecs.Secret.fromSecretsManager(this.secrets.authenticator),
      } satisfies Partial<Record<CloudEnv, ecs.Secret>>,
      logging: ecs.LogDrivers.awsLogs({ logGroup: bootstrapLogs, streamPrefix: 'bootstrap' }),
    });

    const out = (key: string, value: string, description: string) =>
      new CfnOutput(this, key, { value, description });
    out(DATA_OUTPUTS.cluster, this.cluster.clusterName, 'The ECS cluster');
    out(DATA_OUTPUTS.task, bootstrap.taskDefinitionArn, 'The bootstrap task (pgapp deploy apply)');
    out(
      DATA_OUTPUTS.subnets,
      vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds.join(','),
      'Where the bootstrap task runs',
    );
    out(DATA_OUTPUTS.group, groups.bootstrap.securityGroupId, "The bootstrap task's security group");
    out(DATA_OUTPUTS.logGroup, bootstrapLogs.logGroupName, "The bootstrap task's logs");
    // How to connect (names and ARNs, never a secret's value).
    out(DATA_OUTPUTS.customInstance, this.custom.instanceId, "custom's EC2 instance (SSM port forwarding)");
    out(DATA_OUTPUTS.rdsEndpoint, this.rds.dbInstanceEndpointAddress, "rds's endpoint (inside the VPC)");
    out(DATA_OUTPUTS.rdsSecret, (this.rds.secret as secrets.ISecret).secretArn, "rds's master secret");
    out(DATA_OUTPUTS.customSecret, this.secrets.custom.secretArn, "custom's superuser password");
    out(DATA_OUTPUTS.jwtSecret, this.secrets.jwt.secretArn, 'The JWT secret the API verifies tokens with');

    acknowledge(this.rds, [
      ...(s.multiAz
        ? []
        : [
            {
              id: 'AwsSolutions-RDS3',
              reason: 'Single-AZ is the smallest setting; `pgapp deploy --multi-az` turns Multi-AZ on.',
            },
          ]),
      {
        id: 'AwsSolutions-RDS11',
        reason:
          'PostgreSQL on 5432, as the bridge and every client expect; only custom reaches it (its group).',
      },
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'The bridge (a postgres_fdw user mapping) and the subscription log in with this password; a rotation must re-run `pgapp deploy` to re-apply them.',
      },
    ]);
    acknowledge(bootstrap, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds host names only; every password comes from Secrets Manager (`secrets`).',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "CDK's grant for ECR: GetAuthorizationToken has no resource of its own; pulls are scoped to the image's repository.",
      },
    ]);
    acknowledge(Object.values(this.secrets), [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          "Stack secrets that live in the databases' roles and PostgREST's settings: a change is a `pgapp deploy` (which re-applies them), not a rotation Lambda.",
      },
    ]);
    acknowledge(role, [
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason:
          'AmazonSSMManagedInstanceCore: Session Manager is the only way onto the host (no SSH, no key pair).',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "ecr:GetAuthorizationToken has no resource of its own (CDK's grantPull); pulls are scoped to the image's repository.",
      },
    ]);
  }
}

/**
 * custom's host at boot: Docker; the data volume formatted once and mounted; the RDS CA bundle where
 * custom's clients of rds read it; the image from ECR; the server with its password from Secrets
 * Manager, restarted with the host. Every step is idempotent: a reboot runs none of it again but the
 * container comes back by its restart policy.
 */
export function customUserData(o: {
  project: string;
  region: string;
  image: string;
  registry: string;
  volumeId: string;
  passwordSecret: string;
}): string[] {
  return [
    'set -euo pipefail',
    'dnf install -y docker',
    'systemctl enable --now docker',
    // Nitro instances name an attached EBS volume by its id (without the dash), not /dev/sdf.
    `VOL=$(echo '${o.volumeId}' | tr -d -)`,
    'DEV=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$VOL',
    'for i in $(seq 1 120); do [ -e "$DEV" ] && break; sleep 1; done',
    'blkid "$DEV" || mkfs.xfs "$DEV"',
    `mkdir -p ${DATA_MOUNT}`,
    `grep -q ' ${DATA_MOUNT} ' /etc/fstab || echo "$DEV ${DATA_MOUNT} xfs defaults,nofail 0 2" >> /etc/fstab`,
    'mount -a',
    `mkdir -p ${CA_HOST_DIR}`,
    `curl -fsSL ${RDS_CA_BUNDLE_URL} -o ${CA_HOST_DIR}/remote.crt`,
    `aws ecr get-login-password --region ${o.region} | docker login --username AWS --password-stdin ${o.registry}`,
    `docker pull ${o.image}`,
    'umask 077',
    `printf 'POSTGRES_USER=${CUSTOM_SUPERUSER}\\nPOSTGRES_DB=${o.project}\\nPOSTGRES_PASSWORD=%s\\n' "$(aws secretsmanager get-secret-value --region ${o.region} --secret-id '${o.passwordSecret}' --query SecretString --output text)" > /root/custom.env`,
    'docker rm -f custom 2>/dev/null || true',
    `docker run -d --name custom --restart unless-stopped -p ${PG_PORT}:${PG_PORT} --env-file /root/custom.env` +
      ` -v ${DATA_MOUNT}:${PGDATA_VOLUME_TARGET} -v ${CA_HOST_DIR}:${CONTAINER_CA_DIR}:ro` +
      ` ${o.image} ${customArgs(o.project).join(' ')}`,
    'rm -f /root/custom.env',
  ];
}
