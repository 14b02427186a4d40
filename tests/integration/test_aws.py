"""trnidled on EC2, against local stand-ins for IMDSv2, EC2 and CloudWatch (aws_stub.py) that
follow AWS's documented protocols and verify every SigV4 signature. The daemon runs for real,
in dry-run, checking every second; thresholds of 100% make it read idle whatever the load."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from aws_stub import Stub
from harness import (NOT_THIS_MACHINE, check_records, have_fake_logind_parts, kill_tree,
                     log_lines, start_fake_logind, start_private_bus)

TRNIDLED = os.environ.get("TRNIDLED", "build/src/trnidled")
TRNIDLECTL = os.environ.get("TRNIDLECTL", "build/src/trnidlectl")
TRNIDLED_AWS = os.environ.get("TRNIDLED_AWS", "build/src/trnidled-aws")


def write_config(stub, tmp, action="auto", idle_checks=2, extra=""):
    conf = os.path.join(tmp, "trnidled.conf")
    with open(conf, "w") as f:
        f.write(f"""[Check]
IntervalSec=1s
BootGraceSec=0
IdleChecks={idle_checks}
[Action]
Action={action}
WarnSec=0
[Thresholds]
CpuPercent=100
MemoryPercent=100
[AWS]
ImdsEndpoint={stub.imds_url}
Ec2Endpoint={stub.aws_url}
MonitoringEndpoint={stub.aws_url}
{extra}
""")
    return conf


class Process:
    """A daemon process logging to self.logpath."""

    def terminate(self):
        """SIGTERM to the daemon: under unshare --fork it is unshare's child, and unshare does
        not pass signals on."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except FileNotFoundError:
            children = []
        if children and self.proc.poll() is None:
            os.kill(children[0], signal.SIGTERM)
        else:
            self.proc.terminate()

    def text(self):
        # Outside a PID namespace the daemon sees every process here: bytes another test's
        # process put in its name must not break the reading.
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def check_gaps(self, start):
        """Seconds between the scheduled checks logged after the first start ones."""
        stamps = [l.split(" ")[0] for l in self.text().splitlines() if " check: " in l][start:]
        times = [time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) +
                 float("0" + s[19:-1]) for s in stamps]
        return [b - a for a, b in zip(times, times[1:])]


class Daemon(Process):
    def __init__(self, stub, tmp, action="auto", idle_checks=2, extra="", agent=None,
                 netns=False, env=None):
        self.tmp = tmp
        self.conf = write_config(stub, tmp, action, idle_checks, extra)
        self.rundir = os.path.join(tmp, "run")
        self.logpath = os.path.join(tmp, "daemon.log")
        self.log = open(self.logpath, "w")
        # netns: a network namespace of its own with nothing but a down lo, as under
        # PrivateNetwork=yes; then every AWS call must go through the agent.
        # A PID namespace of its own, so that no other test's sessions on this machine count.
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc"] + (["--net"] if netns else []) +
            [TRNIDLED, "--foreground", "--dry-run", "--config", self.conf, "--runtime-dir",
             self.rundir, "--dev-dir", os.path.join(tmp, "dev")] + NOT_THIS_MACHINE +
            (["--aws-agent", agent] if agent else []),
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))

    def _wait(self, what, found, timeout, count):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = found()
            if len(got) >= count:
                return got
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {count}x {what} within {timeout}s; log:\n{self.text()}")

    def wait_for(self, pattern, timeout=15.0, count=1):
        self._wait(f"/{pattern}/", lambda: re.findall(pattern, self.text()), timeout, count)
        return True

    def checks(self, **want):
        """The scheduled checks' records whose fields match want (harness.CheckRecord)."""
        recs = check_records(msg for _, msg in log_lines(self.text()))
        return [r for r in recs if r.kind == "check" and r.matches(**want)]

    def wait_for_check(self, count=1, timeout=15.0, **want):
        return self._wait(f"check record with {want}", lambda: self.checks(**want), timeout,
                          count)

    def ctl(self, *args):
        return subprocess.run([TRNIDLECTL, "--socket", os.path.join(self.rundir, "io.trnidle.sock"),
                               *args], capture_output=True, text=True, timeout=10)


class AwsTestCase(unittest.TestCase):
    def setUp(self):
        self.stub = Stub()
        self.tmp = tempfile.mkdtemp(prefix="trnidled-aws-")
        os.makedirs(os.path.join(self.tmp, "dev", "pts"))
        self.daemon = None

    def tearDown(self):
        try:
            if self.daemon:
                self.daemon.stop()
                # A clean exit: no crash, no sanitizer report (leaks show at exit).
                self.assertEqual(self.daemon.proc.returncode, 0, self.daemon.text())
                self.assertNotIn("Sanitizer", self.daemon.text())
        finally:
            self.stub.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, **kw):
        self.daemon = Daemon(self.stub, self.tmp, **kw)
        return self.daemon


