"""Runs a real trnidled (--foreground --dry-run) in a temporary runtime directory and drives it
with the real trnidlectl. Every wait polls with a deadline; nothing sleeps for a fixed time."""
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

TRNIDLED = os.environ.get("TRNIDLED", "")
TRNIDLECTL = os.environ.get("TRNIDLECTL", "")
DEADLINE = 15.0  # seconds any single expected event may take on a loaded machine

# Idle on any machine: thresholds at 100 % cannot be exceeded.
IDLE_CONFIG = {
    "Check": {"IntervalSec": "1s", "BootGraceSec": "0", "IdleChecks": "1000"},
    "Action": {"WarnSec": "0"},
    "Thresholds": {"CpuPercent": "100", "MemoryPercent": "100"},
    # Even on an EC2 host, never ask the real instance metadata: a closed loopback port.
    "AWS": {"ImdsEndpoint": "http://127.0.0.1:1"},
}

# Each daemon runs in its own PID namespace with its own /proc, so that the session and process
# probes see none of the processes that other tests (or people) run on this machine.
NAMESPACE = ["unshare", "--pid", "--fork", "--mount-proc"]
# This machine's own cloud-init or apt (a CI machine still set up by cloud-init, an unattended
# upgrade) must not make the tests' machine "active": each daemon looks where nothing is unless
# a test puts it there.
NOT_THIS_MACHINE = ["--cloud-init-dir", "/nonexistent/trnidled-test/cloud-init",
                    "--package-root", "/nonexistent/trnidled-test/root"]

# A dbus-daemon of a test's own standing in for the system bus (DBUS_SYSTEM_BUS_ADDRESS), where
# a fake logind may take its name: anyone may own and send anything.
BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (.*)$")

# The one place that knows how a check record reads: "check: idle (idle 1/2), action due" or
# "recheck: active (idle 0/2): terminal pts/0 of root ...; cpu ...". Tests assert on its fields
# (CheckRecord), so that a new wording changes this, and the few tests kept on purpose for the
# wording, nothing else. A record that no longer parses fails the test (CheckRecord.parse), so
# that an assertion that something is absent cannot pass because the wording moved.
CHECK_KINDS = ("check", "recheck", "check-now")
CHECK_RE = re.compile(r"^(?P<kind>[a-z-]+): (?P<verdict>[a-z-]+) \(idle (?P<idle>\d+)/"
                      r"(?P<needed>\d+)\)(?P<due>, action due)?(?:: (?P<reasons>.*))?$")


class CheckRecord:
    """One check record's fields: kind, verdict, idle (the streak), needed, due (action due),
    reasons (the text after the colon) and signals (each reason's signal, the deciding one
    first)."""

    def __init__(self, kind, verdict, idle, needed, due, reasons):
        self.kind, self.verdict, self.idle, self.needed = kind, verdict, idle, needed
        self.due, self.reasons = due, reasons
        self.signals = [part.split(" ", 1)[0] for part in reasons.split("; ")
                        if part and not part.startswith("and ")]  # "; and 2 more"
        self.signal = self.signals[0] if self.signals else None

    @classmethod
    def parse(cls, msg):
        """The record in message msg; None when msg is no check record."""
        kind = msg.split(": ", 1)[0]
        if kind not in CHECK_KINDS:
            return None
        m = CHECK_RE.match(msg)
        if not m:
            raise AssertionError(f"a {kind} record the harness cannot read: {msg!r} "
                                 "(update CHECK_RE in harness.py)")
        return cls(m["kind"], m["verdict"], int(m["idle"]), int(m["needed"]), bool(m["due"]),
                   m["reasons"] or "")

    def matches(self, **want):
        """Whether every field in want has that value (a tuple or set: one of them); has=TEXT:
        the reasons contain TEXT (which hold, which terminal: the record's content)."""
        for field, value in want.items():
            if field == "has":
                if value not in self.reasons:
                    return False
                continue
            got = getattr(self, field)
            if got not in value if isinstance(value, (tuple, set, frozenset)) else got != value:
                return False
        return True

    def __repr__(self):
        return (f"CheckRecord({self.kind} {self.verdict} idle {self.idle}/{self.needed}"
                f"{' due' if self.due else ''} signals={self.signals})")


