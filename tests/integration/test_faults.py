"""Fault injection against the real daemon: the system bus and logind unreachable, a runtime
directory that turns read-only or full, corrupt and truncated state files, a reload with a
broken drop-in, and wall-clock jumps. In each the fault is logged and the daemon keeps
deciding on schedule.

Actions run in --dry-run on a private bus (or no bus at all) inside a PID namespace, so
nothing here can stop this machine."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import aws_stub
import reliability
from reliability import Daemon
from harness import BUS_CONF  # an open private bus

SYSTEM_PYTHON = "/usr/bin/python3"  # python3-dbus and python3-gi are Debian packages

# Every check idle (no threshold can be passed), the action at once.
IDLE_CONFIG = """[Check]
IntervalSec=1s
BootGraceSec=0
IdleChecks=1
[Action]
Action=poweroff
WarnSec=0
[Thresholds]
CpuPercent=100
MemoryPercent=100
"""

# A stand-in for PID 1 and logind on a private bus: answers what trnidled asks in dry-run.
FAKE_SERVICES = r'''
import sys
import dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])

class Systemd(dbus.service.Object):
    @dbus.service.method("org.freedesktop.DBus.Properties", in_signature="ss",
                         out_signature="v")
    def Get(self, interface, prop):
        return dbus.String("252-fake", variant_level=1)

class Logind(dbus.service.Object):
    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="",
                         out_signature="s")
    def CanPowerOff(self):
        return "yes"

    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="",
                         out_signature="a(ssssuu)")
    def ListInhibitors(self):
        return dbus.Array([], signature="(ssssuu)")

names = []
for svc in sys.argv[2:]:
    if svc == "systemd":
        names.append(dbus.service.BusName("org.freedesktop.systemd1", bus))
        Systemd(bus, "/org/freedesktop/systemd1")
    elif svc == "logind":
        names.append(dbus.service.BusName("org.freedesktop.login1", bus))
        Logind(bus, "/org/freedesktop/login1")
print("ready", flush=True)
GLib.MainLoop().run()
'''


# Moves CLOCK_REALTIME (and time(), gettimeofday()) as the daemon sees it by the number of
# seconds in $TRNIDLE_CLOCK_OFFSET_FILE. Setting the real clock would hit everyone on this
# shared machine; the daemon's timers are CLOCK_BOOTTIME timerfds the kernel runs, and its
# only wall-clock reads go through these calls.
CLOCK_SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long offset(void)
{
	const char *p = getenv("TRNIDLE_CLOCK_OFFSET_FILE");
	long o = 0;
	FILE *f = p ? fopen(p, "re") : NULL;
	if (f) {
		if (fscanf(f, "%ld", &o) != 1)
			o = 0;
		fclose(f);
	}
	return o;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	int r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += offset();
	return r;
}

int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
'''

# A PID namespace of its own: the daemon sees none of this machine's other processes, and
# even a power-off system call would only end that namespace.
PIDNS = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]


def streaks(d):
    """The idle streak of each scheduled check so far."""
    return [r.idle for r in d.checks()]


def make_user(test, name):
    """A system user for one test (removed after it); returns its uid."""
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    test.addCleanup(subprocess.run, ["userdel", name], capture_output=True)
    return int(subprocess.run(["id", "-u", name], capture_output=True, text=True).stdout)


class Fixture(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="trnidled-faults.")
        self.devdir = os.path.join(self.tmp.name, "dev")
        os.makedirs(os.path.join(self.devdir, "pts"))
        self.daemons = []
        self.procs = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()
        for p in self.procs:
            p.terminate()
            p.wait(10)
        self.tmp.cleanup()

    def start(self, config=IDLE_CONFIG, env=None, wrapper=PIDNS, **kw):
        args = ["--dev-dir", self.devdir]
        d = Daemon(config, env=env, wrapper=wrapper, args=args, **kw)
        self.daemons.append(d)
        return d.wait_ready()

    def assert_keeps_checking(self, d, more=3):
        n = len(d.check_times())
        d.wait_for(r" check: ", timeout=more * 2 + 5, count=n + more)
        self.assertTrue(d.alive())
        gap = reliability.max_gap(d.check_times()[n - 1 if n else 0:])
        self.assertLessEqual(gap, 2.0, f"checks fell behind: gap {gap:.2f}s")


class BusFaultTest(Fixture):
    def private_bus(self, *services):
        path = os.path.join(self.tmp.name, "bus")
        conf = os.path.join(self.tmp.name, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONF.format(socket=path))
        bus = subprocess.Popen(["dbus-daemon", "--nofork", "--config-file", conf],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(bus)
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        address = f"unix:path={path}"
        if services:
            script = os.path.join(self.tmp.name, "fake.py")
            with open(script, "w") as f:
                f.write(FAKE_SERVICES)
            fake = subprocess.Popen([SYSTEM_PYTHON, script, address] + list(services),
                                    stdout=subprocess.PIPE, text=True)
            self.procs.append(fake)
            self.assertEqual(fake.stdout.readline().strip(), "ready")
        return address

    def test_logind_unreachable_takes_the_systemd_fallback(self):
        address = self.private_bus("systemd")
        d = self.start(env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        line = d.wait_for(r"action poweroff \(dry-run\)", timeout=15)[0]
        self.assertIn("logind unreachable", line)
        self.assertIn("org.freedesktop.login1", line)
        self.assertIn("would start poweroff.target through systemd", line)
        self.assert_keeps_checking(d)

    def test_logind_reachable_is_the_first_path(self):
        address = self.private_bus("systemd", "logind")
        d = self.start(env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        line = d.wait_for(r"action poweroff \(dry-run\)", timeout=15)[0]
        self.assertIn("would ask logind to power off (CanPowerOff=yes)", line)
        self.assertNotIn("systemd", line)

    def test_both_unreachable_logs_and_keeps_running(self):
        address = self.private_bus()  # a bus with neither logind nor systemd on it
        d = self.start(env={"DBUS_SYSTEM_BUS_ADDRESS": address})
        line = d.wait_for(r"action poweroff \(dry-run\)", timeout=15)[0]
        self.assertIn("logind unreachable", line)
        self.assertIn("systemd: ", line)
        self.assertIn("a real power-off would fail here and keep the machine up", line)
        self.assert_keeps_checking(d)
        # The next streak tries again.
        d.wait_for(r"action poweroff \(dry-run\)", timeout=15, count=2)

    def test_no_system_bus_at_all(self):
        d = self.start(env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"})
        line = d.wait_for(r"action poweroff \(dry-run\)", timeout=15)[0]
        self.assertIn("cannot connect to the system bus", line)
        self.assertIn("a real power-off would fail here", line)
        self.assert_keeps_checking(d)

    def test_real_action_with_no_bus_logs_an_error_and_keeps_running(self):
        # Not a dry run: with no bus to talk to (and in a PID namespace of its own) the
        # power-off cannot reach anything; the failure is an error and the daemon decides on.
        d = self.start(env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"},
                       dry_run=False)
        line = d.wait_for(r"error: action poweroff failed", timeout=15)[0]
        self.assertIn("cannot connect to the system bus", line)
        self.assert_keeps_checking(d)
        d.wait_for(r"error: action poweroff failed", timeout=15, count=2)


def nsenter(d, *cmd):
    """Runs cmd in the daemon's mount namespace."""
    return subprocess.run(["nsenter", "--target", str(d.pid()), "--mount"] + list(cmd),
                          capture_output=True, text=True)


