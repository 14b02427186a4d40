#!/usr/bin/env node
// CDK app: `npx cdk synth` / `npx cdk deploy`, props from context (-c key=value).
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TrnidledStack, TrnidledStackProps } from '../lib/trnidled-stack';
import { addNagSuppressions } from '../lib/nag';
import { splitList } from '../lib/team';

const app = new App();
const ctx = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === '' ? undefined : String(value);
};
const num = (key: string): number | undefined => {
  const value = ctx(key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`context ${key}: not a number: ${value}`);
  return n;
};
const bool = (key: string): boolean | undefined => {
  const value = ctx(key);
  if (value === undefined) return undefined;
  if (!['true', 'false'].includes(value)) throw new Error(`context ${key}: true or false`);
  return value === 'true';
};

const props: TrnidledStackProps = {
  // Account from the CLI's credentials when there are some; none are needed to synth.
  // The CLI sets CDK_DEFAULT_REGION from the profile, and to us-east-1 when none is configured;
  // the AZ follows the region (or synth fails when -c az is not in it).
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: ctx('region') ?? process.env.CDK_DEFAULT_REGION ?? 'us-east-2',
  },
  availabilityZone: ctx('az'),
  sshCidr: ctx('sshCidr'),
  imdsHopLimit: num('imdsHopLimit'),
  homeVolumeGiB: num('homeVolumeGiB'),
  amiId: ctx('amiId'),
  instanceType: ctx('instanceType'),
  ami: ctx('ami') as TrnidledStackProps['ami'],
  amiParameter: ctx('amiParameter'),
  volumeSizeGiB: num('volumeSizeGiB'),
  cpuCores: num('cpuCores'),
  threadsPerCore: num('threadsPerCore'),
  spotValidUntil: ctx('spotValidUntil'),
  spotMaxPrice: ctx('spotMaxPrice'),
  installNeuron: bool('installNeuron'),
  debPath: ctx('debPath'),
  sourcePath: ctx('sourcePath'),
  userDataPath: ctx('userDataPath'),
  intervalSec: num('intervalSec'),
  bootGraceSec: num('bootGraceSec'),
  idleChecks: num('idleChecks'),
  activeAlarm: bool('activeAlarm'),
  activeAlarmMinutes: num('activeAlarmMinutes'),
  cpuAlarm: bool('cpuAlarm'),
  cpuAlarmThreshold: num('cpuAlarmThreshold'),
  cpuAlarmMinutes: num('cpuAlarmMinutes'),
  cancelSpotRequestOnDelete: bool('cancelSpotRequestOnDelete'),
  silentNotifyMinutes: num('silentNotifyMinutes'),
  silentStopHours: num('silentStopHours'),
  // -c users=alice,bob,carol: one machine each; none: the one default machine.
  users: splitList(ctx('users')),
  // -c notifyEmail=team@example.com (or several, comma-separated)
  notifyEmails: splitList(ctx('notifyEmail')),
  maxHoldHours: num('maxHoldHours'),
  adminGroup: ctx('adminGroup'),
};
const stack = new TrnidledStack(app, ctx('stackName') ?? 'TrnidledStack', props);
addNagSuppressions(stack);
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
