// Shared test setup: a stack synthesised offline with a fixed account and region.
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  NEURON_DLAMI_PARAMETER,
  TrnidledStack,
  TrnidledStackProps,
  UBUNTU_2404_PARAMETER,
  packageDir,
} from '../lib/trnidled-stack';

export const FIXTURES = path.join(packageDir(), 'test', 'fixtures');
export const ENV = { account: '123456789012', region: 'us-east-2' };

/** The AMI that the tests' cdk.context.json stand-in pins. */
export const AMI = 'ami-0123456789abcdef0';

/** What `cdk synth` with credentials stores in cdk.context.json: the AMI looked up once. */
export function amiContext(region = ENV.region): Record<string, string> {
  return Object.fromEntries(
    [UBUNTU_2404_PARAMETER, NEURON_DLAMI_PARAMETER].map((p) => [
      `ssm:account=${ENV.account}:parameterName=${p}:region=${region}`,
      AMI,
    ]),
  );
}

export function makeStack(props: TrnidledStackProps = {}, app = new App({ context: amiContext() })): TrnidledStack {
  return new TrnidledStack(app, 'TestStack', {
    env: ENV,
    userDataPath: path.join(FIXTURES, 'user-data.yaml'),
    sourcePath: path.join(FIXTURES, 'src'),
    ...props,
  });
}

export function synth(props: TrnidledStackProps = {}): Template {
  return Template.fromStack(makeStack(props));
}

/** Worst-case stand-ins for the values CloudFormation fills into the user data. */
const TOKEN_VALUES: Record<string, string> = {
  'AWS::Region': 'ap-southeast-4',
  'AWS::URLSuffix': 'amazonaws.com.cn',
};

type CfnValue = string | { [key: string]: unknown };

/** The launch template's user data as the instance gets it (tokens filled in). */
export function renderedUserData(template: Template): string {
  const lts = template.findResources('AWS::EC2::LaunchTemplate');
  const lt = Object.values(lts)[0] as { Properties: { LaunchTemplateData: { UserData: unknown } } };
  const b64 = lt.Properties.LaunchTemplateData.UserData as { 'Fn::Base64': CfnValue };
  const body = b64['Fn::Base64'];
  if (typeof body === 'string') return body;
  const join = body['Fn::Join'] as [string, CfnValue[]];
  return join[1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const ref = part.Ref as string | undefined;
      if (ref && TOKEN_VALUES[ref]) return TOKEN_VALUES[ref];
      // Any other reference: a generous 64-character value.
      return 'x'.repeat(64);
    })
    .join('');
}