class RuntimeDirFaultTest(Fixture):
    # Its own mount namespace, so the mounts below touch nothing outside the test.
    MOUNTNS = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
               "--kill-child", "--mount-proc"]

    def config_busy(self):
        # Never acts: the streak counts up and the state is saved on every check.
        return IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000")

    def test_runtime_dir_turns_read_only(self):
        d = self.start(self.config_busy(), wrapper=self.MOUNTNS)
        d.wait_for(r" check: ", timeout=10)
        r = nsenter(d, "sh", "-c", f"mount --bind {d.runtime} {d.runtime} && "
                                   f"mount -o remount,bind,ro {d.runtime}")
        self.assertEqual(r.returncode, 0, r.stderr)
        warn = d.wait_for(r"warning: cannot save state to .*Read-only file system", timeout=10)
        self.assertIn("deciding on without it", warn[0])
        self.assert_keeps_checking(d)
        # Warned once, not on every check.
        self.assertEqual(len(d.wait_for(r"cannot save state", count=0)), 1)
        # The streak kept counting while the disk refused it.
        counted = streaks(d)
        self.assertEqual(counted, list(range(1, len(counted) + 1)))
        self.assertEqual(nsenter(d, "umount", d.runtime).returncode, 0)
        d.wait_for(r"state saved to .* again", timeout=10)

    def test_disk_full_while_saving_state(self):
        # The runtime directory is a 64 KiB tmpfs in the daemon's mount namespace, mounted
        # before it starts; the test reaches it through /proc/PID/root.
        runtime = os.path.join(self.tmp.name, "run")
        inner = self.MOUNTNS + ["sh", "-c", f'mkdir -p {runtime} && '
                                            f'mount -t tmpfs -o size=64k tmpfs {runtime} && '
                                            'exec "$0" "$@"']
        d = Daemon(self.config_busy(), wrapper=inner, runtime_dir=runtime,
                   args=["--dev-dir", self.devdir])
        self.daemons.append(d)
        d.wait_for(r" check: ", timeout=10)
        d.socket = f"/proc/{d.pid()}/root{runtime}/io.trnidle.sock"
        self.assertEqual(d.call("io.trnidle.Status")["parameters"]["action"], "poweroff")
        nsenter(d, "sh", "-c", f"dd if=/dev/zero of={runtime}/fill bs=4k 2>/dev/null; true")
        warn = d.wait_for(r"warning: cannot save state to .*No space left on device",
                          timeout=10)
        self.assertIn("deciding on without it", warn[0])
        self.assert_keeps_checking(d)
        # Holds still work (in memory) while the disk is full.
        reply = d.call("io.trnidle.Hold", {"duration": "1h", "reason": "disk full"})
        self.assertNotIn("error", reply)
        self.assertEqual(d.call("io.trnidle.Status")["parameters"]["holds"][0]["reason"],
                         "disk full")
        self.assertEqual(len(d.wait_for(r"cannot save state", count=0)), 1)
        nsenter(d, "rm", "-f", f"{runtime}/fill")
        d.wait_for(r"state saved to .* again", timeout=10)