class StubProtocolTest(unittest.TestCase):
    """The stand-in itself must behave like IMDSv2, or the daemon tests prove nothing."""

    def setUp(self):
        self.stub = Stub()

    def tearDown(self):
        self.stub.close()

    def status(self, method, path, headers=None):
        req = urllib.request.Request(self.stub.imds_url + path, method=method,
                                     headers=headers or {}, data=b"" if method == "PUT" else None)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    def test_imdsv2_status_codes(self):
        self.assertEqual(self.status("GET", "/latest/meta-data/instance-id")[0], 401)
        self.assertEqual(self.status("PUT", "/latest/api/token")[0], 400)
        ttl = "X-aws-ec2-metadata-token-ttl-seconds"
        self.assertEqual(self.status("PUT", "/latest/api/token", {ttl: "0"})[0], 400)
        self.assertEqual(self.status("PUT", "/latest/api/token", {ttl: "21601"})[0], 400)
        self.assertEqual(self.status("PUT", "/2021-03-23/api/token", {ttl: "60"})[0], 403)
        code, token = self.status("PUT", "/latest/api/token", {ttl: "60"})
        self.assertEqual(code, 200)
        hdr = {"X-aws-ec2-metadata-token": token}
        self.assertEqual(self.status("GET", "/latest/meta-data/instance-id", hdr),
                         (200, "i-0123456789abcdef0"))
        self.assertEqual(self.status("GET", "/latest/meta-data/spot/instance-action", hdr)[0], 404)
        self.stub.imds.disabled = True
        self.assertEqual(self.status("GET", "/latest/meta-data/instance-id", hdr)[0], 403)


