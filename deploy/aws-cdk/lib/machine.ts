// One machine of the stack: its instance, key pair, /home volume, role, alarms, state-change
// rule and spot-request clean-up. The default machine (no users) is built directly in the stack,
// with the construct ids it always had, so that an existing stack keeps its instance and volume
// on upgrade; a user's machine is built under its own scope (User-<name>).
import {
  Aws,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Size,
  Stack,
  Tags,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cwActions,
  aws_ec2 as ec2,
  aws_events as events,
  aws_iam as iam,
  aws_kms as kms,
  aws_sns as sns,
  custom_resources as cr,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ACTIVE_UNIT, DATA_MOUNT, STATUS_TAG, UPDATE_UNIT } from './instance-scripts';
import { outputKey } from './team';
import type { TrnidledStackProps } from './trnidled-stack';
import { CloudConfigOptions, buildCloudConfig } from './user-data';

/** The stack tag on the spot request, which the clean-up may cancel (and no other). */
export const STACK_TAG = 'trnidled:stack';

/** The user a machine belongs to (instance, volumes, spot request, launch template). */
export const USER_TAG = 'trnidled:user';

/** EC2 instance states that the state-change rule posts to the topic. */
export const NOTIFIED_STATES = ['running', 'stopped', 'terminated'];

/** What the stack shares between its machines. */
export interface MachineShared {
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly availabilityZone: string;
  readonly instanceType: string;
  readonly image: ec2.IMachineImage;
  /** The user data's inputs, but the data volume (each machine has its own). */
  readonly cloudConfig: Omit<CloudConfigOptions, 'volumeId'>;
  /** Statements every instance role gets: Session Manager, metrics, the asset, the parameter. */
  readonly roleStatements: iam.PolicyStatement[];
  readonly topic: sns.ITopic;
  readonly topicKey: kms.IKey;
  readonly namespace: string;
}

/** The per-machine props: the stack's, the same for every machine, with the windows checked. */
export type MachineSettings = Pick<
  TrnidledStackProps,
  | 'imdsHopLimit'
  | 'homeVolumeGiB'
  | 'volumeSizeGiB'
  | 'volumeIops'
  | 'volumeThroughput'
  | 'cpuCores'
  | 'threadsPerCore'
  | 'spotValidUntil'
  | 'spotMaxPrice'
  | 'activeAlarm'
  | 'cpuAlarm'
  | 'cpuAlarmThreshold'
  | 'cpuAlarmMinutes'
  | 'cancelSpotRequestOnDelete'
> &
  Required<Pick<TrnidledStackProps, 'activeAlarmMinutes' | 'silentNotifyMinutes' | 'silentStopHours'>>;

/** Whether the stack stops a machine whose daemon stays silent (silentStopHours > 0, and alarms on Active on). */
export function silentStop(settings: MachineSettings): boolean {
  return settings.silentStopHours > 0 && (settings.activeAlarm ?? true);
}

export class Machine {
  /** The user, or undefined for the stack's one default machine. */
  readonly user?: string;
  /** How messages and widgets name the machine: the user, or the stack's name. */
  readonly label: string;
  readonly instance: ec2.CfnInstance;
  readonly instanceId: string;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly role: iam.Role;
  readonly dataVolume: ec2.Volume;
  readonly keyPair: ec2.KeyPair;
  readonly activeAlarm?: cloudwatch.Alarm;
  readonly cpuAlarm?: cloudwatch.Alarm;
  readonly namespace: string;
  /** Goes to ALARM while the instance runs (EC2 reports its CPU): half of the silence rule. */
  readonly runningAlarm: cloudwatch.Alarm;
  /** INSUFFICIENT_DATA when no Active datapoint arrived for silentNotifyMinutes. */
  readonly heartbeatAlarm: cloudwatch.Alarm;
  /** Running and silent: notifies (never stops). */
  readonly silentAlarm: cloudwatch.CompositeAlarm;
  /** Stops the instance after silentStopHours without any Active datapoint (0: none). */
  readonly silentStopAlarm?: cloudwatch.Alarm;
  readonly stateRule: events.Rule;
  /** Alarms that post to the topic (the topic policy lets CloudWatch publish for these only). */
  readonly notifyingAlarms: cloudwatch.IAlarm[] = [];
  private readonly stack: Stack;
  private readonly scope: Construct;

