// Builds the instance's #cloud-config from the delivery user-data
// (packaging/cloud-init/user-data.yaml) instead of writing a second one:
//  - its drop-in stays as it is; the stack's own settings reach the instance through the SSM
//    parameter (60-cdk-stack.conf, which overrides only the keys the stack sets),
//  - helper scripts and the update timer are added to write_files,
//  - every runcmd step runs through run-step, which stops at the first failure and reports it;
//    the data-volume check and the install come first, the delivery steps next, Neuron last.
// Nothing in it depends on the trnidled asset, so a new trnidled does not change the launch
// template (which would replace the instance).
import * as fs from 'fs';
import * as YAML from 'yaml';
import {
  APT_CONF,
  APT_CONF_PATH,
  AWS_LIB,
  DATA_MOUNT,
  PER_BOOT_PATH,
  RUN_STEP,
  SCRIPT_DIR,
  UPDATE_SERVICE,
  UPDATE_TIMER,
  UPDATE_UNIT,
  dataVolumeScript,
  neuronScript,
  perBootScript,
  updateScript,
} from './instance-scripts';

/** The drop-in that the delivery user-data writes; the stack leaves it as it is. */
export const DROP_IN_PATH = '/etc/trnidled.conf.d/50-cloud-init.conf';

/** EC2 refuses user data over 16 KiB (before base64). */
export const USER_DATA_LIMIT = 16 * 1024;

/** trnidled settings written into the drop-in. */
export interface TrnidledSettings {
  /** Seconds between two idle checks. */
  readonly intervalSec: number;
  /** Seconds after boot during which the daemon never stops the instance. */
  readonly bootGraceSec: number;
  /** Consecutive idle checks before the daemon stops the instance. */
  readonly idleChecks: number;
  /** CloudWatch namespace for the Active and IdleChecks metrics. */
  readonly namespace: string;
  /** SNS topic the daemon's agent publishes its warnings to ([AWS] NotifyTopicArn=). @default none */
  readonly notifyTopicArn?: string;
  /** The longest hold of a user who is not root or in adminGroup, as a trnidled duration ("4h"). @default the daemon's */
  readonly userMaxHold?: string;
  /** Also the limit of root and adminGroup ([Control] MaxHoldSec=), when userMaxHold is above its 1d default. @default the daemon's */
  readonly maxHold?: string;
  /** Group whose members hold like root ([Control] AdminGroup=). @default none */
  readonly adminGroup?: string;
}

export interface CloudConfigOptions {
  /** Path of the delivery user-data (#cloud-config) to start from. */
  readonly templatePath: string;
  /** SSM parameter that names the trnidled asset and holds the stack's drop-in. */
  readonly parameterName: string;
  /** The retained EBS volume mounted at /home. */
  readonly volumeId: string;
  /** CloudWatch namespace of the Active metric (boot heartbeat). */
  readonly namespace: string;
  /** Neuron packages to install from the Neuron apt repository; none when empty. */
  readonly neuronPackages: string[];
}

/**
 * The stack's drop-in: only the keys the stack sets. It sorts after the delivery drop-in, so
 * every other key (WarnSec, thresholds, sessions...) keeps the delivery or packaged value.
 */
export function renderDropIn(s: TrnidledSettings): string {
  return [
    '# Written by the trnidled AWS CDK stack (deploy/aws-cdk) from its SSM parameter; change the',
    '# stack props instead. Only the keys the stack sets: the others come from 50-cloud-init.conf.',
    '[Check]',
    `IntervalSec=${s.intervalSec}`,
    `BootGraceSec=${s.bootGraceSec}`,
    `IdleChecks=${s.idleChecks}`,
    '',
    '[Action]',
    'Action=auto',
    '',
    '[Metrics]',
    'CloudWatch=yes',
    `Namespace=${s.namespace}`,
    '',
    ...section('AWS', { NotifyTopicArn: s.notifyTopicArn }),
    ...section('Control', { MaxHoldSec: s.maxHold, UserMaxHoldSec: s.userMaxHold, AdminGroup: s.adminGroup }),
  ].join('\n');
}

