// Shell scripts and units that the stack writes on the instance through cloud-init.
//
// They run on stock Ubuntu 24.04, which has curl 8.x and python3 (cloud-init itself is
// Python) but no AWS CLI. Requests to AWS are signed by curl's --aws-sigv4 with the instance
// role's credentials read from IMDSv2. Nothing here depends on the trnidled asset: the user data
// (and so the launch template) stays the same when trnidled changes, and the instance learns
// where the package is from an SSM parameter (see updateScript).

/** Folder on the instance that holds the stack's helper scripts. */
export const SCRIPT_DIR = '/usr/local/lib/trnidled-cdk';

/** Where the delivery user-data expects the package. */
export const DEB_PATH = '/var/cache/trnidled/trnidled.deb';

/** The drop-in with the settings this stack sets (and nothing else); it sorts after the delivery one. */
export const STACK_DROP_IN_PATH = '/etc/trnidled.conf.d/60-cdk-stack.conf';

/** apt waits this long for the dpkg lock (unattended-upgrades holds it on a first boot). */
export const APT_CONF_PATH = '/etc/apt/apt.conf.d/90trnidled-cdk';
export const APT_CONF = 'DPkg::Lock::Timeout "900";\nAcquire::Retries "5";\n';

/** Tag on the instance that says how the setup went ("ok", or what failed). */
export const STATUS_TAG = 'trnidled:setup';

/** Where the instance mounts the stack's retained data volume. */
export const DATA_MOUNT = '/home';

/** The per-boot script that cloud-init runs at every boot, before runcmd on the first. */
export const PER_BOOT_PATH = '/var/lib/cloud/scripts/per-boot/trnidled-cdk-boot';

/** Unit that runs the update script, and its timer. */
export const UPDATE_UNIT = 'trnidled-cdk-update';

/**
 * Sourced by the other scripts: reads region, domain, instance id and role credentials from
 * IMDSv2 and defines aws_curl SERVICE URL [curl options...]. The credentials go to curl through
 * a config file on stdin, so they never show in `ps`. Every request retries on any error for up
 * to 5 minutes: a new role's policies take a while to propagate, and S3 answers 403 meanwhile
 * (--retry-all-errors, curl >= 7.71; Ubuntu 24.04 has 8.5).
 */
export const AWS_LIB = `# Signed AWS requests with the instance role: curl --aws-sigv4, no AWS CLI.
RETRY='--retry 10 --retry-delay 10 --retry-max-time 300 --retry-all-errors'
imds() {
  curl -sSf $RETRY -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "http://169.254.169.254/latest/meta-data/$1"
}
aws_init() {
  IMDS_TOKEN=$(curl -sSf $RETRY -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \\
    http://169.254.169.254/latest/api/token) || return 1
  AWS_REGION=$(imds placement/region) || return 1
  AWS_DOMAIN=$(imds services/domain) || return 1
  INSTANCE_ID=$(imds instance-id) || return 1
  role=$(imds iam/security-credentials/ | head -n 1)
  [ -n "$role" ] || return 1
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
' | curl -K - -sSf $RETRY --aws-sigv4 "aws:amz:$AWS_REGION:$svc" "$@" "$url"
}
ec2_call() {
  aws_curl ec2 "https://ec2.$AWS_REGION.$AWS_DOMAIN/" --data "Version=2016-11-15" "$@" -o /dev/null
}
# Says what happened where the user looks: the console (aws ec2 get-console-output), the
# journal, and the ${STATUS_TAG} tag on the instance.
report() {
  echo "trnidled-cdk: $*" >&2
  echo "trnidled-cdk: $*" >/dev/console 2>/dev/null || true
  logger -t trnidled-cdk -- "$*" 2>/dev/null || true
  value=$(printf '%s' "$*" | cut -c 1-250)
  (aws_init && ec2_call --data "Action=CreateTags&ResourceId.1=$INSTANCE_ID&Tag.1.Key=${STATUS_TAG}" \\
    --data-urlencode "Tag.1.Value=$value") || echo "trnidled-cdk: could not tag the instance" >&2
}
`;

/** Where trnidled comes from, as the stack's SSM parameter tells the instance. */
export interface InstanceConfig {
  /** https URL of the asset object in S3. */
  readonly url: string;
  /** 'source': a zip of the build inputs, built on the instance; 'deb': a prebuilt package. */
  readonly kind: 'source' | 'deb';
  /** Content of STACK_DROP_IN_PATH. */
  readonly dropIn: string;
}

/**
 * Brings the instance to what the SSM parameter names: writes the stack's drop-in, and fetches,
 * builds and installs the package when its asset changed (or trnidled is not installed). Runs at
 * first boot and from a timer, so a redeploy with a new trnidled reaches the instance without
 * replacing it.
 */
