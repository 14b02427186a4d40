// A trn1 persistent spot instance that trnidled stops when idle.
import * as fs from 'fs';
import * as path from 'path';
import {
  Annotations,
  Aws,
  CfnOutput,
  Duration,
  IgnoreMode,
  RemovalPolicy,
  Size,
  Stack,
  StackProps,
  Tags,
  Token,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cwActions,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_s3_assets as s3assets,
  aws_ssm as ssm,
  custom_resources as cr,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ACTIVE_UNIT, DATA_MOUNT, DEB_PATH, InstanceConfig, STATUS_TAG, UPDATE_UNIT } from './instance-scripts';
import { buildCloudConfig, renderDropIn } from './user-data';

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

/**
 * What packaging/build-deb needs to build the package (meson.build reads bench/ too; the
 * package build turns the tests off). The source asset holds these and nothing else, so an
 * edit to docs, tests or this app leaves the asset, and so the template, as it is.
 */
export const BUILD_INPUTS = [
  'meson.build',
  'meson_options.txt',
  'src',
  'include',
  'bench',
  'systemd',
  'man',
  'completion',
  'packaging/build-deb',
  'packaging/debian',
];

/**
 * The allowlist in gitignore syntax (relative to the repository root), with build output left
 * out. No trailing slashes: the asset staging asks about a directory by its bare name.
 */
export const SOURCE_EXCLUDES = [
  '/*',
  '!/packaging',
  '/packaging/*',
  ...BUILD_INPUTS.map((p) => `!/${p}`),
  '*.md',
  '*.o',
  '*.deb',
  '/bench/out',
];

/** The stack tag on the spot request, which the clean-up may cancel (and no other). */
export const STACK_TAG = 'trnidled:stack';

/** AZ used when none is given: us-east-2c as in the old stack (changing it replaces the VPC), else "a". */
export function defaultAvailabilityZone(region: string): string {
  return region === 'us-east-2' ? 'us-east-2c' : `${region}a`;
}

export type AmiChoice = 'ubuntu' | 'neuron-dlami';

export interface TrnidledStackProps extends StackProps {
  /** AZ of the single public subnet and the data volume; must be in the stack's region. Pick one that offers the instance type (README). @default defaultAvailabilityZone(region) */
  readonly availabilityZone?: string;
  /** CIDR allowed to SSH (port 22). @default no inbound rule (SSM Session Manager needs none) */
  readonly sshCidr?: string;
  /** IMDSv2 hop limit; 2 lets a container on the instance reach IMDS. @default 1 */
  readonly imdsHopLimit?: number;
  /** Size of the retained gp3 data volume mounted at /home. @default 100 */
  readonly homeVolumeGiB?: number;
  /** A fixed AMI id. @default looked up from the SSM parameter once and kept in cdk.context.json */
  readonly amiId?: string;
  /** @default 'trn1.2xlarge' */
  readonly instanceType?: string;
  /** Vendor-neutral Ubuntu 24.04 or the Neuron DLAMI. @default 'ubuntu' */
  readonly ami?: AmiChoice;
  /** Override the SSM parameter that names the AMI. @default by `ami` */
  readonly amiParameter?: string;
  /** Root volume size (gp3, encrypted; replaced with the instance, see homeVolumeGiB). @default 50 */
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
  readonly dataVolume: ec2.Volume;
  readonly instanceConfig: ssm.StringParameter;
  readonly activeAlarm?: cloudwatch.Alarm;
  readonly cpuAlarm?: cloudwatch.Alarm;
  /** True only when the user opened SSH to 0.0.0.0/0 on purpose (cdk-nag EC23 is then suppressed). */
  readonly sshOpenToWorld: boolean;
  private readonly az: string;

