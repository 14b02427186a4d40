"""Runs a real trnidled for the reliability tests (test_abuse, test_faults, the valgrind
suite): a private runtime directory and configuration, --foreground --dry-run, stderr in a
file whose timestamped lines the tests read."""
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from harness import check_records, log_lines

TRNIDLED = os.environ.get("TRNIDLED", "build/src/trnidled")
TRNIDLECTL = os.environ.get("TRNIDLECTL", "build/src/trnidlectl")

# "2026-01-01T12:00:00.123Z check: idle (idle 1/2)"
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (.*)$")

# A configuration that decides quickly: no grace, no warning, thresholds nobody reaches.
FAST_CONFIG = """[Check]
IntervalSec=1s
BootGraceSec=0
IdleChecks=2
[Action]
Action=none
WarnSec=0
"""


def line_time(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Daemon:
    def __init__(self, config=FAST_CONFIG, dropins=None, env=None, wrapper=None,
                 runtime_dir=None, args=(), dry_run=True, user=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="trnidled-rel.")
        self.dir = self.tmp.name
        self.config = os.path.join(self.dir, "trnidled.conf")
        self.dropin_dir = self.config + ".d"
        os.makedirs(self.dropin_dir)
        self.runtime = runtime_dir or os.path.join(self.dir, "run")
        self.socket = os.path.join(self.runtime, "io.trnidle.sock")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.write_config(config)
        for name, text in (dropins or {}).items():
            self.write_dropin(name, text)
        as_user = []
        if user is not None:
            # An unprivileged daemon: it reads the configuration and owns its runtime dir.
            os.chmod(self.dir, 0o755)
            os.makedirs(self.runtime, exist_ok=True)
            os.chown(self.runtime, user, user)
            as_user = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        cmd = list(wrapper or []) + as_user + [TRNIDLED, "--foreground", "--config", self.config,
                                     "--runtime-dir", self.runtime,
                                     # not this machine's cloud-init or apt (harness.py)
                                     "--cloud-init-dir", "/nonexistent/trnidled-test/cloud-init",
                                     "--package-root", "/nonexistent/trnidled-test/root"
                                     ] + list(args)
        if dry_run:
            cmd.append("--dry-run")
        full_env = dict(os.environ)
        # ASan keeps freed memory in a 256 MiB quarantine, which would hide a bounded RSS
        # under the sanitizer build; a small one keeps the RSS tests meaningful there too (a
        # build without ASan ignores the variable).
        asan = full_env.get("ASAN_OPTIONS")
        full_env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=8"
        full_env.update(env or {})
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, env=full_env,
                                     start_new_session=True)

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def write_dropin(self, name, text):
        with open(os.path.join(self.dropin_dir, name), "w") as f:
            f.write(text)

    def remove_dropin(self, name):
        os.unlink(os.path.join(self.dropin_dir, name))

    def log(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def checks(self, kind="check", **want):
        """The records of kind (None: every kind, re-checks too) whose fields match want
        (harness.CheckRecord)."""
        recs = check_records(msg for _, msg in log_lines(self.log()))
        return [r for r in recs if kind in (None, r.kind) and r.matches(**want)]

    def _wait(self, what, found, timeout, count):
        """Polls found() until it returns count items or more; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = found()
            if len(got) >= count:
                return got
            if self.proc.poll() is not None:
                raise AssertionError(f"trnidled exited ({self.proc.returncode}) waiting for "
                                     f"{what}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def wait_for_check(self, timeout=20.0, count=1, **want):
        """Waits until count check records match want; returns them all."""
        return self._wait(f"a check record with {want}", lambda: self.checks(**want), timeout,
                          count)

    def wait_for(self, pattern, timeout=20.0, count=1):
        """Waits until pattern (a regex) matched count lines of stderr; returns the matches."""
        rx = re.compile(pattern)
        return self._wait(repr(pattern),
                          lambda: [l for l in self.log().splitlines() if rx.search(l)],
                          timeout, count)

    def wait_ready(self, timeout=20.0):
        self.wait_for(r" started", timeout)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if time.monotonic() > deadline:
                raise AssertionError("no control socket")
            time.sleep(0.05)
        return self

    def check_times(self, kind="check"):
        """Wall-clock times (from the log stamps) of the scheduled checks so far."""
        times = []
        for l in self.log().splitlines():
            m = LINE.match(l)
            if m and m.group(2).startswith(kind + ": "):
                times.append(line_time(m.group(1)))
        return times

    def pid(self):
        """The daemon's own PID, below a forking wrapper (unshare --fork)."""
        exe = os.path.realpath(TRNIDLED)
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop(0)
            try:
                if os.path.realpath(f"/proc/{pid}/exe") == exe:
                    return pid
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except OSError:
                continue
        # Under valgrind the daemon's exe is the tool; valgrind does not fork.
        return self.proc.pid

    def signal(self, sig):
        os.kill(self.pid(), sig)

    def rss_kib(self):
        with open(f"/proc/{self.pid()}/status") as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
        raise AssertionError("no VmRSS")

    def call(self, method, parameters=None, timeout=10.0):
        return varlink_call(self.socket, method, parameters, timeout)

    def ctl(self, *args, user=None, timeout=30):
        cmd = [TRNIDLECTL, "--socket", self.socket] + list(args)
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            # The whole group: a wrapper (unshare --fork) does not pass SIGTERM on.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        self.tmp.cleanup()


def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def recv_message(s):
    """One NUL-terminated message as a dict; None when the daemon closed the connection."""
    buf = b""
    while True:
        chunk = s.recv(1)
        if not chunk:
            return None
        if chunk == b"\0":
            return json.loads(buf)
        buf += chunk


def varlink_call(path, method, parameters=None, timeout=10.0):
    s = connect(path, timeout)
    try:
        msg = {"method": method}
        if parameters is not None:
            msg["parameters"] = parameters
        s.sendall(json.dumps(msg).encode() + b"\0")
        return recv_message(s)
    finally:
        s.close()


def max_gap(times):
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)
