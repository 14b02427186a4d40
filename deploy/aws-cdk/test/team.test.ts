// Issue #18 in the CDK app: a machine per user, the topic, the rule, the dashboard, the
// silent-daemon alarms and the hold limit.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MAX_USERS } from '../lib/team';
import { packageDir } from '../lib/trnidled-stack';
import { FIXTURES, ENV, amiContext, makeStack, synth } from './helpers';

type Resource = { Type: string; Properties: Record<string, any>; [key: string]: unknown };
type Resources = Record<string, Resource>;

const TEAM = ['alice', 'bob', 'carol'];

function resources(t: Template, type: string): Resources {
  return t.findResources(type) as Resources;
}

/** A CloudFormation value with Refs shown as <LogicalId>, for matching text that holds tokens. */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flat).join('');
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('Ref' in v) return `<${String(v.Ref)}>`;
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(flat).join(sep);
    }
    if ('Fn::GetAtt' in v) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
    return JSON.stringify(v);
  }
  return String(value);
}

/** The stack's drop-in (60-cdk-stack.conf) as the SSM parameter carries it. */
function dropIn(t: Template): string {
  const param = Object.values(resources(t, 'AWS::SSM::Parameter'))[0];
  return flat(param.Properties.Value).replace(/\\n/g, '\n');
}

function idOf(t: Template, type: string, pattern: RegExp): string[] {
  return Object.keys(resources(t, type)).filter((id) => pattern.test(id));
}

function topicId(t: Template): string {
  return Object.keys(resources(t, 'AWS::SNS::Topic'))[0];
}