class AutoActionTest(AwsTestCase):
    def test_auto_on_spot_stops_the_instance_through_ec2(self):
        d = self.start()
        d.wait_for(r"life cycle spot")
        d.wait_for(r"action stop-instance \(dry-run\): dry-run: EC2 confirms StopInstances "
                   r"on i-0123456789abcdef0 would succeed")
        reqs = self.stub.aws.ec2_requests()
        self.assertTrue(reqs)
        r = reqs[0]
        self.assertTrue(r["valid"], r["why"])
        self.assertEqual(r["params"]["InstanceId.1"], "i-0123456789abcdef0")
        self.assertEqual(r["params"]["Action"], "StopInstances")
        self.assertEqual(r["params"]["DryRun"], "true")
        self.assertEqual(r["status"], 412)
        status = d.ctl("status")
        self.assertIn("action: stop-instance", status.stdout)
        check = json.loads(d.ctl("--json", "check-now").stdout)
        self.assertEqual(check["action"], "stop-instance")
        once = subprocess.run([TRNIDLED, "--once", "--json", "--window", "100ms", "--config",
                               d.conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(once.stdout)["action"], "stop-instance")

    def test_auto_on_demand_powers_off(self):
        self.stub.imds.life_cycle = "on-demand"
        d = self.start()
        d.wait_for(r"life cycle on-demand")
        d.wait_for(r"action poweroff \(dry-run\)")
        self.assertEqual(self.stub.aws.ec2_requests(), [])
        self.assertIn("action: poweroff", d.ctl("status").stdout)
        self.assertNotIn("spot/instance-action", str(self.stub.imds.requests))

    def test_not_on_ec2_means_poweroff(self):
        self.stub.close()
        self.stub = Stub()
        imds = self.stub.imds_url
        self.stub._imds_srv.shutdown()
        self.stub._imds_srv.server_close()  # nothing listens there any more
        d = Daemon(self.stub, self.tmp)
        self.daemon = d
        d.wait_for(re.escape(f"no instance metadata at {imds}"))
        d.wait_for(r"action poweroff \(dry-run\)")

    def test_imds_disabled_is_explained_once(self):
        self.stub.imds.disabled = True
        d = self.start()
        d.wait_for(r"action poweroff \(dry-run\)", count=2)
        self.assertEqual(len(re.findall(r"turned off", d.text())), 1, d.text())
        self.assertIn("IMDSv2 only", d.text())


class StopInstanceTest(AwsTestCase):
    def test_server_error_then_success_retries(self):
        self.stub.aws.ec2_script = ["500", "throttle"]
        d = self.start(action="stop-instance")
        d.wait_for(r"stop-instance attempt 1 failed: .*HTTP 500 InternalError.*trying again in 1s")
        d.wait_for(r"stop-instance attempt 2 failed: .*RequestLimitExceeded.*trying again in 2s")
        d.wait_for(r"action stop-instance \(dry-run\): dry-run: EC2 confirms")
        reqs = self.stub.aws.ec2_requests()
        self.assertGreaterEqual(len(reqs), 3)
        self.assertTrue(all(r["valid"] for r in reqs))
        self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 0.9)
        self.assertNotIn("action poweroff", d.text())

    def test_access_denied_falls_back_to_poweroff(self):
        self.stub.aws.ec2_deny = True
        d = self.start(action="stop-instance")
        d.wait_for(r"action stop-instance failed.*UnauthorizedOperation")
        d.wait_for(r"falling back to an OS power-off")
        d.wait_for(r"action poweroff \(dry-run\)")
        self.assertEqual(len(self.stub.aws.ec2_requests()), 1)  # no pointless retries

    def start_with_logind(self, **kw):
        """The daemon on a private bus whose fake logind holds an idle lock while the file
        it returns exists: (daemon, that file)."""
        procs = []
        self.addCleanup(lambda: [kill_tree(p) for p in reversed(procs)])
        address = start_private_bus(self.tmp, procs)
        flag = os.path.join(self.tmp, "locked")
        start_fake_logind(self.tmp, procs, address, "file:" + flag)
        return self.start(env={"DBUS_SYSTEM_BUS_ADDRESS": address}, **kw), flag

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_lock_taken_before_a_retry_stops_it(self):
        # StopInstances fails (HTTP 500) and, in the second before the retry, a user takes an
        # inhibitor lock (systemd-inhibit --what=idle, seeing the machine go). The retry asks
        # logind anew and is not taken. It once read the answer of the check that started the
        # action, from before the lock, and stopped the instance under it.
        self.stub.aws.ec2_script = ["500"]
        d, flag = self.start_with_logind(action="stop-instance", idle_checks=1,
                                         extra="[Check]\nIntervalSec=5s\n")
        d.wait_for(r"stop-instance attempt 1 failed: .*trying again in 1s", timeout=20)
        open(flag, "w").close()
        d.wait_for(r"stop-instance attempt 2 not taken", timeout=10)
        self.assertRegex(d.text(), r"recheck: active .*inhibitor")
        self.assertEqual(len(self.stub.aws.ec2_requests()), 1, d.text())
        self.assertNotRegex(d.text(), r"action (stop-instance|poweroff) \(dry-run\)")

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_lock_taken_during_a_denied_stop_stops_the_fallback(self):
        # StopInstances takes 2 s to be refused (UnauthorizedOperation); meanwhile a user
        # takes an inhibitor lock. The fallback power-off asks logind anew and is not taken.
        self.stub.aws.ec2_deny = True
        self.stub.aws.hang = 2.0
        d, flag = self.start_with_logind(action="stop-instance", idle_checks=1,
                                         extra="[Check]\nIntervalSec=10s\n")
        d.wait_for(r"check: idle \(idle 1/1\), action due", timeout=20)
        open(flag, "w").close()  # while StopInstances is under way
        d.wait_for(r"action stop-instance failed.*UnauthorizedOperation", timeout=10)
        d.wait_for(r"the fallback power-off not taken", timeout=10)
        self.assertNotIn("falling back to an OS power-off", d.text())
        self.assertNotRegex(d.text(), r"action poweroff \(dry-run\)")

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_denied_stop_falls_back_after_asking_logind(self):
        # The same without a lock: the fallback waits for logind's answer, then powers off.
        self.stub.aws.ec2_deny = True
        d, _ = self.start_with_logind(action="stop-instance", idle_checks=1)
        d.wait_for(r"falling back to an OS power-off")
        d.wait_for(r"action poweroff \(dry-run\)")
        self.assertRegex(d.text(), r"recheck: idle")

    def test_access_denied_without_fallback_keeps_the_machine_up(self):
        self.stub.aws.ec2_deny = True
        d = self.start(action="stop-instance", extra="[Action]\nFallbackPoweroff=no\n")
        d.wait_for(r"FallbackPoweroff=no: not powering off")
        self.assertNotIn("action poweroff", d.text())

    def test_wrong_signature_is_rejected(self):
        self.stub.aws.wrong_secret = True
        d = self.start(action="stop-instance")
        d.wait_for(r"action stop-instance failed.*SignatureDoesNotMatch")
        d.wait_for(r"action poweroff \(dry-run\)")
        self.assertFalse(self.stub.aws.ec2_requests()[0]["valid"])

    def test_no_role_retries_then_falls_back(self):
        self.stub.imds.role = None
        d = self.start(action="stop-instance", extra="[Action]\nWarnSec=0\n")
        d.wait_for(r"attempt 1 failed: no role credentials: the instance has no IAM role")
        self.stub.imds.role = "trnidled-role"  # attached while we retry
        d.wait_for(r"action stop-instance \(dry-run\): dry-run: EC2 confirms", timeout=20)

    def test_credentials_rotate(self):
        # Credentials valid for 62 s and replaced after 1 s: the daemon must fetch the new ones
        # (it renews a minute before Expiration) rather than reuse the first forever.
        self.stub.imds.cred_lifetime = 62
        self.stub.imds.cred_rotate_after = 1
        self.stub.imds.creds = [self.stub.imds.creds[0].__class__(62)]
        d = self.start(action="stop-instance")
        d.wait_for(r"action stop-instance \(dry-run\)", count=3, timeout=20)
        reqs = self.stub.aws.ec2_requests()
        self.assertTrue(all(r["valid"] for r in reqs), reqs)
        self.assertGreaterEqual(len({r["key"] for r in reqs}), 2, reqs)