def config_text(overrides=None):
    sections = {k: dict(v) for k, v in IDLE_CONFIG.items()}
    for section, keys in (overrides or {}).items():
        sections.setdefault(section, {}).update(keys)
    out = []
    for section, keys in sections.items():
        out.append(f"[{section}]")
        out.extend(f"{k}={v}" for k, v in keys.items())
    return "\n".join(out) + "\n"


def wait_until(what, fn, timeout=DEADLINE, interval=0.05):
    """Polls fn until it returns something true; fails the test with what otherwise."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def kill_tree(p):
    """Kills the process p and every descendant: nsenter forks into the namespace, so its
    children (script, the shell, sleep) must go too."""
    def descendants(pid):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except FileNotFoundError:
            return []
        return children + [g for c in children for g in descendants(c)]
    for pid in [p.pid] + descendants(p.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()


def boottime_usec():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1e6)


def log_lines(text):
    """(datetime, message) for each complete line of a daemon's log text, in order."""
    out = []
    for raw in text.split("\n")[:-1]:
        m = LINE_RE.match(raw)
        if m:
            when = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            out.append((when, m.group(2)))
        else:
            out.append((None, raw))
    return out


def check_records(msgs):
    """The check records of every kind among messages msgs, in order."""
    return [r for r in map(CheckRecord.parse, msgs) if r]


