/**
 * What the cloud stacks are made from: the project's resolved settings (the same ones `dev` runs
 * the local stack with) and the few choices only the cloud has. One place maps the one to the other;
 * README's "From laptop to AWS" table follows it.
 */
import { relative } from 'node:path';
import { anyReplica, type Config, type PgMajor } from '../config/schema.ts';
import { imageBuild } from '../docker/pg-images.ts';
import { PACKAGE_ROOT, workDir } from '../paths.ts';
import { imageNeeds } from '../stack/sql.ts';

/** A Docker build the deployer's machine runs when `cdk deploy` publishes the assets. */
export interface ImageBuild {
  context: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** Paths of the context left out (docker-ignore syntax). */
  exclude?: string[];
}

export interface CloudSettings {
  project: string;
  /** The stacks' names start with this: `<prefix>-network`, `-data`, `-api`. */
  prefix: string;
  postgres: PgMajor;
  /** The AWS region the stacks go to (the account is the credentials' own, known at deploy time). */
  region: string;
  /** The parameter group: the project's rds.parameters, and what pgapp needs on top. */
  rdsParameters: Record<string, string>;
  rdsInstanceType: string;
  rdsStorageGiB: number;
  customInstanceType: string;
  customVolumeGiB: number;
  multiAz: boolean;
  /** rds's deletion protection and custom's termination protection; off only on the way to `destroy --delete-data`. */
  deletionProtection: boolean;
  /** An ACM certificate for HTTPS on the load balancer; without one it listens on HTTP (and says so). */
  certificateArn?: string;
  images: { custom: ImageBuild; gateway: ImageBuild; bootstrap: ImageBuild };
}

/** Choices only the cloud has (flags of `pgapp deploy`). */
export interface CloudChoices {
  region?: string;
  multiAz?: boolean;
  certificateArn?: string;
  deletionProtection?: boolean;
}

/** Where the stacks go without `--region` or AWS_REGION. */
export const DEFAULT_REGION = 'us-east-1';

/** The smallest setting. custom runs on amd64 (its image is built for linux/amd64 on the deployer's machine). */
export const SIZES = {
  rdsInstanceType: 't4g.micro',
  rdsStorageGiB: 20,
  customInstanceType: 't3.small',
  customVolumeGiB: 20,
} as const;

/** The project's custom image, the gateway and pgapp itself (the bootstrap task) as Docker builds. */
function images(config: Config): CloudSettings['images'] {
  const build = (kind: 'postgres' | 'gateway'): ImageBuild => {
    const { added: _, ...how } = imageBuild(kind, config.postgres, imageNeeds(config));
    return how;
  };
  const cwd = workDir();
  // The bootstrap image is the project folder (its db/ and pgapp.config.json) with pgapp installed:
  // from its package.json in a project that depends on pgapp, or this folder itself in pgapp's own.
  const own = cwd === PACKAGE_ROOT;
  return {
    custom: build('postgres'),
    gateway: build('gateway'),
    bootstrap: {
      context: cwd,
      dockerfile: relative(cwd, `${PACKAGE_ROOT}/images/pgapp/Dockerfile`),
      buildArgs: {},
      exclude: [
        '.git',
        '.pgapp',
        'cdk.out',
        'dist',
        'node_modules',
        ...(own ? [] : ['!node_modules/pgapp/images/pgapp']),
      ],
    },
  };
}

/** The cloud's settings for `config`. */
export function cloudSettings(config: Config, choices: CloudChoices = {}): CloudSettings {
  return {
    project: config.project,
    prefix: `pgapp-${config.project.replace(/_/g, '-')}`,
    postgres: config.postgres,
    region: choices.region ?? DEFAULT_REGION,
    rdsParameters: {
      ...config.rdsParameters,
      // Clients must use TLS (they verify RDS's CA); the replica needs logical replication.
      'rds.force_ssl': '1',
      ...(anyReplica(config) ? { 'rds.logical_replication': '1' } : {}),
    },
    ...SIZES,
    multiAz: choices.multiAz ?? false,
    deletionProtection: choices.deletionProtection ?? true,
    certificateArn: choices.certificateArn,
    images: images(config),
  };
}