export function updateScript(parameterName: string): string {
  return `#!/bin/sh
# Installs the trnidled the stack's SSM parameter names, and its drop-in (trnidled CDK stack).
set -eu
. ${SCRIPT_DIR}/awslib.sh
state=/var/lib/trnidled-cdk
cache=/var/cache/trnidled
mkdir -p "$state" "$cache"
exec 9>"$state/update.lock"
flock 9
trap 'rc=$?; [ $rc -eq 0 ] || report "update failed (exit $rc): journalctl -u ${UPDATE_UNIT}"' EXIT
aws_init
aws_curl ssm "https://ssm.$AWS_REGION.$AWS_DOMAIN/" -H 'X-Amz-Target: AmazonSSM.GetParameter' \\
  -H 'Content-Type: application/x-amz-json-1.1' --data '{"Name":"${parameterName}"}' -o "$state/parameter.json"
python3 - "$state" <<'EOF'
import json, sys
state = sys.argv[1]
with open(state + "/parameter.json") as f:
    config = json.loads(json.load(f)["Parameter"]["Value"])
for name in ("url", "kind", "dropIn"):
    with open("%s/wanted.%s" % (state, name), "w") as f:
        f.write(config[name])
EOF
if ! cmp -s "$state/wanted.dropIn" ${STACK_DROP_IN_PATH}; then
  install -D -m 0644 "$state/wanted.dropIn" ${STACK_DROP_IN_PATH}
  if systemctl is-active -q trnidled.service; then systemctl reload trnidled.service; fi
fi
url=$(cat "$state/wanted.url")
if [ "$url" = "$(cat "$state/installed.url" 2>/dev/null)" ] &&
  dpkg-query -W -f '\${Status}' trnidled 2>/dev/null | grep -q 'ok installed'; then
  exit 0
fi
aws_curl s3 "$url" -o "$cache/asset"
if [ "$(cat "$state/wanted.kind")" = deb ]; then
  mv -f "$cache/asset" ${DEB_PATH}
else
  rm -rf "$cache/src" "$cache/out"
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
  (cd "$cache/src" && chmod +x packaging/build-deb && ./packaging/build-deb "$cache/out")
  cp "$(ls -t "$cache"/out/trnidled_*.deb | head -n 1)" ${DEB_PATH}
fi
# dpkg, not apt: apt skips a package whose version is already installed, even when it differs.
export DEBIAN_FRONTEND=noninteractive
dpkg -i ${DEB_PATH} || apt-get -f install -y
dpkg-query -W -f '\${Status}' trnidled | grep -q 'ok installed'
echo "$url" >"$state/installed.url"
echo "trnidled-cdk: installed $(dpkg-query -W -f '\${Version}' trnidled) from $url"
`;
}

/**
 * Attaches the stack's data volume when this instance does not have it yet, formats it only
 * when it is blank (no signature and a zeroed first MiB: a new EBS volume), and mounts it at
 * /home. On a replacement instance the volume is still attached to the old one until
 * CloudFormation deletes it, so the attach is retried for up to 30 minutes.
 */
export function dataVolumeScript(volumeId: string): string {
  return `#!/bin/sh
# Mounts the stack's retained EBS volume at ${DATA_MOUNT} (trnidled CDK stack).
set -eu
. ${SCRIPT_DIR}/awslib.sh
volume='${volumeId}'
dev=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$(echo "$volume" | tr -d -)
mountpoint -q ${DATA_MOUNT} && [ "$(findmnt -n -o SOURCE ${DATA_MOUNT})" = "$(readlink -f "$dev")" ] && exit 0
if [ ! -e "$dev" ]; then
  aws_init
  tries=0
  until [ -e "$dev" ] || ec2_call --data "Action=AttachVolume&VolumeId=$volume&InstanceId=$INSTANCE_ID&Device=/dev/sdh"; do
    tries=$((tries + 1))
    [ $tries -lt 6 ] || { echo "trnidled-cdk: cannot attach $volume" >&2; exit 1; }
  done
  udevadm settle
  for _ in $(seq 60); do [ -e "$dev" ] && break; sleep 2; done
  [ -e "$dev" ] || { echo "trnidled-cdk: $volume attached but $dev did not appear" >&2; exit 1; }
fi
if ! blkid -p "$dev" >/dev/null 2>&1 && [ -z "$(head -c 1048576 "$dev" | tr -d '\\000' | head -c 1)" ]; then
  mkfs.ext4 -q -L trnidled-home "$dev"
  tmp=$(mktemp -d)
  mount "$dev" "$tmp"
  cp -a ${DATA_MOUNT}/. "$tmp/"
  umount "$tmp"
  rmdir "$tmp"
fi
uuid=$(blkid -s UUID -o value "$dev")
[ -n "$uuid" ]
sed -i '\\|[[:space:]]${DATA_MOUNT}[[:space:]]|d' /etc/fstab
echo "UUID=$uuid ${DATA_MOUNT} ext4 defaults,nofail,x-systemd.device-timeout=60s 0 2" >>/etc/fstab
mount ${DATA_MOUNT}
`;
}