  constructor(stack: Stack, user: string | undefined, shared: MachineShared, settings: MachineSettings) {
    this.stack = stack;
    this.user = user;
    this.namespace = shared.namespace;
    this.label = user ?? stack.stackName;
    this.scope = user === undefined ? stack : new Construct(stack, `User-${user}`);
    const scope = this.scope;
    const instanceName = user === undefined ? `${stack.stackName}-trainium` : `${stack.stackName}-${user}`;
    const volumeName = user === undefined ? `${stack.stackName}-home` : `${instanceName}-home`;

    this.keyPair = new ec2.KeyPair(scope, 'KeyPair', { type: ec2.KeyPairType.ED25519 });

    // Users' work lives here, not on the root volume: it survives a replacement of the instance
    // (new AMI, new instance type) and the deletion of the stack.
    this.dataVolume = new ec2.Volume(scope, 'HomeVolume', {
      availabilityZone: shared.availabilityZone,
      size: Size.gibibytes(settings.homeVolumeGiB ?? 100),
      volumeType: ec2.EbsDeviceVolumeType.GP3,
      encrypted: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // One role per machine: what an instance may do to itself must not reach a colleague's.
    this.role = new iam.Role(scope, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'trnidled instance: Session Manager, PutMetricData to Trnidled, its own asset and parameter, stop itself',
    });
    for (const statement of shared.roleStatements) {
      this.role.addToPolicy(statement);
    }
    this.allowPublish(shared.topic, shared.topicKey);

    const cpuOptions =
      settings.cpuCores !== undefined || settings.threadsPerCore !== undefined
        ? { coreCount: settings.cpuCores, threadsPerCore: settings.threadsPerCore }
        : undefined;
    this.launchTemplate = new ec2.LaunchTemplate(scope, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(shared.instanceType),
      machineImage: shared.image,
      userData: ec2.UserData.custom(buildCloudConfig({ ...shared.cloudConfig, volumeId: this.dataVolume.volumeId })),
      role: this.role,
      keyPair: this.keyPair,
      securityGroup: shared.securityGroup,
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: settings.imdsHopLimit ?? 1,
      detailedMonitoring: true,
      instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.STOP,
      cpuOptions,
      blockDevices: [
        {
          deviceName: '/dev/sda1',
          volume: ec2.BlockDeviceVolume.ebs(settings.volumeSizeGiB ?? 50, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            iops: settings.volumeIops ?? 3000,
            throughput: settings.volumeThroughput ?? 125,
            deleteOnTermination: true,
          }),
        },
      ],
      spotOptions: {
        requestType: ec2.SpotRequestType.PERSISTENT,
        interruptionBehavior: ec2.SpotInstanceInterruption.STOP,
        maxPrice: settings.spotMaxPrice !== undefined ? Number(settings.spotMaxPrice) : undefined,
      },
    });
    const ltResource = this.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate;
    // The L2 renders validUntil with Date.toUTCString(); EC2 wants YYYY-MM-DDTHH:MM:SSZ.
    ltResource.addPropertyOverride(
      'LaunchTemplateData.InstanceMarketOptions.SpotOptions.ValidUntil',
      settings.spotValidUntil ?? '2099-12-31T23:59:59Z',
    );
    // The L2 tags only the instance and its volume; the spot request carries the stack tag
    // too, which is what lets the clean-up cancel this stack's requests and no other.
    const launchTags = [
      { Key: 'AutoShutdown', Value: 'enabled' },
      { Key: 'Name', Value: instanceName },
      { Key: STACK_TAG, Value: Aws.STACK_ID },
      ...(user === undefined ? [] : [{ Key: USER_TAG, Value: user }]),
    ];
    ltResource.addPropertyOverride(
      'LaunchTemplateData.TagSpecifications',
      ['instance', 'volume', 'spot-instances-request'].map((type) => ({ ResourceType: type, Tags: launchTags })),
    );

