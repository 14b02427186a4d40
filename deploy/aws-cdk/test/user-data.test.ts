import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as YAML from 'yaml';
import { packageDir } from '../lib/trnidled-stack';
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

  it('replaces the drop-in content with the trnidled settings', () => {
    const dropIn = file(cc, DROP_IN_PATH).content;
    for (const line of [
      '[Check]',
      'IntervalSec=60',
      'BootGraceSec=900',
      'IdleChecks=30',
      '[Action]',
      'Action=auto',
      '[Metrics]',
      'CloudWatch=yes',
      'Namespace=Trnidled',
    ]) {
      assert.ok(dropIn.split('\n').includes(line), `drop-in has ${line}`);
    }
    assert.equal(cc.write_files.filter((w) => w.path === DROP_IN_PATH).length, 1);
  });

  it('takes the drop-in values from props', () => {
    const custom = parse(renderedUserData(synth({ intervalSec: 30, bootGraceSec: 600, idleChecks: 20 })));
    const dropIn = file(custom, DROP_IN_PATH).content;
    assert.match(dropIn, /^IntervalSec=30$/m);
    assert.match(dropIn, /^BootGraceSec=600$/m);
    assert.match(dropIn, /^IdleChecks=20$/m);
  });

  it('prepends fetch/build and Neuron steps, keeping the delivery steps last', () => {
    assert.deepEqual(cc.runcmd, [
      ['/usr/local/lib/trnidled-cdk/provision'],
      ['/usr/local/lib/trnidled-cdk/install-neuron'],
      ['apt-get', 'install', '-y', '/var/cache/trnidled/trnidled.deb'],
      ['systemctl', 'enable', '--now', '--no-block', 'trnidled'],
    ]);
  });

  it('fetches the asset with curl --aws-sigv4 and IMDSv2 credentials, not the AWS CLI', () => {
    const lib = file(cc, '/usr/local/lib/trnidled-cdk/awslib.sh').content;
    assert.match(lib, /curl .*--aws-sigv4 "aws:amz:\$AWS_REGION:\$svc"/);
    assert.match(lib, /latest\/api\/token/);
    assert.match(lib, /X-aws-ec2-metadata-token: /);
    assert.match(lib, /X-Amz-Security-Token/);
    assert.match(lib, /iam\/security-credentials\//);
    assert.doesNotMatch(ubuntu, /\baws s3\b|\baws ssm\b|awscli|aws-cli/);
    const provision = file(cc, '/usr/local/lib/trnidled-cdk/provision').content;
    assert.match(provision, /aws_curl s3 'https:\/\/cdk-hnb659fds-assets-123456789012-us-east-2\.s3\./);
  });

  it('builds the package on the instance with packaging/build-deb by default', () => {
    const provision = file(cc, '/usr/local/lib/trnidled-cdk/provision').content;
    assert.match(provision, /^set -eu$/m);
    assert.match(provision, /zipfile/);
    assert.match(provision, /\.\/packaging\/build-deb "\$cache\/out"/);
    assert.match(provision, /trnidled_\*\.deb.* \/var\/cache\/trnidled\/trnidled\.deb$/m);
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
    assert.equal(dlami.runcmd.length, 3);
    assert.ok(!dlami.write_files.some((w) => w.path.endsWith('install-neuron')));
    const forced = parse(renderedUserData(synth({ ami: 'neuron-dlami', installNeuron: true })));
    assert.equal(forced.runcmd.length, 4);
    const none = parse(renderedUserData(synth({ installNeuron: false })));
    assert.equal(none.runcmd.length, 3);
  });

  it('publishes a boot heartbeat to the Active metric at every boot', () => {
    const hb = file(cc, '/var/lib/cloud/scripts/per-boot/trnidled-boot-heartbeat');
    assert.equal(hb.permissions, '0755');
    assert.match(hb.content, /aws_curl monitoring "https:\/\/monitoring\.\$AWS_REGION\./);
    assert.match(hb.content, /Namespace=Trnidled/);
    assert.match(hb.content, /MetricName=Active/);
    assert.match(hb.content, /Dimensions\.member\.1\.Name=InstanceId/);
  });

  it('moves a prebuilt .deb into place without building', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-deb-'));
    const deb = path.join(dir, 'trnidled_0.1_amd64.deb');
    fs.writeFileSync(deb, '!<arch>\n');
    const cfg = parse(renderedUserData(synth({ debPath: deb })));
    const provision = file(cfg, '/usr/local/lib/trnidled-cdk/provision').content;
    assert.match(provision, /mv -f "\$cache\/asset" \/var\/cache\/trnidled\/trnidled\.deb/);
    assert.doesNotMatch(provision, /build-deb/);
    assert.match(provision, /\.deb' -o/);
  });

  it('keeps the shell scripts valid for sh -n', () => {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    for (const w of cc.write_files.filter((f) => f.path.startsWith('/usr/local') || f.path.includes('per-boot'))) {
      execFileSync('sh', ['-n'], { input: w.content });
    }
  });
});

describe('cloud-config template', () => {
  const asset = {
    bucketName: 'bucket',
    objectKey: 'key.zip',
    region: 'us-east-2',
    urlSuffix: 'amazonaws.com',
    kind: 'source' as const,
  };
  const trnidled = { intervalSec: 60, bootGraceSec: 900, idleChecks: 30, namespace: 'Trnidled' };

  it('renders the drop-in keys trnidled reads', () => {
    const text = renderDropIn(trnidled);
    assert.match(text, /^\[Check\]\nIntervalSec=60\nBootGraceSec=900\nIdleChecks=30\n/m);
  });

  const rejects = (template: string, error: RegExp) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trnidled-ud-'));
    const p = path.join(dir, 'user-data.yaml');
    fs.writeFileSync(p, template);
    assert.throws(() => buildCloudConfig({ templatePath: p, trnidled, asset, neuronPackages: [] }), error);
  };

  it('rejects a template without the drop-in entry', () => {
    rejects(
      '#cloud-config\nwrite_files: []\nruncmd: []\n',
      /no write_files entry for \/etc\/trnidled\.conf\.d\/50-cloud-init\.conf/,
    );
  });

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
      trnidled,
      asset,
      neuronPackages: ['aws-neuronx-dkms=2.*'],
    });
    const cfg = parse(text);
    assert.match(file(cfg, DROP_IN_PATH).content, /^Action=auto$/m);
    assert.deepEqual(cfg.runcmd[0], ['/usr/local/lib/trnidled-cdk/provision']);
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
