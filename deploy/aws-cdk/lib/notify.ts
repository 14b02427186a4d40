// The stack's notification topic: the daemons' warnings (NotifyTopicArn), the alarms' messages
// and the instances' starts and stops reach the team here.
import {
  Duration,
  RemovalPolicy,
  Stack,
  aws_iam as iam,
  aws_kms as kms,
  aws_sns as sns,
  aws_sns_subscriptions as subs,
} from 'aws-cdk-lib';
import type { Machine } from './machine';

/** The principals that publish to the topic on the stack's behalf: alarms and EventBridge rules. */
const PUBLISHING_SERVICES = ['cloudwatch.amazonaws.com', 'events.amazonaws.com'];

export class Notifications {
  readonly topic: sns.Topic;
  /**
   * A customer-managed key: CloudWatch alarms and EventBridge cannot publish to a topic
   * encrypted with the AWS-managed aws/sns key, whose policy cannot be changed.
   */
  readonly key: kms.Key;

  constructor(stack: Stack, emails: readonly string[]) {
    this.key = new kms.Key(stack, 'NotifyKey', {
      description: `trnidled stack ${stack.stackName}: encrypts its notification topic`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmsAndRulesPublishToTheEncryptedTopic',
        principals: PUBLISHING_SERVICES.map((s) => new iam.ServicePrincipal(s)),
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(stack, 'NotifyTopic', {
      displayName: `trnidled ${stack.stackName}`,
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of emails) {
      this.topic.addSubscription(new subs.EmailSubscription(email));
    }
  }

  /**
   * Lets the machines' alarms and state-change rules publish, each by its ARN. The instances
   * publish with their roles (sns:Publish on this topic only), which needs no statement here.
   */
  allowPublishers(machines: readonly Machine[]): void {
    const alarms = machines.flatMap((m) => m.notifyingAlarms.map((a) => a.alarmArn));
    this.allowService('StackAlarmsPublish', 'cloudwatch.amazonaws.com', alarms);
    this.allowService('StackStateChangeRulesPublish', 'events.amazonaws.com', machines.map((m) => m.stateRule.ruleArn));
  }

  /** sns:Publish for a service principal, on behalf of the given resources only. */
  private allowService(sid: string, service: string, sourceArns: string[]): void {
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        principals: [new iam.ServicePrincipal(service)],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': sourceArns } },
      }),
    );
  }
}