    const subnet = shared.vpc.publicSubnets[0];
    this.instance = new ec2.CfnInstance(scope, 'Instance', {
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
      Tags.of(target).add('Name', target === this.dataVolume ? volumeName : instanceName, { priority: 300 });
      Tags.of(target).add('AutoShutdown', 'enabled');
      if (user !== undefined) {
        Tags.of(target).add(USER_TAG, user);
      }
    }
    this.instanceId = this.instance.ref;
    this.addSelfPolicy();

    const stop = new cwActions.Ec2Action(cwActions.Ec2InstanceAction.STOP);
    if (settings.activeAlarm ?? true) {
      this.activeAlarm = this.addActiveAlarm(settings.activeAlarmMinutes);
      this.activeAlarm.addAlarmAction(stop);
    }
    if (settings.cpuAlarm ?? false) {
      this.cpuAlarm = this.addCpuAlarm(settings.cpuAlarmThreshold ?? 3, settings.cpuAlarmMinutes ?? 3);
      this.cpuAlarm.addAlarmAction(stop);
    }
    this.runningAlarm = this.addRunningAlarm();
    this.heartbeatAlarm = this.addHeartbeatAlarm(settings.silentNotifyMinutes);
    this.silentAlarm = this.addSilentAlarm(settings);
    if (silentStop(settings)) {
      this.silentStopAlarm = this.addSilentStopAlarm(settings.silentStopHours);
      this.silentStopAlarm.addInsufficientDataAction(stop);
    }
    const notify = new cwActions.SnsAction(shared.topic);
    this.silentAlarm.addAlarmAction(notify);
    this.silentAlarm.addOkAction(notify);
    this.notifyingAlarms.push(this.silentAlarm);
    for (const alarm of [this.activeAlarm, this.cpuAlarm]) {
      if (alarm !== undefined) {
        alarm.addAlarmAction(notify);
        this.notifyingAlarms.push(alarm);
      }
    }
    this.stateRule = this.addStateRule(shared.topic);

    if (settings.cancelSpotRequestOnDelete ?? true) {
      this.cancelSpotRequestOnDelete();
    }
  }

  /** "alice's machine", or "the machine" of a single-user stack. */
  get who(): string {
    return this.user === undefined ? `the machine of stack ${this.stack.stackName}` : `${this.user}'s machine`;
  }

