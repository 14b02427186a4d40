// cdk-nag AwsSolutions suppressions, each with the reason it does not apply here.
// Paths are relative to the stack; a suppression whose construct does not exist (for
// example the CPU alarm's when it is off) is skipped.
import { Stack } from 'aws-cdk-lib';
import { NagPackSuppression, NagSuppressions } from 'cdk-nag';

const ASSET_GRANT = [
  'Action::s3:GetObject*',
  'Action::s3:GetBucket*',
  'Action::s3:List*',
  { regex: '/^Resource::arn:<AWS::Partition>:s3:::cdk-.*-assets-.*\\/\\*$/' },
];

/** Suppressions keyed by construct path under the stack. */
export const SUPPRESSIONS: Record<string, NagPackSuppression[]> = {
  Instance: [
    {
      id: 'AwsSolutions-EC29',
      reason:
        'A spot instance cannot have termination protection (EC2 refuses it for spot), and an ASG ' +
        'cannot run a persistent spot request that stops on interruption. The persistent request ' +
        'keeps the instance and its volume instead.',
    },
  ],
  'Sg/Resource': [
    {
      id: 'AwsSolutions-EC23',
      reason:
        'Only when sshCidr is left at 0.0.0.0/0, the old stack default kept for compatibility: the ' +
        'synth prints a warning, port 22 accepts key authentication only (ED25519 key made by the ' +
        'stack), and SSM Session Manager works with no inbound rule. Set -c sshCidr=IP/32.',
    },
  ],
  'Role/Resource': [
    {
      id: 'AwsSolutions-IAM4',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore'],
      reason:
        'AmazonSSMManagedInstanceCore is the AWS-maintained minimum for SSM Session Manager; a ' +
        'copy would drift from what the SSM agent needs.',
    },
  ],
  'Role/DefaultPolicy/Resource': [
    {
      id: 'AwsSolutions-IAM5',
      appliesTo: ['Resource::*'],
      reason:
        'cloudwatch:PutMetricData has no resource-level permission; it is limited by the ' +
        'cloudwatch:namespace condition to the Trnidled namespace.',
    },
    {
      id: 'AwsSolutions-IAM5',
      appliesTo: ASSET_GRANT,
      reason:
        'Asset.grantRead: read-only access to the CDK asset bucket, needed to fetch the trnidled ' +
        'source or package on first boot; object keys are content hashes not known before synth.',
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
        'ec2:DescribeSpotInstanceRequests supports no resource-level permission; the request id ' +
        'to cancel is only known after the instance launches, so the cancel is scoped to spot ' +
        'requests of this account and region.',
    },
  ],
};

/** The AwsCustomResource singleton Lambda (fixed id in aws-cdk-lib). */
const CUSTOM_RESOURCE_LAMBDA = 'AWS679f53fac002430cb0da5b7982bd2287';

export function addNagSuppressions(stack: Stack): void {
  for (const [path, suppressions] of Object.entries(SUPPRESSIONS)) {
    if (stack.node.tryFindChild(path.split('/')[0]) === undefined) continue;
    NagSuppressions.addResourceSuppressionsByPath(stack, `/${stack.node.id}/${path}`, suppressions);
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