class SpotNoticeTest(AwsTestCase):
    def test_notice_blocks_idle_action_and_runs_pre_action_command(self):
        out = os.path.join(self.tmp, "pre.out")
        self.stub.imds.spot_action = {"action": "stop", "time": "2030-01-01T00:02:00Z"}
        self.stub.imds.spot_delay = 1.5
        self.stub.imds.rebalance_time = "2030-01-01T00:00:00Z"
        cmd = (f"/bin/sh -c 'echo \"$TRNIDLED_REASON $TRNIDLED_DRY_RUN\" > {out}; "
               "echo hello-from-pre-action'")
        d = self.start(idle_checks=8, extra=f"[Action]\nPreActionCommand={cmd}\n")
        d.wait_for(r"spot interruption notice: EC2 will stop instance i-0123456789abcdef0 at "
                   r"2030-01-01T00:02:00Z")
        d.wait_for(r"pre-action command /bin/sh exited with status 0 .*hello-from-pre-action")
        with open(out) as f:
            self.assertEqual(f.read().strip(), "spot-interruption 1")
        d.wait_for_check(verdict="active", signal="spot-interruption",
                         has="spot-interruption EC2 will stop this spot instance")
        time.sleep(8)  # the idle streak would have reached 8 by now
        text = d.text()
        self.assertNotRegex(text, r"action stop-instance( \(dry-run\)| failed)")
        self.assertEqual(len(re.findall(r"spot interruption notice:", text)), 1)
        self.assertEqual(len(re.findall(r"rebalance recommendation", text)), 1)
        status = json.loads(d.ctl("--json", "status").stdout)
        self.assertEqual(status["last_check"]["reasons"][0]["signal"], "spot-interruption")
        self.assertEqual(status["aws"]["spot_interruption"],
                         {"action": "stop", "time": "2030-01-01T00:02:00Z"})
        self.assertIn("spot interruption pending: EC2 will stop this instance",
                      d.ctl("status").stdout)

    def test_hanging_imds_does_not_delay_checks(self):
        d = self.start(idle_checks=1000)
        d.wait_for(r"life cycle spot")
        d.wait_for_check(count=2, verdict="idle")
        self.stub.imds.hang = 30
        start = len(re.findall(r"check: ", d.text()))
        t0 = time.time()
        d.wait_for(r"spot/instance-action: .*timed out", timeout=15)
        time.sleep(6)
        gaps = d.check_gaps(start)
        self.assertGreaterEqual(len(gaps) + 1, int((time.time() - t0) / 3.5), d.text())
        self.assertLess(max(gaps), 3.6, gaps)  # 1 s interval + at most one 2 s IMDS budget


class PreActionTest(AwsTestCase):
    def test_pre_action_runs_before_the_idle_action_and_a_failure_does_not_block(self):
        self.stub.imds.life_cycle = "on-demand"
        d = self.start(extra="[Action]\nPreActionCommand=/bin/sh -c 'echo saving; exit 3'\n")
        d.wait_for(r"pre-action command /bin/sh exited with status 3 .*action goes ahead.*saving")
        d.wait_for(r"action poweroff \(dry-run\)")
        text = d.text()
        self.assertLess(text.index("exited with status 3"), text.index("action poweroff (dry-run)"))

    def test_pre_action_timeout_kills_it_and_the_action_goes_ahead(self):
        self.stub.imds.life_cycle = "on-demand"
        d = self.start(extra="[Action]\nPreActionCommand=/bin/sleep 60\nPreActionTimeoutSec=1s\n")
        d.wait_for(r"still runs at PreActionTimeoutSec=")
        d.wait_for(r"pre-action command /bin/sleep was killed by signal Terminated at the timeout")
        d.wait_for(r"action poweroff \(dry-run\)")


def metric_members(params):
    """{MetricName: (value, unit, {dimension name: value})} of one PutMetricData form."""
    out = {}
    i = 1
    while f"MetricData.member.{i}.MetricName" in params:
        m = f"MetricData.member.{i}."
        dims, k = {}, 1
        while f"{m}Dimensions.member.{k}.Name" in params:
            dims[params[f"{m}Dimensions.member.{k}.Name"]] = \
                params[f"{m}Dimensions.member.{k}.Value"]
            k += 1
        out[params[m + "MetricName"]] = (float(params[m + "Value"]), params[m + "Unit"], dims)
        i += 1
    return out


def notify_extra(stub, warn="3s", more=""):
    return (f"[Action]\nWarnSec={warn}\n[AWS]\nNotifyTopicArn={stub.aws.topic_arn}\n"
            f"SnsEndpoint={stub.aws_url}\n{more}")


STOPPED = (r"action stop-instance \(dry-run\): dry-run: EC2 confirms StopInstances on "
           r"i-0123456789abcdef0 would succeed")