describe('a machine per user', () => {
  const one = synth({ users: ['alice'] });
  const three = synth({ users: TEAM });

  it('with no users, keeps the one default machine and the logical ids and resources it had', () => {
    const t = synth();
    t.resourceCountIs('AWS::EC2::Instance', 1);
    const before = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'default-machine.json'), 'utf8')) as Resources;
    const now = t.toJSON().Resources as Resources;
    for (const [id, resource] of Object.entries(before)) {
      assert.ok(now[id], `${id} keeps its logical id (a new id would replace it on upgrade)`);
      const current = JSON.parse(JSON.stringify(now[id]));
      if (resource.Type === 'AWS::EC2::LaunchTemplate') delete current.Properties.LaunchTemplateData.UserData;
      assert.deepEqual(current, resource, `${id} unchanged (a change to it would replace the instance or the volume)`);
    }
    assert.equal(t.toJSON().Outputs.Machines, undefined);
  });

  it('gives one user a machine of her own: instance, key pair, volume, role, tags, outputs', () => {
    for (const type of ['AWS::EC2::Instance', 'AWS::EC2::KeyPair', 'AWS::EC2::Volume', 'AWS::EC2::LaunchTemplate']) {
      one.resourceCountIs(type, 1);
    }
    assert.deepEqual(idOf(one, 'AWS::EC2::Instance', /./), idOf(one, 'AWS::EC2::Instance', /^UseraliceInstance/));
    const userTag = { Key: 'trnidled:user', Value: 'alice' };
    one.hasResourceProperties('AWS::EC2::Instance', {
      Tags: Match.arrayWith([{ Key: 'Name', Value: 'TestStack-alice' }, userTag]),
    });
    one.hasResourceProperties('AWS::EC2::Volume', {
      Tags: Match.arrayWith([{ Key: 'Name', Value: 'TestStack-alice-home' }, userTag]),
    });
    const lt = Object.values(resources(one, 'AWS::EC2::LaunchTemplate'))[0];
    const specs = lt.Properties.LaunchTemplateData.TagSpecifications as { ResourceType: string; Tags: unknown[] }[];
    assert.deepEqual(specs.map((s) => s.ResourceType), ['instance', 'volume', 'spot-instances-request']);
    for (const spec of specs) {
      assert.ok(spec.Tags.some((tag) => JSON.stringify(tag) === JSON.stringify(userTag)), spec.ResourceType);
      assert.ok(JSON.stringify(spec.Tags).includes('"trnidled:stack"'), spec.ResourceType);
    }
    const outputs = one.toJSON().Outputs;
    for (const name of ['InstanceId', 'KeyPairName', 'GetPrivateKeyCommand', 'HomeVolumeId', 'SshCommand', 'SsmCommand', 'ActiveAlarmArn', 'CancelSpotRequestCommand']) {
      assert.ok(outputs[`alice${name}`], `output alice${name}`);
      assert.equal(outputs[name], undefined, `no unprefixed ${name} on a team stack`);
    }
    assert.match(outputs.aliceInstanceId.Description, /alice/);
    assert.equal(flat(outputs.Machines.Value), '{"alice":"<UseraliceInstance0443A9C4>"}');
  });

  it('gives three users three machines with distinct logical ids, each with its own volume and stop policy', () => {
    for (const type of ['AWS::EC2::Instance', 'AWS::EC2::KeyPair', 'AWS::EC2::Volume', 'AWS::EC2::LaunchTemplate', 'AWS::Events::Rule', 'AWS::CloudWatch::CompositeAlarm']) {
      three.resourceCountIs(type, 3);
    }
    three.resourceCountIs('Custom::AWS', 6);
    const instances = Object.keys(resources(three, 'AWS::EC2::Instance'));
    assert.equal(new Set(instances).size, 3);
    for (const user of TEAM) {
      const [instance] = idOf(three, 'AWS::EC2::Instance', new RegExp(`^User${user}Instance`));
      const [volume] = idOf(three, 'AWS::EC2::Volume', new RegExp(`^User${user}HomeVolume`));
      assert.ok(instance && volume, user);
      three.hasResource('AWS::EC2::Volume', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ Tags: Match.arrayWith([{ Key: 'trnidled:user', Value: user }]) }) });
      // Each instance role may stop only its own instance and attach only its own volume.
      const [selfStop] = Object.entries(resources(three, 'AWS::IAM::Policy')).filter(([id]) => id.startsWith(`User${user}SelfStop`));
      const text = JSON.stringify(selfStop[1].Properties);
      assert.ok(text.includes(`"Ref":"${instance}"`) && text.includes(`"Ref":"${volume}"`), user);
      for (const other of instances.filter((i) => i !== instance)) {
        assert.ok(!text.includes(`"Ref":"${other}"`), `${user}'s role cannot touch ${other}`);
      }
      // Its launch template mounts its own volume.
      const [lt] = Object.entries(resources(three, 'AWS::EC2::LaunchTemplate')).filter(([id]) => id.startsWith(`User${user}`));
      assert.ok(JSON.stringify(lt[1].Properties.LaunchTemplateData.UserData).includes(`"Ref":"${volume}"`), user);
      const outputs = three.toJSON().Outputs;
      assert.deepEqual(outputs[`${user}InstanceId`].Value, { Ref: instance });
      assert.deepEqual(outputs[`${user}HomeVolumeId`].Value, { Ref: volume });
    }
    const roles = Object.values(resources(three, 'AWS::IAM::Role')).filter((r) => JSON.stringify(r).includes('ec2.amazonaws.com'));
    assert.equal(roles.length, 3, 'one instance role per machine');
    assert.deepEqual(Object.keys(JSON.parse(flat(three.toJSON().Outputs.Machines.Value))), TEAM);
  });

  it('fits the most users it takes in CloudFormation\'s limits (200 outputs, 500 resources)', () => {
    const t = synth({ users: Array.from({ length: MAX_USERS }, (_, i) => `user${i}`), cpuAlarm: true });
    t.resourceCountIs('AWS::EC2::Instance', MAX_USERS);
    assert.ok(Object.keys(t.toJSON().Outputs).length <= 200);
    assert.ok(Object.keys(t.toJSON().Resources).length <= 500);
  });

  it('rejects bad user lists with a clear error', () => {
    assert.throws(() => makeStack({ users: ['Alice'] }), /users: 'Alice' is not a user name/);
    assert.throws(() => makeStack({ users: ['al ice'] }), /is not a user name/);
    assert.throws(() => makeStack({ users: ['alice', 'alice'] }), /same output names/);
    assert.throws(() => makeStack({ users: ['a.b', 'ab'] }), /'a\.b' and 'ab' would have the same output names/);
    assert.throws(() => makeStack({ users: Array.from({ length: 13 }, (_, i) => `u${i}`) }), /at most 12 per stack.*second stack/);
  });
});

