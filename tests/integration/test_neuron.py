"""neuron-process, neuron-device, ml-process and inhibitor with real processes.

Each case starts its processes and `trnidled --once --json` inside a fresh PID namespace
(`unshare --pid --fork --mount-proc`), so only the processes the test started are visible and
the shared machine's load cannot decide: CPU and memory thresholds are 100 %, network and disk
are off. The fakes are the ones no real part exists for here: a /dev/neuron0 made with mknod,
a Neuron sysfs tree, and a stand-in org.freedesktop.login1 on a private dbus-daemon.
"""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import unittest

from harness import (NOT_THIS_MACHINE, SYS_PYTHON, CheckRecord, have_fake_logind_parts,
                     log_lines, start_fake_logind, start_private_bus)

TRNIDLED = os.environ.get("TRNIDLED", "build/src/trnidled")
DATA = os.environ.get("TESTS_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
TIMEOUT = 60

SLEEPER = "import sys, time\ntime.sleep(60)\n"


def have_root_and_unshare():
    return os.geteuid() == 0 and shutil.which("unshare") is not None


class Env:
    """A temp tree with a configuration, bin/, dev/ and sys/."""

    def __init__(self, held_idle="0", extra=""):
        self.dir = tempfile.mkdtemp(prefix="trnidled-neuron-")
        for d in ("bin", "dev", "sys"):
            os.makedirs(os.path.join(self.dir, d))
        self.sysfs = os.path.join(self.dir, "sys", "devices", "virtual", "neuron_device")
        self.conf = os.path.join(self.dir, "trnidled.conf")
        with open(self.conf, "w") as f:
            f.write(textwrap.dedent(f"""\
                [Check]
                BootGraceSec=0
                [Thresholds]
                CpuPercent=100
                MemoryPercent=100
                NetworkKBps=0
                DiskKBps=0
                [Neuron]
                DevicePattern={self.dir}/dev/neuron*
                SysfsRoot={self.sysfs}
                HeldIdleSec={held_idle}
                """) + extra)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def script(self, name, body=SLEEPER, where="bin"):
        p = self.path(where, name)
        with open(p, "w") as f:
            f.write(f"#!{SYS_PYTHON}\n" + body)
        os.chmod(p, 0o755)
        return p

    def mknod(self, name="neuron0"):
        p = self.path("dev", name)
        os.mknod(p, 0o666 | 0o020000, os.makedev(1, 3))  # a character device, like /dev/null
        return p

    def sysfs_tree(self, generation, version=None):
        shutil.copytree(os.path.join(DATA, "neuron-sysfs", generation, "sys"),
                        self.path("sys"), dirs_exist_ok=True)
        if version:
            with open(self.path("sys", "module", "neuron", "version"), "w") as f:
                f.write(version + "\n")

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def run_once(env, setup, window="2s", extra_env=None):
    """Runs `setup` (shell lines starting background processes) and then trnidled --once in a
    new PID namespace; returns (verdict JSON, stderr)."""
    script = (f"set -e\n{setup}\nsleep 0.5\n"
              f"exec {TRNIDLED} --once --json --window {window} --config {env.conf} "
              + " ".join(NOT_THIS_MACHINE) + "\n")
    e = dict(os.environ)
    e.setdefault("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={env.path('no-bus')}")
    e.update(extra_env or {})
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT, env=e, start_new_session=True, cwd=env.dir)
    if p.returncode != 0:
        raise AssertionError(f"trnidled failed ({p.returncode}): {p.stderr}\n{p.stdout}")
    return json.loads(p.stdout), p.stderr


def device(verdict, name="neuron0"):
    devs = [d for d in verdict["signals"]["neuron-device"]["devices"] if d["name"] == name]
    assert len(devs) == 1, verdict
    return devs[0]


def reasons(verdict, signal_name):
    return [r["detail"] for r in verdict["reasons"] if r["signal"] == signal_name]


