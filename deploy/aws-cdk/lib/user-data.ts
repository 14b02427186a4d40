// Builds the instance's #cloud-config from the delivery user-data
// (packaging/cloud-init/user-data.yaml) instead of writing a second one:
//  - the trnidled drop-in's content is replaced from props,
//  - helper scripts are added to write_files,
//  - fetch (and build) steps, and optionally the Neuron install, are PREPENDED to runcmd,
//    so the delivery steps (apt-get install the .deb, enable the service) run last.
import * as fs from 'fs';
import * as YAML from 'yaml';
import {
  AWS_LIB,
  AssetLocation,
  SCRIPT_DIR,
  bootHeartbeatScript,
  neuronScript,
  provisionScript,
} from './instance-scripts';

/** The drop-in path that the delivery user-data defines and consumers rewrite. */
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
}

export interface CloudConfigOptions {
  /** Path of the delivery user-data (#cloud-config) to start from. */
  readonly templatePath: string;
  readonly trnidled: TrnidledSettings;
  readonly asset: AssetLocation;
  /** Neuron packages to install from the Neuron apt repository; none when empty. */
  readonly neuronPackages: string[];
}

/** The drop-in text. Keys are the ones trnidled reads. */
export function renderDropIn(s: TrnidledSettings): string {
  return [
    '# Written by the trnidled AWS CDK stack (deploy/aws-cdk); change the stack props instead.',
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
  ].join('\n');
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
  const dropIn = writeFiles.items.find(
    (item) => YAML.isMap(item) && item.get('path') === DROP_IN_PATH,
  );
  if (!YAML.isMap(dropIn)) {
    fail(`${opts.templatePath} has no write_files entry for ${DROP_IN_PATH}`);
  }
  dropIn.set('content', renderDropIn(opts.trnidled));

  const urlSuffix = opts.asset.urlSuffix;
  const files = [
    script(`${SCRIPT_DIR}/awslib.sh`, AWS_LIB, '0644'),
    script(`${SCRIPT_DIR}/provision`, provisionScript(opts.asset)),
    script(
      '/var/lib/cloud/scripts/per-boot/trnidled-boot-heartbeat',
      bootHeartbeatScript(opts.trnidled.namespace, urlSuffix),
    ),
  ];
  const steps: string[][] = [[`${SCRIPT_DIR}/provision`]];
  if (opts.neuronPackages.length > 0) {
    files.push(script(`${SCRIPT_DIR}/install-neuron`, neuronScript(opts.neuronPackages)));
    // After the trnidled fetch, so a Neuron failure does not keep trnidled off the instance.
    steps.push([`${SCRIPT_DIR}/install-neuron`]);
  }
  for (const file of files) {
    writeFiles.items.push(doc.createNode(file));
  }
  runcmd.items.unshift(...steps.map((step) => doc.createNode(step, { flow: true })));

  const text = doc.toString({ lineWidth: 0 });
  return text.startsWith('#cloud-config') ? text : `#cloud-config\n${text}`;
}
