"""The CDK companion's instance user data, for the VM test's `companion` scenario.

The user data is the companion's own: deploy/aws-cdk/lib/user-data.ts (buildCloudConfig,
renderDropIn) compiled with the companion's TypeScript and run with node, from the project's
delivery user-data, as `cdk synth` puts it into the launch template. What needs AWS is served
inside the VM by tests/vm/aws-standin (instance metadata, SSM, S3, EC2, CloudWatch); the VM has
no network device at all. See tests/vm/README.md.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CDK = os.path.join(TOP, "deploy", "aws-cdk")

REGION = "eu-west-3"
DOMAIN = "amazonaws.com"
PARAMETER = "/trnidled/vmtest/instance"
VOLUME_ID = "vol-0123456789abcdef0"
VOLUME_SERIAL = VOLUME_ID.replace("-", "")  # what EC2's NVMe controller reports
BUCKET = "cdk-hnb659fds-assets-123456789012-eu-west-3"
NAMESPACE = "Trnidled"
# The firmware's vendor, as on EC2: trnidled then asks instance metadata (the stand-in) what
# the machine is, resolves Action=auto and publishes the stack's CloudWatch metrics.
SMBIOS = "type=1,manufacturer=Amazon EC2,product=trn1.2xlarge"
STANDIN_PATH = "/usr/local/lib/vmtest/aws-standin"
STUB = os.path.join(TOP, "tests", "integration", "aws_stub.py")  # imported by the stand-in
STANDIN_CONFIG = "/etc/vmtest-aws/config.json"
REPORT_PATH = "/usr/local/sbin/vmtest-companion-report"

NODE_SCRIPT = """
const [userData, scripts, args] = process.argv.slice(1);
const u = require(userData), s = require(scripts), a = JSON.parse(args);
process.stdout.write(JSON.stringify({
  cloudConfig: u.buildCloudConfig(a.options),
  dropIn: u.renderDropIn(a.settings),
  limit: u.USER_DATA_LIMIT,
  stackDropInPath: s.STACK_DROP_IN_PATH,
  statusTag: s.STATUS_TAG,
  dataMount: s.DATA_MOUNT,
  perBootPath: s.PER_BOOT_PATH,
}));
"""

# Runs from the per-boot scripts before the companion's own (they run in name order): the
# stand-ins' address, certificate, host names, and the data volume's EC2 name, then the server.
PER_BOOT = """#!/bin/sh
# vmtest: the AWS stand-ins (tests/vm/aws-standin) for the CDK companion's scripts.
set -eu
# No mirror is reachable: without sources, apt-get update has nothing to fetch, instead of
# retrying name lookups for most of a minute (the stack's apt.conf asks for 5 retries).
mkdir -p /etc/apt/vmtest-off
mv /etc/apt/sources.list /etc/apt/sources.list.d/* /etc/apt/vmtest-off/ 2>/dev/null || true
ip addr add 169.254.169.254/32 dev lo
cat /etc/vmtest-aws/cert.pem >>/etc/ssl/certs/ca-certificates.crt
echo "127.0.0.1 {hosts}" >>/etc/hosts
udevadm control --reload
udevadm trigger --action=add --subsystem-match=block
udevadm settle
systemd-run --unit=vmtest-aws --quiet {standin} {config}
for i in $(seq 60); do
	curl -sf -o /dev/null -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
		http://169.254.169.254/latest/api/token && exit 0
	sleep 1
done
echo "vmtest: the AWS stand-in did not start" >&2
exit 1
"""

# EC2 names an EBS volume's NVMe device by the volume id; the VM's data disk is virtio with the
# same serial, and this rule gives it that name.
UDEV_RULE = ('KERNEL=="vd*[a-z]", ATTR{{serial}}=="{serial}", '
             'SYMLINK+="disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}"\n')

# What the instance ended up with, as a journal marker for the test (after the companion's
# steps, whatever they did).
REPORT = """#!/bin/sh
say() {{ logger -t vmtest-workload "vmtest $*"; }}
home=$(findmnt -n -o SOURCE,FSTYPE {mount} | tr -s ' ' ,)
say "companion home=${{home:-none}} installed=$(cat /var/lib/trnidled-cdk/installed.url 2>/dev/null)" \\
	"version=$(dpkg-query -W -f='${{Version}}' trnidled 2>/dev/null)" \\
	"active=$(systemctl is-active trnidled)" \\
	"dropin=$(sha256sum <{dropin} | cut -d' ' -f1)" \\
	"failed=$(test -e /var/lib/trnidled-cdk/first-boot-failed && echo yes || echo no)"
trnidled --check-config >/run/vmtest-check-config 2>&1
rc=$?
say "check-config rc=$rc" $(grep -E '^(IntervalSec|BootGraceSec|IdleChecks|Action|WarnSec|CloudWatch|Namespace)=' /run/vmtest-check-config)
"""


def hosts():
    return [f"{s}.{REGION}.{DOMAIN}" for s in ("ssm", "ec2", "monitoring")] + \
           [f"{BUCKET}.s3.{REGION}.{DOMAIN}"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, timeout=600, **kw).stdout


def compile_cdk(workdir):
    """deploy/aws-cdk/lib/user-data.ts and what it imports, as JavaScript in workdir/cdk."""
    missing = [t for t in ("node", "npm", "openssl") if not shutil.which(t)]
    if missing:
        raise OSError(f"the companion scenario needs {', '.join(missing)} (tests/suites/vm "
                      "installs node and npm as the cdk suite does)")
    if not os.path.isdir(os.path.join(CDK, "node_modules", "yaml")):
        run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=CDK,
            stderr=subprocess.STDOUT)
    out = os.path.join(workdir, "cdk")
    run([os.path.join(CDK, "node_modules", ".bin", "tsc"), "--outDir", out, "--rootDir", "lib",
         "--module", "commonjs", "--target", "ES2022", "--esModuleInterop", "--skipLibCheck",
         "--strict", "--types", "node", "lib/user-data.ts"], cwd=CDK)
    return out


def cdk_user_data(workdir, template, settings):
    js = compile_cdk(workdir)
    args = {"options": {"templatePath": template, "parameterName": PARAMETER,
                        "volumeId": VOLUME_ID, "namespace": NAMESPACE, "neuronPackages": []},
            "settings": settings}
    env = dict(os.environ, NODE_PATH=os.path.join(CDK, "node_modules"))
    out = run(["node", "-e", NODE_SCRIPT, os.path.join(js, "user-data.js"),
               os.path.join(js, "instance-scripts.js"), json.dumps(args)], env=env)
    return json.loads(out)


def certificate(workdir):
    """A self-signed certificate for the stand-in's host names, made for this boot."""
    cert, key = (os.path.join(workdir, n) for n in ("cert.pem", "key.pem"))
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=vmtest AWS stand-in", "-keyout", key, "-out", cert,
         "-addext", "subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts())],
        stderr=subprocess.DEVNULL)
    with open(cert) as c, open(key) as k:
        return c.read(), k.read()


def file_entry(path, content, permissions="0644"):
    if isinstance(content, bytes):
        return {"path": path, "encoding": "b64", "permissions": permissions,
                "content": base64.b64encode(content).decode()}
    return {"path": path, "permissions": permissions, "content": content}


def user_data(deb, workdir, delivery_template, settings):
    """The companion's user data for a stack whose SSM parameter names `deb` (kind "deb": a
    package built for the instance's release), plus the stand-ins. Returns the #cloud-config
    text and what the test expects to see."""
    os.makedirs(workdir, exist_ok=True)
    made = cdk_user_data(workdir, delivery_template, settings)
    cdk_text = made["cloudConfig"]
    with open(deb, "rb") as f:
        package = f.read()
    key = hashlib.sha256(package).hexdigest() + ".deb"
    url = f"https://{BUCKET}.s3.{REGION}.{DOMAIN}/{key}"
    parameter = json.dumps({"url": url, "kind": "deb", "dropIn": made["dropIn"]})
    cert, tls_key = certificate(workdir)
    config = {"region": REGION, "domain": DOMAIN, "instance_id": "i-0123456789abcdef0",
              "role": "trnidled-vmtest-role", "parameter_name": PARAMETER,
              "parameter_value": parameter,
              "objects": {f"{BUCKET}/{key}": "/var/lib/vmtest-aws/asset"},
              "cert": "/etc/vmtest-aws/cert.pem", "key": "/etc/vmtest-aws/key.pem"}
    with open(os.path.join(HERE, "aws-standin")) as f, open(STUB) as g:
        standin, stub = f.read(), g.read()
    per_boot = PER_BOOT.format(hosts=" ".join(hosts()), standin=STANDIN_PATH, config=STANDIN_CONFIG)
    report = REPORT.format(mount=made["dataMount"], dropin=made["stackDropInPath"])
    data = yaml.safe_load(cdk_text)
    data["write_files"] += [
        file_entry(STANDIN_PATH, standin, "0755"),
        file_entry(os.path.join(os.path.dirname(STANDIN_PATH), "aws_stub.py"), stub),
        file_entry(STANDIN_CONFIG, json.dumps(config), "0600"),
        file_entry("/etc/vmtest-aws/cert.pem", cert),
        file_entry("/etc/vmtest-aws/key.pem", tls_key, "0600"),
        file_entry("/var/lib/vmtest-aws/asset", package),
        file_entry("/etc/udev/rules.d/70-vmtest-ebs.rules", UDEV_RULE.format(serial=VOLUME_SERIAL)),
        file_entry(os.path.join(os.path.dirname(made["perBootPath"]), "00-vmtest-aws"),
                   per_boot, "0755"),
        file_entry(REPORT_PATH, report, "0755"),
    ]
    data["runcmd"].append([REPORT_PATH])
    expect = {"cdk_bytes": len(cdk_text.encode()), "limit": made["limit"], "url": url,
              "key": f"{BUCKET}/{key}", "size": len(package), "status_tag": made["statusTag"],
              "dropin_sha": hashlib.sha256(made["dropIn"].encode()).hexdigest(),
              "cdk_keys": sorted(yaml.safe_load(cdk_text))}
    return "#cloud-config\n" + yaml.safe_dump(data, sort_keys=False, width=1 << 20), expect