class NotifyTest(AwsTestCase):
    """SNS Publish to [AWS] NotifyTopicArn=: the warning, a cancel and the stop, each once,
    signed; SNS failing or slow changes no verdict and delays no action beyond its budget."""

    def wait_published(self, n, timeout=15):
        deadline = time.time() + timeout
        while len(self.stub.aws.published()) < n and time.time() < deadline:
            time.sleep(0.1)
        got = self.stub.aws.published()
        self.assertGreaterEqual(len(got), n, self.daemon.text())
        return got

    def test_warning_and_stop_are_published_once_each(self):
        d = self.start(extra=notify_extra(self.stub))
        d.wait_for(r"action stop-instance in 3s unless the machine becomes busy")
        d.wait_for(STOPPED)
        self.wait_published(2)
        time.sleep(2)  # the checks during and after the warning publish nothing more
        self.assertEqual(d.stop(), 0)
        got = self.stub.aws.published()
        subjects = [r["params"]["Subject"] for r in got]
        # Once per warning (after the dry-run stop, the streak starts anew: another round).
        warnings = len(re.findall(r"action stop-instance in 3s unless", d.text()))
        self.assertEqual(len([s for s in subjects if "will be stopped" in s]), warnings,
                         subjects)
        warning = next(r["params"] for r in got if "will be stopped" in r["params"]["Subject"])
        self.assertEqual(warning["TopicArn"], self.stub.aws.topic_arn)
        self.assertEqual(warning["Subject"], "[dry-run] trnidled: i-0123456789abcdef0 will be "
                         "stopped (EC2 StopInstances) in 3s")
        msg = warning["Message"]
        self.assertRegex(msg, r"^Instance i-0123456789abcdef0 \"trn-team-1\" \(host [^,]+, "
                              r"us-east-2\) looks idle")
        self.assertIn("us-east-2", msg)
        self.assertRegex(msg, r"will be stopped \(EC2 StopInstances\) in 3s, at "
                              r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        self.assertIn("Why: idle: nothing active; idle 2/2", msg)
        self.assertIn("Last user seen on it: nobody since trnidled started.", msg)
        self.assertIn('trnidlectl hold 2h --reason "..."', msg)
        stopping = [r["params"] for r in got if "now" in r["params"]["Subject"]]
        self.assertEqual(len(stopping), len(re.findall(STOPPED, d.text())), subjects)
        self.assertRegex(stopping[0]["Message"], r"^Instance i-0123456789abcdef0 \"trn-team-1\" \(host .*\) "
                         r"was idle: it will be stopped \(EC2 StopInstances\) now")
        for r in self.stub.aws.sns_requests():
            self.assertTrue(r["valid"], r["why"])
        self.assertNotIn("SNS Publish failed", d.text())

    def test_warning_names_the_last_user(self):
        d = self.start(extra=notify_extra(self.stub, warn="1h"))
        d.wait_for_check()  # the daemon runs (unshare forked it)
        with open(f"/proc/{d.proc.pid}/task/{d.proc.pid}/children") as f:
            daemon_pid = int(f.read().split()[0])
        # A terminal inside the daemon's PID namespace: script(1) with a fresh pty.
        term = subprocess.Popen(["nsenter", "--target", str(daemon_pid), "--pid", "--mount",
                                 "--", "script", "-q", "-c", "sleep 600", "/dev/null"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=dict(os.environ, TERM="xterm"))
        try:
            rec = d.wait_for_check(verdict="active", idle=0, needed=2, signal="terminal")[0]
            self.assertRegex(rec.reasons, r"^terminal pts/\d+ of root")
        finally:
            kill_tree(term)
        d.wait_for(r"action stop-instance in 1h unless")
        msg = self.wait_published(1)[0]["params"]["Message"]
        self.assertRegex(msg, r"Last user seen on it: root on pts/\d+ \(other\), at "
                              r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.")

    def test_cancel_is_published(self):
        d = self.start(extra=notify_extra(self.stub, warn="1h"))
        d.wait_for(r"action stop-instance in 1h unless the machine becomes busy")
        self.wait_published(1)
        d.ctl("hold", "1h", "--reason", "still training")
        d.wait_for(r"action stop-instance cancelled during the warning")
        got = self.wait_published(2)
        cancel = got[-1]["params"]
        self.assertEqual(cancel["Subject"], "[dry-run] trnidled: i-0123456789abcdef0: stop "
                         "(EC2 StopInstances) cancelled, in use again")
        self.assertIn("The stop (EC2 StopInstances) of instance i-0123456789abcdef0 "
                      "\"trn-team-1\" (host ",
                      cancel["Message"])
        self.assertIn("is cancelled: the machine is in use again", cancel["Message"])
        self.assertIn("held: hold #1 by", cancel["Message"])

    def test_no_topic_no_call(self):
        d = self.start(extra="[Action]\nWarnSec=1s\n")
        d.wait_for(STOPPED)
        self.assertEqual(self.stub.aws.sns_requests(), [])

    def test_sns_error_is_retried(self):
        self.stub.aws.sns_script = ["500"]
        d = self.start(extra=notify_extra(self.stub, warn="1h"))
        d.wait_for(r"action stop-instance in 1h")
        self.wait_published(1)
        self.assertEqual([r["status"] for r in self.stub.aws.sns_requests()], [500, 200])
        self.assertNotIn("SNS Publish failed", d.text())

    def test_sns_failing_changes_nothing(self):
        self.stub.aws.sns_script = ["deny"] * 10
        d = self.start(extra=notify_extra(self.stub, warn="2s"))
        d.wait_for(STOPPED)
        d.wait_for(r"SNS Publish failed: .* HTTP 403 AuthorizationError")
        self.assertEqual(len(re.findall(r"SNS Publish failed", d.text())), 1, d.text())
        self.assertNotIn("action stop-instance failed", d.text())

    def test_slow_sns_delays_nothing_beyond_its_budget(self):
        self.stub.aws.sns_delay = 20
        d = self.start(extra=notify_extra(self.stub, warn="2s"))
        d.wait_for(r"action stop-instance in 2s unless")
        start = time.time()
        d.wait_for(STOPPED, timeout=30)
        # The warning's 2 s, the stop's own Publish (3 s at most) and a margin; 20 s if the
        # daemon waited for SNS.
        self.assertLess(time.time() - start, 2 + 3 + 4, d.text())
        d.wait_for(r"SNS Publish failed: .*timed out")
        self.assertTrue(all(g <= 1 + 3.5 + 1 for g in d.check_gaps(2)), d.check_gaps(2))


class MetricsTest(AwsTestCase):
    def wait_cw_requests(self, n):
        deadline = time.time() + 10
        while len(self.stub.aws.cw_requests()) < n and time.time() < deadline:
            time.sleep(0.2)
        reqs = self.stub.aws.cw_requests()
        self.assertGreaterEqual(len(reqs), n)
        for r in reqs:
            self.assertTrue(r["valid"], r["why"])
        return reqs

    def test_dashboard_figures_while_idle(self):
        d = self.start(idle_checks=1000, extra="[Metrics]\nCloudWatch=yes\n")
        d.wait_for_check(count=3, verdict="idle")
        m = metric_members(self.wait_cw_requests(3)[-1]["params"])
        self.assertEqual(set(m), {"Active", "IdleChecks", "UpSeconds", "IdleSeconds"})
        up, unit, dims = m["UpSeconds"]
        self.assertEqual(unit, "Seconds")
        self.assertEqual(dims, {"InstanceId": "i-0123456789abcdef0"})
        self.assertTrue(0.5 <= up <= 2.0, up)  # about IntervalSec=1s, at most twice it
        self.assertEqual(m["IdleSeconds"][:2], (up, "Seconds"))

    def test_dashboard_figures_while_active_name_the_signal(self):
        d = self.start(idle_checks=1000,
                       extra="[Metrics]\nCloudWatch=yes\n[Thresholds]\nMemoryPercent=1\n")
        d.wait_for_check(count=3, verdict="active", idle=0, needed=1000, signal="memory")
        m = metric_members(self.wait_cw_requests(3)[-1]["params"])
        self.assertEqual(m["Active"][0], 1)
        self.assertEqual(m["IdleSeconds"][0], 0)
        self.assertGreater(m["UpSeconds"][0], 0)
        self.assertEqual(m["DecidingSignal"], (1.0, "None", {"InstanceId": "i-0123456789abcdef0",
                                                             "Signal": "memory"}))

    def test_cloudwatch_receives_signed_metrics(self):
        d = self.start(idle_checks=1000, extra="[Metrics]\nCloudWatch=yes\nNamespace=TrnTest\n")
        d.wait_for_check(count=3, verdict="idle")
        deadline = time.time() + 10
        while len(self.stub.aws.cw_requests()) < 2 and time.time() < deadline:
            time.sleep(0.2)
        reqs = self.stub.aws.cw_requests()
        self.assertGreaterEqual(len(reqs), 2)
        for r in reqs:
            self.assertTrue(r["valid"], r["why"])
        p = reqs[-1]["params"]
        self.assertEqual(p["Namespace"], "TrnTest")
        metrics = {p[f"MetricData.member.{i}.MetricName"]: p[f"MetricData.member.{i}.Value"]
                   for i in (1, 2)}
        self.assertEqual(float(metrics["Active"]), 0)
        self.assertGreaterEqual(float(metrics["IdleChecks"]), 1)
        for i in (1, 2):
            self.assertEqual(p[f"MetricData.member.{i}.Dimensions.member.1.Name"], "InstanceId")
            self.assertEqual(p[f"MetricData.member.{i}.Dimensions.member.1.Value"],
                             "i-0123456789abcdef0")
        self.assertNotIn("PutMetricData failed", d.text())

    def test_cloudwatch_failures_are_rate_limited(self):
        self.stub.aws.wrong_secret = True
        d = self.start(idle_checks=1000, extra="[Metrics]\nCloudWatch=yes\n")
        d.wait_for_check(count=5, verdict="idle")
        self.assertEqual(len(re.findall(r"CloudWatch PutMetricData failed", d.text())), 1)
        self.assertGreaterEqual(len(self.stub.aws.cw_requests()), 4)

    def test_textfile_is_valid_prometheus(self):
        path = os.path.join(self.tmp, "trnidled.prom")
        d = self.start(idle_checks=1000, extra=f"[Metrics]\nTextfilePath={path}\n")
        d.wait_for_check(count=2, verdict="idle")
        time.sleep(0.5)
        with open(path) as f:
            text = f.read()
        self.assertIn("trnidled_active 0\n", text)
        self.assertIn('trnidled_signal_active{signal="cpu"} 0\n', text)
        self.assertIn("trnidled_spot_interruption_pending 0\n", text)
        promtool = shutil.which("promtool")
        if promtool:
            r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        else:
            parse_prometheus(self, text)
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("trnidled.prom.")], [])


VARLINK_CALL = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\\0")
buf = b""
while not buf.endswith(b"\\0"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.rstrip(b"\\0").decode())
"""


def varlink_call(sock, message, uid=None):
    """Sends one raw message (a str) to sock, as uid when given; returns the reply."""
    argv = ["python3", "-c", VARLINK_CALL, sock, message]
    if uid is not None:
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    return json.loads(r.stdout)


class Agent(Process):
    """trnidled-aws on its own socket (as root here; the unit runs it as a dynamic user)."""

    def __init__(self, conf, tmp):
        self.dir = os.path.join(tmp, "agent")
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.socket = os.path.join(self.dir, "io.trnidle.aws.sock")
        self.logpath = os.path.join(tmp, "agent.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([TRNIDLED_AWS, "--foreground", "--config", conf,
                                      "--socket", self.socket],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while "ready" not in self.text():
            if time.time() > deadline or self.proc.poll() is not None:
                raise AssertionError("trnidled-aws did not start:\n" + self.text())
            time.sleep(0.05)


class AgentTestCase(AwsTestCase):
    """The daemon with --aws-agent, in a network namespace of its own (as under
    PrivateNetwork=yes), and trnidled-aws making the calls to the same stand-ins."""

    def setUp(self):
        super().setUp()
        self.agent = None

    def tearDown(self):
        try:
            if self.agent:
                rc = self.agent.stop()
                self.assertEqual(rc, 0, self.agent.text())
                self.assertNotIn("Sanitizer", self.agent.text())
        finally:
            super().tearDown()

    def start_remote(self, **kw):
        conf = write_config(self.stub, self.tmp, **kw)
        self.agent = Agent(conf, self.tmp)
        self.daemon = Daemon(self.stub, self.tmp, agent=self.agent.socket, netns=True, **kw)
        return self.daemon


class RemoteAgentTest(AgentTestCase):

    def test_auto_on_spot_stops_the_instance_through_the_agent(self):
        d = self.start_remote()
        d.wait_for(r"life cycle spot")
        d.wait_for(r"action stop-instance \(dry-run\): dry-run: EC2 confirms StopInstances "
                   r"on i-0123456789abcdef0 would succeed")
        reqs = self.stub.aws.ec2_requests()
        self.assertTrue(reqs)
        self.assertTrue(reqs[0]["valid"], reqs[0]["why"])  # signed by the agent, SigV4
        self.assertEqual(reqs[0]["params"]["InstanceId.1"], "i-0123456789abcdef0")
        self.assertEqual(reqs[0]["params"]["DryRun"], "true")
        self.assertRegex(self.agent.text(),
                         r"StopInstances \(dry-run\) on i-0123456789abcdef0 for pid \d+: dry-run")
        self.assertIn("action: stop-instance", d.ctl("status").stdout)

    def test_spot_notice_and_metrics_through_the_agent(self):
        self.stub.imds.spot_action = {"action": "terminate", "time": "2030-01-01T00:02:00Z"}
        d = self.start_remote(idle_checks=1000,
                              extra="[Metrics]\nCloudWatch=yes\nNamespace=TrnAgent\n")
        d.wait_for(r"spot interruption notice: EC2 will terminate instance "
                   r"i-0123456789abcdef0 at 2030-01-01T00:02:00Z")
        deadline = time.time() + 15
        while not self.stub.aws.cw_requests() and time.time() < deadline:
            time.sleep(0.2)
        reqs = self.stub.aws.cw_requests()
        self.assertTrue(reqs, d.text())
        self.assertTrue(reqs[-1]["valid"], reqs[-1]["why"])
        self.assertEqual(reqs[-1]["params"]["Namespace"], "TrnAgent")
        self.assertNotIn("PutMetricData failed", d.text())
        # The Signal dimension goes through the agent too (the notice makes it active).
        m = metric_members(reqs[-1]["params"])
        self.assertEqual(m["DecidingSignal"][2].get("Signal"), "spot-interruption", m)

    def test_warning_is_published_through_the_agent(self):
        d = self.start_remote(extra=notify_extra(self.stub, warn="1h"))
        d.wait_for(r"action stop-instance in 1h unless")
        deadline = time.time() + 15
        while not self.stub.aws.published() and time.time() < deadline:
            time.sleep(0.1)
        got = self.stub.aws.published()
        self.assertEqual(len(got), 1, d.text())
        self.assertTrue(got[0]["valid"], got[0]["why"])  # signed by the agent
        self.assertIn("will be stopped (EC2 StopInstances) in 1h", got[0]["params"]["Subject"])
        self.assertIn("trnidlectl hold 2h", got[0]["params"]["Message"])

    def test_agent_gone_stop_falls_back_and_checks_keep_their_schedule(self):
        d = self.start_remote(action="stop-instance", idle_checks=4)
        d.wait_for(r"life cycle spot")
        self.assertEqual(self.agent.stop(), 0, self.agent.text())
        self.agent = None
        t0 = time.time()
        start = len(re.findall(r" check: ", d.text()))
        d.wait_for(r"stop-instance attempt 1 failed: StopInstances: the AWS agent at .*: "
                   r"No such file or directory")
        d.wait_for(r"action stop-instance failed.*giving up after \d+ attempt", timeout=45)
        d.wait_for(r"falling back to an OS power-off")
        d.wait_for(r"action poweroff \(dry-run\)")
        gaps = d.check_gaps(start)
        self.assertGreaterEqual(len(gaps) + 1, int((time.time() - t0) / 3.5), d.text())
        self.assertLess(max(gaps), 3.6, gaps)
        self.assertEqual(self.stub.aws.ec2_requests(), [])

    def test_hanging_agent_does_not_delay_checks(self):
        d = self.start_remote(idle_checks=1000)
        d.wait_for(r"life cycle spot")
        d.wait_for_check(count=2, verdict="idle")
        os.kill(self.agent.proc.pid, signal.SIGSTOP)
        try:
            start = len(re.findall(r" check: ", d.text()))
            t0 = time.time()
            d.wait_for(r"spot/instance-action: the AWS agent at .*: no answer within the time "
                       r"budget", timeout=15)
            time.sleep(6)
            gaps = d.check_gaps(start)
        finally:
            os.kill(self.agent.proc.pid, signal.SIGCONT)
        self.assertGreaterEqual(len(gaps) + 1, int((time.time() - t0) / 4), d.text())
        self.assertLess(max(gaps), 4.1, gaps)  # 1 s interval + one 2.5 s spot poll budget

    def test_only_root_may_stop_and_bad_messages_get_errors(self):
        os.chmod(self.tmp, 0o755)
        self.agent = Agent(write_config(self.stub, self.tmp), self.tmp)
        stop = json.dumps({"method": "io.trnidle.aws.StopInstance",
                           "parameters": {"instance_id": "i-0123456789abcdef0",
                                          "region": "us-east-2", "dry_run": True}})
        # The socket is root's (0600) also with --socket: nobody cannot even connect. (The
        # agent refuses other uids too, should a socket unit's SocketMode= let them in.)
        for message in (stop, json.dumps({"method": "io.trnidle.aws.Identify"})):
            with self.assertRaisesRegex(AssertionError, "Permission denied"):
                varlink_call(self.agent.socket, message, uid=65534)
        self.assertEqual(self.stub.aws.ec2_requests(), [])
        bad = [
            ("{\"method\":\"io.trnidle.aws.StopInstance\",\"parameters\":"
             "{\"instance_id\":\"i-1\",\"region\":\"us-east-2\"}}",
             "org.varlink.service.InvalidParameter"),
            ("{\"method\":\"io.trnidle.aws.StopInstance\",\"parameters\":"
             "{\"instance_id\":\"i-1&Action=Terminate\",\"region\":\"x\",\"dry_run\":true}}",
             "org.varlink.service.InvalidParameter"),
            ("{\"method\":\"io.trnidle.aws.PutMetrics\",\"parameters\":{\"instance_id\":"
             "\"i-1\",\"region\":\"r\",\"metrics\":[{\"name\":\"A\",\"value\":1e999,"
             "\"unit\":\"None\"}]}}", "org.varlink.service.InvalidParameter"),
            ("{\"method\":\"io.trnidle.aws.Nope\"}", "org.varlink.service.MethodNotFound"),
            ("{\"method\":", "io.trnidle.InvalidMessage"),
        ]
        for message, error in bad:
            r = varlink_call(self.agent.socket, message)
            self.assertEqual(r.get("error"), error, (message, r))
        self.assertEqual(self.stub.aws.ec2_requests(), [])
        r = varlink_call(self.agent.socket, json.dumps({"method": "io.trnidle.aws.Identify"}))
        self.assertEqual(r["parameters"],
                         {"instance_id": "i-0123456789abcdef0", "region": "us-east-2",
                          "life_cycle": "spot", "name": "trn-team-1"}, r)
        r = varlink_call(self.agent.socket, stop)
        self.assertEqual(r.get("error"), None, r)
        self.assertIn("DryRunOperation", r["parameters"]["message"])


class SlowAwsTest(AgentTestCase):
    """Every request to IMDS, EC2 and CloudWatch takes 10 s (longer than any budget): the
    daemon keeps answering trnidlectl and keeps its check schedule while its spot polls,
    CloudWatch puts and StopInstances attempts wait, in-process and through the agent."""

    SLOW = 10

    def run_slow(self, start):
        d = start(action="stop-instance", idle_checks=3,
                  extra="[Metrics]\nCloudWatch=yes\n")
        d.wait_for(r"life cycle spot")
        self.stub.imds.hang = self.stub.aws.hang = self.SLOW
        first = len(re.findall(r" check: ", d.text()))
        t0 = time.time()
        slowest = 0.0
        while time.time() - t0 < 12:
            t = time.time()
            try:
                r = d.ctl("status")
            except subprocess.TimeoutExpired:
                self.fail("trnidlectl status got no answer within 10 s:\n" + d.text())
            slowest = max(slowest, time.time() - t)
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(0.2)
        d.wait_for(r"stop-instance attempt 1 failed")
        gaps = d.check_gaps(first)
        self.assertLess(slowest, 2.0, d.text())
        self.assertGreaterEqual(len(gaps), 9, d.text())
        self.assertLess(max(gaps), 2.0, gaps)
        # The stand-in's sleeping requests end before the processes are stopped.
        self.stub.imds.hang = self.stub.aws.hang = 0
        time.sleep(self.SLOW)

    def test_status_and_checks_do_not_wait_for_aws(self):
        self.run_slow(self.start)

    def test_status_and_checks_do_not_wait_for_the_agent(self):
        self.run_slow(self.start_remote)


def parse_prometheus(tc, text):
    """A strict reader for the subset we write: HELP/TYPE before samples, gauges only."""
    typed = set()
    for line in text.splitlines():
        m = re.fullmatch(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)", line)
        if m:
            if m.group(1) == "TYPE":
                tc.assertEqual(m.group(3), "gauge")
                typed.add(m.group(2))
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"\\]*"\})? (\S+)', line)
        tc.assertIsNotNone(m, line)
        tc.assertIn(m.group(1), typed)
        float(m.group(3))


if __name__ == "__main__":
    unittest.main()