class StateFileFaultTest(Fixture):
    def boot_id(self):
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()

    def start_with_state(self, text):
        runtime = os.path.join(self.tmp.name, "run")
        os.makedirs(runtime, exist_ok=True)
        with open(os.path.join(runtime, "state"), "wb") as f:
            f.write(text)
        return self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000"),
                          runtime_dir=runtime)

    def good_state(self):
        return json.dumps({"version": 1, "boot_id": self.boot_id(), "idle_checks": 7,
                           "next_hold_id": 1, "holds": []}).encode()

    def test_valid_state_continues_the_streak(self):
        d = self.start_with_state(self.good_state())
        d.wait_for(r"state restored from .*idle 7/1000")
        d.wait_for_check(timeout=10, verdict="idle", idle=8, needed=1000)

    def test_state_from_another_boot_is_ignored(self):
        # Holds and the streak end with the boot, by design.
        d = self.start_with_state(self.good_state().replace(self.boot_id().encode(),
                                                            b"another-boot"))
        line = d.wait_for(r"warning: ignoring .*/state: ")[0]
        self.assertIn("written during another boot", line)
        d.wait_for_check(timeout=10, verdict="idle", idle=1, needed=1000)

    def unusable_states(self, runtime):
        path = os.path.join(runtime, "state")

        def write(text):
            return lambda: open(path, "wb").write(text)
        return {
            "garbage": (write(b"\x00\xff garbage {"), "not JSON"),
            "truncated": (write(self.good_state()[:40]), "not JSON"),
            "empty": (write(b""), "not JSON"),
            "fields": (write(b'{"version":1}'), "missing or invalid fields"),
            "brackets": (write(b"[" * 100000), "not JSON"),
            "oversized": (write(b" " * (256 * 1024 + 1)), "larger than 256 KiB"),
            "directory": (lambda: os.mkdir(path), r"not a regular file \(a directory\)"),
            # A FIFO here kept the daemon from ever starting.
            "fifo": (lambda: os.mkfifo(path), r"not a regular file \(a FIFO\)"),
        }

    def test_unusable_state_keeps_the_machine_up(self):
        # It may hold holds: never start afresh over it. Each check is active (probe-error
        # naming the file and why) and the file is left as it is.
        for name in self.unusable_states("").keys():
            with self.subTest(state=name):
                # A directory each: a daemon that was stopped may still be saving.
                runtime = os.path.join(self.tmp.name, "run-" + name)
                os.makedirs(runtime)
                make, why = self.unusable_states(runtime)[name]
                make()
                before = os.lstat(os.path.join(runtime, "state"))
                d = self.start(IDLE_CONFIG, runtime_dir=runtime)  # IdleChecks=1
                records = d.wait_for_check(timeout=10, count=2)
                self.assertEqual(d.checks(kind=None, verdict="idle"), [])
                d.wait_for(r"error: cannot use .*/state: .*the machine stays up")
                for rec in records:
                    self.assertEqual(rec.verdict, "active", rec)
                    self.assertIn("probe-error", rec.signals)
                    self.assertRegex(rec.reasons, r"probe-error .*" + runtime + "/state: " + why)
                self.assertEqual(d.checks(kind=None, verdict="idle"), [])
                self.assertNotRegex(d.log(), r"action poweroff \(")
                after = os.lstat(os.path.join(runtime, "state"))
                self.assertEqual((after.st_ino, after.st_size), (before.st_ino, before.st_size))
                d.cleanup()
                self.daemons.remove(d)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to create a second user")
    def test_state_the_daemon_may_not_read(self):
        uid = make_user(self, "trnidle-state")
        # Root's file in the daemon's directory, mode 0600: EACCES for the daemon's user.
        os.chmod(self.tmp.name, 0o755)
        runtime = os.path.join(self.tmp.name, "run")
        os.makedirs(runtime)
        path = os.path.join(runtime, "state")
        with open(path, "wb") as f:
            f.write(self.good_state())
        os.chmod(path, 0o600)
        d = Daemon(IDLE_CONFIG, wrapper=PIDNS, user=uid, runtime_dir=runtime,
                   args=["--dev-dir", self.devdir])
        self.daemons.append(d)
        rec = d.wait_for_check(timeout=10)[0]
        self.assertEqual(rec.verdict, "active", rec)
        self.assertRegex(rec.reasons, r"probe-error .*/state: Permission denied")

    def test_state_readable_again_restores_its_holds(self):
        runtime = os.path.join(self.tmp.name, "run")
        os.makedirs(os.path.join(runtime, "state"))
        d = self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000"),
                       runtime_dir=runtime)
        d.wait_for_check(timeout=10, verdict="active", has="probe-error ")
        # Taken while the file could not be read: it stays too.
        self.assertNotIn("error", d.call("io.trnidle.Hold", {"duration": "1h",
                                                             "reason": "meanwhile"}))
        os.rmdir(os.path.join(runtime, "state"))
        now = int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1e6)
        state = json.loads(self.good_state())
        state["holds"] = [{"id": 1, "uid": 0, "owner": "root", "until_usec": now + 3600 * 10**6,
                           "reason": "from the file"}]
        state["next_hold_id"] = 2
        with open(os.path.join(runtime, ".x"), "w") as f:
            json.dump(state, f)
        os.rename(os.path.join(runtime, ".x"), os.path.join(runtime, "state"))
        d.wait_for(r"state can be read again: 1 hold\(s\) restored", timeout=10)
        holds = d.call("io.trnidle.Status")["parameters"]["holds"]
        self.assertEqual(sorted(h["reason"] for h in holds), ["from the file", "meanwhile"])
        self.assertEqual(len({h["id"] for h in holds}), 2)
        d.wait_for_check(timeout=10, verdict="held")
        # Saving resumed: the file now has both.
        d.wait_for_check(timeout=10, count=2, verdict="held")
        with open(os.path.join(runtime, "state")) as f:
            self.assertEqual(len(json.load(f)["holds"]), 2)

    def test_state_removed_while_unusable(self):
        runtime = os.path.join(self.tmp.name, "run")
        os.makedirs(runtime)
        os.mkfifo(os.path.join(runtime, "state"))
        d = self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000"),
                       runtime_dir=runtime)
        d.wait_for_check(timeout=10, verdict="active", has="probe-error ")
        os.unlink(os.path.join(runtime, "state"))
        d.wait_for(r"state is gone; going on with the state in memory", timeout=10)
        d.wait_for_check(timeout=10, verdict="idle", idle=1, needed=1000)
        d.wait_for_check(timeout=10, verdict="idle", idle=2, needed=1000)
        self.assertTrue(os.path.isfile(os.path.join(runtime, "state")))


