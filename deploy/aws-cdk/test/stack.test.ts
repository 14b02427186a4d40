import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { NEURON_DLAMI_PARAMETER, UBUNTU_2404_PARAMETER } from '../lib/trnidled-stack';
import { AMI, ENV, FIXTURES, amiContext, makeStack, synth } from './helpers';

const STOP_ACTION = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':automate:us-east-2:ec2:stop']],
};
const INSTANCE_REF = { Ref: 'Instance' };
const TOPIC_REF = { Ref: Match.stringLikeRegexp('^NotifyTopic') };

/** The alarms that stop an instance (a stop action in any state). */
function stoppingAlarms(t: Template): Record<string, { Properties: Record<string, unknown> }>[] {
  return Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a) => /:ec2:stop/.test(JSON.stringify(a)));
}

describe('default stack', () => {
  const template = synth();
  const ltData = () => {
    const lt = Object.values(template.findResources('AWS::EC2::LaunchTemplate'))[0];
    return lt.Properties.LaunchTemplateData;
  };

  it('has one public subnet in us-east-2c and no NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::Subnet', 1);
    template.hasResourceProperties('AWS::EC2::Subnet', {
      AvailabilityZone: 'us-east-2c',
      MapPublicIpOnLaunch: true,
    });
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
  });

  it('has no inbound rule by default (Session Manager needs none)', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: Match.absent(),
    });
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    assert.doesNotMatch(JSON.stringify(template.findResources('AWS::EC2::SecurityGroup')), /"CidrIp":"0\.0\.0\.0\/0","Description":"SSH/);
  });

  it('creates an ED25519 key pair', () => {
    template.hasResourceProperties('AWS::EC2::KeyPair', { KeyType: 'ed25519' });
  });

  it('uses a persistent spot request that stops on interruption with a far ValidUntil', () => {
    assert.deepEqual(ltData().InstanceMarketOptions, {
      MarketType: 'spot',
      SpotOptions: {
        InstanceInterruptionBehavior: 'stop',
        SpotInstanceType: 'persistent',
        ValidUntil: '2099-12-31T23:59:59Z',
      },
    });
  });

  it('has trn1.2xlarge, IMDSv2 required with hop limit 1, detailed monitoring, shutdown stop', () => {
    const d = ltData();
    assert.equal(d.InstanceType, 'trn1.2xlarge');
    assert.equal(d.MetadataOptions.HttpTokens, 'required');
    assert.equal(d.MetadataOptions.HttpPutResponseHopLimit, 1);
    assert.deepEqual(d.Monitoring, { Enabled: true });
    assert.equal(d.InstanceInitiatedShutdownBehavior, 'stop');
  });

  it('has a 50 GiB encrypted gp3 root volume with 3000 IOPS and 125 MB/s', () => {
    assert.deepEqual(ltData().BlockDeviceMappings, [
      {
        DeviceName: '/dev/sda1',
        Ebs: {
          DeleteOnTermination: true,
          Encrypted: true,
          Iops: 3000,
          Throughput: 125,
          VolumeSize: 50,
          VolumeType: 'gp3',
        },
      },
    ]);
  });

  it('leaves CPU options to the instance type', () => {
    assert.equal(ltData().CpuOptions, undefined);
  });

  it('pins the AMI looked up once (cdk.context.json), not re-read from SSM at every deploy', () => {
    assert.equal(ltData().ImageId, AMI);
    const params = (template.toJSON().Parameters ?? {}) as Record<string, { Type: string }>;
    assert.ok(!Object.values(params).some((p) => /SSM::Parameter::Value<AWS::EC2::Image::Id>/.test(p.Type)));
    assert.equal(template.toJSON().Outputs.ImageId.Value, AMI);
  });

  it('launches the instance from the template with monitoring and the tags', () => {
    template.hasResourceProperties('AWS::EC2::Instance', {
      LaunchTemplate: {
        LaunchTemplateId: { Ref: Match.stringLikeRegexp('LaunchTemplate') },
        Version: { 'Fn::GetAtt': [Match.stringLikeRegexp('LaunchTemplate'), 'LatestVersionNumber'] },
      },
      Monitoring: true,
      Tags: Match.arrayWith([
        { Key: 'AutoShutdown', Value: 'enabled' },
        { Key: 'Name', Value: 'TestStack-trainium' },
      ]),
    });
  });

  it('gives the role Session Manager and PutMetricData in the Trnidled namespace, no managed policy', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: Match.absent(),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('^RoleDefaultPolicy'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['ssm:UpdateInstanceInformation', 'ssmmessages:OpenDataChannel']) }),
          {
            Action: 'cloudwatch:PutMetricData',
            Condition: { StringEquals: { 'cloudwatch:namespace': 'Trnidled' } },
            Effect: 'Allow',
            Resource: '*',
          },
        ]),
      },
    });
  });

  it('allows the instance to stop itself, attach its data volume and set its status tag, nothing else', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const stopping = Object.entries(policies).filter(([, p]) =>
      JSON.stringify(p).includes('ec2:StopInstances'),
    );
    assert.equal(stopping.length, 1);
    const [id, policy] = stopping[0];
    assert.match(id, /^SelfStop/);
    const instanceArn = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:us-east-2:123456789012:instance/', INSTANCE_REF]],
    };
    const volumeArn = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':ec2:us-east-2:123456789012:volume/', { Ref: Match.stringLikeRegexp('^HomeVolume') }],
      ],
    };
    Template.fromJSON({ Resources: { P: policy } }).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          { Action: 'ec2:StopInstances', Effect: 'Allow', Resource: instanceArn },
          { Action: 'ec2:AttachVolume', Effect: 'Allow', Resource: [instanceArn, volumeArn] },
          {
            Action: 'ec2:CreateTags',
            Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['trnidled:setup'] } },
            Effect: 'Allow',
            Resource: instanceArn,
          },
        ],
      },
    });
    assert.equal(policy.Properties.Roles.length, 1);
    assert.match(JSON.stringify(policy.Properties.Roles), /Role1ABCC5F0/);
  });

  it('stops the instance from an alarm on Active (Trnidled, InstanceId) when it reports idle, not when silent', () => {
    assert.equal(stoppingAlarms(template).length, 2, 'the Active alarm and the long-silence alarm');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Trnidled',
      MetricName: 'Active',
      Dimensions: [{ Name: 'InstanceId', Value: INSTANCE_REF }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 12,
      DatapointsToAlarm: 12,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'missing',
      Unit: 'None',
      AlarmActions: [STOP_ACTION, TOPIC_REF],
      InsufficientDataActions: Match.absent(),
    });
  });

  it('cancels only spot requests that carry this stack\'s tag, which the launch template sets', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'ec2:CancelSpotInstanceRequests',
            Condition: { StringEquals: { 'aws:ResourceTag/trnidled:stack': { Ref: 'AWS::StackId' } } },
          }),
        ]),
      },
    });
    const specs = ltData().TagSpecifications as { ResourceType: string; Tags: unknown[] }[];
    const spot = specs.find((s) => s.ResourceType === 'spot-instances-request');
    assert.ok(spot, 'the launch template tags the spot request');
    assert.deepEqual(
      spot.Tags.filter((t) => JSON.stringify(t).includes('trnidled:stack')),
      [{ Key: 'trnidled:stack', Value: { Ref: 'AWS::StackId' } }],
    );
  });

  it('cancels the persistent spot request on delete', () => {
    const crs = template.findResources('Custom::AWS');
    const text = JSON.stringify(crs);
    assert.match(text, /describeInstances/);
    assert.match(text, /cancelSpotInstanceRequests/);
    assert.match(text, /SpotInstanceRequestId/);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'ec2:CancelSpotInstanceRequests' }),
        ]),
      },
    });
  });

  it('has every output', () => {
    const outputs = Object.keys(template.toJSON().Outputs);
    for (const name of [
      'InstanceId',
      'InstanceType',
      'KeyPairId',
      'KeyPairName',
      'GetPrivateKeyCommand',
      'Region',
      'LaunchTemplateId',
      'VpcId',
      'ActiveAlarmArn',
      'SshCommand',
      'SsmCommand',
      'CancelSpotRequestCommand',
      'ImageId',
      'HomeVolumeId',
      'AvailabilityZone',
      'InstanceConfigParameter',
      'UpdateNowCommand',
      'SetupStatusCommand',
    ]) {
      assert.ok(outputs.includes(name), `output ${name}`);
    }
    const key = template.toJSON().Outputs.GetPrivateKeyCommand.Value;
    assert.match(JSON.stringify(key), /\/ec2\/keypair\//);
    assert.match(JSON.stringify(template.toJSON().Outputs.SsmCommand.Value), /ssm start-session/);
  });
});

