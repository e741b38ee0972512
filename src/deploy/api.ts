/**
 * The compute/API stage: nothing in it holds data, so it can be replaced or removed freely.
 * - The API: one Fargate task of PostgREST and pgapp's gateway in front of it (the same image and
 *   settings as locally), in private subnets, behind an internet-facing Application Load Balancer
 *   whose health check asks the gateway for `/` (200 once PostgREST serves the schema).
 *   Why the gateway and not only the load balancer's rules: the load balancer cannot count a JWT's
 *   in-flight requests, bound a `select`'s width and embedding depth, keep PostgREST's query plans to
 *   the explain key, or turn a statement timeout into a 504 with a hint. The gateway does, and is what
 *   the local tests proved.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { AUTHENTICATOR, GATEWAY_PORT, GATEWAY_SETTINGS, PG_PORT, postgrestSettings } from '../spec/stack.ts';
import { imageAsset } from './assets.ts';
import type { DataStack } from './data.ts';
import { acknowledge } from './nag.ts';
import type { Groups } from './network.ts';
import type { CloudSettings } from './settings.ts';

/** PostgREST's image, the one the local stack runs (pulled from Docker Hub by ECS, through the NAT gateway). */
export const POSTGREST_IMAGE = 'postgrest/postgrest:v12.2.3';
/** PostgREST inside the task: beside the gateway, which has the task's one port. */
const POSTGREST_TASK_PORT = 3001;

/** The stack's output `pgapp deploy` verifies and prints. */
export const API_URL_OUTPUT = 'ApiUrl';

export interface ApiProps extends StackProps {
  settings: CloudSettings;
  vpc: ec2.IVpc;
  groups: Groups;
  data: DataStack;
}

export class ApiStack extends Stack {
  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id, props);
    const { settings: s, vpc, groups, data } = props;
    const https = s.certificateArn !== undefined;
    const appSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const customHost = data.custom.instancePrivateDnsName;
    const logGroup = new logs.LogGroup(this, 'ApiLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const logging = (prefix: string) => ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: prefix });

    // The load balancer first: PostgREST's OpenAPI document names the URL clients use.
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    const lb = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: groups.alb,
      dropInvalidHeaderFields: true,
    });
    lb.logAccessLogs(accessLogs);
    const apiUrl = `${https ? 'https' : 'http'}://${lb.loadBalancerDnsName}`;

    const api = new ecs.FargateTaskDefinition(this, 'ApiTask', { cpu: 256, memoryLimitMiB: 512 });
    api.addContainer('postgrest', {
      image: ecs.ContainerImage.fromRegistry(POSTGREST_IMAGE),
      environment: {
        ...postgrestSettings(apiUrl),
        // The password is libpq's PGPASSWORD, from Secrets Manager: never in the URI or the template.
        PGRST_DB_URI: `postgres://${AUTHENTICATOR}@${customHost}:${PG_PORT}/${s.project}`,
        PGRST_SERVER_PORT: String(POSTGREST_TASK_PORT),
      },
      secrets: {
        PGPASSWORD: ecs.Secret.fromSecretsManager(data.secrets.authenticator),
        PGRST_JWT_SECRET: ecs.Secret.fromSecretsManager(data.secrets.jwt),
      },
      logging: logging('postgrest'),
    });
    const gateway = api.addContainer('gateway', {
      image: ecs.ContainerImage.fromDockerImageAsset(imageAsset(this, 'GatewayImage', s.images.gateway)),
      environment: {
        ...GATEWAY_SETTINGS,
        PGAPP_UPSTREAM: `http://127.0.0.1:${POSTGREST_TASK_PORT}`,
        PGAPP_GATEWAY_PORT: String(GATEWAY_PORT),
      },
      secrets: { PGAPP_EXPLAIN_KEY: ecs.Secret.fromSecretsManager(data.secrets.explain) },
      portMappings: [{ containerPort: GATEWAY_PORT }],
      logging: logging('gateway'),
    });
    const service = new ecs.FargateService(this, 'Api', {
      cluster: data.cluster,
      taskDefinition: api,
      desiredCount: 1,
      securityGroups: [groups.api],
      vpcSubnets: appSubnets,
      assignPublicIp: false,
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
    });
    const listener = lb.addListener('Listener', {
      port: https ? 443 : 80,
      open: false,
      ...(https ? { certificates: [elbv2.ListenerCertificate.fromArn(s.certificateArn as string)] } : {}),
    });
    listener.addTargets('Gateway', {
      port: GATEWAY_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [
        service.loadBalancerTarget({ containerName: gateway.containerName, containerPort: GATEWAY_PORT }),
      ],
      // 200 only once PostgREST is connected and has the schema: the gateway's own readiness, as locally.
      healthCheck: { path: '/', healthyHttpCodes: '200', interval: Duration.seconds(15) },
      deregistrationDelay: Duration.seconds(10),
    });

    new CfnOutput(this, API_URL_OUTPUT, {
      value: apiUrl,
      description: 'The API (the gateway in front of PostgREST)',
    });

    acknowledge(accessLogs, [
      {
        id: 'AwsSolutions-S1',
        reason: "The load balancer's access-log bucket: logging its own access would log the logs.",
      },
    ]);
    acknowledge(api, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds settings and host names only; every secret comes from Secrets Manager (`secrets`).',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "CDK's grants for ECR (GetAuthorizationToken has no resource) and the log streams of the task's own log group.",
      },
    ]);
  }
}