class ReloadFaultTest(Fixture):
    def test_reload_with_a_broken_dropin_keeps_the_old_config(self):
        config = IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000")
        d = self.start(config)
        d.wait_for(r" check: ", timeout=10)
        # Valid lines in a broken drop-in must not be half-applied either.
        d.write_dropin("50-broken.conf", "[Check]\nIntervalSec=30s\nIdleChecks=zero\n")
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("50-broken.conf:3", r.stderr + r.stdout)
        d.wait_for(r"error: reload failed: keeping the configuration in force")
        d.signal(signal.SIGHUP)  # same outcome
        d.wait_for(r"reload failed", count=2)
        self.assert_keeps_checking(d)  # still every second, not every 30
        self.assertEqual(d.call("io.trnidle.Status")["parameters"]["action"], "poweroff")
        d.write_dropin("50-broken.conf", "[Action]\nAction=none\n")
        self.assertEqual(d.ctl("reload").returncode, 0)
        self.assertEqual(d.call("io.trnidle.Status")["parameters"]["action"], "none")


class ConfigFileFaultTest(Fixture):
    """Root's mistakes with configuration files: each is named, none freezes the daemon or
    silently turns a safeguard off."""
    CONFIG = IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000").replace(
        "Action=poweroff", "Action=none")

    def action(self, d):
        return d.call("io.trnidle.Status")["parameters"]["action"]

    def test_empty_value_is_refused_at_file_and_line(self):
        # An empty SysfsRoot= passed --check-config and crashed the daemon at every start.
        for key, line in (("SysfsRoot", 12), ("DevicePattern", 12)):
            with self.subTest(key=key):
                d = Daemon(IDLE_CONFIG + f"[Neuron]\n{key}=\n", args=["--dev-dir", self.devdir])
                self.daemons.append(d)
                expected = f"trnidled.conf:{line}: [Neuron] {key}=: must not be empty"
                r = subprocess.run([reliability.TRNIDLED, "--check-config", "--config",
                                    d.config], capture_output=True, text=True)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(expected, r.stderr)
                self.assertEqual(d.proc.wait(20), 2)
                self.assertIn(expected, d.log())

    def test_main_file_renamed_away_keeps_the_configuration(self):
        d = self.start(self.CONFIG)
        d.wait_for(r" check: ", timeout=10)
        self.assertEqual(self.action(d), "none")
        os.rename(d.config, d.config + ".old")
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{d.config}: No such file or directory; it was there", r.stderr + r.stdout)
        d.wait_for(r"error: reload failed: keeping the configuration in force")
        d.signal(signal.SIGHUP)  # the same outcome
        d.wait_for(r"reload failed", count=2)
        self.assertEqual(self.action(d), "none")  # not the built-in poweroff
        self.assert_keeps_checking(d)
        os.rename(d.config + ".old", d.config)
        self.assertEqual(d.ctl("reload").returncode, 0)

    def test_fifo_dropin_does_not_block_the_reload(self):
        d = self.start(self.CONFIG)
        d.wait_for(r" check: ", timeout=10)
        os.mkfifo(os.path.join(d.dropin_dir, "20-fifo.conf"))
        d.write_dropin("30-good.conf", "[Check]\nIdleChecks=999\n")
        started = time.monotonic()
        r = d.ctl("reload", timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(time.monotonic() - started, 2)
        d.wait_for(r"warning: .*/20-fifo.conf: not a regular file \(a FIFO\), skipping it")
        self.assertIn("after 999 idle check", d.call("io.trnidle.Status")["parameters"]["text"])
        self.assert_keeps_checking(d)

    def test_dropin_linked_to_dev_zero_or_dev_null(self):
        d = self.start(self.CONFIG)
        d.wait_for(r" check: ", timeout=10)
        rss = d.rss_kib()
        os.symlink("/dev/zero", os.path.join(d.dropin_dir, "20-zero.conf"))
        # Linked to /dev/null, a drop-in is masked (as with systemd): no word about it.
        d.write_dropin("30-masked.conf", "[Action]\nAction=poweroff\n")
        os.unlink(os.path.join(d.dropin_dir, "30-masked.conf"))
        os.symlink("/dev/null", os.path.join(d.dropin_dir, "30-masked.conf"))
        r = d.ctl("reload", timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.wait_for(r"warning: .*/20-zero.conf: not a regular file \(a character device\), "
                   r"skipping it")
        self.assertNotIn("30-masked.conf", d.log())
        self.assertEqual(self.action(d), "none")
        self.assertLess(d.rss_kib() - rss, 4096)
        self.assert_keeps_checking(d)
        started = time.monotonic()
        self.assertEqual(d.stop(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 5)


class ScheduleAndLockTest(Fixture):
    def test_reloads_keep_the_schedule(self):
        # A reload every second, alternating IntervalSec=2s and 3s: the next check stays
        # due at the last check + the new interval (re-arming from the reload put it off
        # for ever: no check in 12 s).
        d = self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000")
                       .replace("IntervalSec=1s", "IntervalSec=2s"))
        d.wait_for(r" check: ", timeout=10)
        n = len(d.check_times())
        end = time.monotonic() + 12
        interval = 3
        while time.monotonic() < end:
            d.write_dropin("50-interval.conf", f"[Check]\nIntervalSec={interval}s\n")
            self.assertEqual(d.ctl("reload").returncode, 0)
            interval = 5 - interval
            time.sleep(1)
        times = d.check_times()[n - 1:]
        self.assertGreaterEqual(len(times) - 1, 3, d.log()[-2000:])
        self.assertLessEqual(reliability.max_gap(times + [time.time()]), 3.5)

    def test_second_daemon_on_the_same_runtime_dir_refused_without_lock_file(self):
        first = self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000"))
        first.wait_for(r" check: ", timeout=10)
        for name in os.listdir(first.runtime):
            if name.endswith(".lock"):
                os.unlink(os.path.join(first.runtime, name))
        second = Daemon(IDLE_CONFIG, runtime_dir=first.runtime, wrapper=PIDNS,
                        args=["--dev-dir", self.devdir])
        self.daemons.append(second)
        self.assertNotEqual(second.proc.wait(20), 0)
        self.assertIn(f"another trnidled is already running with runtime directory "
                      f"{first.runtime}", second.log())
        self.assert_keeps_checking(first)
        self.assertIn("after 1000 idle check",
                      first.call("io.trnidle.Status")["parameters"]["text"])


    def test_no_user_may_lock_the_runtime_dir(self):
        # flock() needs only an open descriptor: a user who could open the directory could
        # keep the daemon from starting. Created 0711, it can be reached but not opened.
        os.chmod(self.tmp.name, 0o755)
        runtime = os.path.join(self.tmp.name, "run-new")
        d = self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000"),
                       runtime_dir=runtime)
        self.assertEqual(os.stat(runtime).st_mode & 0o7777, 0o711)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "flock", "-n", runtime, "true"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)
        self.assertNotIn("readable by other users", d.log())
        # A user may still reach the socket.
        r = d.ctl("status", user=65534)
        self.assertEqual(r.returncode, 0, r.stderr)
        # One made readable by others is named.
        readable = os.path.join(self.tmp.name, "run-readable")
        os.makedirs(readable, mode=0o755)
        os.chmod(readable, 0o755)
        d2 = self.start(IDLE_CONFIG, runtime_dir=readable)
        d2.wait_for(r"warning: runtime directory .*run-readable is readable by other users "
                    r"\(mode 0755\)")


