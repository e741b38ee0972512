/** A Docker build (deploy/settings.ts) as a CDK image asset: built and pushed to ECR by `cdk deploy`. */
import { IgnoreMode } from 'aws-cdk-lib';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import type { Construct } from 'constructs';
import type { ImageBuild } from './settings.ts';

export const imageAsset = (scope: Construct, id: string, b: ImageBuild) =>
  new ecrAssets.DockerImageAsset(scope, id, {
    directory: b.context,
    file: b.dockerfile,
    buildArgs: b.buildArgs,
    exclude: b.exclude,
    // Docker's own rules, so a project can keep pgapp's Dockerfile while leaving node_modules out.
    ignoreMode: IgnoreMode.DOCKER,
    // custom runs on an amd64 instance, the tasks on Fargate's default (amd64).
    platform: ecrAssets.Platform.LINUX_AMD64,
  });