@unittest.skipUnless(have_root_and_unshare(), "needs root and unshare for a PID namespace")
class NeuronProcessTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()

    def tearDown(self):
        self.env.cleanup()

    def test_compiler_script_run_by_python_is_active(self):
        cc = self.env.script("neuronx-cc")
        v, _ = run_once(self.env, f"python3 {cc} compile model.hlo --target trn1 &")
        self.assertEqual(v["verdict"], "active", v)
        details = reasons(v, "neuron-process")
        self.assertEqual(len(details), 1, v)
        self.assertIn("neuronx-cc", details[0])
        self.assertIn("compile model.hlo", details[0])
        self.assertEqual(v["signals"]["neuron-process"]["count"], 1)

    def test_cat_of_a_file_named_like_the_compiler_is_not(self):
        f = self.env.script("neuronx-cc", where=".")
        v, _ = run_once(self.env, f"sleep 60 | cat {f} - >/dev/null &\n"
                                  f"grep -q neuronx-cc - < /dev/zero &")
        self.assertEqual(v["signals"]["neuron-process"]["count"], 0, v)
        self.assertEqual(v["verdict"], "idle", v)

    def test_compiler_child_binary(self):
        # A native child of the compiler, matched on its program name.
        walrus = self.env.path("bin", "walrus_driver")
        shutil.copy("/bin/sleep", walrus)
        v, _ = run_once(self.env, f"{walrus} 60 &")
        self.assertEqual(v["verdict"], "active", v)
        self.assertTrue(any("walrus_driver" in d for d in reasons(v, "neuron-process")), v)


@unittest.skipUnless(have_root_and_unshare(), "needs root and unshare for a PID namespace")
class MlProcessTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.train = self.env.script("train.py", where=".")

    def tearDown(self):
        self.env.cleanup()

    def test_python_train_py_is_active(self):
        v, _ = run_once(self.env, "python3 train.py --epochs 3 &")
        self.assertEqual(v["verdict"], "active", v)
        details = reasons(v, "ml-process")
        self.assertEqual(len(details), 1, v)
        self.assertTrue(details[0].startswith("train.py: pid "), details)

    def test_torchrun_like_launcher_is_active(self):
        launcher = self.env.script("torchrun")
        v, _ = run_once(self.env, f"{launcher} --nproc_per_node=2 train.py &")
        self.assertEqual(v["verdict"], "active", v)
        self.assertTrue(any(d.startswith("torchrun:") for d in reasons(v, "ml-process")), v)

    def test_a_program_given_train_py_is_not(self):
        # Like `vim train.py` or `less train.py`: the file is an argument, not a program run.
        v, _ = run_once(self.env, "tail -f train.py >/dev/null &\n"
                                  "sleep 60 | less train.py >/dev/null 2>&1 &")
        self.assertEqual(v["signals"]["ml-process"]["count"], 0, v)
        self.assertEqual(v["verdict"], "idle", v)