describe('notifications', () => {
  const t = synth({ users: TEAM, notifyEmails: ['team@example.com'] });
  const topic = topicId(t);

  it('has one encrypted topic that refuses plain HTTP, under a rotated customer-managed key', () => {
    t.resourceCountIs('AWS::SNS::Topic', 1);
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const key = Object.values(resources(t, 'AWS::KMS::Key'))[0];
    const services = JSON.stringify(key.Properties.KeyPolicy);
    assert.match(services, /cloudwatch\.amazonaws\.com/);
    assert.match(services, /events\.amazonaws\.com/);
  });

  it('subscribes the e-mail addresses given, and none by default', () => {
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'team@example.com', TopicArn: { Ref: topic } });
    synth().resourceCountIs('AWS::SNS::Subscription', 0);
    assert.throws(() => makeStack({ notifyEmails: ['not-an-address'] }), /notifyEmail: 'not-an-address' is not an e-mail address/);
  });

  it('posts each instance\'s starts and stops to the topic, naming its user', () => {
    for (const user of TEAM) {
      const [instance] = idOf(t, 'AWS::EC2::Instance', new RegExp(`^User${user}Instance`));
      const [id, rule] = Object.entries(resources(t, 'AWS::Events::Rule')).filter(([rid]) => rid.startsWith(`User${user}`))[0];
      assert.ok(id);
      assert.deepEqual(rule.Properties.EventPattern, {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { 'instance-id': [{ Ref: instance }], state: ['running', 'stopped', 'terminated'] },
      });
      assert.equal(rule.Properties.Targets.length, 1);
      assert.deepEqual(rule.Properties.Targets[0].Arn, { Ref: topic });
      assert.match(flat(rule.Properties.Targets[0].InputTransformer.InputTemplate), new RegExp(`${user}'s machine`));
    }
  });

  it('lets only the stack\'s rules and alarms publish, each by its ARN', () => {
    const policy = Object.values(resources(t, 'AWS::SNS::TopicPolicy'))[0];
    const statements = policy.Properties.PolicyDocument.Statement as Record<string, any>[];
    const allow = statements.filter((s) => s.Effect === 'Allow');
    assert.deepEqual(allow.map((s) => s.Principal.Service).sort(), ['cloudwatch.amazonaws.com', 'events.amazonaws.com']);
    const events = allow.find((s) => s.Principal.Service === 'events.amazonaws.com')!;
    assert.deepEqual(
      events.Condition.ArnEquals['aws:SourceArn'].map((a: { 'Fn::GetAtt': string[] }) => a['Fn::GetAtt'][0]).sort(),
      Object.keys(resources(t, 'AWS::Events::Rule')).sort(),
    );
    const alarms = allow.find((s) => s.Principal.Service === 'cloudwatch.amazonaws.com')!;
    const sources = alarms.Condition.ArnEquals['aws:SourceArn'].map((a: { 'Fn::GetAtt': string[] }) => a['Fn::GetAtt'][0]);
    for (const id of Object.keys(resources(t, 'AWS::CloudWatch::CompositeAlarm'))) {
      assert.ok(sources.includes(id), `${id} may publish`);
    }
    for (const s of allow) {
      assert.deepEqual(s.Resource, { Ref: topic });
      assert.deepEqual(s.Action, 'sns:Publish');
    }
  });

  it('gives every instance role sns:Publish on that topic only, and the key only through SNS', () => {
    const policies = Object.entries(resources(t, 'AWS::IAM::Policy')).filter(([id]) => /^User\w+RoleDefaultPolicy/.test(id));
    assert.equal(policies.length, 3);
    for (const [, p] of policies) {
      const statements = p.Properties.PolicyDocument.Statement as Record<string, any>[];
      const sns = statements.filter((s) => JSON.stringify(s.Action).includes('sns:'));
      assert.deepEqual(sns, [{ Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: topic } }]);
      const kms = statements.filter((s) => JSON.stringify(s.Action).includes('kms:'));
      assert.equal(kms.length, 1);
      assert.deepEqual(kms[0].Action, ['kms:Decrypt', 'kms:GenerateDataKey']);
      assert.match(JSON.stringify(kms[0].Resource), /NotifyKey.*Arn/);
      assert.match(flat(kms[0].Condition.StringEquals['kms:ViaService']), /^sns\.<AWS::Region>\.<AWS::URLSuffix>$/);
    }
    const everywhere = Object.values(resources(t, 'AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Record<string, any>[]);
    assert.ok(!everywhere.some((s) => JSON.stringify(s.Action).includes('sns:') && JSON.stringify(s.Resource).includes('"*"')));
  });

  it('names the topic in every instance\'s drop-in ([AWS] NotifyTopicArn)', () => {
    assert.match(dropIn(t), new RegExp(`\\n\\[AWS\\]\\nNotifyTopicArn=<${topic}>\\n`));
    assert.match(dropIn(synth()), /\n\[AWS\]\nNotifyTopicArn=<NotifyTopic\w+>\n/);
  });
});

