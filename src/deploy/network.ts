/**
 * The network stage: a VPC over two availability zones and the security groups that are the local
 * project network's rules. Public subnets hold only the load balancer; custom and the API tasks sit in
 * private subnets that reach out through one NAT gateway; rds sits in isolated subnets (no route out).
 * Every rule between the groups lives here, so the later stages only pick their group.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { GATEWAY_PORT, PG_PORT } from '../spec/stack.ts';
import { acknowledge } from './nag.ts';

export interface Groups {
  /** rds: reached by custom (the bridge, the subscription) and by the one-off bootstrap task only. */
  rds: ec2.SecurityGroup;
  /** custom: reached by the API tasks (PostgREST) and the bootstrap task only; never from outside. */
  custom: ec2.SecurityGroup;
  /** The API tasks (gateway → PostgREST): reached by the load balancer only. */
  api: ec2.SecurityGroup;
  /** The load balancer: the one door from the internet. */
  alb: ec2.SecurityGroup;
  /** The bootstrap task (pgapp applying its SQL phases): reaches rds and custom, reached by nothing. */
  bootstrap: ec2.SecurityGroup;
}

export interface NetworkProps extends StackProps {
  /** HTTPS on the load balancer (a certificate in ACM): port 443 is opened instead of 80. */
  https: boolean;
}

export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly groups: Groups;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id, props);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      // One NAT gateway: the smallest setting (a second one per zone survives a zone's loss, at twice the price).
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: {
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
          ),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });

    const group = (id: string, description: string, allowAllOutbound: boolean) =>
      new ec2.SecurityGroup(this, id, { vpc: this.vpc, description, allowAllOutbound });
    const groups: Groups = {
      rds: group('RdsGroup', 'rds: PostgreSQL from custom and the bootstrap task only', false),
      // custom reaches out (rds, the NAT gateway for its image and secrets) as databases do there.
      custom: group('CustomGroup', 'custom: PostgreSQL from the API tasks and the bootstrap task only', true),
      api: group('ApiGroup', 'API tasks: the gateway from the load balancer only', true),
      alb: group('AlbGroup', 'Load balancer: HTTP(S) from the internet', false),
      bootstrap: group('BootstrapGroup', 'Bootstrap task: reaches rds and custom; reached by nothing', true),
    };
    const pg = ec2.Port.tcp(PG_PORT);
    groups.rds.addIngressRule(groups.custom, pg, 'custom: the bridge (postgres_fdw) and the subscription');
    groups.rds.addIngressRule(groups.bootstrap, pg, 'bootstrap: migrations and the bridge role');
    groups.custom.addIngressRule(groups.api, pg, 'PostgREST');
    groups.custom.addIngressRule(groups.bootstrap, pg, 'bootstrap: the SQL phases');
    groups.api.addIngressRule(groups.alb, ec2.Port.tcp(GATEWAY_PORT), 'the load balancer to the gateway');
    const web = props.https ? 443 : 80;
    groups.alb.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(web), 'the API, from anywhere');
    groups.alb.addEgressRule(groups.api, ec2.Port.tcp(GATEWAY_PORT), 'to the gateway');
    this.groups = groups;

    acknowledge(groups.alb, [
      {
        id: 'AwsSolutions-EC23',
        reason: 'The load balancer is the API: it answers the internet on one port, and only it does.',
      },
    ]);
  }
}