describe('stack props', () => {
  it('opens port 22 only to the sshCidr given, and warns only when that is 0.0.0.0/0', () => {
    const open = makeStack({ sshCidr: '0.0.0.0/0' });
    Annotations.fromStack(open).hasWarning('*', Match.stringLikeRegexp('0\\.0\\.0\\.0/0'));
    for (const props of [{}, { sshCidr: '203.0.113.7/32' }]) {
      const warnings = Annotations.fromStack(makeStack(props)).findWarning('*', Match.stringLikeRegexp('SSH \\(22\\) is open'));
      assert.equal(warnings.length, 0);
    }
    const closed = makeStack({ sshCidr: '203.0.113.7/32' });
    Template.fromStack(closed).hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [Match.objectLike({ CidrIp: '203.0.113.7/32', FromPort: 22, ToPort: 22 })],
    });
  });

  it('sets the IMDS hop limit to 2 only when asked (containers)', () => {
    synth({ imdsHopLimit: 2 }).hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ MetadataOptions: Match.objectLike({ HttpPutResponseHopLimit: 2 }) }),
    });
  });

  it('derives the AZ from the region: us-east-2 and us-west-2', () => {
    const east = synth();
    east.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: 'us-east-2c' });
    east.hasResourceProperties('AWS::EC2::Volume', { AvailabilityZone: 'us-east-2c' });
    const west = Template.fromStack(
      makeStack({ env: { ...ENV, region: 'us-west-2' } }, new App({ context: amiContext('us-west-2') })),
    );
    west.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: 'us-west-2a' });
    west.hasResourceProperties('AWS::EC2::Volume', { AvailabilityZone: 'us-west-2a' });
  });

  it('fails at synth with a clear message when the AZ is not in the region', () => {
    assert.throws(
      () => makeStack({ env: { ...ENV, region: 'us-west-2' }, availabilityZone: 'us-east-2c' }, new App({ context: amiContext('us-west-2') })),
      /availability zone us-east-2c is not in region us-west-2: pass -c az=us-west-2<letter>/,
    );
    assert.throws(() => makeStack({ availabilityZone: 'us-east-22a' }), /not in region us-east-2/);
  });

  it('takes the AZ, instance type and volume from props', () => {
    const t = synth({ availabilityZone: 'us-east-2a', instanceType: 'trn1.32xlarge', volumeSizeGiB: 200 });
    t.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: 'us-east-2a' });
    t.hasResourceProperties('AWS::EC2::Volume', { AvailabilityZone: 'us-east-2a' });
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceType: 'trn1.32xlarge',
        BlockDeviceMappings: [Match.objectLike({ Ebs: Match.objectLike({ VolumeSize: 200 }) })],
      }),
    });
  });

  it('sets CPU options only when asked', () => {
    const t = synth({ cpuCores: 2, threadsPerCore: 1 });
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ CpuOptions: { CoreCount: 2, ThreadsPerCore: 1 } }),
    });
  });

  it('looks up the Neuron DLAMI parameter when asked, and takes a fixed amiId as it is', () => {
    const app = new App();
    makeStack({ ami: 'neuron-dlami' }, app);
    const missing = app.synth().manifest.missing ?? [];
    assert.deepEqual(
      missing.map((m) => m.key),
      [`ssm:account=123456789012:parameterName=${NEURON_DLAMI_PARAMETER}:region=us-east-2`],
    );
    synth({ amiId: 'ami-0fedcba9876543210' }).hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ ImageId: 'ami-0fedcba9876543210' }),
    });
  });

  it('without an account (no credentials) reads the AMI at deploy time, with a warning', () => {
    const app = new App();
    const stack = makeStack({ env: { region: 'us-east-2' } }, app);
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('the AMI is read from SSM at deploy time'));
    const params = Template.fromStack(stack).toJSON().Parameters as Record<string, { Default: string }>;
    assert.ok(Object.values(params).some((p) => p.Default === UBUNTU_2404_PARAMETER));
  });

  it('adds the old CPU alarm when asked: < 3 % for 3 x 1 min, then stop', () => {
    const t = synth({ cpuAlarm: true });
    assert.equal(stoppingAlarms(t).length, 3, 'Active, long silence, CPU');
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/EC2',
      MetricName: 'CPUUtilization',
      Dimensions: [{ Name: 'InstanceId', Value: INSTANCE_REF }],
      Period: 60,
      EvaluationPeriods: 3,
      Threshold: 3,
      ComparisonOperator: 'LessThanThreshold',
      AlarmActions: [STOP_ACTION, TOPIC_REF],
    });
    assert.ok(Object.keys(t.toJSON().Outputs).includes('CpuAlarmArn'));
  });

  it('can drop the Active alarm and the spot-request cancel', () => {
    const t = synth({ activeAlarm: false, cancelSpotRequestOnDelete: false });
    assert.deepEqual(stoppingAlarms(t), []);
    t.resourceCountIs('Custom::AWS', 0);
  });

  it('sets the Active alarm window in 5-minute periods', () => {
    synth({ activeAlarmMinutes: 90 }).hasResourceProperties('AWS::CloudWatch::Alarm', {
      EvaluationPeriods: 18,
      DatapointsToAlarm: 18,
    });
    assert.throws(() => makeStack({ activeAlarmMinutes: 7 }), /multiple of 5/);
  });

  it('rejects an unknown AMI choice', () => {
    assert.throws(() => makeStack({ ami: 'debian' as never }), /ami must be/);
  });

  it('fails with a clear error when the user-data file is missing', () => {
    assert.throws(
      () => makeStack({ userDataPath: path.join(FIXTURES, 'nope.yaml') }),
      /nope\.yaml not found.*userDataPath/s,
    );
  });

  it('fails with a clear error when the source has no packaging/build-deb', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-src-'));
    assert.throws(() => makeStack({ sourcePath: empty }), /packaging\/build-deb not found/);
  });

  it('needs one AWS lookup, the AMI, and none once cdk.context.json has it', () => {
    const fresh = new App();
    makeStack({}, fresh);
    assert.deepEqual(
      (fresh.synth().manifest.missing ?? []).map((m) => m.key),
      [`ssm:account=123456789012:parameterName=${UBUNTU_2404_PARAMETER}:region=us-east-2`],
    );
    const pinned = new App({ context: amiContext() });
    makeStack({}, pinned);
    assert.equal(pinned.synth().manifest.missing, undefined);
  });
});

