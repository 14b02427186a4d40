// Shared test setup: a stack synthesised offline with a fixed account and region.
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { TrnidledStack, TrnidledStackProps, packageDir } from '../lib/trnidled-stack';

export const FIXTURES = path.join(packageDir(), 'test', 'fixtures');
export const ENV = { account: '123456789012', region: 'us-east-2' };

export function makeStack(props: TrnidledStackProps = {}, app = new App()): TrnidledStack {
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