class Daemon:
    """One trnidled process; its stderr goes to a file that the test reads as it grows."""

    def __init__(self, tmp, runtime_dir=None, config=None, extra_args=(), name="trnidled"):
        self.tmp = tmp
        self.runtime_dir = runtime_dir or os.path.join(tmp, "run")
        self.config_path = os.path.join(tmp, "x.conf")
        if config is not None:
            self.write_config(config)
        self.socket = os.path.join(self.runtime_dir, "io.trnidle.sock")
        self.log_path = os.path.join(tmp, f"{name}.{time.monotonic_ns()}.log")
        self.extra_args = list(extra_args)
        self.proc = None

    def write_config(self, text):
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.config_path)

    def argv(self):
        return [TRNIDLED, "--foreground", "--dry-run", "--runtime-dir", self.runtime_dir,
                "--config", self.config_path] + \
            self.not_this_machine() + self.extra_args

    def not_this_machine(self):
        """NOT_THIS_MACHINE without the options the test gives itself."""
        out = []
        for opt, value in zip(NOT_THIS_MACHINE[::2], NOT_THIS_MACHINE[1::2]):
            if opt not in self.extra_args:
                out += [opt, value]
        return out

    def start(self, wait_ready=True):
        self.log = open(self.log_path, "wb")
        # unshare waits for the daemon and exits with its status; signals go to the daemon.
        self.proc = subprocess.Popen(NAMESPACE + self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        pid = wait_until("the daemon's process in its namespace", self._child_pid)
        self.pid = pid if isinstance(pid, int) and pid > 1 else None
        if wait_ready:
            wait_until("the daemon's start-up record", lambda: self.find(r" started") or
                       self.exited())
            if self.exited():
                raise AssertionError(f"trnidled exited with {self.proc.returncode}:\n"
                                     + self.text())
        return self

    def _child_pid(self):
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                children = f.read().split()
        except FileNotFoundError:
            children = []
        if children:
            return int(children[0])
        if self.proc.poll() is not None:
            return "exited"  # the daemon already ran and ended (e.g. refused to start)
        return None

    def exited(self):
        return self.proc.poll() is not None

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def lines(self):
        """(datetime, message) for each complete stderr line, in order."""
        return log_lines(self.text())

    def find(self, pattern, start=0):
        """Messages (from line index start on) that match pattern."""
        rx = re.compile(pattern)
        return [msg for _, msg in self.lines()[start:] if rx.search(msg)]

    def checks(self, start=0, kind="check", **want):
        """The check records (from line index start on) of kind (None: every kind) whose
        fields match want."""
        recs = check_records(msg for _, msg in self.lines()[start:])
        return [r for r in recs if kind in (None, r.kind) and r.matches(**want)]

    def wait_for_check(self, start=0, count=1, timeout=DEADLINE, kind="check", **want):
        """Waits for count check records of kind whose fields match want (verdict="idle",
        idle=2, needed=3, due=True, signal="terminal", ...); returns them."""
        def found():
            if self.exited():
                raise AssertionError(f"trnidled exited ({self.proc.returncode}) while "
                                     f"waiting for a {kind} record with {want}:\n{self.text()}")
            got = self.checks(start, kind, **want)
            return got if len(got) >= count else None
        try:
            return wait_until(f"{count} {kind} record(s) with {want}", found, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- trnidled stderr ---\n{self.text()}") from None

    def mark(self):
        """An index into lines(): what happens after this call."""
        return len(self.lines())

    def wait_for(self, pattern, start=0, count=1, timeout=DEADLINE):
        def found():
            if self.exited():
                raise AssertionError(f"trnidled exited ({self.proc.returncode}) while "
                                     f"waiting for {pattern!r}:\n{self.text()}")
            got = self.find(pattern, start)
            return got if len(got) >= count else None
        try:
            return wait_until(f"{count} record(s) matching {pattern!r}", found, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- trnidled stderr ---\n{self.text()}") from None

    def ctl(self, *args, user=None, check=None):
        argv = [TRNIDLECTL, "--socket", self.socket, *args]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + argv
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, NO_COLOR="1"))
        if check is not None and r.returncode != check:
            raise AssertionError(f"trnidlectl {' '.join(args)}: exit {r.returncode}, expected "
                                 f"{check}\nstdout: {r.stdout}\nstderr: {r.stderr}\n"
                                 f"--- trnidled stderr ---\n{self.text()}")
        return r

    def status_text(self):
        return self.ctl("status", check=0).stdout

    def _kill(self, sig):
        # Never a guessed pid: only the daemon we saw start, and only while it runs.
        if self.pid is not None and not self.exited():
            os.kill(self.pid, sig)

    def signal(self, sig):
        self._kill(sig)

    def kill9(self):
        self._kill(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self):
        """SIGTERM and wait; the exit status must be 0 (under ASan a leak makes it non-zero)."""
        if self.proc is None or self.exited():
            rc = self.proc.returncode if self.proc else 0
        else:
            self._kill(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._kill(signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("trnidled did not exit within 60 s of SIGTERM:\n"
                                     + self.text())
        self.log.close()
        return rc


class DaemonTestCase(unittest.TestCase):
    """Gives each test a temporary directory and stops (and checks) its daemons at the end."""

    def setUp(self):
        if not TRNIDLED or not TRNIDLECTL:
            self.fail("TRNIDLED and TRNIDLECTL must name the binaries under test")
        self.tmp = tempfile.mkdtemp(prefix="trnidled-it-")
        # Traversable, so that trnidlectl run as nobody reaches the socket.
        os.chmod(self.tmp, 0o755)
        self.daemons = []

    def tearDown(self):
        failures = []
        for d in self.daemons:
            if d.proc is None:
                continue
            was_running = not d.exited()
            rc = d.stop()
            if was_running and rc != 0:
                failures.append(f"trnidled exited with {rc} at SIGTERM:\n{d.text()}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        if failures:
            self.fail("\n".join(failures))

    def daemon(self, overrides=None, start=True, **kw):
        d = Daemon(self.tmp, config=config_text(overrides), **kw)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def check_gaps(self, d, interval, slack=1.0):
        """Every gap between consecutive scheduled checks is at most interval + slack."""
        times = [t for t, msg in d.lines() if msg.startswith("check:")]
        self.assertGreaterEqual(len(times), 2, d.text())
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        self.assertLessEqual(max(gaps), interval + slack,
                             f"check gaps {gaps}\n{d.text()}")
        return gaps


def varlink_call(path, method, parameters=None, timeout=30):
    """One raw Varlink call on a fresh connection; returns the reply object."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        msg = {"method": method}
        if parameters is not None:
            msg["parameters"] = parameters
        s.sendall(json.dumps(msg).encode() + b"\0")
        return json.loads(recv_message(s))


def recv_message(s, buf=None):
    """Reads up to the next NUL; buf (a bytearray) keeps what follows for the next call."""
    if buf is None:
        buf = bytearray()
    while b"\0" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a complete reply")
        buf += chunk
    i = buf.index(b"\0")
    msg = bytes(buf[:i])
    del buf[:i + 1]
    return msg.decode()


SYS_PYTHON = "/usr/bin/python3"  # python3-dbus and python3-gi are Debian packages

# A fake logind for a private bus (BUS_CONF): argv ADDRESS MODE. MODE: "block" (an idle lock),
# "delay", "error", "file:PATH" (the lock while PATH exists), with an optional prefix
# "slow=S,", "slowlocked=S,", "slowfirst=S," or "sloweven=S," (answers S seconds late: always,
# while locked, the first call, every second call).
FAKE_LOGIND = r'''
import os
import sys
import time
import dbus, dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
address, mode = sys.argv[1], sys.argv[2]
delay, delay_locked = 0.0, False
if mode.startswith("slow="):  # slow=SECONDS,MODE: a logind under load
    delay, mode = mode[5:].split(",", 1)
    delay = float(delay)
elif mode.startswith("slowlocked="):  # ... only while the lock is taken
    delay, mode = mode[11:].split(",", 1)
    delay, delay_locked = float(delay), True
calls = 0
delay_first = mode.startswith("slowfirst=")  # only the first call: logind busy at boot
if delay_first:
    delay, mode = mode[10:].split(",", 1)
    delay = float(delay)
delay_even = mode.startswith("sloweven=")  # every second call: a logind with hiccups
if delay_even:
    delay, mode = mode[9:].split(",", 1)
    delay = float(delay)
bus = dbus.bus.BusConnection(address)

class Manager(dbus.service.Object):
    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="",
                         out_signature="a(ssssuu)")
    def ListInhibitors(self):
        if mode == "error":
            time.sleep(delay)
            raise dbus.exceptions.DBusException("logind is unwell",
                                                name="org.freedesktop.DBus.Error.Failed")
        locks = [("handle-power-key", "UPower", "lid", "block", 0, 1)]
        if mode == "block" or (mode.startswith("file:") and os.path.exists(mode[5:])):
            locks.append(("idle:sleep", "alice", "training run", "block", 1000, 4242))
        else:
            locks.append(("shutdown:sleep", "NetworkManager", "sync", "delay", 0, 77))
        global calls
        calls += 1
        if delay_first and calls > 1 or delay_even and calls % 2:
            pass
        elif not delay_locked or len(locks) == 2 and locks[1][3] == "block":
            time.sleep(delay)  # the locks as they were when asked, the answer late
        return dbus.Array(locks, signature="(ssssuu)")

name = dbus.service.BusName("org.freedesktop.login1", bus)
Manager(bus, "/org/freedesktop/login1")
print("ready", flush=True)
GLib.MainLoop().run()
'''



def have_fake_logind_parts():
    if not shutil.which("dbus-daemon") or not os.path.exists(SYS_PYTHON):
        return False
    return subprocess.run([SYS_PYTHON, "-c", "import dbus, gi"],
                          capture_output=True).returncode == 0


def start_private_bus(tmp, procs):
    """A dbus-daemon standing in for the system bus (BUS_CONF), appended to procs (to be
    ended by the caller); its address."""
    sock = os.path.join(tmp, "bus")
    conf = os.path.join(tmp, "bus.conf")
    with open(conf, "w") as f:
        f.write(BUS_CONF.format(socket=sock))
    bus = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address",
                            f"--config-file={conf}"], stdout=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    procs.append(bus)
    bus.stdout.readline()
    return f"unix:path={sock}"


def start_fake_logind(tmp, procs, address, mode):
    """FAKE_LOGIND in mode on the bus at address, appended to procs; returns once it is on
    the bus."""
    script = os.path.join(tmp, "fake-logind.py")
    with open(script, "w") as f:
        f.write(FAKE_LOGIND)
    logind = subprocess.Popen([SYS_PYTHON, script, address, mode], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True)
    procs.append(logind)
    if logind.stdout.readline().strip() != "ready":
        raise RuntimeError("the fake logind did not start")
