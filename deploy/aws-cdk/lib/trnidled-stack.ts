// A trn1 persistent spot instance that trnidled stops when idle.
import * as fs from 'fs';
import * as path from 'path';
import {
  Annotations,
  Aws,
  CfnOutput,
  IgnoreMode,
  Stack,
  StackProps,
  Token,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_s3_assets as s3assets,
  aws_ssm as ssm,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { addDashboard, dashboardName, dashboardUrl } from './dashboard';
import { DEB_PATH, InstanceConfig } from './instance-scripts';
import { Machine, MachineSettings } from './machine';
import { Notifications } from './notify';
import { checkEmails, checkUsers, holdPolicy } from './team';
import { renderDropIn } from './user-data';

export { STACK_TAG, USER_TAG } from './machine';

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
  /** Alarms on trnidled's Active metric that stop the instance (reported idle; silent for silentStopHours). @default true */
  readonly activeAlarm?: boolean;
  /** Minutes of reported idleness (Active=0) before that alarm stops the instance; multiple of 5. @default 60 */
  readonly activeAlarmMinutes?: number;
  /** Minutes without any Active datapoint, while the instance runs, before the topic hears of it; multiple of 5. @default 20 */
  readonly silentNotifyMinutes?: number;
  /** Hours without any Active datapoint before an alarm stops the instance; 0: never. @default 6 */
  readonly silentStopHours?: number;
  /** One machine per user (own key pair, /home volume, role, alarms, outputs); none: one default machine. @default none */
  readonly users?: string[];
  /** E-mail addresses subscribed to the stack's notification topic (each confirms by mail). @default none */
  readonly notifyEmails?: string[];
  /** The longest trnidlectl hold of a user who is not root or in adminGroup ([Control] UserMaxHoldSec). @default the daemon's (24 h) */
  readonly maxHoldHours?: number;
  /** Members of this group hold like root ([Control] AdminGroup). @default none */
  readonly adminGroup?: string;
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
  /** One per user, or the one default machine. */
  readonly machines: Machine[];
  readonly instanceConfig: ssm.StringParameter;
  readonly notifications: Notifications;
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
    const settings = checkSettings(props);
    const users = checkUsers(props.users ?? []);
    const hold = holdPolicy(props.maxHoldHours, props.adminGroup);
    this.notifications = new Notifications(this, checkEmails(props.notifyEmails ?? []));

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

    // Where the asset is, and the stack's drop-in, reach the instances through this parameter,
    // not the user data: a new trnidled (or a new hold limit) changes the parameter, not the
    // launch template. The drop-in is the same on every machine.
    const config: InstanceConfig = {
      url: `https://${asset.s3BucketName}.s3.${Aws.REGION}.${Aws.URL_SUFFIX}/${asset.s3ObjectKey}`,
      kind: props.debPath ? 'deb' : 'source',
      dropIn: renderDropIn({
        intervalSec: props.intervalSec ?? 60,
        bootGraceSec: props.bootGraceSec ?? 900,
        idleChecks: props.idleChecks ?? 30,
        namespace: METRIC_NAMESPACE,
        notifyTopicArn: this.notifications.topic.topicArn,
        ...hold,
      }),
    };
    const parameterName = `/trnidled/${this.stackName}/instance`;
    this.instanceConfig = new ssm.StringParameter(this, 'InstanceConfig', {
      parameterName,
      description: 'trnidled CDK stack: where the instance gets trnidled, and its drop-in',
      stringValue: this.toJsonString(config),
    });

    const installNeuron = props.installNeuron ?? ami === 'ubuntu';
    const image = this.machineImage(props, ami);
    const shared = {
      vpc,
      securityGroup: sg,
      availabilityZone: this.az,
      instanceType,
      image,
      cloudConfig: {
        templatePath: path.resolve(
          props.userDataPath ?? path.join(pkg, '..', '..', 'packaging', 'cloud-init', 'user-data.yaml'),
        ),
        parameterName,
        namespace: METRIC_NAMESPACE,
        neuronPackages: installNeuron ? (props.neuronPackages ?? DEFAULT_NEURON_PACKAGES) : [],
      },
      roleStatements: this.roleStatements(asset),
      topic: this.notifications.topic,
      topicKey: this.notifications.key,
      namespace: METRIC_NAMESPACE,
    };
    // No users: the one default machine, built in the stack itself with the ids it always had.
    this.machines = (users.length > 0 ? users : [undefined]).map((user) => new Machine(this, user, shared, settings));
    this.notifications.allowPublishers(this.machines);
    addDashboard(this, this.machines);

    if (props.cpuAlarm ?? false) {
      Annotations.of(this).addWarningV2(
        'trnidled:CpuAlarm',
        'The CPU alarm stops the instance on low host CPU, even while a Neuron job runs.',
      );
    }
    this.addOutputs(instanceType, image, vpc, users.length > 0);
  }

  /**
   * What every instance role gets besides its own: Session Manager's needs, PutMetricData in
   * the Trnidled namespace, the one asset object, and the stack's parameter.
   */
  private roleStatements(asset: s3assets.Asset): iam.PolicyStatement[] {
    return [
      // Session Manager's documented minimum for an instance profile, instead of
      // AmazonSSMManagedInstanceCore, whose ssm:GetParameter* on * can read every
      // /ec2/keypair/* private key in the account. The deny keeps it so if a broader policy is
      // added later.
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
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['ssm:GetParameter*'],
        resources: [this.formatArn({ service: 'ssm', region: '*', resource: 'parameter', resourceName: 'ec2/keypair/*' })],
      }),
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [asset.bucket.arnForObjects(asset.s3ObjectKey)],
      }),
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [this.instanceConfig.parameterArn],
      }),
    ];
  }

  /** The stack's outputs, then each machine's (prefixed with the user name on a team stack). */
  private addOutputs(instanceType: string, image: ec2.IMachineImage, vpc: ec2.IVpc, team: boolean): void {
    const out = (name: string, value: string, description?: string) =>
      new CfnOutput(this, name, { value, description });
    out('InstanceType', instanceType);
    out('ImageId', image.getImage(this).imageId, 'The AMI in use: pass it as -c amiId=... to keep it');
    out('Region', Aws.REGION);
    out('AvailabilityZone', this.az);
    out('InstanceConfigParameter', this.instanceConfig.parameterName);
    out('VpcId', vpc.vpcId);
    out('DebPathOnInstance', DEB_PATH);
    out(
      'NotifyTopicArn',
      this.notifications.topic.topicArn,
      'Subscribe: aws sns subscribe --topic-arn ... --protocol email --notification-endpoint YOU@example.com',
    );
    out('DashboardName', dashboardName(this));
    out('DashboardUrl', dashboardUrl(this));
    if (team) {
      out(
        'Machines',
        this.toJsonString(Object.fromEntries(this.machines.map((m) => [m.user, m.instanceId]))),
        'Who has which instance (user: instance id)',
      );
    }
    for (const machine of this.machines) {
      machine.addOutputs();
    }
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

  /** The one AZ we use. Overridden so that synth needs no AZ lookup (no AWS credentials). */
  get availabilityZones(): string[] {
    return [this.az];
  }
}