  constructor(scope: Construct, id: string, props: TrnidledStackProps = {}) {
    super(scope, id, props);
    const pkg = packageDir();
    this.az = this.checkAvailabilityZone(props.availabilityZone);
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
      availabilityZones: [this.az],
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      flowLogs: {
        rejected: { trafficType: ec2.FlowLogTrafficType.REJECT },
      },
    });

    // No inbound rule unless asked: Session Manager dials out.
    const sg = new ec2.SecurityGroup(this, 'Sg', {
      vpc,
      description: 'trnidled instance: SSH only from sshCidr (SSM Session Manager needs no inbound rule)',
      allowAllOutbound: true,
    });
    this.sshOpenToWorld = props.sshCidr === '0.0.0.0/0';
    if (props.sshCidr !== undefined) {
      sg.addIngressRule(ec2.Peer.ipv4(props.sshCidr), ec2.Port.tcp(22), 'SSH');
    }
    if (this.sshOpenToWorld) {
      Annotations.of(this).addWarningV2(
        'trnidled:OpenSsh',
        'SSH (22) is open to 0.0.0.0/0. Pass -c sshCidr=YOUR.IP/32, or leave it out and use SSM ' +
          'Session Manager, which needs no inbound rule.',
      );
    }

    const keyPair = new ec2.KeyPair(this, 'KeyPair', { type: ec2.KeyPairType.ED25519 });

    // Users' work lives here, not on the root volume: it survives a replacement of the instance
    // (new AMI, new instance type) and the deletion of the stack.
    this.dataVolume = new ec2.Volume(this, 'HomeVolume', {
      availabilityZone: this.az,
      size: Size.gibibytes(props.homeVolumeGiB ?? 100),
      volumeType: ec2.EbsDeviceVolumeType.GP3,
      encrypted: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'trnidled instance: Session Manager, PutMetricData to Trnidled, its own asset and parameter, stop itself',
    });
    this.addSessionManagerPolicy();
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );

    // trnidled itself: the build inputs (built on the instance) or a prebuilt .deb.
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
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [asset.bucket.arnForObjects(asset.s3ObjectKey)],
      }),
    );

    // Where the asset is, and the stack's drop-in, reach the instance through this parameter,
    // not the user data: a new trnidled changes the parameter, not the launch template.
    const config: InstanceConfig = {
      url: `https://${asset.s3BucketName}.s3.${Aws.REGION}.${Aws.URL_SUFFIX}/${asset.s3ObjectKey}`,
      kind: props.debPath ? 'deb' : 'source',
      dropIn: renderDropIn({
        intervalSec: props.intervalSec ?? 60,
        bootGraceSec: props.bootGraceSec ?? 900,
        idleChecks: props.idleChecks ?? 30,
        namespace: METRIC_NAMESPACE,
      }),
    };
    const parameterName = `/trnidled/${this.stackName}/instance`;
    this.instanceConfig = new ssm.StringParameter(this, 'InstanceConfig', {
      parameterName,
      description: 'trnidled CDK stack: where the instance gets trnidled, and its drop-in',
      stringValue: this.toJsonString(config),
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [this.instanceConfig.parameterArn],
      }),
    );

    const installNeuron = props.installNeuron ?? ami === 'ubuntu';
    const cloudConfig = buildCloudConfig({
      templatePath: path.resolve(
        props.userDataPath ?? path.join(pkg, '..', '..', 'packaging', 'cloud-init', 'user-data.yaml'),
      ),
      parameterName,
      volumeId: this.dataVolume.volumeId,
      namespace: METRIC_NAMESPACE,
      neuronPackages: installNeuron ? (props.neuronPackages ?? DEFAULT_NEURON_PACKAGES) : [],
    });

    const cpuOptions =
      props.cpuCores !== undefined || props.threadsPerCore !== undefined
        ? { coreCount: props.cpuCores, threadsPerCore: props.threadsPerCore }
        : undefined;

    const image = this.machineImage(props, ami);
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(instanceType),
      machineImage: image,
      userData: ec2.UserData.custom(cloudConfig),
      role: this.role,
      keyPair,
      securityGroup: sg,
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: props.imdsHopLimit ?? 1,
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
    const ltResource = this.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate;
    // The L2 renders validUntil with Date.toUTCString(); EC2 wants YYYY-MM-DDTHH:MM:SSZ.
    ltResource.addPropertyOverride(
      'LaunchTemplateData.InstanceMarketOptions.SpotOptions.ValidUntil',
      props.spotValidUntil ?? '2099-12-31T23:59:59Z',
    );
    // The L2 tags only the instance and its volume; the spot request carries the stack tag
    // too, which is what lets the clean-up cancel this request and no other.
    const instanceName = `${this.stackName}-trainium`;
    const launchTags = [
      { Key: 'AutoShutdown', Value: 'enabled' },
      { Key: 'Name', Value: instanceName },
      { Key: STACK_TAG, Value: Aws.STACK_ID },
    ];
    ltResource.addPropertyOverride(
      'LaunchTemplateData.TagSpecifications',
      ['instance', 'volume', 'spot-instances-request'].map((type) => ({ ResourceType: type, Tags: launchTags })),
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
    for (const target of [this.instance, this.launchTemplate, this.dataVolume]) {
      Tags.of(target).add('Name', target === this.dataVolume ? `${this.stackName}-home` : instanceName, {
        priority: 300,
      });
      Tags.of(target).add('AutoShutdown', 'enabled');
    }
    const instanceId = this.instance.ref;
    this.addSelfPolicy(instanceId);

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
          // The unit trnidled and the boot heartbeat publish: one unit, named.
          unit: ACTIVE_UNIT as cloudwatch.Unit,
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
    out('ImageId', image.getImage(this).imageId, 'The AMI in use: pass it as -c amiId=... to keep it');
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
    out('AvailabilityZone', this.az);
    out('HomeVolumeId', this.dataVolume.volumeId, `Retained EBS volume mounted at ${DATA_MOUNT}`);
    out('InstanceConfigParameter', this.instanceConfig.parameterName);
    out('LaunchTemplateId', this.launchTemplate.launchTemplateId!);
    out('VpcId', vpc.vpcId);
    for (const [name, arn] of Object.entries(alarmArns)) {
      out(name, arn);
    }
    out(
      'SshCommand',
      `ssh -i ${keyPair.keyPairName}.pem ubuntu@$(aws ec2 describe-instances --region ${region} ` +
        `--instance-ids ${instanceId} --query 'Reservations[0].Instances[0].PublicIpAddress' --output text)`,
      'Needs -c sshCidr=...; the public IP changes at every start',
    );
    out('SsmCommand', `aws ssm start-session --region ${region} --target ${instanceId}`);
    out(
      'UpdateNowCommand',
      `aws ssm start-session --region ${region} --target ${instanceId} ` +
        `--document-name AWS-StartInteractiveCommand ` +
        `--parameters command="sudo systemctl start ${UPDATE_UNIT}.service"`,
      'Installs a newly deployed trnidled now instead of within 15 minutes',
    );
    out(
      'SetupStatusCommand',
      `aws ec2 describe-tags --region ${region} --filters Name=resource-id,Values=${instanceId} ` +
        `Name=key,Values=${STATUS_TAG} --query 'Tags[0].Value' --output text`,
      'ok, or the first-boot or update step that failed',
    );
    out(
      'CancelSpotRequestCommand',
      `aws ec2 cancel-spot-instance-requests --region ${region} --spot-instance-request-ids ` +
        `$(aws ec2 describe-instances --region ${region} --instance-ids ${instanceId} ` +
        `--query 'Reservations[0].Instances[0].SpotInstanceRequestId' --output text)`,
    );
    out('DebPathOnInstance', DEB_PATH);
  }

  /** The AZ, checked against the region: a deploy to a region that lacks it would fail late. */
  private checkAvailabilityZone(az: string | undefined): string {
    const region = this.region;
    if (Token.isUnresolved(region)) {
      throw new Error('the stack needs a concrete region (env.region, or -c region=...) to pick its AZ');
    }
    const zone = az ?? defaultAvailabilityZone(region);
    if (!new RegExp(`^${region.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[a-z]$`).test(zone)) {
      throw new Error(
        `availability zone ${zone} is not in region ${region}: pass -c az=${region}<letter> ` +
          '(one that offers the instance type, see README "Pick an AZ"), or -c region=<its region>',
      );
    }
    return zone;
  }

  /**
   * The AMI, fixed at the first synth with credentials (kept in cdk.context.json), so that a new
   * image in the public parameter does not replace the instance at the next deploy.
   */
  private machineImage(props: TrnidledStackProps, ami: AmiChoice): ec2.IMachineImage {
    if (props.amiId !== undefined) {
      return ec2.MachineImage.genericLinux({ [this.region]: props.amiId });
    }
    const parameter = props.amiParameter ?? (ami === 'ubuntu' ? UBUNTU_2404_PARAMETER : NEURON_DLAMI_PARAMETER);
    if (Token.isUnresolved(this.account)) {
      Annotations.of(this).addWarningV2(
        'trnidled:AmiNotPinned',
        'No account (no AWS credentials): the AMI is read from SSM at deploy time, and a newer ' +
          'image would replace the instance. Synthesize with credentials, or pass -c amiId=ami-..., ' +
          'to pin it.',
      );
      return ec2.MachineImage.fromSsmParameter(parameter, { os: ec2.OperatingSystemType.LINUX });
    }
    return ec2.MachineImage.fromSsmParameter(parameter, {
      os: ec2.OperatingSystemType.LINUX,
      cachedInContext: true,
    });
  }

  /**
   * Session Manager's own needs (AWS's documented minimum for an instance profile), instead of
   * AmazonSSMManagedInstanceCore, whose ssm:GetParameter* on * can read every /ec2/keypair/*
   * private key in the account. The explicit deny keeps it so if a broader policy is added later.
   */
  private addSessionManagerPolicy(): void {
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'ssm:UpdateInstanceInformation',
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        resources: ['*'],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['ssm:GetParameter*'],
        resources: [this.formatArn({ service: 'ssm', region: '*', resource: 'parameter', resourceName: 'ec2/keypair/*' })],
      }),
    );
  }

  /**
   * What the instance may do to itself: stop, attach its data volume, set its status tag. A
   * separate policy: on the role's default policy the instance ARN would make a cycle.
   */
  private addSelfPolicy(instanceId: string): void {
    const instanceArn = this.formatArn({ service: 'ec2', resource: 'instance', resourceName: instanceId });
    const volumeArn = this.formatArn({ service: 'ec2', resource: 'volume', resourceName: this.dataVolume.volumeId });
    // The id is kept from when the policy held only the stop: renaming would churn the stack.
    new iam.Policy(this, 'SelfStop', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({ actions: ['ec2:StopInstances'], resources: [instanceArn] }),
        new iam.PolicyStatement({ actions: ['ec2:AttachVolume'], resources: [instanceArn, volumeArn] }),
        new iam.PolicyStatement({
          actions: ['ec2:CreateTags'],
          resources: [instanceArn],
          conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [STATUS_TAG] } },
        }),
      ],
    });
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
        // The request id is known only after launch, and an old request must stay cancellable
        // when the instance is replaced: the launch template tags every request of this stack.
        new iam.PolicyStatement({
          actions: ['ec2:CancelSpotInstanceRequests'],
          resources: [
            this.formatArn({ service: 'ec2', resource: 'spot-instances-request', resourceName: '*' }),
          ],
          conditions: { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: Aws.STACK_ID } },
        }),
      ]),
      installLatestAwsSdk: false,
    });
    // Created after (so deleted before) the instance.
    lookup.node.addDependency(this.instance);
  }
}
