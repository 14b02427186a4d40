import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { NEURON_DLAMI_PARAMETER, UBUNTU_2404_PARAMETER } from '../lib/trnidled-stack';
import { FIXTURES, makeStack, synth } from './helpers';

const STOP_ACTION = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':automate:us-east-2:ec2:stop']],
};
const INSTANCE_REF = { Ref: 'Instance' };

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

  it('opens SSH from 0.0.0.0/0 by default and nothing else inbound', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [
        Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 22, ToPort: 22, IpProtocol: 'tcp' }),
      ],
    });
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

  it('has trn1.2xlarge, IMDSv2 required, detailed monitoring, shutdown stop', () => {
    const d = ltData();
    assert.equal(d.InstanceType, 'trn1.2xlarge');
    assert.equal(d.MetadataOptions.HttpTokens, 'required');
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

  it('takes the Ubuntu 24.04 AMI from the SSM parameter at deploy time', () => {
    const params = template.toJSON().Parameters as Record<string, { Type: string; Default: string }>;
    const ami = Object.values(params).find((p) => p.Default === UBUNTU_2404_PARAMETER);
    assert.ok(ami, 'SSM parameter for the Ubuntu AMI');
    assert.equal(ami.Type, 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
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

  it('gives the role SSM core and PutMetricData in the Trnidled namespace only', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore'],
          ],
        },
      ],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyName: Match.stringLikeRegexp('^RoleDefaultPolicy'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'cloudwatch:PutMetricData',
            Condition: { StringEquals: { 'cloudwatch:namespace': 'Trnidled' } },
            Effect: 'Allow',
            Resource: '*',
          },
          Match.objectLike({
            Action: ['s3:GetObject*', 's3:GetBucket*', 's3:List*'],
          }),
        ]),
      },
    });
  });

  it('allows ec2:StopInstances on this instance only, in a separate policy', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const stopping = Object.entries(policies).filter(([, p]) =>
      JSON.stringify(p).includes('ec2:StopInstances'),
    );
    assert.equal(stopping.length, 1);
    const [id, policy] = stopping[0];
    assert.match(id, /^SelfStop/);
    assert.deepEqual(policy.Properties.PolicyDocument.Statement, [
      {
        Action: 'ec2:StopInstances',
        Effect: 'Allow',
        Resource: {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':ec2:us-east-2:123456789012:instance/', INSTANCE_REF],
          ],
        },
      },
    ]);
    assert.equal(policy.Properties.Roles.length, 1);
    assert.match(JSON.stringify(policy.Properties.Roles), /Role1ABCC5F0/);
  });

  it('stops the instance from an alarm on Active (Trnidled, InstanceId), data or no data', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
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
      AlarmActions: [STOP_ACTION],
      InsufficientDataActions: [STOP_ACTION],
    });
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
    ]) {
      assert.ok(outputs.includes(name), `output ${name}`);
    }
    const key = template.toJSON().Outputs.GetPrivateKeyCommand.Value;
    assert.match(JSON.stringify(key), /\/ec2\/keypair\//);
    assert.match(JSON.stringify(template.toJSON().Outputs.SsmCommand.Value), /ssm start-session/);
  });
});

describe('stack props', () => {
  it('warns at synth time when SSH is open, not when restricted', () => {
    const open = makeStack();
    Annotations.fromStack(open).hasWarning('*', Match.stringLikeRegexp('0\\.0\\.0\\.0/0'));
    const closed = makeStack({ sshCidr: '203.0.113.7/32' });
    const warnings = Annotations.fromStack(closed).findWarning(
      '*',
      Match.stringLikeRegexp('SSH \\(22\\) is open'),
    );
    assert.equal(warnings.length, 0);
    Template.fromStack(closed).hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [Match.objectLike({ CidrIp: '203.0.113.7/32', FromPort: 22 })],
    });
  });

  it('takes the AZ, instance type and volume from props', () => {
    const t = synth({ availabilityZone: 'us-east-2a', instanceType: 'trn1.32xlarge', volumeSizeGiB: 200 });
    t.hasResourceProperties('AWS::EC2::Subnet', { AvailabilityZone: 'us-east-2a' });
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

  it('uses the Neuron DLAMI parameter when asked', () => {
    const params = synth({ ami: 'neuron-dlami' }).toJSON().Parameters as Record<string, { Default: string }>;
    assert.ok(Object.values(params).some((p) => p.Default === NEURON_DLAMI_PARAMETER));
  });

  it('adds the old CPU alarm when asked: < 3 % for 3 x 1 min, then stop', () => {
    const t = synth({ cpuAlarm: true });
    t.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/EC2',
      MetricName: 'CPUUtilization',
      Dimensions: [{ Name: 'InstanceId', Value: INSTANCE_REF }],
      Period: 60,
      EvaluationPeriods: 3,
      Threshold: 3,
      ComparisonOperator: 'LessThanThreshold',
      AlarmActions: [STOP_ACTION],
    });
    assert.ok(Object.keys(t.toJSON().Outputs).includes('CpuAlarmArn'));
  });

  it('can drop the Active alarm and the spot-request cancel', () => {
    const t = synth({ activeAlarm: false, cancelSpotRequestOnDelete: false });
    t.resourceCountIs('AWS::CloudWatch::Alarm', 0);
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

  it('needs no AWS lookups (no missing context)', () => {
    const app = new App();
    makeStack({}, app);
    const assembly = app.synth();
    assert.equal(assembly.manifest.missing, undefined);
  });
});

describe('source asset', () => {
  it('ships the source tree without build output, node_modules, cdk.out or .git', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-repo-'));
    const files = [
      'meson.build',
      'src/main.c',
      'packaging/build-deb',
      'packaging/cloud-init/user-data.yaml',
      'build/trnidled',
      'build-asan/x.o',
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
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-out-'));
    const app = new App({ outdir });
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
      'deploy/aws-cdk/package.json',
      'meson.build',
      'packaging/build-deb',
      'packaging/cloud-init/user-data.yaml',
      'src/main.c',
    ]);
  });

  it('ships a prebuilt .deb as a single file when debPath is given', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-deb-'));
    const deb = path.join(dir, 'trnidled_0.1_amd64.deb');
    fs.writeFileSync(deb, '!<arch>\n');
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-src-'));
    const t = synth({ debPath: deb, sourcePath: empty });
    const ud = JSON.stringify(t.toJSON());
    assert.match(ud, /\.deb/);
    assert.doesNotMatch(ud, /build-deb/);
  });
});