/** A repository tree in a temporary folder: build inputs, docs, tests and this app. */
function fakeRepo(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-repo-'));
  const files = [
    'meson.build',
    'meson_options.txt',
    'src/main.c',
    'src/README.md',
    'include/log.h',
    'bench/meson.build',
    'systemd/trnidled.service',
    'man/trnidled.8.in',
    'completion/trnidlectl',
    'packaging/build-deb',
    'packaging/debian/control',
    'packaging/cloud-init/user-data.yaml',
    'packaging/README.md',
    'README.md',
    'docs/signals.md',
    'tests/integration/test_x.py',
    'scripts/test',
    'build/trnidled',
    'build-asan/x.o',
    'src/x.o',
    '.git/HEAD',
    'deploy/aws-cdk/package.json',
    'deploy/aws-cdk/node_modules/x/index.js',
    'deploy/aws-cdk/cdk.out/manifest.json',
    'deploy/aws-cdk/dist/bin/app.js',
    'trnidled_0.1_amd64.deb',
  ];
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), f);
  }
  return root;
}

function templateOf(sourcePath: string): Record<string, { Type: string }> {
  return Template.fromStack(makeStack({ sourcePath })).toJSON().Resources;
}

function byType(resources: Record<string, { Type: string }>, type: string): unknown[] {
  return Object.values(resources).filter((r) => r.Type === type);
}

