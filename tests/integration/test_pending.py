"""Time passes between the decision that a machine is idle and the action: the warning,
PreActionCommand= (up to an hour), stop-instance retries and the fallback power-off. A hold, a new
terminal or a new `python3 train.py` that arrives meanwhile must cancel the action, in the journal
and on the terminals, and the idle streak must start again.

The daemon runs in its own PID namespace (harness.py); the terminal and the training job are
started inside it with nsenter, so the daemon sees them and nothing else on this machine. The
terminal is a real pty whose slave is the new process's controlling terminal; --dev-dir points at
a directory whose pts/N links to it, so warnings reach only this test's terminals."""
import os
import re
import subprocess
import time

from aws_stub import Stub
from harness import DEADLINE, DaemonTestCase, check_records

TRAIN = "import time\ntime.sleep(600)\n"
ACTION_RAN = r"(^|: )action (poweroff|stop-instance|none) (\(dry-run\)|failed)|falling back"


class PendingTestCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.dev = os.path.join(self.tmp, "dev")
        os.makedirs(os.path.join(self.dev, "pts"))
        self.train = os.path.join(self.tmp, "train.py")
        with open(self.train, "w") as f:
            f.write(TRAIN)
        self.ptys = []
        self.children = []

    def tearDown(self):
        # The daemon is PID 1 of its namespace: stopping it ends what was started in there.
        super().tearDown()
        for c in self.children:
            c.wait(timeout=30)
        for fd in self.ptys:
            os.close(fd)

    def start(self, overrides):
        conf = {"Check": {"IdleChecks": "1"}, "Action": {"WarnSec": "0"}}
        for section, keys in overrides.items():
            conf.setdefault(section, {}).update(keys)
        return self.daemon(conf, extra_args=["--dev-dir", self.dev])

    def run_inside(self, d, argv, **kw):
        p = subprocess.Popen(["nsenter", "--target", str(d.pid), "--pid", "--mount"] + argv,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        self.children.append(p)
        return p

    def new_terminal(self, d):
        master, slave = os.openpty()
        self.ptys += [master, slave]
        tty = os.ttyname(slave)
        os.symlink(tty, os.path.join(self.dev, "pts", os.path.basename(tty)))
        self.run_inside(d, ["setsid", "--ctty", "sleep", "600"], stdin=slave)
        return tty

    def arrive(self, d, what):
        """Makes the machine busy (or held) the way a person would; returns what the
        cancellation record must name."""
        if what == "hold":
            d.ctl("hold", "2h", "--reason", "still working", check=0)
            return "hold #1 by root"
        if what == "terminal":
            return "pts/" + os.path.basename(self.new_terminal(d))
        self.run_inside(d, ["python3", self.train, "--epochs", "3"])
        return "train.py"

    def assert_cancelled_and_nothing_runs(self, d, mark, names, phase):
        rec = d.wait_for(r"^action \S+ cancelled", start=mark)[0]
        self.assertIn(phase, rec)
        self.assertIn(names, rec)
        self.assertIn("the idle streak starts anew", rec)
        after = d.mark()
        # Long enough for anything that was under way to have run.
        d.wait_for_check(start=after, count=3, timeout=60, verdict=("active", "held"))
        self.assertEqual(d.find(ACTION_RAN, start=mark), [], d.text())
        self.assertEqual(d.checks(start=after, idle=1), [], d.text())


class Arrivals:
    """The three ways a machine becomes busy or held, each run through the class's run_case."""

    def test_hold(self):
        self.run_case("hold")

    def test_new_terminal(self):
        self.run_case("terminal")

    def test_new_training_job(self):
        self.run_case("train")


class PreActionTest(Arrivals, PendingTestCase):
    """PreActionCommand= runs for seconds here (an hour at most in real life)."""

    def run_case(self, what):
        d = self.start({"Action": {"PreActionCommand": "/bin/sleep 5"}})
        d.wait_for(r"^running pre-action command")
        mark = d.mark()
        names = self.arrive(d, what)
        self.assert_cancelled_and_nothing_runs(d, mark, names, "while PreActionCommand= ran")
        # The command itself ends in its own time; nothing follows it.
        d.wait_for(r"pre-action command .* (exited|finished|ended)", start=mark,
                   timeout=DEADLINE)
        time.sleep(1.5)
        self.assertEqual(d.find(ACTION_RAN, start=mark), [], d.text())

    def test_still_idle_the_action_follows_a_recheck(self):
        d = self.start({"Action": {"PreActionCommand": "/bin/sleep 2"}})
        d.wait_for(r"^action poweroff \(dry-run\)")
        msgs = [m for _, m in d.lines()]
        ran = next(i for i, m in enumerate(msgs) if m.startswith("running pre-action"))
        act = next(i for i, m in enumerate(msgs) if m.startswith("action poweroff (dry-run)"))
        self.assertTrue(any(r.matches(kind="recheck", verdict="idle")
                            for r in check_records(msgs[ran:act])), d.text())


class WarningTest(Arrivals, PendingTestCase):
    def run_case(self, what):
        d = self.start({"Action": {"WarnSec": "10min"}})
        d.wait_for(r"^action poweroff in 10min")
        mark = d.mark()
        names = self.arrive(d, what)
        self.assert_cancelled_and_nothing_runs(d, mark, names, "during the warning")


class StopInstanceRetryTest(Arrivals, PendingTestCase):
    """StopInstances keeps failing with a retryable error; between two attempts the machine
    becomes busy. No later attempt, no fallback power-off."""

    def setUp(self):
        super().setUp()
        self.stub = Stub()
        self.stub.aws.ec2_script = ["500"] * 100

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.stub.close()

    def run_case(self, what, interval="1s"):
        d = self.start({"Check": {"IntervalSec": interval},
                        "Action": {"Action": "stop-instance", "FallbackPoweroff": "yes"},
                        "AWS": {"ImdsEndpoint": self.stub.imds_url,
                                "Ec2Endpoint": self.stub.aws_url,
                                "MonitoringEndpoint": self.stub.aws_url}})
        d.wait_for(r"stop-instance attempt 1 failed: .*trying again", timeout=30)
        mark = d.mark()
        names = self.arrive(d, what)
        self.assert_cancelled_and_nothing_runs(d, mark, names, "before its next step")
        sent = len(self.stub.aws.ec2_requests())
        time.sleep(3)
        self.assertEqual(len(self.stub.aws.ec2_requests()), sent, "StopInstances sent again")
        return d

    def test_the_retry_itself_decides_again(self):
        # Checks 5 s apart: the re-check before the next attempt finds the job, not a check.
        d = self.run_case("train", interval="5s")
        self.assertTrue(d.find(r"stop-instance attempt \d+ not taken"), d.text())


class SpotNoticeCommandTest(PendingTestCase):
    """PreActionCommand= run for a spot notice never lets the idle action go ahead."""

    def setUp(self):
        super().setUp()
        self.stub = Stub()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.stub.close()

    def test_the_idle_action_runs_the_command_for_itself(self):
        # The notice is there at the first poll; the command it starts runs long enough for
        # the notice to be withdrawn and a whole streak to pass, so that the idle action comes
        # while it still runs and has to wait for it.
        out = os.path.join(self.tmp, "reasons")
        self.stub.imds.spot_action = {"action": "stop", "time": "2030-01-01T00:02:00Z"}
        cmd = (f"/bin/sh -c 'echo $TRNIDLED_REASON >> {out}; "
               "if [ $TRNIDLED_REASON = spot-interruption ]; then sleep 12; fi'")
        d = self.start({"Check": {"IdleChecks": "3"},
                        "Action": {"Action": "poweroff", "PreActionCommand": cmd},
                        "AWS": {"ImdsEndpoint": self.stub.imds_url,
                                "Ec2Endpoint": self.stub.aws_url,
                                "MonitoringEndpoint": self.stub.aws_url}})
        d.wait_for(r"^running pre-action command /bin/sh .*reason spot-interruption")
        self.stub.imds.spot_action = None
        d.wait_for(r"^spot interruption notice withdrawn")
        d.wait_for(r"^pre-action command still running; not starting it again for idle; the "
                   r"action waits for it to end")
        d.wait_for(ACTION_RAN, timeout=30)
        msgs = [m for _, m in d.lines()]
        spot_end = next(i for i, m in enumerate(msgs) if m.startswith("pre-action command /bin/sh"))
        idle_run = [i for i, m in enumerate(msgs)
                    if m.startswith("running pre-action command") and "reason idle" in m]
        act = next(i for i, m in enumerate(msgs) if re.search(ACTION_RAN, m))
        self.assertEqual(len(idle_run), 1, d.text())
        self.assertLess(spot_end, idle_run[0], d.text())
        self.assertLess(idle_run[0], act, d.text())
        with open(out) as f:
            self.assertEqual(f.read().split(), ["spot-interruption", "idle"])