/** An ini section with the keys that have a value; nothing when none has. */
function section(name: string, keys: Record<string, string | undefined>): string[] {
  const lines = Object.entries(keys)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`);
  return lines.length > 0 ? [`[${name}]`, ...lines, ''] : [];
}

function fail(message: string): never {
  throw new Error(`trnidled user-data: ${message}`);
}

/** Reads the delivery user-data, or fails with a message that says what to do. */
export function loadTemplate(templatePath: string): YAML.Document {
  if (!fs.existsSync(templatePath)) {
    fail(
      `${templatePath} not found. The stack builds on the delivery user-data ` +
        '(packaging/cloud-init/user-data.yaml in the repository); check out a tree that has it, ' +
        'or pass another file with the userDataPath prop (context: -c userDataPath=PATH).',
    );
  }
  const text = fs.readFileSync(templatePath, 'utf8');
  if (!text.startsWith('#cloud-config')) {
    fail(`${templatePath} does not start with #cloud-config`);
  }
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) {
    fail(`${templatePath}: ${doc.errors[0].message}`);
  }
  return doc;
}

function script(path: string, content: string, permissions = '0755'): object {
  return { path, owner: 'root:root', permissions, content };
}

/** A runcmd item of the delivery file as argv: a string item is a shell command line. */
function argv(item: unknown): string[] {
  if (YAML.isScalar(item)) return ['sh', '-c', String(item.value)];
  if (YAML.isSeq(item)) return item.items.map((part) => String(YAML.isScalar(part) ? part.value : part));
  return fail(`runcmd item ${String(item)} is neither a string nor a list`);
}

/** Returns the complete #cloud-config text (may contain CDK tokens). */
export function buildCloudConfig(opts: CloudConfigOptions): string {
  const doc = loadTemplate(opts.templatePath);
  const writeFiles = doc.get('write_files');
  const runcmd = doc.get('runcmd');
  if (!YAML.isSeq(writeFiles)) {
    fail(`${opts.templatePath} has no write_files list`);
  }
  if (!YAML.isSeq(runcmd)) {
    fail(`${opts.templatePath} has no runcmd list`);
  }
  const files = [
    script(APT_CONF_PATH, APT_CONF, '0644'),
    script(`${SCRIPT_DIR}/awslib.sh`, AWS_LIB, '0644'),
    script(`${SCRIPT_DIR}/run-step`, RUN_STEP),
    script(`${SCRIPT_DIR}/update`, updateScript(opts.parameterName)),
    script(`${SCRIPT_DIR}/data-volume`, dataVolumeScript(opts.volumeId)),
    script(PER_BOOT_PATH, perBootScript(opts.namespace)),
    script(`/etc/systemd/system/${UPDATE_UNIT}.service`, UPDATE_SERVICE, '0644'),
    script(`/etc/systemd/system/${UPDATE_UNIT}.timer`, UPDATE_TIMER, '0644'),
  ];
  const runStep = `${SCRIPT_DIR}/run-step`;
  const steps: string[][] = [
    // The per-boot script mounted it (before runcmd); without it, work would land on the root
    // volume, which a replacement deletes.
    ['mountpoint', '-q', DATA_MOUNT],
    [`${SCRIPT_DIR}/update`],
    ...runcmd.items.map(argv),
  ];
  if (opts.neuronPackages.length > 0) {
    files.push(script(`${SCRIPT_DIR}/install-neuron`, neuronScript(opts.neuronPackages)));
    // Last, so that a Neuron failure never keeps trnidled off the instance.
    steps.push([`${SCRIPT_DIR}/install-neuron`]);
  }
  steps.push(['--done']);
  for (const file of files) {
    writeFiles.items.push(doc.createNode(file));
  }
  runcmd.items = steps.map((step) => doc.createNode([runStep, ...step], { flow: true }));

  const text = doc.toString({ lineWidth: 0 });
  return text.startsWith('#cloud-config') ? text : `#cloud-config\n${text}`;
}
