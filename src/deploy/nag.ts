/**
 * cdk-nag's AwsSolutions rules over the stacks, and the one way a rule is set aside: in code, on the
 * construct it concerns, with the reason (cdk-nag 3: CDK's own `Validations.of().acknowledge()`).
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** A rule set aside, and why. `id` may name one finding: `AwsSolutions-IAM5[Resource::*]`. */
export interface Acknowledged {
  id: string;
  reason: string;
}

/** Set `rules` aside on each of `scopes` (and what they contain). */
export function acknowledge(scopes: IConstruct | IConstruct[], rules: Acknowledged[]): void {
  for (const scope of Array.isArray(scopes) ? scopes : [scopes])
    for (const r of rules) Validations.of(scope).acknowledge(r);
}