describe('a silent daemon is not an idle machine', () => {
  const t = synth();
  const alarms = resources(t, 'AWS::CloudWatch::Alarm');
  const byId = (prefix: string) => Object.entries(alarms).find(([id]) => id.startsWith(prefix))?.[1];

  it('stops nothing when the first datapoints are missing: no insufficient-data stop within hours', () => {
    for (const [id, alarm] of Object.entries(alarms)) {
      const insufficient = JSON.stringify(alarm.Properties.InsufficientDataActions ?? []);
      if (!insufficient.includes(':ec2:stop')) continue;
      assert.match(id, /^SilentStopAlarm/);
      assert.equal(alarm.Properties.Period * alarm.Properties.EvaluationPeriods, 6 * 3600, 'six hours of silence');
    }
    const silentStop = byId('SilentStopAlarm')!;
    assert.equal(silentStop.Properties.Statistic, 'SampleCount');
    assert.equal(silentStop.Properties.TreatMissingData, 'missing');
  });

  it('notifies the topic when the instance runs and no Active datapoint came for 20 minutes', () => {
    const heartbeat = byId('HeartbeatAlarm')!;
    assert.equal(heartbeat.Properties.MetricName, 'Active');
    assert.equal(heartbeat.Properties.Statistic, 'SampleCount');
    assert.equal(heartbeat.Properties.Period * heartbeat.Properties.EvaluationPeriods, 20 * 60);
    assert.equal(heartbeat.Properties.TreatMissingData, 'missing');
    const running = byId('RunningAlarm')!;
    assert.equal(running.Properties.MetricName, 'CPUUtilization');
    assert.equal(running.Properties.Namespace, 'AWS/EC2');
    for (const a of [heartbeat, running]) {
      assert.equal(a.Properties.AlarmActions, undefined);
      assert.equal(a.Properties.InsufficientDataActions, undefined);
    }
    const [silent] = Object.values(resources(t, 'AWS::CloudWatch::CompositeAlarm'));
    const rule = flat(silent.Properties.AlarmRule);
    assert.match(rule, /^\(ALARM\("<RunningAlarm\w+\.Arn>"\) AND INSUFFICIENT_DATA\("<HeartbeatAlarm\w+\.Arn>"\)\)$/);
    const topic = { Ref: topicId(t) };
    assert.deepEqual(silent.Properties.AlarmActions, [topic]);
    assert.deepEqual(silent.Properties.OKActions, [topic]);
    const description = flat(silent.Properties.AlarmDescription);
    assert.match(description, /instance <Instance>\) has sent no Active datapoint for 20 minutes while the instance runs/);
    assert.match(description, /stops it after 6 h of silence/);
    assert.match(description, /Last datapoint: aws cloudwatch get-metric-statistics .*Value=<Instance>/);
    assert.ok(description.length < 1024, 'CloudWatch takes 1024 characters');
    assert.match(flat(silent.Properties.AlarmName), /^TestStack-machine-trnidled-silent$/);
  });

  it('names the user\'s machine in a team stack\'s silent alarm', () => {
    const team = synth({ users: ['alice'] });
    const [silent] = Object.values(resources(team, 'AWS::CloudWatch::CompositeAlarm'));
    assert.match(flat(silent.Properties.AlarmDescription), /^trnidled on alice's machine \(instance <UseraliceInstance\w+>\)/);
    assert.equal(silent.Properties.AlarmName, 'TestStack-alice-trnidled-silent');
  });

  it('takes silentStopHours (0: never) and silentNotifyMinutes, and checks them', () => {
    const never = synth({ silentStopHours: 0 });
    assert.equal(Object.keys(resources(never, 'AWS::CloudWatch::Alarm')).filter((id) => id.startsWith('SilentStop')).length, 0);
    const [silent] = Object.values(resources(never, 'AWS::CloudWatch::CompositeAlarm'));
    assert.match(flat(silent.Properties.AlarmDescription), /Nothing stops it while the daemon is silent/);
    synth({ silentStopHours: 48, silentNotifyMinutes: 30 }).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Period: 3600,
      EvaluationPeriods: 48,
      InsufficientDataActions: [Match.objectLike({})],
    });
    assert.throws(() => makeStack({ silentStopHours: 1.5 }), /silentStopHours must be a whole number/);
    assert.throws(() => makeStack({ silentStopHours: 200 }), /silentStopHours must be/);
    assert.throws(() => makeStack({ silentNotifyMinutes: 7 }), /silentNotifyMinutes must be a multiple of 5/);
    assert.throws(() => makeStack({ silentNotifyMinutes: 10, intervalSec: 600 }), /must cover two checks/);
    assert.throws(() => makeStack({ silentStopHours: 1, silentNotifyMinutes: 60 }), /must be longer than silentNotifyMinutes/);
  });
});

