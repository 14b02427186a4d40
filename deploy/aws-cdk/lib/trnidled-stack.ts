// A trn1 persistent spot instance that trnidled stops when idle.
import * as fs from 'fs';
import * as path from 'path';
import {
  Annotations,
  Aws,
  CfnOutput,
  Duration,
  IgnoreMode,
  Stack,
  StackProps,
  Tags,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cwActions,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_s3_assets as s3assets,
  custom_resources as cr,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { DEB_PATH } from './instance-scripts';
import { buildCloudConfig } from './user-data';

/** Ubuntu 24.04 amd64, gp3 root volume, from Canonical's public SSM parameter. */
export const UBUNTU_2404_PARAMETER =
  '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';

/** AWS Deep Learning AMI Neuron (Ubuntu 24.04), multi-framework. */
export const NEURON_DLAMI_PARAMETER =
  '/aws/service/neuron/dlami/multi-framework/ubuntu-24.04/latest/image_id';

/** Neuron packages installed on the plain Ubuntu AMI (Neuron's own setup guide). */
export const DEFAULT_NEURON_PACKAGES = [
  'aws-neuronx-dkms=2.*',
  'aws-neuronx-collectives=2.*',
  'aws-neuronx-runtime-lib=2.*',
  'aws-neuronx-tools=2.*',
];

/** CloudWatch namespace that trnidled publishes to. */
export const METRIC_NAMESPACE = 'Trnidled';

/** Folder of this package (deploy/aws-cdk), from the source or the compiled file. */
export function packageDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'cdk.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error('cannot find deploy/aws-cdk (cdk.json) above ' + __dirname);
    }
    dir = parent;
  }
  return dir;
}

/** Paths left out of the source asset (gitignore syntax, relative to the repository root). */
export const SOURCE_EXCLUDES = [
  '.git',
  'node_modules/',
  'cdk.out/',
  '/build*/',
  '/deploy/aws-cdk/dist/',
  '*.deb',
  '/bench/out/',
  '/tests/vm/cache/',
  '/tests/fuzz/corpus-run/',
];

export type AmiChoice = 'ubuntu' | 'neuron-dlami';

export interface TrnidledStackProps extends StackProps {
  /** AZ of the single public subnet. Pick one that offers the instance type (README). @default 'us-east-2c' */
  readonly availabilityZone?: string;
  /** CIDR allowed to SSH (port 22). Warned at synth time when open to the world. @default '0.0.0.0/0' */
  readonly sshCidr?: string;
  /** @default 'trn1.2xlarge' */
  readonly instanceType?: string;
  /** Vendor-neutral Ubuntu 24.04 or the Neuron DLAMI. @default 'ubuntu' */
  readonly ami?: AmiChoice;
  /** Override the SSM parameter that names the AMI. @default by `ami` */
  readonly amiParameter?: string;
  /** Root volume size (gp3, encrypted). @default 50 */
  readonly volumeSizeGiB?: number;
  /** @default 3000 */
  readonly volumeIops?: number;
  /** MB/s. @default 125 */
  readonly volumeThroughput?: number;
  /** CPU cores. Only set when given: fewer cores cost the same (README). @default the instance's */
  readonly cpuCores?: number;
  /** Threads per core (1 or 2). @default the instance's */
  readonly threadsPerCore?: number;
  /** End of the persistent spot request (YYYY-MM-DDTHH:MM:SSZ). EC2's default is 7 days. @default '2099-12-31T23:59:59Z' */
  readonly spotValidUntil?: string;
  /** Maximum spot price in USD/hour. @default on-demand price cap (EC2 default) */
  readonly spotMaxPrice?: string;
  /** Install the Neuron apt repository and packages by cloud-init. @default true on 'ubuntu', false on 'neuron-dlami' */
  readonly installNeuron?: boolean;
  /** Packages for installNeuron. @default DEFAULT_NEURON_PACKAGES */
  readonly neuronPackages?: string[];
  /** A prebuilt trnidled .deb for the AMI's release (Ubuntu 24.04). @default build from source on the instance */
  readonly debPath?: string;
  /** Source tree shipped and built on the instance. @default the repository root (../..) */
  readonly sourcePath?: string;
  /** The delivery #cloud-config. @default ../../packaging/cloud-init/user-data.yaml */
  readonly userDataPath?: string;
  /** trnidled IntervalSec. @default 60 */
  readonly intervalSec?: number;
  /** trnidled BootGraceSec. @default 900 */
  readonly bootGraceSec?: number;
  /** trnidled IdleChecks. @default 30 */
  readonly idleChecks?: number;
  /** Alarm on trnidled's Active metric that stops the instance. @default true */
  readonly activeAlarm?: boolean;
  /** Minutes without activity (or without any datapoint) before that alarm stops the instance; multiple of 5. @default 60 */
  readonly activeAlarmMinutes?: number;
  /** The old stack's CPU alarm. Off by default: it stops Neuron jobs with low host CPU. @default false */
  readonly cpuAlarm?: boolean;
  /** @default 3 (percent) */
  readonly cpuAlarmThreshold?: number;
  /** One-minute periods below the threshold. @default 3 */
  readonly cpuAlarmMinutes?: number;
  /** Cancel the persistent spot request when the stack (or the instance) is deleted. @default true */
  readonly cancelSpotRequestOnDelete?: boolean;
}

