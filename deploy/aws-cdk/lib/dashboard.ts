// The team's CloudWatch dashboard: one row per machine. README "The dashboard" says what each
// widget answers.
import { Duration, Stack, aws_cloudwatch as cloudwatch } from 'aws-cdk-lib';
import type { Machine } from './machine';

const WEEK = Duration.days(7);
const HOURS_IN_WEEK = 7 * 24;

/** The dashboard's name: the stack's, so that each stack has its own. */
export function dashboardName(stack: Stack): string {
  return `${stack.stackName}-trnidled`;
}

export function addDashboard(stack: Stack, machines: readonly Machine[]): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(stack, 'Dashboard', {
    dashboardName: dashboardName(stack),
    defaultInterval: Duration.days(1),
  });
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      width: 24,
      height: 2,
      markdown:
        `**trnidled, stack ${stack.stackName}**: one row per machine. Active 1 = busy, 0 = idle; ` +
        'the idle streak counts idle checks in a row (the daemon stops the machine at IdleChecks). ' +
        '"running?" shows samples per 5 minutes: EC2 without trnidled means a silent daemon. ' +
        'Hours this week are the last 7 days. See deploy/aws-cdk/README.md, "The dashboard".',
    }),
  );
  for (const machine of machines) {
    dashboard.addWidgets(...row(machine));
  }
  return dashboard;
}

/** One machine's row: 24 units wide. */
function row(m: Machine): cloudwatch.IWidget[] {
  const title = (what: string) => `${m.user ?? 'machine'} (${m.instanceId}): ${what}`;
  return [
    new cloudwatch.GraphWidget({
      title: title('active or idle, and the idle streak'),
      width: 6,
      left: [m.activeMetric(cloudwatch.Stats.MAXIMUM).with({ label: 'Active (1 busy, 0 idle)' })],
      right: [m.daemonMetric('IdleChecks', cloudwatch.Stats.MAXIMUM).with({ label: 'idle checks in a row' })],
      leftYAxis: { min: 0, max: 1 },
      rightYAxis: { min: 0 },
    }),
    new cloudwatch.GraphWidget({
      title: title('what kept it up (deciding signal, active checks)'),
      width: 6,
      stacked: true,
      left: [
        new cloudwatch.SearchExpression({
          expression:
            `SEARCH('{${m.namespace},InstanceId,Signal} MetricName="DecidingSignal" ` +
            `InstanceId="${m.instanceId}"', 'Sum', 300)`,
          // One line per signal, named by it (a dynamic label).
          label: "${PROP('Dim.Signal')}",
          period: Duration.minutes(5),
        }),
      ],
      leftYAxis: { min: 0 },
    }),
    new cloudwatch.GraphWidget({
      title: title('host CPU %'),
      width: 4,
      left: [m.cpuMetric(cloudwatch.Stats.AVERAGE).with({ label: 'CPUUtilization' })],
      leftYAxis: { min: 0, max: 100 },
    }),
    new cloudwatch.GraphWidget({
      title: title('running? (samples per 5 min)'),
      width: 4,
      left: [
        m.cpuMetric(cloudwatch.Stats.SAMPLE_COUNT).with({ label: 'EC2: running' }),
        m.activeMetric(cloudwatch.Stats.SAMPLE_COUNT).with({ label: 'trnidled: reporting' }),
      ],
      leftYAxis: { min: 0 },
    }),
    new cloudwatch.SingleValueWidget({
      title: title('last 7 days, hours'),
      width: 4,
      height: 6,
      start: '-P7D',
      setPeriodToTimeRange: true,
      metrics: weekHours(m),
    }),
  ];
}

/** Hours up, hours up but idle (the cost missed) and hours stopped (the cost saved), over 7 days. */
function weekHours(m: Machine): cloudwatch.IMetric[] {
  const up = m.daemonMetric('UpSeconds', cloudwatch.Stats.SUM, WEEK, cloudwatch.Unit.SECONDS);
  const idle = m.daemonMetric('IdleSeconds', cloudwatch.Stats.SUM, WEEK, cloudwatch.Unit.SECONDS);
  return [
    new cloudwatch.MathExpression({ expression: 'up / 3600', usingMetrics: { up }, label: 'hours up', period: WEEK }),
    new cloudwatch.MathExpression({
      expression: 'idle / 3600',
      usingMetrics: { idle },
      label: 'hours up but idle (cost missed)',
      period: WEEK,
    }),
    new cloudwatch.MathExpression({
      expression: `${HOURS_IN_WEEK} - upw / 3600`,
      usingMetrics: { upw: up },
      label: 'hours stopped (cost saved)',
      period: WEEK,
    }),
  ];
}

/** The console address of the dashboard (the stack's region is concrete: the AZ needs it). */
export function dashboardUrl(stack: Stack): string {
  const console = stack.region.startsWith('cn-') ? 'console.amazonaws.cn' : 'console.aws.amazon.com';
  const region = stack.region;
  return `https://${region}.${console}/cloudwatch/home?region=${region}#dashboards/dashboard/${dashboardName(stack)}`;
}