describe('the hold limit', () => {
  it('puts maxHoldHours and adminGroup into every machine\'s drop-in ([Control])', () => {
    const text = dropIn(synth({ users: TEAM, maxHoldHours: 4, adminGroup: 'ml-admins' }));
    assert.match(text, /\n\[Control\]\nUserMaxHoldSec=4h\nAdminGroup=ml-admins\n/);
    assert.doesNotMatch(text, /\nMaxHoldSec=/, 'the daemon\'s 1d for root and admins stays');
    assert.doesNotMatch(dropIn(synth()), /\[Control\]/, 'no limit unless asked');
  });

  it('raises the admins\' MaxHoldSec with a user limit above the daemon\'s 1d, which would cap it', () => {
    assert.match(dropIn(synth({ maxHoldHours: 48 })), /\n\[Control\]\nMaxHoldSec=48h\nUserMaxHoldSec=48h\n/);
    assert.match(dropIn(synth({ maxHoldHours: 0.5 })), /\nUserMaxHoldSec=30min\n/);
  });

  it('changes the parameter, not the instances, when the limit changes', () => {
    const before = synth().toJSON().Resources as Resources;
    const after = synth({ maxHoldHours: 2 }).toJSON().Resources as Resources;
    assert.notDeepEqual(after.InstanceConfigDE34DC47, before.InstanceConfigDE34DC47, 'the drop-in changes');
    for (const id of ['Instance', 'LaunchTemplate04EC5460', 'HomeVolumeAE18541F']) {
      assert.deepEqual(after[id], before[id], id);
    }
  });

  it('rejects a limit or a group the daemon would not take, with a clear error', () => {
    for (const bad of [0, -1, Number.NaN, 721, 0.001]) {
      assert.throws(() => makeStack({ maxHoldHours: bad }), /maxHoldHours: .* (is not a number of hours|whole number of minutes)/, String(bad));
    }
    assert.throws(() => makeStack({ maxHoldHours: 0.3333 }), /whole number of minutes/);
    for (const bad of ['Admins', 'a b', 'x;reboot', '1x', 'a'.repeat(33)]) {
      assert.throws(() => makeStack({ adminGroup: bad }), /adminGroup: .* is not a group name/, bad);
    }
  });
});

