// Shell scripts that the stack writes on the instance through cloud-init.
//
// They run on stock Ubuntu 24.04, which has curl 8.x and python3 (cloud-init itself is
// Python) but no AWS CLI. Requests to S3 and CloudWatch are signed by curl's --aws-sigv4
// with the instance role's credentials read from IMDSv2. Strings may contain CDK tokens
// (bucket name, region...): CloudFormation resolves them at deploy time.

/** Folder on the instance that holds the stack's helper scripts. */
export const SCRIPT_DIR = '/usr/local/lib/trnidled-cdk';

/** Where the delivery user-data expects the package. */
export const DEB_PATH = '/var/cache/trnidled/trnidled.deb';

/**
 * Sourced by the other scripts: reads region, instance id and role credentials from IMDSv2
 * and defines aws_curl SERVICE URL [curl options...]. The credentials go to curl through a
 * config file on stdin, so they never show in `ps`.
 */
export const AWS_LIB = `# Signed AWS requests with the instance role: curl --aws-sigv4, no AWS CLI.
imds() {
  curl -sSf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "http://169.254.169.254/latest/meta-data/$1"
}
aws_init() {
  IMDS_TOKEN=$(curl -sSf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 900' \\
    http://169.254.169.254/latest/api/token) || return 1
  AWS_REGION=$(imds placement/region) || return 1
  INSTANCE_ID=$(imds instance-id) || return 1
  role=$(imds iam/security-credentials/ | head -n 1) || return 1
  AWS_CREDS=$(imds "iam/security-credentials/$role") || return 1
}
aws_curl() {
  svc=$1
  url=$2
  shift 2
  printf '%s' "$AWS_CREDS" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print("user = \\"%s:%s\\"" % (c["AccessKeyId"], c["SecretAccessKey"]))
print("header = \\"X-Amz-Security-Token: %s\\"" % c["Token"])
' | curl -K - -sSf --retry 5 --retry-connrefused --aws-sigv4 "aws:amz:$AWS_REGION:$svc" "$@" "$url"
}
`;

/** Where the trnidled asset lives in S3 and what it is. */
export interface AssetLocation {
  readonly bucketName: string;
  readonly objectKey: string;
  readonly region: string;
  readonly urlSuffix: string;
  /** 'source': a zip of the repository, built on the instance; 'deb': a prebuilt package. */
  readonly kind: 'source' | 'deb';
}

/** Fetches the asset and leaves the package at DEB_PATH (building it first from source). */
export function provisionScript(asset: AssetLocation): string {
  const url = `https://${asset.bucketName}.s3.${asset.region}.${asset.urlSuffix}/${asset.objectKey}`;
  const head = `#!/bin/sh
# Fetch trnidled from the CDK asset bucket and leave the package at ${DEB_PATH}.
set -eu
. ${SCRIPT_DIR}/awslib.sh
cache=/var/cache/trnidled
mkdir -p "$cache"
aws_init
aws_curl s3 '${url}' -o "$cache/asset"
`;
  if (asset.kind === 'deb') {
    return `${head}mv -f "$cache/asset" ${DEB_PATH}\n`;
  }
  return `${head}rm -rf "$cache/src" "$cache/out"
mkdir -p "$cache/src" "$cache/out"
python3 - "$cache/asset" "$cache/src" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
EOF
cd "$cache/src"
chmod +x packaging/build-deb
./packaging/build-deb "$cache/out"
cp "$(ls -t "$cache"/out/trnidled_*.deb | head -n 1)" ${DEB_PATH}
`;
}

/**
 * Runs at every boot (cloud-init scripts_per_boot, before runcmd on the first boot). It
 * publishes one Active=1 datapoint, which moves the Active alarm out of INSUFFICIENT_DATA
 * (the state it reaches while the instance is stopped). From then on the daemon's own
 * datapoints keep it there; if the daemon never publishes, the alarm returns to
 * INSUFFICIENT_DATA one window later and its stop action fires. See the README, "Alarms".
 */
export function bootHeartbeatScript(namespace: string, urlSuffix: string): string {
  const body = [
    'Action=PutMetricData',
    'Version=2010-08-01',
    `Namespace=${namespace}`,
    'MetricData.member.1.MetricName=Active',
    'MetricData.member.1.Value=1',
    'MetricData.member.1.Unit=Count',
    'MetricData.member.1.Dimensions.member.1.Name=InstanceId',
    'MetricData.member.1.Dimensions.member.1.Value=$INSTANCE_ID',
  ].join('&');
  return `#!/bin/sh
# Boot heartbeat for the trnidled Active alarm (written by the trnidled CDK stack).
. ${SCRIPT_DIR}/awslib.sh
for try in 1 2 3 4 5 6; do
  if aws_init && aws_curl monitoring "https://monitoring.$AWS_REGION.${urlSuffix}/" \\
    --data "${body}" -o /dev/null; then
    exit 0
  fi
  sleep 10
done
echo "trnidled-cdk: boot heartbeat failed" >&2
exit 0
`;
}

/** Adds the Neuron apt repository and installs the given packages (Ubuntu). */
export function neuronScript(packages: string[]): string {
  return `#!/bin/sh
# Neuron driver and tools from the Neuron apt repository (written by the trnidled CDK stack).
set -eu
. /etc/os-release
install -m 0755 -d /etc/apt/keyrings
curl -fsSL https://apt.repos.neuron.amazonaws.com/GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB \\
  | gpg --batch --yes --dearmor -o /etc/apt/keyrings/neuron.gpg
echo "deb [signed-by=/etc/apt/keyrings/neuron.gpg] https://apt.repos.neuron.amazonaws.com $VERSION_CODENAME main" \\
  > /etc/apt/sources.list.d/neuron.list
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "linux-headers-$(uname -r)" ${packages.map((p) => `'${p}'`).join(' ')}
`;
}