export class TrnidledStack extends Stack {
  readonly instance: ec2.CfnInstance;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly role: iam.Role;
  readonly activeAlarm?: cloudwatch.Alarm;
  readonly cpuAlarm?: cloudwatch.Alarm;
  private readonly az: string;

  constructor(scope: Construct, id: string, props: TrnidledStackProps = {}) {
    super(scope, id, props);
    const pkg = packageDir();
    const az = props.availabilityZone ?? 'us-east-2c';
    this.az = az;
    const sshCidr = props.sshCidr ?? '0.0.0.0/0';
    const instanceType = props.instanceType ?? 'trn1.2xlarge';
    const ami = props.ami ?? 'ubuntu';
    if (ami !== 'ubuntu' && ami !== 'neuron-dlami') {
      throw new Error(`ami must be 'ubuntu' or 'neuron-dlami', not '${ami}'`);
    }
    const activeMinutes = props.activeAlarmMinutes ?? 60;
    if (activeMinutes % 5 !== 0 || activeMinutes < 5 || activeMinutes > 1440) {
      throw new Error('activeAlarmMinutes must be a multiple of 5 between 5 and 1440');
    }

    // Network: one public subnet in one AZ, no NAT gateway.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      availabilityZones: [az],
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      flowLogs: {
        rejected: { trafficType: ec2.FlowLogTrafficType.REJECT },
      },
    });

    const sg = new ec2.SecurityGroup(this, 'Sg', {
      vpc,
      description: 'trnidled instance: SSH only (SSM Session Manager needs no inbound rule)',
      allowAllOutbound: true,
    });
    sg.addIngressRule(ec2.Peer.ipv4(sshCidr), ec2.Port.tcp(22), 'SSH');
    if (sshCidr === '0.0.0.0/0') {
      Annotations.of(this).addWarningV2(
        'trnidled:OpenSsh',
        'SSH (22) is open to 0.0.0.0/0. Pass -c sshCidr=YOUR.IP/32, or use SSM Session Manager, ' +
          'which needs no inbound rule.',
      );
    }

    const keyPair = new ec2.KeyPair(this, 'KeyPair', { type: ec2.KeyPairType.ED25519 });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'trnidled instance: SSM, PutMetricData to Trnidled, stop itself',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );

    // trnidled itself: the source tree (built on the instance) or a prebuilt .deb.
    const sourcePath = path.resolve(props.sourcePath ?? path.join(pkg, '..', '..'));
    if (!props.debPath && !fs.existsSync(path.join(sourcePath, 'packaging', 'build-deb'))) {
      throw new Error(
        `${path.join(sourcePath, 'packaging', 'build-deb')} not found: the source asset must ` +
          'contain packaging/build-deb (or pass a prebuilt package with -c debPath=PATH).',
      );
    }
    const asset = props.debPath
      ? new s3assets.Asset(this, 'TrnidledDeb', { path: path.resolve(props.debPath) })
      : new s3assets.Asset(this, 'TrnidledSource', {
          path: sourcePath,
          ignoreMode: IgnoreMode.GIT,
          exclude: SOURCE_EXCLUDES,
        });
    asset.grantRead(this.role);

    const installNeuron = props.installNeuron ?? ami === 'ubuntu';
    const cloudConfig = buildCloudConfig({
      templatePath: path.resolve(
        props.userDataPath ?? path.join(pkg, '..', '..', 'packaging', 'cloud-init', 'user-data.yaml'),
      ),
      trnidled: {
        intervalSec: props.intervalSec ?? 60,
        bootGraceSec: props.bootGraceSec ?? 900,
        idleChecks: props.idleChecks ?? 30,
        namespace: METRIC_NAMESPACE,
      },
      asset: {
        bucketName: asset.s3BucketName,
        objectKey: asset.s3ObjectKey,
        region: Aws.REGION,
        urlSuffix: Aws.URL_SUFFIX,
        kind: props.debPath ? 'deb' : 'source',
      },
      neuronPackages: installNeuron ? (props.neuronPackages ?? DEFAULT_NEURON_PACKAGES) : [],
    });

    const machineImage = ec2.MachineImage.fromSsmParameter(
      props.amiParameter ?? (ami === 'ubuntu' ? UBUNTU_2404_PARAMETER : NEURON_DLAMI_PARAMETER),
      { os: ec2.OperatingSystemType.LINUX },
    );

    const cpuOptions =
      props.cpuCores !== undefined || props.threadsPerCore !== undefined
        ? { coreCount: props.cpuCores, threadsPerCore: props.threadsPerCore }
        : undefined;

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(instanceType),
      machineImage,
      userData: ec2.UserData.custom(cloudConfig),
      role: this.role,
      keyPair,
      securityGroup: sg,
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 2,
      detailedMonitoring: true,
      instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.STOP,
      cpuOptions,
      blockDevices: [
        {
          deviceName: '/dev/sda1',
          volume: ec2.BlockDeviceVolume.ebs(props.volumeSizeGiB ?? 50, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            iops: props.volumeIops ?? 3000,
            throughput: props.volumeThroughput ?? 125,
            deleteOnTermination: true,
          }),
        },
      ],
      spotOptions: {
        requestType: ec2.SpotRequestType.PERSISTENT,
        interruptionBehavior: ec2.SpotInstanceInterruption.STOP,
        maxPrice: props.spotMaxPrice !== undefined ? Number(props.spotMaxPrice) : undefined,
      },
    });
    // The L2 renders validUntil with Date.toUTCString(); EC2 wants YYYY-MM-DDTHH:MM:SSZ.
    (this.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate).addPropertyOverride(
      'LaunchTemplateData.InstanceMarketOptions.SpotOptions.ValidUntil',
      props.spotValidUntil ?? '2099-12-31T23:59:59Z',
    );

    const subnet = vpc.publicSubnets[0];
    this.instance = new ec2.CfnInstance(this, 'Instance', {
      launchTemplate: {
        launchTemplateId: this.launchTemplate.launchTemplateId,
        version: this.launchTemplate.latestVersionNumber,
      },
      subnetId: subnet.subnetId,
      // Also on the instance itself, where cdk-nag EC28 looks for it.
      monitoring: true,
    });
    this.instance.node.addDependency(subnet.internetConnectivityEstablished);
    const instanceName = `${this.stackName}-trainium`;
    for (const target of [this.instance, this.launchTemplate]) {
      Tags.of(target).add('Name', instanceName, { priority: 300 });
      Tags.of(target).add('AutoShutdown', 'enabled');
    }
    const instanceId = this.instance.ref;
    const instanceArn = this.formatArn({
      service: 'ec2',
      resource: 'instance',
      resourceName: instanceId,
    });

    // Separate policy: on the role's default policy the instance ARN would make a cycle.
    new iam.Policy(this, 'SelfStop', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({ actions: ['ec2:StopInstances'], resources: [instanceArn] }),
      ],
    });

    const stop = new cwActions.Ec2Action(cwActions.Ec2InstanceAction.STOP);
    const alarmArns: Record<string, string> = {};
    if (props.activeAlarm ?? true) {
      const periods = activeMinutes / 5;
      this.activeAlarm = new cloudwatch.Alarm(this, 'ActiveAlarm', {
        alarmDescription:
          `Stops the instance when trnidled reports no activity (Active=0), or no datapoint at all, ` +
          `for ${activeMinutes} minutes: a backstop for the daemon's own stop.`,
        metric: new cloudwatch.Metric({
          namespace: METRIC_NAMESPACE,
          metricName: 'Active',
          dimensionsMap: { InstanceId: instanceId },
          statistic: cloudwatch.Stats.MAXIMUM,
          period: Duration.minutes(5),
        }),
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        threshold: 1,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      });
      this.activeAlarm.addAlarmAction(stop);
      this.activeAlarm.addInsufficientDataAction(stop);
      alarmArns.ActiveAlarmArn = this.activeAlarm.alarmArn;
    }
    if (props.cpuAlarm ?? false) {
      const minutes = props.cpuAlarmMinutes ?? 3;
      this.cpuAlarm = new cloudwatch.Alarm(this, 'CpuAlarm', {
        alarmDescription: 'Old stack behaviour: stops the instance when host CPU is low.',
        metric: new cloudwatch.Metric({
          namespace: 'AWS/EC2',
          metricName: 'CPUUtilization',
          dimensionsMap: { InstanceId: instanceId },
          statistic: cloudwatch.Stats.AVERAGE,
          period: Duration.minutes(1),
        }),
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        threshold: props.cpuAlarmThreshold ?? 3,
        evaluationPeriods: minutes,
        datapointsToAlarm: minutes,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.cpuAlarm.addAlarmAction(stop);
      alarmArns.CpuAlarmArn = this.cpuAlarm.alarmArn;
      Annotations.of(this).addWarningV2(
        'trnidled:CpuAlarm',
        'The CPU alarm stops the instance on low host CPU, even while a Neuron job runs.',
      );
    }

    if (props.cancelSpotRequestOnDelete ?? true) {
      this.cancelSpotRequestOnDelete(instanceId);
    }

    const region = Aws.REGION;
    const out = (name: string, value: string, description?: string) =>
      new CfnOutput(this, name, { value, description });
    out('InstanceId', instanceId);
    out('InstanceType', instanceType);
    out('KeyPairId', keyPair.keyPairId);
    out('KeyPairName', keyPair.keyPairName);
    out(
      'GetPrivateKeyCommand',
      `aws ssm get-parameter --region ${region} --name /ec2/keypair/${keyPair.keyPairId} ` +
        `--with-decryption --query Parameter.Value --output text > ${keyPair.keyPairName}.pem ` +
        `&& chmod 600 ${keyPair.keyPairName}.pem`,
      'Writes the private key to KEYPAIRNAME.pem',
    );
    out('Region', region);
    out('LaunchTemplateId', this.launchTemplate.launchTemplateId!);
    out('VpcId', vpc.vpcId);
    for (const [name, arn] of Object.entries(alarmArns)) {
      out(name, arn);
    }
    out(
      'SshCommand',
      `ssh -i ${keyPair.keyPairName}.pem ubuntu@$(aws ec2 describe-instances --region ${region} ` +
        `--instance-ids ${instanceId} --query 'Reservations[0].Instances[0].PublicIpAddress' --output text)`,
      'The public IP changes at every start',
    );
    out('SsmCommand', `aws ssm start-session --region ${region} --target ${instanceId}`);
    out(
      'CancelSpotRequestCommand',
      `aws ec2 cancel-spot-instance-requests --region ${region} --spot-instance-request-ids ` +
        `$(aws ec2 describe-instances --region ${region} --instance-ids ${instanceId} ` +
        `--query 'Reservations[0].Instances[0].SpotInstanceRequestId' --output text)`,
    );
    out('DebPathOnInstance', DEB_PATH);
  }

  /** The one AZ we use. Overridden so that synth needs no AZ lookup (no AWS credentials). */
  get availabilityZones(): string[] {
    return [this.az];
  }

  /**
   * CloudFormation terminates the instance but leaves its persistent spot request, which then
   * launches a replacement outside the stack. Two AwsCustomResources fix that: one reads the
   * request id when the instance is created, the other cancels that request when it is deleted
   * (stack deletion, or instance replacement: the old request is cancelled in the cleanup phase).
   */
  private cancelSpotRequestOnDelete(instanceId: string): void {
    const lookup = new cr.AwsCustomResource(this, 'SpotRequestLookup', {
      onUpdate: {
        service: 'EC2',
        action: 'describeInstances',
        parameters: { InstanceIds: [instanceId] },
        physicalResourceId: cr.PhysicalResourceId.of(instanceId),
        outputPaths: ['Reservations.0.Instances.0.SpotInstanceRequestId'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        // DescribeInstances supports no resource-level permissions.
        new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
      ]),
      installLatestAwsSdk: false,
    });
    const requestId = lookup.getResponseField('Reservations.0.Instances.0.SpotInstanceRequestId');
    new cr.AwsCustomResource(this, 'SpotRequestCancel', {
      onUpdate: {
        service: 'EC2',
        action: 'describeSpotInstanceRequests',
        parameters: { SpotInstanceRequestIds: [requestId] },
        physicalResourceId: cr.PhysicalResourceId.of(requestId),
        outputPaths: ['SpotInstanceRequests.0.State'],
      },
      onDelete: {
        service: 'EC2',
        action: 'cancelSpotInstanceRequests',
        parameters: { SpotInstanceRequestIds: [requestId] },
        ignoreErrorCodesMatching: 'InvalidSpotInstanceRequestID.*',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['ec2:DescribeSpotInstanceRequests'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          actions: ['ec2:CancelSpotInstanceRequests'],
          resources: [
            this.formatArn({ service: 'ec2', resource: 'spot-instances-request', resourceName: '*' }),
          ],
        }),
      ]),
      installLatestAwsSdk: false,
    });
    // Created after (so deleted before) the instance.
    lookup.node.addDependency(this.instance);
  }
}