@unittest.skipUnless(have_root_and_unshare(), "needs root and unshare for a PID namespace")
class NeuronDeviceTest(unittest.TestCase):
    def tearDown(self):
        self.env.cleanup()

    def holder(self, node, name="holder"):
        """A program that opens node and sleeps, named name (its comm)."""
        return self.env.script(name, f"import time\nf = open({node!r}, 'rb')\ntime.sleep(60)\n")

    def test_holder_of_a_device_node_is_active(self):
        self.env = Env()
        node = self.env.mknod()
        h = self.holder(node)
        v, _ = run_once(self.env, f"{h} &")
        self.assertEqual(v["verdict"], "active", v)
        details = reasons(v, "neuron-device")
        self.assertEqual(len(details), 1, v)
        self.assertIn("neuron0 held by pid", details[0])
        self.assertIn("HeldIdleSec=0", details[0])
        dev = device(v)
        self.assertEqual(dev["node"], node)
        self.assertEqual(dev["holder_count"], 1)

    def test_monitor_holder_is_ignored(self):
        self.env = Env()
        node = self.env.mknod()
        h = self.holder(node, "neuron-monitor")
        v, _ = run_once(self.env, f"{h} &")
        self.assertEqual(v["verdict"], "idle", v)
        dev = device(v)
        self.assertEqual(dev["holder_count"], 0)
        self.assertEqual(dev["monitor_holders"], 1)

    def test_unheld_node_is_idle(self):
        self.env = Env()
        self.env.mknod()
        v, _ = run_once(self.env, "sleep 60 &")
        self.assertEqual(v["verdict"], "idle", v)

    # Fake sysfs trees. HeldIdleSec=1s and a 2 s window: a device held with no execution for
    # the whole window counts idle when its counters can show execution.

    def held_with_tree(self, generation, version=None, writer=""):
        self.env = Env(held_idle="1s")
        self.env.sysfs_tree(generation, version)
        node = self.env.mknod()
        h = self.holder(node, "serve")
        return run_once(self.env, f"{h} &\n{writer}")[0]

    def bump(self, rel, text, delay=1.0):
        """Shell line: rewrite a sysfs file during the --once window."""
        p = os.path.join(self.env.sysfs, rel)
        return f"(sleep {delay + 0.5}; printf '%s\\n' '{text}' > {p}) &"

    def test_frozen_counters_keep_a_held_device_active(self):
        # Driver 2.21: execution counters move only when the process exits, no pe_cntrs.
        v = self.held_with_tree("v2.21")
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("cannot show execution", reasons(v, "neuron-device")[0])
        self.assertIn("2.21.37", reasons(v, "neuron-device")[0])

    def test_live_counters_quiet_device_is_idle(self):
        v = self.held_with_tree("v2.21", version="2.30.2.0")
        self.assertEqual(v["verdict"], "idle", v)
        dev = device(v)
        self.assertTrue(dev["execution_observable"])
        self.assertFalse(dev["executed"])
        self.assertGreaterEqual(dev["quiet_sec"], 1.0)

    def test_live_counters_moving_is_active(self):
        self.env = Env(held_idle="1s")
        self.env.sysfs_tree("v2.21", version="2.30.2.0")
        node = self.env.mknod()
        h = self.holder(node, "serve")
        v, _ = run_once(self.env, f"{h} &\n" + self.bump(
            "neuron0/neuron_core1/stats/other_info/inference_count/total", "8"))
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("neuron0 executed since the last check; held by pid",
                      reasons(v, "neuron-device")[0])

    def test_pe_cntrs_changing_is_active(self):
        self.env = Env(held_idle="1s")
        self.env.sysfs_tree("v2.24")
        node = self.env.mknod()
        h = self.holder(node, "serve")
        v, _ = run_once(self.env, f"{h} &\n" + self.bump(
            "neuron0/neuron_core0/stats/tensor_engine/pe_cntrs",
            "0,2000,900,123456789"))
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("executed", reasons(v, "neuron-device")[0])

    def test_pe_cntrs_still_is_idle(self):
        v = self.held_with_tree("v2.24")
        self.assertEqual(v["verdict"], "idle", v)

    def test_frozen_counters_jump_at_exit_is_active(self):
        # No holder left, but the counters folded in at its exit: work ran in this interval.
        self.env = Env(held_idle="1s")
        self.env.sysfs_tree("v2.21")
        self.env.mknod()
        v, _ = run_once(self.env, self.bump(
            "neuron1/neuron_core0/stats/status/success/total", "12"))
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("neuron1 executed", reasons(v, "neuron-device")[0])

    def test_device_sysfs_shows_free_is_not_walked(self):
        # neuron1's sysfs shows no device memory and no execution: nobody's fd list is read
        # for it (the cost must not grow with the open files on the machine).
        self.env = Env(held_idle="1s")
        self.env.sysfs_tree("v2.24")
        node = self.env.mknod("neuron1")
        h = self.holder(node, "opener")
        v, _ = run_once(self.env, f"{h} &")
        dev = device(v, "neuron1")
        self.assertFalse(dev["holders_scanned"], v)
        self.assertEqual(v["verdict"], "idle", v)

    def test_moved_nodes_of_driver_2_31(self):
        self.env = Env(held_idle="1s")
        self.env.sysfs_tree("v2.31")
        node = self.env.mknod()
        h = self.holder(node, "serve")
        v, _ = run_once(self.env, f"{h} &\n" + self.bump(
            "neuron0/cores/nc1/metrics/execution/inference_count/total", "6"))
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("neuron0 executed", reasons(v, "neuron-device")[0])