class ClockJumpTest(Fixture):
    def setUp(self):
        super().setUp()
        self.offset = os.path.join(self.tmp.name, "offset")
        self.set_offset(0)
        shim = os.path.join(self.tmp.name, "clockshim.so")
        src = shim + ".c"
        with open(src, "w") as f:
            f.write(CLOCK_SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", shim, src, "-ldl"], check=True)
        self.env = {"TRNIDLE_CLOCK_OFFSET_FILE": self.offset}
        # An ASan build must load its runtime first; the shim then goes after it.
        asan = subprocess.run(["sh", "-c", f"ldd {reliability.TRNIDLED} | grep -o '/[^ ]*libasan[^ ]*'"],
                              capture_output=True, text=True).stdout.strip()
        # Only the daemon gets the shim (through env), not the namespace tools.
        self.preload = " ".join(p for p in (asan, shim) if p)

    def start(self, config=IDLE_CONFIG, env=None, **kw):
        return super().start(config, env=env,
                             wrapper=PIDNS + ["env", f"LD_PRELOAD={self.preload}"], **kw)

    def set_offset(self, seconds):
        with open(self.offset + ".tmp", "w") as f:
            f.write(str(seconds))
        os.rename(self.offset + ".tmp", self.offset)

    def jump(self, d, seconds):
        self.set_offset(seconds)
        n = len(d.checks())
        d.wait_for_check(timeout=10, count=n + 2)
        # The daemon really sees the jump: its log stamps moved.
        self.assertTrue(d.log().splitlines()[-1].startswith(
            time.strftime("%Y-%m-%d", time.gmtime(time.time() + seconds))))

    def test_wall_clock_jumps_do_not_move_the_streak_or_holds(self):
        config = IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000")
        d = self.start(config, env=self.env)
        d.wait_for_check(timeout=10, count=2, verdict="idle")
        for seconds in (-86400, 2 * 86400, -3600):
            self.jump(d, seconds)
        # The streak counted 1, 2, 3, ... through every jump: no reset, no leap.
        self.assertEqual(streaks(d), list(range(1, len(streaks(d)) + 1)))
        hold = d.call("io.trnidle.Hold", {"duration": "1h"})["parameters"]["hold"]
        for seconds in (7 * 86400, -7 * 86400):
            self.jump(d, seconds)
        held = [h for h in d.call("io.trnidle.Status")["parameters"]["holds"]
                if h["id"] == hold["id"]]
        self.assertEqual(len(held), 1, "a wall-clock jump ended a hold")
        self.assertLessEqual(held[0]["remaining_sec"], hold["remaining_sec"])
        self.assertGreater(held[0]["remaining_sec"], hold["remaining_sec"] - 60)
        self.assertEqual(d.checks()[-1].verdict, "held")

    def test_wall_clock_jump_does_not_end_the_boot_grace(self):
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        grace = int(uptime) + 3600
        config = IDLE_CONFIG.replace("BootGraceSec=0", f"BootGraceSec={grace}s")
        d = self.start(config, env=self.env)
        d.wait_for_check(timeout=10, verdict="grace")
        self.set_offset(30 * 86400)
        n = len(d.checks())
        d.wait_for_check(timeout=10, count=n + 2)
        self.assertEqual({r.verdict for r in d.checks()}, {"grace"})
        self.assertNotRegex(d.log(), r"action poweroff \(")


class ProcFaultTest(Fixture):
    USER = "trnidle-faults"

    def test_processes_exiting_during_scans_are_no_error(self):
        # Hundreds of processes a second start and exit in the daemon's PID namespace while
        # it scans /proc: one that is gone between readdir and read is simply not there.
        churn = PIDNS + ["sh", "-c", 'sh -c "while :; do /bin/true; done" & '
                                     'sh -c "while :; do /bin/true; done" & exec "$0" "$@"']
        d = self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000"), wrapper=churn)
        d.wait_for_check(timeout=10, count=6)
        self.assertNotIn("probe-error", d.log())
        self.assertNotRegex("\n".join(r.reasons for r in d.checks()), r"No such (file|process)")
        self.assertEqual(streaks(d), list(range(1, len(d.checks()) + 1)))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to create a second user")
    def test_unreadable_proc_entry_counts_as_activity(self):
        # A daemon without root cannot read /proc/PID/exe of root's processes. A root process
        # whose name makes the sessions probe look closer (an SSM session worker) is then a
        # probe error, which counts as activity, never as idle.
        uid = make_user(self, self.USER)
        worker = os.path.join(self.tmp.name, "ssm-session-worker")
        shutil.copy("/bin/sleep", worker)
        wrapper = PIDNS + ["sh", "-c", f'{worker} 600 & exec "$0" "$@"']
        d = self.start(IDLE_CONFIG.replace("IdleChecks=1", "IdleChecks=1000"),
                       wrapper=wrapper, user=uid)
        rec = d.wait_for_check(timeout=10)[0]
        self.assertEqual(rec.verdict, "active", rec)
        self.assertRegex(rec.reasons, r"probe-error .*/exe: Permission denied")
        self.assertEqual(d.checks(kind=None, verdict="idle"), [])


class AwsFaultTest(Fixture):
    """IMDS and EC2 misbehaving (aws_stub.py's IMDSv2 and EC2 stand-ins, loopback only): the
    reason is logged, checks stay on schedule, and the failure never makes the machine idle
    nor stops an idle streak from counting."""

    def setUp(self):
        super().setUp()
        self.stub = aws_stub.Stub()
        self.addCleanup(self.stub.close)
        self.raw = {}  # IMDS item -> body served instead of the stand-in's own
        raw, orig = self.raw, aws_stub.ImdsHandler.value
        self.patch(aws_stub.ImdsHandler, "value",
                   lambda h, item: raw[item] if item in raw else orig(h, item))
        self.env = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"}

    def patch(self, cls, name, fn):
        orig = getattr(cls, name)
        setattr(cls, name, fn)
        self.addCleanup(setattr, cls, name, orig)

    def config(self, action="poweroff", idle_checks=1000, ec2=None):
        return (IDLE_CONFIG.replace("IdleChecks=1", f"IdleChecks={idle_checks}")
                .replace("Action=poweroff", f"Action={action}") +
                f"[AWS]\nImdsEndpoint={self.stub.imds_url}\n"
                f"Ec2Endpoint={ec2 or self.stub.aws_url}\n"
                f"MonitoringEndpoint={self.stub.aws_url}\n")

    def assert_streak_unbroken(self, d):
        counted = streaks(d)
        self.assertEqual(counted, list(range(1, len(counted) + 1)), d.log()[-2000:])
        self.assertNotIn("spot-interruption", d.log())

    def test_garbage_spot_notices(self):
        self.stub.imds.spot_action = {"action": "stop", "time": "2030-01-01T00:00:00Z"}
        for body, why in (('{"action": "stop", "time": ', "not JSON|JSON"),
                          ("<html>502 Bad Gateway</html>", "JSON"),
                          ('{"action": "reboot", "time": "2030-01-01T00:00:00Z"}',
                           "unknown action"),
                          ('{"action": "stop", "time": "soon"}', "ISO 8601")):
            with self.subTest(body=body):
                self.raw["spot/instance-action"] = body
                d = self.start(self.config(), env=self.env)
                line = d.wait_for(r"warning: spot/instance-action: ", timeout=20)[0]
                self.assertRegex(line, why)
                self.assert_keeps_checking(d)
                self.assert_streak_unbroken(d)
                d.cleanup()
                self.daemons.remove(d)

    def test_imds_refuses_every_token(self):
        # 401 on every GET, as when the token is rejected: no identity, no notices, no keys.
        self.patch(aws_stub.ImdsHandler, "do_GET", lambda h: h.send(401, "Unauthorized"))
        d = self.start(self.config(action="stop-instance", idle_checks=3), env=self.env)
        d.wait_for(r"instance metadata at .*401", timeout=20)
        d.wait_for(r"action stop-instance failed", timeout=20)
        d.wait_for(r"falling back to an OS power-off", timeout=10)
        d.wait_for(r"action poweroff \(dry-run\)", timeout=10)
        self.assert_keeps_checking(d)

    def test_garbage_credentials_retry_then_fall_back(self):
        self.raw["iam/security-credentials/trnidled-role"] = '{"Code": "Success", "Acc'
        d = self.start(self.config(action="stop-instance", idle_checks=1), env=self.env)
        line = d.wait_for(r"stop-instance attempt 1 failed: no role credentials", timeout=20)[0]
        self.assertRegex(line, "JSON|json")
        d.wait_for(r"stop-instance attempt 2 failed", timeout=10)
        self.assert_keeps_checking(d)
        d.wait_for(r"giving up after \d+ attempt", timeout=60)
        d.wait_for(r"falling back to an OS power-off", timeout=10)
        d.wait_for(r"action poweroff \(dry-run\)", timeout=10)
        self.assertEqual(self.stub.aws.ec2_requests(), [])
        self.assert_keeps_checking(d)

    def test_ec2_tls_failure_falls_back(self):
        # https to a server that speaks plain HTTP: the TLS handshake fails.
        port = self.stub.aws_url.split(":")[2].rstrip("/")
        d = self.start(self.config(action="stop-instance", idle_checks=1,
                                   ec2=f"https://127.0.0.1:{port}/"), env=self.env)
        line = d.wait_for(r"stop-instance attempt 1 failed", timeout=30)[0]
        self.assertRegex(line, r"SSL|TLS|ssl|tls")
        d.wait_for(r"stop-instance attempt 2 failed", timeout=10)
        d.wait_for(r"error: action stop-instance failed.*giving up after", timeout=60)
        d.wait_for(r"falling back to an OS power-off", timeout=10)
        d.wait_for(r"action poweroff \(dry-run\)", timeout=10)
        self.assert_keeps_checking(d)


if __name__ == "__main__":
    unittest.main()