  /** sns:Publish on the stack's topic only, and the key use that publishing to it needs (through SNS only). */
  private allowPublish(topic: sns.ITopic, key: kms.IKey): void {
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }));
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `sns.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
      }),
    );
  }

  /**
   * What the instance may do to itself: stop, attach its data volume, set its status tag. A
   * separate policy: on the role's default policy the instance ARN would make a cycle.
   */
  private addSelfPolicy(): void {
    const instanceArn = this.stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: this.instanceId });
    const volumeArn = this.stack.formatArn({ service: 'ec2', resource: 'volume', resourceName: this.dataVolume.volumeId });
    // The id is kept from when the policy held only the stop: renaming would churn the stack.
    new iam.Policy(this.scope, 'SelfStop', {
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

  /** trnidled's Active metric of this instance, by 5-minute periods unless told. */
  activeMetric(statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
    return this.daemonMetric('Active', statistic, period, ACTIVE_UNIT as cloudwatch.Unit);
  }

  /**
   * One of the daemon's metrics of this instance. Active names its unit (None, as trnidled and
   * the boot heartbeat publish it): an alarm over mixed units is undefined.
   */
  daemonMetric(name: string, statistic: string, period = Duration.minutes(5), unit?: cloudwatch.Unit): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName: name,
      dimensionsMap: { InstanceId: this.instanceId },
      statistic,
      period,
      unit,
    });
  }

  /** The backstop for the daemon's own stop: Active=0 (reported idle) for the whole window. */
  private addActiveAlarm(minutes: number): cloudwatch.Alarm {
    const periods = minutes / 5;
    return new cloudwatch.Alarm(this.scope, 'ActiveAlarm', {
      alarmDescription:
        `Stops ${this.who} (${this.instanceId}) when trnidled has reported no activity (Active=0) for ` +
        `${minutes} minutes: a backstop for the daemon's own stop. No datapoint is not idleness: ` +
        'that is the silent-daemon alarm\'s business.',
      metric: this.activeMetric(cloudwatch.Stats.MAXIMUM),
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      threshold: 1,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
  }

  /** The old stack's alarm on host CPU (off by default: it stops Neuron jobs). */
  private addCpuAlarm(threshold: number, minutes: number): cloudwatch.Alarm {
    return new cloudwatch.Alarm(this.scope, 'CpuAlarm', {
      alarmDescription: `Old stack behaviour: stops ${this.who} (${this.instanceId}) when host CPU is low.`,
      metric: this.cpuMetric(cloudwatch.Stats.AVERAGE, Duration.minutes(1)),
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      threshold,
      evaluationPeriods: minutes,
      datapointsToAlarm: minutes,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** The instance's AWS/EC2 CPUUtilization. */
  cpuMetric(statistic: string, period = Duration.minutes(5)): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/EC2',
      metricName: 'CPUUtilization',
      dimensionsMap: { InstanceId: this.instanceId },
      statistic,
      period,
    });
  }

  /**
   * ALARM while the instance runs: EC2 sends CPUUtilization every minute (detailed monitoring)
   * only then. Two periods, so that a just-started instance has time to send its boot heartbeat.
   */
  private addRunningAlarm(): cloudwatch.Alarm {
    return new cloudwatch.Alarm(this.scope, 'RunningAlarm', {
      alarmDescription:
        `ALARM while ${this.who} (${this.instanceId}) runs: EC2 reports its CPU. Takes no action; ` +
        'part of the silent-daemon alarm.',
      metric: this.cpuMetric(cloudwatch.Stats.SAMPLE_COUNT),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** INSUFFICIENT_DATA once no Active datapoint arrived for the given minutes. Takes no action. */
  private addHeartbeatAlarm(minutes: number): cloudwatch.Alarm {
    const periods = minutes / 5;
    return new cloudwatch.Alarm(this.scope, 'HeartbeatAlarm', {
      alarmDescription:
        `INSUFFICIENT_DATA when trnidled on ${this.who} (${this.instanceId}) has sent no Active ` +
        `datapoint for ${minutes} minutes. Takes no action; part of the silent-daemon alarm.`,
      metric: this.activeMetric(cloudwatch.Stats.SAMPLE_COUNT),
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      threshold: 1,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
  }

  /**
   * Notifies (never stops) when the instance runs but its daemon is silent: a crashed daemon
   * or an agent that cannot reach CloudWatch is not an idle machine. A stopped instance sends
   * no CPU either, so a normal stop does not notify.
   */
  private addSilentAlarm(settings: MachineSettings): cloudwatch.CompositeAlarm {
    const stop = silentStop(settings)
      ? `The stack stops it after ${settings.silentStopHours} h of silence.`
      : 'Nothing stops it while the daemon is silent.';
    return new cloudwatch.CompositeAlarm(this.scope, 'SilentAlarm', {
      compositeAlarmName: `${this.stack.stackName}-${this.user ?? 'machine'}-trnidled-silent`,
      alarmDescription:
        `trnidled on ${this.who} (instance ${this.instanceId}) has sent no Active datapoint for ` +
        `${settings.silentNotifyMinutes} minutes while the instance runs: the daemon is down or cannot ` +
        `reach CloudWatch, so it does not stop this machine when idle. ${stop} Check: aws ssm start-session ` +
        `--target ${this.instanceId}, then systemctl status trnidled. Last datapoint: aws cloudwatch ` +
        `get-metric-statistics --namespace ${this.namespace} --metric-name Active --dimensions ` +
        `Name=InstanceId,Value=${this.instanceId} --statistics SampleCount --period 300 --start-time ` +
        '$(date -u -d -1day +%FT%TZ) --end-time $(date -u +%FT%TZ)',
      alarmRule: cloudwatch.AlarmRule.allOf(
        cloudwatch.AlarmRule.fromAlarm(this.runningAlarm, cloudwatch.AlarmState.ALARM),
        cloudwatch.AlarmRule.fromAlarm(this.heartbeatAlarm, cloudwatch.AlarmState.INSUFFICIENT_DATA),
      ),
    });
  }

  /**
   * Stops the instance after a long silence (no Active datapoint in hourly periods): a dead
   * daemon cannot keep an idle machine up for ever. While the instance is stopped this alarm
   * sits in INSUFFICIENT_DATA; the boot heartbeat (per-boot script) brings it back to OK, which
   * re-arms it.
   */
  private addSilentStopAlarm(hours: number): cloudwatch.Alarm {
    return new cloudwatch.Alarm(this.scope, 'SilentStopAlarm', {
      alarmDescription:
        `Stops ${this.who} (${this.instanceId}) when trnidled has sent no Active datapoint for ` +
        `${hours} hours (silentStopHours); the silent-daemon alarm has notified long before.`,
      metric: this.activeMetric(cloudwatch.Stats.SAMPLE_COUNT, Duration.hours(1)),
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      threshold: 1,
      evaluationPeriods: hours,
      datapointsToAlarm: hours,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
  }

  /** Posts this instance's starts and stops to the topic, naming the machine. */
  private addStateRule(topic: sns.ITopic): events.Rule {
    const rule = new events.Rule(this.scope, 'StateChangeRule', {
      description: `trnidled: posts the starts and stops of ${this.who} to the stack's topic`,
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { 'instance-id': [this.instanceId], state: NOTIFIED_STATES },
      },
    });
    const message = events.RuleTargetInput.fromText(
      `trnidled: ${this.who} (${events.EventField.fromPath('$.detail.instance-id')}) is now ` +
        `${events.EventField.fromPath('$.detail.state')} (${events.EventField.time}, ${this.stack.region}).`,
    );
    // The topic policy allows this rule (by its ARN) to publish; the stack writes it, not the
    // aws-events-targets helper, whose grant names no rule.
    rule.addTarget({ bind: () => ({ arn: topic.topicArn, input: message }) });
    return rule;
  }

  /**
   * CloudFormation terminates the instance but leaves its persistent spot request, which then
   * launches a replacement outside the stack. Two AwsCustomResources fix that: one reads the
   * request id when the instance is created, the other cancels that request when it is deleted
   * (stack deletion, or instance replacement: the old request is cancelled in the cleanup phase).
   */
  private cancelSpotRequestOnDelete(): void {
    const instanceId = this.instanceId;
    const lookup = new cr.AwsCustomResource(this.scope, 'SpotRequestLookup', {
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
    new cr.AwsCustomResource(this.scope, 'SpotRequestCancel', {
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
        // All clean-ups run in one Lambda (the AwsCustomResource singleton), so a per-user
        // condition would add nothing: the scope is the stack.
        new iam.PolicyStatement({
          actions: ['ec2:CancelSpotInstanceRequests'],
          resources: [
            this.stack.formatArn({ service: 'ec2', resource: 'spot-instances-request', resourceName: '*' }),
          ],
          conditions: { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: Aws.STACK_ID } },
        }),
      ]),
      installLatestAwsSdk: false,
    });
    // Created after (so deleted before) the instance.
    lookup.node.addDependency(this.instance);
  }

  /** Scope-relative path of this machine's constructs ('' for the default machine). */
  get pathPrefix(): string {
    return this.user === undefined ? '' : `User-${this.user}/`;
  }

  /**
   * The machine's outputs. The default machine's keep their names; a user's are prefixed with
   * the user name (letters and digits): aliceInstanceId, aliceSshCommand...
   */
  addOutputs(): void {
    const prefix = this.user === undefined ? '' : outputKey(this.user);
    const whose = this.user === undefined ? '' : ` (${this.user})`;
    const region = Aws.REGION;
    const id = this.instanceId;
    const kp = this.keyPair;
    const out = (name: string, value: string, description?: string) =>
      new CfnOutput(this.stack, `${prefix}${name}`, {
        value,
        description: description === undefined && whose === '' ? undefined : `${description ?? name}${whose}`,
      });
    out('InstanceId', id);
    out('KeyPairId', kp.keyPairId);
    out('KeyPairName', kp.keyPairName);
    out(
      'GetPrivateKeyCommand',
      `aws ssm get-parameter --region ${region} --name /ec2/keypair/${kp.keyPairId} ` +
        `--with-decryption --query Parameter.Value --output text > ${kp.keyPairName}.pem ` +
        `&& chmod 600 ${kp.keyPairName}.pem`,
      'Writes the private key to KEYPAIRNAME.pem',
    );
    out('HomeVolumeId', this.dataVolume.volumeId, `Retained EBS volume mounted at ${DATA_MOUNT}`);
    out('LaunchTemplateId', this.launchTemplate.launchTemplateId!);
    if (this.activeAlarm !== undefined) out('ActiveAlarmArn', this.activeAlarm.alarmArn);
    if (this.cpuAlarm !== undefined) out('CpuAlarmArn', this.cpuAlarm.alarmArn);
    out(
      'SshCommand',
      `ssh -i ${kp.keyPairName}.pem ubuntu@$(aws ec2 describe-instances --region ${region} ` +
        `--instance-ids ${id} --query 'Reservations[0].Instances[0].PublicIpAddress' --output text)`,
      'Needs -c sshCidr=...; the public IP changes at every start',
    );
    out('SsmCommand', `aws ssm start-session --region ${region} --target ${id}`);
    out(
      'UpdateNowCommand',
      `aws ssm start-session --region ${region} --target ${id} ` +
        `--document-name AWS-StartInteractiveCommand ` +
        `--parameters command="sudo systemctl start ${UPDATE_UNIT}.service"`,
      'Installs a newly deployed trnidled now instead of within 15 minutes',
    );
    out(
      'SetupStatusCommand',
      `aws ec2 describe-tags --region ${region} --filters Name=resource-id,Values=${id} ` +
        `Name=key,Values=${STATUS_TAG} --query 'Tags[0].Value' --output text`,
      'ok, or the first-boot or update step that failed',
    );
    out(
      'CancelSpotRequestCommand',
      `aws ec2 cancel-spot-instance-requests --region ${region} --spot-instance-request-ids ` +
        `$(aws ec2 describe-instances --region ${region} --instance-ids ${id} ` +
        `--query 'Reservations[0].Instances[0].SpotInstanceRequestId' --output text)`,
    );
  }
}
