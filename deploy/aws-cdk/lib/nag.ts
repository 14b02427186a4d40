// cdk-nag AwsSolutions suppressions, each with the reason it does not apply here.
// Paths are relative to each machine (the stack itself for the default machine, User-<name>
// for a user's); a suppression whose construct does not exist (for example the clean-up's when
// it is off) is skipped.
import { IConstruct } from 'constructs';
import { NagPackSuppression, NagSuppressions } from 'cdk-nag';
import type { TrnidledStack } from './trnidled-stack';

/** Suppressions keyed by construct path under a machine. */
export const SUPPRESSIONS: Record<string, NagPackSuppression[]> = {
  Instance: [
    {
      id: 'AwsSolutions-EC29',
      reason:
        'A spot instance cannot have termination protection (EC2 refuses it for spot), and an ASG ' +
        'cannot run a persistent spot request that stops on interruption. The persistent request ' +
        'keeps the instance, and users\' work is on the retained HomeVolume, not the root volume.',
    },
  ],
  'Role/DefaultPolicy/Resource': [
    {
      id: 'AwsSolutions-IAM5',
      appliesTo: ['Resource::*'],
      reason:
        'No resource-level permission exists for these actions: cloudwatch:PutMetricData (limited ' +
        'by the cloudwatch:namespace condition to Trnidled) and the Session Manager minimum ' +
        '(ssm:UpdateInstanceInformation, ssmmessages:*Channel).',
    },
  ],
  'SpotRequestLookup/CustomResourcePolicy/Resource': [
    {
      id: 'AwsSolutions-IAM5',
      appliesTo: ['Resource::*'],
      reason: 'ec2:DescribeInstances supports no resource-level permission.',
    },
  ],
  'SpotRequestCancel/CustomResourcePolicy/Resource': [
    {
      id: 'AwsSolutions-IAM5',
      appliesTo: [
        'Resource::*',
        { regex: '/^Resource::arn:<AWS::Partition>:ec2:.*:spot-instances-request\\/\\*$/' },
      ],
      reason:
        'ec2:DescribeSpotInstanceRequests supports no resource-level permission. The cancel is ' +
        'limited by a condition to requests tagged with this stack\'s id (the launch template tags ' +
        'them): the id is known only after launch, and the old request must stay cancellable when ' +
        'the instance is replaced.',
    },
  ],
};

/** Only when the user asked for SSH from anywhere (-c sshCidr=0.0.0.0/0); never by default. */
export const OPEN_SSH: NagPackSuppression = {
  id: 'AwsSolutions-EC23',
  reason:
    'sshCidr=0.0.0.0/0 was given on purpose; synth warns about it. Port 22 accepts key ' +
    'authentication only (ED25519 key made by the stack). The default has no inbound rule.',
};

/** The AwsCustomResource singleton Lambda (fixed id in aws-cdk-lib). */
const CUSTOM_RESOURCE_LAMBDA = 'AWS679f53fac002430cb0da5b7982bd2287';

/** The construct at a path under the stack, or undefined. */
function find(stack: TrnidledStack, path: string): IConstruct | undefined {
  let node: IConstruct | undefined = stack;
  for (const id of path.split('/')) {
    node = node?.node.tryFindChild(id);
  }
  return node;
}

export function addNagSuppressions(stack: TrnidledStack): void {
  for (const machine of stack.machines) {
    for (const [path, suppressions] of Object.entries(SUPPRESSIONS)) {
      const full = `${machine.pathPrefix}${path}`;
      if (find(stack, full) === undefined) continue;
      NagSuppressions.addResourceSuppressionsByPath(stack, `/${stack.node.id}/${full}`, suppressions);
    }
  }
  if (stack.sshOpenToWorld) {
    NagSuppressions.addResourceSuppressionsByPath(stack, `/${stack.node.id}/Sg/Resource`, [OPEN_SSH]);
  }
  if (stack.node.tryFindChild(CUSTOM_RESOURCE_LAMBDA) !== undefined) {
    NagSuppressions.addResourceSuppressionsByPath(
      stack,
      `/${stack.node.id}/${CUSTOM_RESOURCE_LAMBDA}/ServiceRole/Resource`,
      [
        {
          id: 'AwsSolutions-IAM4',
          appliesTo: [
            'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
          ],
          reason:
            'Role of the aws-cdk-lib AwsCustomResource Lambda that cancels the spot request: ' +
            'AWSLambdaBasicExecutionRole only lets it write its own logs.',
        },
      ],
    );
  }
}