@unittest.skipUnless(have_root_and_unshare(), "needs root and unshare for a PID namespace")
class InhibitorTest(unittest.TestCase):
    """A private dbus-daemon stands in for the system bus (logind cannot run here)."""

    def setUp(self):
        self.env = Env()
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.env.cleanup()

    def start_bus(self):
        return start_private_bus(self.env.dir, self.procs)

    def start_logind(self, address, mode):
        start_fake_logind(self.env.dir, self.procs, address, mode)

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_block_idle_lock_is_active(self):
        address = self.start_bus()
        self.start_logind(address, "block")
        v, _ = run_once(self.env, "true", window="1s",
                        extra_env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        self.assertEqual(v["verdict"], "active", v)
        self.assertEqual(reasons(v, "inhibitor"),
                         ["alice (pid 4242, uid 1000): training run [idle:sleep]"])
        self.assertEqual(len(v["signals"]["inhibitor"]["inhibitors"]), 2)

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_delay_locks_are_not(self):
        address = self.start_bus()
        self.start_logind(address, "delay")
        v, _ = run_once(self.env, "true", window="1s",
                        extra_env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        self.assertEqual(v["verdict"], "idle", v)
        self.assertTrue(v["signals"]["inhibitor"]["available"])

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_logind_error_is_a_probe_error(self):
        address = self.start_bus()
        self.start_logind(address, "error")
        v, _ = run_once(self.env, "true", window="1s",
                        extra_env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        self.assertEqual(v["verdict"], "active", v)
        self.assertEqual(reasons(v, "probe-error"),
                         ["inhibitor: logind ListInhibitors: logind is unwell"])

    @unittest.skipUnless(shutil.which("dbus-daemon"), "needs dbus-daemon")
    def test_bus_without_logind_stays_out(self):
        address = self.start_bus()
        v, err = run_once(self.env, "true", window="1s",
                          extra_env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        self.assertEqual(v["verdict"], "idle", v)
        self.assertFalse(v["signals"]["inhibitor"]["available"])
        self.assertIn("logind is not on the system bus", err)

    def start_daemon(self, address, conf):
        """The real daemon in a PID namespace on the private bus; the path of its log."""
        with open(self.env.conf, "a") as f:
            f.write(conf)
        log = self.env.path("daemon.log")
        e = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
        with open(log, "w") as out:
            p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", TRNIDLED,
                                  "--foreground", "--dry-run", "--runtime-dir",
                                  self.env.path("run"), "--dev-dir", self.env.path("dev"),
                                  "--config", self.env.conf] + NOT_THIS_MACHINE,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=e, start_new_session=True)
        self.addCleanup(self.stop_daemon, p)
        return log

    @staticmethod
    def stop_daemon(p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)  # unshare itself ignores SIGTERM
            p.wait(timeout=TIMEOUT)

    def start_logind_and_daemon(self, slow, conf):
        """A private bus, the fake logind on it (slow: its "slow=…," prefix, or "") holding
        its lock while the file flag names exists, and the daemon with conf: (flag, log)."""
        address = self.start_bus()
        flag = self.env.path("locked")
        self.start_logind(address, slow + "file:" + flag)
        return flag, self.start_daemon(address, conf)

    def checks_after_lock(self, log, flag, more):
        """Takes the lock (systemd-inhibit --what=idle, as a user would) and returns the
        records of the checks that came after it, once `more` checks have come."""
        open(flag, "w").close()
        taken = time.time()
        seen = self.wait_checks(log, len(self.checks(log)) + more)
        return [r for when, r in seen if when > taken]

    @staticmethod
    def checks(log):
        """(wall-clock time, CheckRecord) of each scheduled check in the log so far."""
        out = []
        for when, msg in log_lines(open(log).read()):
            record = CheckRecord.parse(msg) if when else None
            if record and record.kind == "check":
                out.append((when.replace(tzinfo=datetime.timezone.utc).timestamp(), record))
        return out

    def wait_checks(self, log, n):
        deadline = time.time() + TIMEOUT
        while len(self.checks(log)) < n:
            self.assertLess(time.time(), deadline, open(log).read())
            time.sleep(0.05)
        return self.checks(log)

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_lock_taken_during_the_warning_cancels_it(self):
        # The daemon asks logind ahead of each check and of the warning's end, on its one bus
        # connection: a lock taken during the warning must be in the answer the re-check reads.
        flag, log = self.start_logind_and_daemon(
                "", "[Check]\nIntervalSec=6s\nIdleChecks=1\n"
                "[Action]\nAction=poweroff\nWarnSec=3s\n")
        deadline = time.time() + TIMEOUT
        while "action poweroff in 3s" not in open(log).read():
            self.assertLess(time.time(), deadline, open(log).read())
            time.sleep(0.05)
        open(flag, "w").close()  # systemd-inhibit --what=idle, as a user would
        while "cancelled" not in open(log).read() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        text = open(log).read()
        self.assertRegex(text, r"action poweroff cancelled during the warning: .*inhibitor")
        self.assertNotRegex(text, r"action poweroff \(dry-run\)")

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_lock_taken_in_the_warnings_last_second_cancels_it(self):
        # A user who sees the warning late takes the lock 0.4 s before it runs out. A quick
        # logind is asked at the warning's end: the lock counts. (Asked a second ahead, as
        # the warning's end once was, the answer predated the lock and the machine went.)
        flag, log = self.start_logind_and_daemon(
                "", "[Check]\nIntervalSec=10s\nIdleChecks=1\n"
                "[Action]\nAction=poweroff\nWarnSec=3s\n")
        deadline = time.time() + TIMEOUT
        started = None
        while started is None:
            self.assertLess(time.time(), deadline, open(log).read())
            started = next((when for when, msg in log_lines(open(log).read())
                            if when and "action poweroff in 3s" in msg), None)
            time.sleep(0.02)
        end = started.replace(tzinfo=datetime.timezone.utc).timestamp() + 3.0
        time.sleep(max(0.0, end - 0.4 - time.time()))
        open(flag, "w").close()  # systemd-inhibit --what=idle, as a user would
        while not re.search(r"cancelled|action poweroff \(dry-run\)", open(log).read()):
            self.assertLess(time.time(), deadline, open(log).read())
            time.sleep(0.05)
        text = open(log).read()
        self.assertRegex(text, r"action poweroff cancelled during the warning: .*inhibitor")
        self.assertNotRegex(text, r"action poweroff \(dry-run\)")

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_lock_taken_just_before_a_check_is_in_it(self):
        # A logind that answers quickly is asked at the check's own time, not ahead of it: a
        # lock taken half a second before the check counts in it. (Asked a second ahead, as
        # every check once was, the check read the answer from before the lock.)
        interval = 4.0
        flag, log = self.start_logind_and_daemon(
                "", "[Check]\nIntervalSec=4s\nIdleChecks=100\n[Action]\nAction=none\n")
        for attempt in range(3):
            seen = self.wait_checks(log, 2)
            self.assertTrue(all(r.verdict == "idle" for _, r in seen), seen)
            last = seen[-1][0]
            time.sleep(max(0.0, last + interval - 0.5 - time.time()))
            taken = time.time()
            open(flag, "w").close()  # systemd-inhibit --what=idle sleep 1h, as a user would
            when, record = self.wait_checks(log, len(seen) + 1)[len(seen)]
            if when > taken + 0.1:  # the check came after the lock: the case asked about
                break
            os.unlink(flag)  # this machine was too slow to take it in time: once more
            self.wait_checks(log, len(seen) + 2)
        else:
            self.fail(f"could not take the lock before a check in 3 tries: {open(log).read()}")
        self.assertEqual(record.verdict, "active", (when - taken, open(log).read()))
        self.assertEqual(record.signal, "inhibitor", record)

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_slow_logind_is_asked_ahead_and_the_checks_stay_on_time(self):
        # logind answering after 0.3 s (under load) is asked a second ahead of each check, so
        # that no check but the first waits for it, and a lock taken since the last check
        # still counts in the next. (Asked only at the check's time, the answer
        # would come after the check, which would read the one from the check before.)
        flag, log = self.start_logind_and_daemon(
                "slow=0.3,", "[Check]\nIntervalSec=2s\nIdleChecks=100\n[Action]\nAction=none\n")
        seen = self.wait_checks(log, 3)
        # (The first check may be a probe error: its question was not asked ahead, since
        # logind's slowness was not known yet.)
        self.assertTrue(all(r.verdict == "idle" for _, r in seen[1:]), seen)
        after = self.checks_after_lock(log, flag, 3)  # just after a check: before the next
        self.assertTrue(after and all(r.verdict == "active" and r.signal == "inhibitor"
                                      for r in after), open(log).read())
        seen = self.checks(log)
        gaps = [b[0] - a[0] for a, b in zip(seen[1:], seen[2:])]
        self.assertTrue(all(abs(gap - 2.0) < 0.2 for gap in gaps), (gaps, open(log).read()))

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_check_that_waited_in_vain_for_logind_is_not_idle(self):
        # A quick logind turns slow (0.2 s) just as a lock is taken, between the check before
        # last and the last one of a streak. The last check once waited 25 ms in vain and read
        # the answer from the check before, without the lock: the streak completed and the
        # machine powered off under the lock (WarnSec=0). The check waits for the answer now
        # (or, were it later still, is a probe error), so it is active, and so are the next.
        flag, log = self.start_logind_and_daemon(
                "slowlocked=0.2,",
                "[Check]\nIntervalSec=2s\nIdleChecks=3\n[Action]\nAction=poweroff\nWarnSec=0\n")
        deadline = time.time() + TIMEOUT
        while not any(r.idle == 2 for _, r in self.checks(log)):
            self.assertLess(time.time(), deadline, open(log).read())
            time.sleep(0.02)
        after = self.checks_after_lock(log, flag, 3)  # as the streak nears its end
        text = open(log).read()
        self.assertNotRegex(text, r"action poweroff \(dry-run\)")
        self.assertEqual(after[0].verdict, "active", text)
        self.assertIn("inhibitor", after[0].reasons, text)
        self.assertTrue(all(r.verdict == "active" for r in after), text)

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_logind_slow_once_at_start_costs_no_check(self):
        # logind busy at boot takes 0.5 s for the daemon's first question, then answers at
        # once. Slow at the last answer and asked nothing ahead, the first check asks itself
        # and waits for the answer, as when logind is quick: no probe error.
        _, log = self.start_logind_and_daemon(
                "slowfirst=0.5,",
                "[Check]\nIntervalSec=2s\nIdleChecks=100\n[Action]\nAction=none\n")
        seen = self.wait_checks(log, 2)
        self.assertTrue(all(r.verdict == "idle" for _, r in seen), open(log).read())

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_quick_logind_late_once_is_waited_for(self):
        # A quick logind answers every second question 0.15 s late (a hiccup on a busy or
        # slow machine: a VM under TCG took 30-60 ms now and then). The check that asked it
        # waits for the answer, a little late, rather than read the hiccup as a probe error:
        # each such error counted as activity and restarted the idle streak, and logind late
        # at every second check kept an idle machine up for good.
        _, log = self.start_logind_and_daemon(
                "sloweven=0.15,",
                "[Check]\nIntervalSec=2s\nIdleChecks=100\n[Action]\nAction=none\n")
        seen = self.wait_checks(log, 6)
        self.assertTrue(all(r.verdict == "idle" for _, r in seen), open(log).read())
        gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
        self.assertTrue(all(abs(gap - 2.0) < 0.5 for gap in gaps), (gaps, open(log).read()))

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_logind_slower_than_a_second_is_asked_earlier(self):
        # logind taking 1.5 s is asked twice that ahead (at most IntervalSec=/2): its answers
        # come before the checks, which read idle without a probe error, and a lock taken
        # after a check counts in the next.
        flag, log = self.start_logind_and_daemon(
                "slow=1.5,", "[Check]\nIntervalSec=4s\nIdleChecks=100\n[Action]\nAction=none\n")
        seen = self.wait_checks(log, 4)
        self.assertTrue(all(r.verdict == "idle" for _, r in seen[2:]), open(log).read())
        after = self.checks_after_lock(log, flag, 2)
        self.assertTrue(after and all(r.verdict == "active" and r.signal == "inhibitor"
                                      for r in after), open(log).read())

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_logind_slower_than_the_lead_is_an_error_not_an_old_answer(self):
        # logind taking 2.5 s, longer than it can be asked ahead (IntervalSec=/2): each check
        # has only the answer to the question asked for the check before. Read as today's, a
        # lock taken after a check read as none at the next; it is a probe error (active).
        flag, log = self.start_logind_and_daemon(
                "slow=2.5,", "[Check]\nIntervalSec=4s\nIdleChecks=100\n[Action]\nAction=none\n")
        self.wait_checks(log, 3)
        after = self.checks_after_lock(log, flag, 2)
        text = open(log).read()
        self.assertTrue(after and all(r.verdict == "active" for r in after), text)
        self.assertIn("no answer yet to a question asked for this check", after[0].reasons,
                      text)

    @unittest.skipUnless(have_fake_logind_parts(), "needs dbus-daemon, python3-dbus, python3-gi")
    def test_a_lock_taken_while_the_pre_action_ran_stops_the_action(self):
        # PreActionCommand= takes an inhibitor lock itself (as a checkpoint script might, to
        # finish its upload) and ends. The decision after it waits for logind's answer to a
        # question asked at its end; the last answer, from the check before the command, had
        # no lock, and read as today's the action went ahead under the lock.
        flag = self.env.path("locked")  # the command takes it
        _, log = self.start_logind_and_daemon(
                "", "[Check]\nIntervalSec=3s\nIdleChecks=2\n[Action]\nAction=poweroff\nWarnSec=0\n"
                f"PreActionCommand=/bin/sh -c 'sleep 1.5; touch {flag}'\n")
        deadline = time.time() + TIMEOUT
        while not re.search(r"cancelled|action poweroff \(dry-run\)", open(log).read()):
            self.assertLess(time.time(), deadline, open(log).read())
            time.sleep(0.05)
        text = open(log).read()
        self.assertNotRegex(text, r"action poweroff \(dry-run\)")
        self.assertRegex(text, r"cancelled.*inhibitor")

    def test_no_bus_is_said_once_by_the_daemon(self):
        # The daemon over several checks: the absence is logged once, never a reason.
        with open(self.env.conf, "a") as f:
            f.write("[Check]\nIntervalSec=1s\nIdleChecks=100\n[Action]\nAction=none\n")
        e = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={self.env.path('no-bus')}")
        p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", TRNIDLED,
                              "--foreground", "--dry-run", "--runtime-dir", self.env.path("run"),
                              "--config", self.env.conf],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=e, start_new_session=True)
        time.sleep(4.5)
        os.killpg(p.pid, signal.SIGTERM)  # unshare itself ignores SIGTERM
        out, _ = p.communicate(timeout=TIMEOUT)
        said = [line for line in out.splitlines() if "inhibitor: no system bus" in line]
        checks = [line for line in out.splitlines() if "idle" in line]
        self.assertEqual(len(said), 1, out)
        self.assertGreaterEqual(len(checks), 2, out)
        self.assertNotIn("probe-error", out)


if __name__ == "__main__":
    unittest.main()