describe('the dashboard', () => {
  const t = synth({ users: TEAM });
  const body = () => {
    const [dashboard] = Object.values(resources(t, 'AWS::CloudWatch::Dashboard'));
    return JSON.parse(flat(dashboard.Properties.DashboardBody)) as { widgets: Record<string, any>[] };
  };

  it('has one row per machine: activity, deciding signal, CPU, running, and the week\'s hours', () => {
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'TestStack-trnidled' });
    const widgets = body().widgets;
    assert.equal(widgets.length, 1 + 5 * TEAM.length);
    for (const user of TEAM) {
      const [instance] = idOf(t, 'AWS::EC2::Instance', new RegExp(`^User${user}Instance`));
      const row = widgets.filter((w) => String(w.properties.title ?? '').startsWith(`${user} (<${instance}>)`));
      assert.equal(row.length, 5, user);
      assert.equal(new Set(row.map((w) => w.y)).size, 1, `${user}: one row`);
      assert.equal(row.reduce((sum, w) => sum + w.width, 0), 24, `${user}: the full width`);
      const text = JSON.stringify(row);
      const metrics = row.map((w) => JSON.stringify(w.properties.metrics));
      assert.match(metrics[0], /"Trnidled","Active","InstanceId","<\w+>".*"Trnidled","IdleChecks"/);
      assert.ok(
        metrics[1].includes(
          `SEARCH('{Trnidled,InstanceId,Signal} MetricName=\\"DecidingSignal\\" InstanceId=\\"<${instance}>\\"', 'Sum', 300)`,
        ),
        metrics[1],
      );
      assert.match(metrics[2], /"AWS\/EC2","CPUUtilization","InstanceId","<\w+>"/);
      assert.match(metrics[3], /"CPUUtilization".*"SampleCount".*"Active".*"SampleCount"/);
      assert.equal(row[4].properties.view, 'singleValue');
      assert.equal(row[4].properties.start, '-P7D');
      assert.equal(row[4].properties.setPeriodToTimeRange, true);
      assert.match(metrics[4], /"expression":"up \/ 3600".*"UpSeconds".*"id":"up".*"period":604800,"stat":"Sum"/);
      assert.match(metrics[4], /"expression":"idle \/ 3600".*"IdleSeconds".*"stat":"Sum"/);
      assert.match(metrics[4], /"expression":"168 - upw \/ 3600"/);
      assert.ok(text.includes(`<${instance}>`));
    }
    assert.ok(t.toJSON().Outputs.DashboardUrl.Value.includes('#dashboards/dashboard/TestStack-trnidled'));
  });
});

describe('the app', () => {
  it('synthesizes a team stack offline from -c users, notifyEmail, maxHoldHours, adminGroup', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-app-'));
    const context = {
      ...amiContext(),
      users: 'alice, bob',
      notifyEmail: 'team@example.com',
      maxHoldHours: '8',
      adminGroup: 'sudo',
      region: ENV.region,
      userDataPath: path.join(FIXTURES, 'user-data.yaml'),
      sourcePath: path.join(FIXTURES, 'src'),
    };
    const run = spawnSync(process.execPath, [path.join(packageDir(), 'dist', 'bin', 'app.js')], {
      env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_DEFAULT_ACCOUNT: ENV.account },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    const t = Template.fromJSON(JSON.parse(fs.readFileSync(path.join(outdir, 'TrnidledStack.template.json'), 'utf8')));
    t.resourceCountIs('AWS::EC2::Instance', 2);
    t.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'team@example.com' });
    assert.match(dropIn(t), /UserMaxHoldSec=8h\nAdminGroup=sudo/);
    assert.ok(t.toJSON().Outputs.bobSshCommand);
    // cdk-nag's findings (unsuppressed only) are in the manifest's metadata.
    assert.doesNotMatch(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8'), /AwsSolutions-/, 'cdk-nag clean');
  });
});
