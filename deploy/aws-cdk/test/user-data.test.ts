import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as YAML from 'yaml';
import { packageDir } from '../lib/trnidled-stack';
import { APT_CONF_PATH, RUN_STEP, STACK_DROP_IN_PATH } from '../lib/instance-scripts';
import { DROP_IN_PATH, USER_DATA_LIMIT, buildCloudConfig, renderDropIn } from '../lib/user-data';
import { FIXTURES, renderedUserData, synth } from './helpers';

interface WriteFile {
  path: string;
  content: string;
  permissions?: string;
}
interface CloudConfig {
  write_files: WriteFile[];
  runcmd: (string | string[])[];
}

const REAL_USER_DATA = path.join(packageDir(), '..', '..', 'packaging', 'cloud-init', 'user-data.yaml');

function parse(text: string): CloudConfig {
  assert.ok(text.startsWith('#cloud-config\n'), 'first line is #cloud-config');
  return YAML.parse(text) as CloudConfig;
}

function file(cc: CloudConfig, p: string): WriteFile {
  const f = cc.write_files.find((w) => w.path === p);
  assert.ok(f, `write_files has ${p}`);
  return f;
}

describe('user data', () => {
  const ubuntu = renderedUserData(synth());
  const cc = parse(ubuntu);

  it('stays under the 16 KiB EC2 limit with long values filled in', () => {
    const size = Buffer.byteLength(ubuntu, 'utf8');
    assert.ok(size < USER_DATA_LIMIT, `${size} bytes`);
    // Report the size so a reader of the CI log sees the margin.
    console.log(`# user data: ${size} of ${USER_DATA_LIMIT} bytes`);
  });

  it('leaves the delivery drop-in as it is', () => {
    const fixture = YAML.parse(fs.readFileSync(path.join(FIXTURES, 'user-data.yaml'), 'utf8')) as CloudConfig;
    assert.equal(file(cc, DROP_IN_PATH).content, file(fixture, DROP_IN_PATH).content);
    assert.equal(cc.write_files.filter((w) => w.path === DROP_IN_PATH).length, 1);
    assert.ok(!cc.write_files.some((w) => w.path === STACK_DROP_IN_PATH), 'the stack drop-in comes from SSM');
  });

  it('runs every runcmd step through run-step: data volume, install, delivery steps, Neuron, done', () => {
    const rs = '/usr/local/lib/trnidled-cdk/run-step';
    assert.deepEqual(cc.runcmd, [
      [rs, 'mountpoint', '-q', '/home'],
      [rs, '/usr/local/lib/trnidled-cdk/update'],
      [rs, 'apt-get', 'install', '-y', '/var/cache/trnidled/trnidled.deb'],
      [rs, 'systemctl', 'enable', '--now', '--no-block', 'trnidled'],
      [rs, '/usr/local/lib/trnidled-cdk/install-neuron'],
      [rs, '--done'],
    ]);
  });

  it('waits for the apt lock (unattended-upgrades on first boot) in every apt call', () => {
    assert.match(file(cc, APT_CONF_PATH).content, /^DPkg::Lock::Timeout "900";$/m);
  });

  it('retries AWS requests on any error, 403 included (IAM propagation)', () => {
    const lib = file(cc, '/usr/local/lib/trnidled-cdk/awslib.sh').content;
    assert.match(lib, /RETRY='[^']*--retry-all-errors/);
    const calls = lib.split('\n').filter((l) => /^\s*(\S+=\$\()?curl |\| curl /.test(l));
    assert.equal(calls.length, 3);
    for (const call of calls) assert.match(call, /curl -[^|]*\$RETRY/, call);
  });

  it('reads the asset location from the SSM parameter, signed with curl --aws-sigv4, not the AWS CLI', () => {
    const lib = file(cc, '/usr/local/lib/trnidled-cdk/awslib.sh').content;
    assert.match(lib, /curl .*--aws-sigv4 "aws:amz:\$AWS_REGION:\$svc"/);
    assert.match(lib, /latest\/api\/token/);
    assert.match(lib, /X-Amz-Security-Token/);
    assert.doesNotMatch(ubuntu, /\baws s3\b|\baws ssm\b|awscli|aws-cli/);
    const update = file(cc, '/usr/local/lib/trnidled-cdk/update').content;
    assert.match(update, /AmazonSSM\.GetParameter/);
    assert.match(update, /"Name":"\/trnidled\/TestStack\/instance"/);
    assert.doesNotMatch(ubuntu, /cdk-hnb659fds-assets|[0-9a-f]{64}/, 'no asset location in the user data');
  });

  it('builds with packaging/build-deb and installs with dpkg, which also reinstalls a same-version package', () => {
    const update = file(cc, '/usr/local/lib/trnidled-cdk/update').content;
    assert.match(update, /^set -eu$/m);
    assert.match(update, /zipfile/);
    assert.match(update, /\.\/packaging\/build-deb "\$cache\/out"/);
    assert.match(update, /^dpkg -i \/var\/cache\/trnidled\/trnidled\.deb \|\| apt-get -f install -y$/m);
    assert.match(update, /installed\.url/);
  });

  it('updates itself from a timer that the per-boot script starts', () => {
    assert.match(file(cc, '/etc/systemd/system/trnidled-cdk-update.timer').content, /OnUnitActiveSec=15min/);
    assert.match(file(cc, '/etc/systemd/system/trnidled-cdk-update.service').content, /ExecStart=\/usr\/local\/lib\/trnidled-cdk\/update/);
    assert.match(file(cc, '/var/lib/cloud/scripts/per-boot/trnidled-cdk-boot').content, /systemctl start --no-block trnidled-cdk-update\.timer/);
  });

  it('attaches the retained volume itself, formats it only when blank, and mounts /home', () => {
    const dv = file(cc, '/usr/local/lib/trnidled-cdk/data-volume').content;
    assert.match(dv, /Action=AttachVolume&VolumeId=\$volume&InstanceId=\$INSTANCE_ID/);
    assert.match(dv, /if ! blkid -p "\$dev" .* && \[ -z "\$\(head -c 1048576 "\$dev"/);
    assert.match(dv, /cp -a \/home\/\. "\$tmp\/"/);
    assert.match(dv, /\/home ext4 defaults,nofail/);
    assert.match(ubuntu, /volume='x{64}'/, 'the volume id, filled in by CloudFormation');
  });

  it('adds the Neuron apt repository and packages on Ubuntu', () => {
    const neuron = file(cc, '/usr/local/lib/trnidled-cdk/install-neuron').content;
    assert.match(neuron, /apt\.repos\.neuron\.amazonaws\.com \$VERSION_CODENAME main/);
    assert.match(neuron, /signed-by=\/etc\/apt\/keyrings\/neuron\.gpg/);
    for (const pkg of ['aws-neuronx-dkms', 'aws-neuronx-runtime-lib', 'aws-neuronx-tools']) {
      assert.match(neuron, new RegExp(`'${pkg}=2\\.\\*'`));
    }
    assert.match(neuron, /linux-headers-\$\(uname -r\)/);
  });

  it('skips the Neuron install on the DLAMI, unless asked', () => {
    const dlami = parse(renderedUserData(synth({ ami: 'neuron-dlami' })));
    assert.equal(dlami.runcmd.length, 5);
    assert.ok(!dlami.write_files.some((w) => w.path.endsWith('install-neuron')));
    const forced = parse(renderedUserData(synth({ ami: 'neuron-dlami', installNeuron: true })));
    assert.equal(forced.runcmd.length, 6);
    const none = parse(renderedUserData(synth({ installNeuron: false })));
    assert.equal(none.runcmd.length, 5);
  });

  it('publishes a boot heartbeat to the Active metric at every boot, with the daemon\'s unit', () => {
    const hb = file(cc, '/var/lib/cloud/scripts/per-boot/trnidled-cdk-boot');
    assert.equal(hb.permissions, '0755');
    assert.match(hb.content, /aws_curl monitoring "https:\/\/monitoring\.\$AWS_REGION\./);
    assert.match(hb.content, /Namespace=Trnidled/);
    assert.match(hb.content, /MetricName=Active/);
    assert.match(hb.content, /MetricData\.member\.1\.Unit=None&/);
    assert.doesNotMatch(hb.content, /Unit=Count/);
    assert.match(hb.content, /Dimensions\.member\.1\.Name=InstanceId/);
  });

  it('keeps the shell scripts valid for sh -n', () => {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    for (const w of cc.write_files.filter((f) => f.path.startsWith('/usr/local') || f.path.includes('per-boot'))) {
      execFileSync('sh', ['-n'], { input: w.content });
    }
  });
});

describe('run-step', () => {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  // The real script, pointed at a scratch folder, with a report() that writes to a file.
  const sandbox = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-step-'));
    fs.writeFileSync(path.join(dir, 'awslib.sh'), `report() { echo "$*" >>${dir}/reported; }\n`);
    const script = RUN_STEP.replace('/usr/local/lib/trnidled-cdk/awslib.sh', `${dir}/awslib.sh`).replace(
      '/var/lib/trnidled-cdk/',
      `${dir}/state/`,
    );
    fs.writeFileSync(path.join(dir, 'run-step'), script);
    const run = (...args: string[]) => spawnSync('sh', [path.join(dir, 'run-step'), ...args]).status;
    const reported = () => (fs.existsSync(`${dir}/reported`) ? fs.readFileSync(`${dir}/reported`, 'utf8') : '');
    return { run, reported };
  };

  it('stops at the first failure and reports it; later steps and --done do not run', () => {
    const { run, reported } = sandbox();
    assert.equal(run('true'), 0);
    assert.equal(run('sh', '-c', 'exit 3'), 3);
    assert.match(reported(), /^first boot failed at: sh -c exit 3 \(exit 3\)/);
    assert.equal(run('true'), 1, 'a later step is skipped');
    assert.equal(run('--done'), 1);
    assert.doesNotMatch(reported(), /^ok$/m);
  });

  it('reports ok when every step passed', () => {
    const { run, reported } = sandbox();
    assert.equal(run('true'), 0);
    assert.equal(run('--done'), 0);
    assert.equal(reported(), 'ok\n');
  });
});

describe('cloud-config template', () => {
  const trnidled = { intervalSec: 60, bootGraceSec: 900, idleChecks: 30, namespace: 'Trnidled' };
  const common = { parameterName: '/trnidled/S/instance', volumeId: 'vol-0123', namespace: 'Trnidled' };

  it('renders a stack drop-in with only the keys the stack sets', () => {
    const text = renderDropIn(trnidled);
    assert.match(text, /^\[Check\]\nIntervalSec=60\nBootGraceSec=900\nIdleChecks=30\n/m);
    const keys = text.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => l.split('=')[0]);
    assert.deepEqual(keys, ['IntervalSec', 'BootGraceSec', 'IdleChecks', 'Action', 'CloudWatch', 'Namespace']);
  });

  const rejects = (template: string, error: RegExp) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-ud-'));
    const p = path.join(dir, 'user-data.yaml');
    fs.writeFileSync(p, template);
    assert.throws(() => buildCloudConfig({ templatePath: p, ...common, neuronPackages: [] }), error);
  };

  it('rejects a template without runcmd', () => {
    rejects('#cloud-config\nwrite_files: []\n', /has no runcmd list/);
  });

  it('rejects a file that is not #cloud-config', () => {
    rejects('#!/bin/sh\necho hi\n', /does not start with #cloud-config/);
  });

  it('builds on the real packaging/cloud-init/user-data.yaml when it exists', (t) => {
    if (!fs.existsSync(REAL_USER_DATA)) {
      t.skip('packaging/cloud-init/user-data.yaml is not in this tree yet');
      return;
    }
    const text = buildCloudConfig({
      templatePath: REAL_USER_DATA,
      ...common,
      neuronPackages: ['aws-neuronx-dkms=2.*'],
    });
    const cfg = parse(text);
    // The delivery keys the stack does not set stay: WarnSec=5min must not become the 60 s default.
    assert.match(file(cfg, DROP_IN_PATH).content, /^WarnSec=5min$/m);
    assert.doesNotMatch(renderDropIn(trnidled), /WarnSec|CpuPercent|SessionIdleSec/);
    assert.deepEqual(cfg.runcmd[1], ['/usr/local/lib/trnidled-cdk/run-step', '/usr/local/lib/trnidled-cdk/update']);
    assert.ok(cfg.runcmd.every((c) => Array.isArray(c) && c[0] === '/usr/local/lib/trnidled-cdk/run-step'));
    assert.ok(
      cfg.runcmd.some((c) => JSON.stringify(c).includes('/var/cache/trnidled/trnidled.deb')),
      'delivery install step kept',
    );
    assert.ok(Buffer.byteLength(text) < USER_DATA_LIMIT - 1024);
  });

  it('uses the fixture of the same shape as the delivery file', () => {
    const cfg = YAML.parse(fs.readFileSync(path.join(FIXTURES, 'user-data.yaml'), 'utf8'));
    assert.ok(cfg.write_files.some((w: WriteFile) => w.path === DROP_IN_PATH));
    assert.deepEqual(cfg.runcmd.at(-1), ['systemctl', 'enable', '--now', '--no-block', 'trnidled']);
  });
});