/** The settings every machine shares, checked. */
function checkSettings(props: TrnidledStackProps): MachineSettings {
  const activeAlarmMinutes = props.activeAlarmMinutes ?? 60;
  if (activeAlarmMinutes % 5 !== 0 || activeAlarmMinutes < 5 || activeAlarmMinutes > 1440) {
    throw new Error('activeAlarmMinutes must be a multiple of 5 between 5 and 1440');
  }
  const silentNotifyMinutes = props.silentNotifyMinutes ?? 20;
  const intervalSec = props.intervalSec ?? 60;
  if (silentNotifyMinutes % 5 !== 0 || silentNotifyMinutes < 10 || silentNotifyMinutes > 1440) {
    throw new Error('silentNotifyMinutes must be a multiple of 5 between 10 and 1440');
  }
  if (silentNotifyMinutes * 60 < 2 * intervalSec) {
    throw new Error(
      `silentNotifyMinutes (${silentNotifyMinutes}) must cover two checks (intervalSec ${intervalSec}), ` +
        'or every pause between two datapoints would look like a silent daemon',
    );
  }
  const silentStopHours = props.silentStopHours ?? 6;
  if (!Number.isInteger(silentStopHours) || silentStopHours < 0 || silentStopHours > 168) {
    throw new Error('silentStopHours must be a whole number of hours from 0 (never stop for silence) to 168 (7 days)');
  }
  if (silentStopHours > 0 && silentStopHours * 60 <= silentNotifyMinutes) {
    throw new Error(
      `silentStopHours (${silentStopHours} h) must be longer than silentNotifyMinutes (${silentNotifyMinutes} min): ` +
        'the team hears of a silent daemon before the stack stops its machine',
    );
  }
  return { ...props, activeAlarmMinutes, silentNotifyMinutes, silentStopHours };
}