/**
 * Runs one first-boot step unless an earlier one failed, and reports a failure where the user
 * looks. cloud-init runs every runcmd item even after one fails; this stops at the first.
 * `run-step --done` reports success once every step passed.
 */
export const RUN_STEP = `#!/bin/sh
# One first-boot step of the trnidled CDK stack; stops at the first failure and reports it.
. ${SCRIPT_DIR}/awslib.sh
failed=/var/lib/trnidled-cdk/first-boot-failed
if [ -e "$failed" ]; then
  echo "trnidled-cdk: skipped after the failure of: $(cat "$failed")" >&2
  exit 1
fi
if [ "$1" = --done ]; then
  report ok
  exit 0
fi
"$@" && exit 0
rc=$?
mkdir -p "$(dirname "$failed")"
echo "$*" >"$failed"
report "first boot failed at: $* (exit $rc); see /var/log/cloud-init-output.log"
exit "$rc"
`;

/**
 * The PutMetricData unit of Active. trnidled publishes Unit=None (src/aws/cloudwatch.c); the boot
 * heartbeat and the alarm use the same, because an alarm over mixed units is undefined.
 */
export const ACTIVE_UNIT = 'None';

/**
 * Runs at every boot (cloud-init scripts_per_boot, before runcmd on the first boot):
 *  - publishes one Active=1 datapoint, which moves the alarms on Active out of
 *    INSUFFICIENT_DATA (the state they reach while the instance is stopped). If the daemon never
 *    publishes, the silent-daemon alarm notifies, and the long-silence alarm returns to
 *    INSUFFICIENT_DATA silentStopHours later and its stop action fires. (The script's text is
 *    part of the user data: changing it replaces every instance.)
 *  - mounts the data volume;
 *  - starts the update timer (write_files cannot enable a unit).
 */
export function perBootScript(namespace: string): string {
  const body = [
    'Action=PutMetricData',
    'Version=2010-08-01',
    `Namespace=${namespace}`,
    'MetricData.member.1.MetricName=Active',
    'MetricData.member.1.Value=1',
    `MetricData.member.1.Unit=${ACTIVE_UNIT}`,
    'MetricData.member.1.Dimensions.member.1.Name=InstanceId',
    'MetricData.member.1.Dimensions.member.1.Value=$INSTANCE_ID',
  ].join('&');
  return `#!/bin/sh
# Every boot (trnidled CDK stack): heartbeat for the Active alarm, data volume, update timer.
. ${SCRIPT_DIR}/awslib.sh
if aws_init && aws_curl monitoring "https://monitoring.$AWS_REGION.$AWS_DOMAIN/" \\
  --data "${body}" -o /dev/null; then :; else
  echo "trnidled-cdk: boot heartbeat failed" >&2
fi
${SCRIPT_DIR}/data-volume || report "cannot mount the data volume at ${DATA_MOUNT}"
systemctl daemon-reload
systemctl start --no-block ${UPDATE_UNIT}.timer
exit 0
`;
}

export const UPDATE_SERVICE = `[Unit]
Description=Install the trnidled that the CDK stack names (SSM parameter)
Wants=network-online.target
After=network-online.target cloud-final.service

[Service]
Type=oneshot
ExecStart=${SCRIPT_DIR}/update
`;

/** Checks every 15 minutes; the update does nothing unless the stack's parameter changed. */
export const UPDATE_TIMER = `[Unit]
Description=Look for a new trnidled from the CDK stack

[Timer]
OnActiveSec=15min
OnUnitActiveSec=15min
RandomizedDelaySec=2min
`;

/** Adds the Neuron apt repository and installs the given packages (Ubuntu). */
export function neuronScript(packages: string[]): string {
  return `#!/bin/sh
# Neuron driver and tools from the Neuron apt repository (written by the trnidled CDK stack).
set -eu
. /etc/os-release
install -m 0755 -d /etc/apt/keyrings
curl -fsSL --retry 10 --retry-all-errors https://apt.repos.neuron.amazonaws.com/GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB \\
  | gpg --batch --yes --dearmor -o /etc/apt/keyrings/neuron.gpg
echo "deb [signed-by=/etc/apt/keyrings/neuron.gpg] https://apt.repos.neuron.amazonaws.com $VERSION_CODENAME main" \\
  > /etc/apt/sources.list.d/neuron.list
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "linux-headers-$(uname -r)" ${packages.map((p) => `'${p}'`).join(' ')}
`;
}