describe('source asset', () => {
  it('ships only the build inputs that packaging/build-deb needs', () => {
    const root = fakeRepo();
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-out-'));
    const app = new App({ outdir, context: amiContext() });
    makeStack({ sourcePath: root }, app);
    app.synth();
    const staged = fs
      .readdirSync(outdir)
      .find((d) => d.startsWith('asset.') && fs.existsSync(path.join(outdir, d, 'meson.build')));
    assert.ok(staged, 'staged source asset');
    const list = (dir: string, prefix = ''): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? list(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
      );
    assert.deepEqual(list(path.join(outdir, staged)).sort(), [
      'bench/meson.build',
      'completion/trnidlectl',
      'include/log.h',
      'man/trnidled.8.in',
      'meson.build',
      'meson_options.txt',
      'packaging/build-deb',
      'packaging/debian/control',
      'src/main.c',
      'systemd/trnidled.service',
    ]);
  });

  it('leaves the template unchanged when docs, tests or this app change', () => {
    const root = fakeRepo();
    const before = templateOf(root);
    for (const f of ['README.md', 'docs/signals.md', 'tests/integration/test_x.py', 'src/README.md', 'deploy/aws-cdk/package.json']) {
      fs.appendFileSync(path.join(root, f), '\none more line\n');
    }
    fs.mkdirSync(path.join(root, 'deploy/aws-cdk/cdk.out.2'));
    fs.writeFileSync(path.join(root, 'deploy/aws-cdk/cdk.out.2/x.json'), '{}');
    assert.deepEqual(templateOf(root), before);
  });

  it('hands a new trnidled to the instance without touching the launch template or the instance', () => {
    const root = fakeRepo();
    const before = templateOf(root);
    fs.appendFileSync(path.join(root, 'src/main.c'), '\n/* a change */\n');
    const after = templateOf(root);
    assert.notDeepEqual(byType(after, 'AWS::SSM::Parameter'), byType(before, 'AWS::SSM::Parameter'));
    for (const type of ['AWS::EC2::LaunchTemplate', 'AWS::EC2::Instance', 'AWS::EC2::Volume']) {
      assert.deepEqual(byType(after, type), byType(before, type), type);
    }
  });

  it('changes only the SSM parameter when the daemon settings change', () => {
    const before = synth().toJSON().Resources;
    const after = synth({ intervalSec: 30, idleChecks: 20 }).toJSON().Resources;
    assert.notDeepEqual(byType(after, 'AWS::SSM::Parameter'), byType(before, 'AWS::SSM::Parameter'));
    for (const type of ['AWS::EC2::LaunchTemplate', 'AWS::EC2::Instance']) {
      assert.deepEqual(byType(after, type), byType(before, type), type);
    }
  });

  it('ships a prebuilt .deb as a single file when debPath is given', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-deb-'));
    const deb = path.join(dir, 'trnidled_0.1_amd64.deb');
    fs.writeFileSync(deb, '!<arch>\n');
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-src-'));
    const t = synth({ debPath: deb, sourcePath: empty });
    const param = JSON.stringify(byType(t.toJSON().Resources, 'AWS::SSM::Parameter'));
    assert.match(param, /\.deb/);
    assert.match(param, /\\"kind\\":\\"deb\\"/);
  });
});

describe('data kept across a replacement', () => {
  const template = synth();

  it('keeps /home on a retained, encrypted gp3 volume in the instance\'s AZ', () => {
    template.resourceCountIs('AWS::EC2::Volume', 1);
    template.hasResource('AWS::EC2::Volume', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ AvailabilityZone: 'us-east-2c', Encrypted: true, VolumeType: 'gp3', Size: 100 }),
    });
    // The instance attaches it itself at boot: a VolumeAttachment would fail on replacement,
    // while the old instance still holds the volume.
    template.resourceCountIs('AWS::EC2::VolumeAttachment', 0);
  });

  it('takes the volume size from props', () => {
    synth({ homeVolumeGiB: 500 }).hasResourceProperties('AWS::EC2::Volume', { Size: 500 });
  });
});

describe('least privilege', () => {
  const template = synth();
  const statements = (): { Effect: string; Action: string | string[]; Resource: unknown }[] =>
    Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement,
    );
  const actions = (s: { Action: string | string[] }) => ([] as string[]).concat(s.Action);

  it('grants no ssm:GetParameter* beyond the stack\'s own parameter, and denies the key pairs', () => {
    const instanceRole = template.findResources('AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })] } },
    });
    for (const role of Object.values(instanceRole)) {
      assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no AmazonSSMManagedInstanceCore');
    }
    const reads = statements().filter(
      (s) => s.Effect === 'Allow' && actions(s).some((a) => /^ssm:(GetParameter|\*)/.test(a) || a === '*'),
    );
    assert.deepEqual(reads.map((s) => actions(s)), [['ssm:GetParameter']]);
    assert.match(JSON.stringify(reads[0].Resource), /:parameter",\{"Ref":"InstanceConfig/);
    assert.ok(
      statements().some(
        (s) => s.Effect === 'Deny' && actions(s).includes('ssm:GetParameter*') && /parameter\/ec2\/keypair\/\*/.test(JSON.stringify(s.Resource)),
      ),
      'explicit deny on /ec2/keypair/*',
    );
  });

  it('grants s3:GetObject on the one asset key, and nothing else in S3', () => {
    const s3 = statements().filter((s) => actions(s).some((a) => a.startsWith('s3:')));
    assert.equal(s3.length, 1);
    assert.deepEqual(actions(s3[0]), ['s3:GetObject']);
    assert.match(JSON.stringify(s3[0].Resource), /:s3:::cdk-hnb659fds-assets-123456789012-us-east-2\/[0-9a-f]{64}\.zip"/);
  });
});

describe('one unit for Active', () => {
  /** The daemon's C sources, wherever the tree keeps them (src/ and its layer folders). */
  function daemonSources(): string | undefined {
    const src = path.join(FIXTURES, '..', '..', '..', '..', 'src');
    if (!fs.existsSync(src)) return undefined;
    const files = (fs.readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.c'));
    return files.map((f) => fs.readFileSync(path.join(src, f), 'utf8')).join('\n');
  }

  it('names the unit the daemon publishes (its CloudWatchMetric "Active") in the alarm', (t) => {
    synth().hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Active', Unit: 'None' });
    const sources = daemonSources();
    if (sources === undefined) {
      t.skip('the daemon sources are not in this tree');
      return;
    }
    assert.match(sources, /\{ "Active", [^}]*, "None"(, [^}]*)? \}/);
  });
});
