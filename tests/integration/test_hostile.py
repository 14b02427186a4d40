"""The control plane against a hostile local user (issue #13): real clients as `nobody` (and
other unprivileged uids, through setpriv) and as root, against the real daemon (IntervalSec=1s,
dry-run). Each test also checks that the scheduled checks stay on time: a check comes at most
0.1 s after its time (the timer's slack, CHECK_ACCURACY_USEC, is 5 ms).
"""
import json
import os
import re
import resource
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import reliability
from reliability import Daemon, connect, recv_message

NOBODY = 65534
INTERVAL = 1.0
LATE_MAX = 0.005 + 0.1           # CHECK_ACCURACY_USEC + the 100 ms the issue allows
CLIENTS_MAX = 64                 # VARLINK_CLIENTS_MAX
CLIENTS_PER_UID = 8              # VARLINK_CLIENTS_PER_UID
MESSAGE_DEADLINE = 5.0           # VARLINK_MESSAGE_DEADLINE_USEC
CALLS_PER_SEC, CALLS_BURST = 50, 100    # VARLINK_CALLS_PER_SEC, VARLINK_CALLS_BURST
RECORDS_BURST, RECORDS_RATE = 10, 2     # RECORDS_PER_UID_BURST, RECORDS_PER_UID_RATE
HOSTILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile_client.py")
TRNIDLED_AWS = os.environ.get("TRNIDLED_AWS", "build/src/trnidled-aws")

CONFIG = reliability.FAST_CONFIG.replace("IdleChecks=2", "IdleChecks=1000")


def as_user(uid, argv, groups=None):
    g = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}"] + g + argv


def hostile(uid, *args):
    """Starts hostile_client.py as uid; .communicate() gives its JSON."""
    return subprocess.Popen(as_user(uid, [sys.executable, HOSTILE, *map(str, args)]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p, timeout=120):
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"hostile client failed: {err}")
    return json.loads(out.splitlines()[-1])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HostileTest(unittest.TestCase):
    config = CONFIG

    def setUp(self):
        self.d = Daemon(config=self.config).wait_ready()
        # Others reach the socket through the private directories.
        for p in (self.d.dir, self.d.runtime):
            os.chmod(p, 0o755)
        self.d.wait_for(r" check: ", timeout=10)
        self.t0 = time.time()

    def tearDown(self):
        self.d.cleanup()

    def assert_on_schedule(self):
        n = len(self.d.check_times())
        self.d.wait_for(r" check: ", timeout=10, count=n + 2)
        times = [t for t in self.d.check_times() if t >= self.t0 - INTERVAL]
        late = reliability.max_gap(times) - INTERVAL
        load = os.getloadavg()[0]
        print(f"  {len(times)} checks, latest {late:.2f}s after its interval (load {load:.1f})",
              flush=True)
        # On a machine with more runnable processes than CPUs the scheduler alone delays a
        # process by hundreds of milliseconds: then only a loose bound (as in test_abuse).
        overloaded = load > os.cpu_count()
        self.assertLessEqual(late, 1.0 if overloaded else LATE_MAX,
                             f"a check came {late:.2f}s late")

    def ctl(self, *args, user=None, groups=None):
        argv = [reliability.TRNIDLECTL, "--socket", self.d.socket, *args]
        if user is not None:
            argv = as_user(user, argv, groups)
        return subprocess.run(argv, capture_output=True, timeout=60,
                              env=dict(os.environ, NO_COLOR="1"))

    def log_lines(self, pattern):
        return [l for l in self.d.log().splitlines() if re.search(pattern, l)]


class ConnectionsTest(HostileTest):
    def test_slowloris_does_not_lock_root_out(self):
        # 64 connections as nobody, each sending one byte a second.
        p = hostile(NOBODY, "slowloris", self.d.socket, CLIENTS_MAX, MESSAGE_DEADLINE + 4)
        time.sleep(1.5)
        for _ in range(3):
            r = self.ctl("hold", "1h")
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(1)
        out = result(p)
        print(f"  slowloris: {out}", flush=True)
        self.assertLessEqual(out["kept"], CLIENTS_PER_UID, "one uid holds a small share")
        self.assertEqual(out["still_open"], 0, "a trickled message is dropped at its deadline")
        self.assertLessEqual(max(out["closed_after"]), MESSAGE_DEADLINE + 1.5)
        self.assert_on_schedule()

    def test_one_uid_gets_a_small_share_and_root_always_a_connection(self):
        # Eight users with eight idle connections each fill every slot.
        users = [hostile(NOBODY - i, "idle", self.d.socket, 20, 8) for i in range(8)]
        for p in users:
            self.assertEqual(p.stdout.readline(), "ready\n")
        r = self.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        outs = [result(p) for p in users]
        print(f"  idle: {outs}", flush=True)
        for out in outs:
            self.assertLessEqual(out["kept"], CLIENTS_PER_UID)
        self.assertEqual(sum(o["kept"] for o in outs), CLIENTS_MAX)
        # Root's connection took the slot of one of them.
        self.assertGreaterEqual(sum(len(o["dropped_after"]) for o in outs), 1)
        self.assert_on_schedule()

    def test_accept_on_emfile_backs_off(self):
        self.d.cleanup()
        self.d = Daemon(config=CONFIG, wrapper=["prlimit", "--nofile=48:48"]).wait_ready()
        self.d.wait_for(r" check: ", timeout=10)
        self.t0 = time.time()
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(limit[0], 1024), max(limit[1], 1024)))
        socks = [connect(self.d.socket, timeout=10) for _ in range(60)]
        try:
            time.sleep(1)  # its file descriptors run out
            pid = self.d.pid()
            before, t = cpu_seconds(pid), time.monotonic()
            time.sleep(3)
            busy = (cpu_seconds(pid) - before) / (time.monotonic() - t)
            print(f"  CPU while out of file descriptors: {busy * 100:.0f}%", flush=True)
            self.assertLess(busy, 0.1)  # a spinning accept() loop takes a whole CPU
            self.d.wait_for(r"cannot accept connections: Too many open files", timeout=5)
            self.assertEqual(len(self.log_lines("cannot accept connections")), 1, "said once")
        finally:
            for s in socks:
                s.close()
        self.d.wait_for(r"accepting connections again", timeout=10)
        self.assertNotIn("error", self.d.call("io.trnidle.Status"))
        self.assert_on_schedule()

    def test_deleted_socket_file_is_created_again(self):
        os.unlink(self.d.socket)
        reliability_wait(lambda: os.path.exists(self.d.socket), timeout=6)
        r = self.ctl("status", user=NOBODY)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.d.wait_for(r"control socket .* was deleted or replaced; listening on a new one")
        self.assertEqual(stat.S_IMODE(os.stat(self.d.socket).st_mode), 0o666)
        self.assert_on_schedule()


class CheckNowFloodTest(HostileTest):
    def test_checknow_flood_is_bounded(self):
        seconds = 10
        mark = len(self.log_lines(r" check-now: "))
        p = hostile(NOBODY, "checknow", self.d.socket, 6, seconds)
        out = result(p)
        print(f"  flood: {out['answered']} answers, errors {out['errors']}", flush=True)
        self.assertEqual(out["errors"], [])
        # The calls of one uid: its burst, then its rate (and a little slack for timing).
        self.assertLessEqual(out["answered"], CALLS_BURST + CALLS_PER_SEC * (seconds + 2))
        self.assertGreater(out["answered"], CALLS_PER_SEC * seconds / 2)
        lines = len(self.log_lines(r" check-now: ")) - mark
        print(f"  {lines} check-now records", flush=True)
        self.assertLessEqual(lines, RECORDS_BURST + RECORDS_RATE * (seconds + 2))
        self.assertTrue(self.log_lines(r"uid 65534: \d+ record\(s\) of its requests not written"))
        # Root is not slowed down by it.
        r = self.ctl("check-now")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_on_schedule()


class HoldTableTest(HostileTest):
    def test_one_user_cannot_fill_the_hold_table(self):
        out = result(hostile(NOBODY, "holds", self.d.socket, 20, "1d"))["results"]
        made = [x for x in out if isinstance(x, int)]
        self.assertEqual(len(made), 8, out)  # HoldsPerUser=8
        self.assertEqual(set(x for x in out if not isinstance(x, int)),
                         {"io.trnidle.TooManyHolds"})
        time.sleep(1)  # its budget of records (RECORDS_PER_UID_RATE) refills
        r = self.ctl("hold", "1d", user=NOBODY)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"you have 8 holds already (HoldsPerUser=8); release one first", r.stderr)
        r = self.ctl("hold", "1h", "--reason", "root's run")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_users_together_leave_room_for_root(self):
        # Users share 48 of the 64 places (HOLDS_USERS_MAX): six fill them, a seventh gets none.
        procs = [hostile(NOBODY - i, "holds", self.d.socket, 8, "1d") for i in range(6)]
        made = sum(len([x for x in result(p)["results"] if isinstance(x, int)]) for p in procs)
        self.assertEqual(made, 6 * 8)
        out = result(hostile(NOBODY - 6, "holds", self.d.socket, 8, "1d"))["results"]
        self.assertEqual(out, ["io.trnidle.TooManyHolds"] * 8)
        # Sixteen more users ask on, each as fast as its own budget of records lets it
        # (2 a second, retrying at once): together they keep the budget all callers share
        # (20 a second) empty. Root's holds meanwhile are made, not "too many requests": the
        # shared budget is not root's (users together once locked root out with it).
        flood = [hostile(NOBODY - 7 - i, "holds", self.d.socket, 20, "1d", 0.01)
                 for i in range(16)]
        time.sleep(4)
        for _ in range(5):
            self.assertIsNone(flood[0].poll())  # still flooding
            r = self.ctl("hold", "1h")
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(0.2)
        for p in flood:
            self.assertEqual(set(result(p)["results"]), {"io.trnidle.TooManyHolds"})


class ReleaseLogTest(HostileTest):
    config = CONFIG + "[Control]\nHoldsPerUser=48\n"

    def test_release_logs_every_hold(self):
        ids = result(hostile(NOBODY, "holds", self.d.socket, 40, "1h"))["results"]
        self.assertTrue(all(isinstance(i, int) for i in ids), ids)
        time.sleep(1)  # its budget of records (RECORDS_PER_UID_RATE) refills
        r = self.ctl("--json", "release", user=NOBODY)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(json.loads(r.stdout)["released"]), sorted(ids))
        for i in ids:
            self.assertEqual(len(self.log_lines(
                rf"hold #{i} by nobody \(uid 65534, until \S+\) released by uid 65534")), 1,
                f"hold #{i}")


class PolicyTest(HostileTest):
    config = CONFIG + ("[Control]\nUserMaxHoldSec=1h\nMaxHoldSec=2d\nHoldsPerUser=2\n"
                       "HoldAllowed=65534 @daemon\nAdminGroup=adm\n")

    def test_hold_policy(self):
        # An ordinary user: at most UserMaxHoldSec=, refused on the record.
        r = self.ctl("hold", "2h", "--reason", "long run", user=NOBODY)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"at most 1h (UserMaxHoldSec=)", r.stderr)
        self.d.wait_for(r"hold refused to nobody \(uid 65534, until \S+Z\): a hold lasts more "
                        r"than 0 and at most 1h \(UserMaxHoldSec=\); reason: long run")
        r = self.ctl("hold", "1h", "--reason", "short run", user=NOBODY)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.d.wait_for(r"hold #\d+ by nobody \(uid 65534\) until \S+Z; reason: short run")
        # Root and AdminGroup= members may take longer.
        self.assertEqual(self.ctl("hold", "1d").returncode, 0)
        r = self.ctl("hold", "1d", user=1234, groups=[4])  # adm
        self.assertEqual(r.returncode, 0, r.stderr)
        # Not in HoldAllowed=: refused; a member of an allowed group may.
        r = self.ctl("hold", "10min", user=1235)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"may not hold this machine up ([Control] HoldAllowed=)", r.stderr)
        self.assertEqual(self.ctl("hold", "10min", user=1235, groups=[1]).returncode, 0)
        # HoldsPerUser=2.
        self.assertEqual(self.ctl("hold", "10min", user=NOBODY).returncode, 0)
        r = self.ctl("hold", "10min", user=NOBODY)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"HoldsPerUser=2", r.stderr)


class RestoredHoldTest(unittest.TestCase):
    def test_forged_hold_in_the_state_file_is_capped(self):
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
        runtime = tempfile.mkdtemp(prefix="trnidled-state.")
        state = {"version": 1, "boot_id": boot_id, "idle_checks": 0, "next_hold_id": 2,
                 "holds": [{"id": 1, "uid": NOBODY, "owner": "nobody",
                            "until_usec": 2**64 - 1, "reason": "forever"}]}
        with open(os.path.join(runtime, "state"), "w") as f:
            f.write(json.dumps(state))
        d = Daemon(config=CONFIG + "[Control]\nUserMaxHoldSec=1h\n", runtime_dir=runtime)
        try:
            d.wait_ready()
            holds = d.call("io.trnidle.Status")["parameters"]["holds"]
            self.assertEqual(len(holds), 1)
            self.assertLessEqual(holds[0]["remaining_sec"], 3600)
            d.wait_for(r"1 restored hold\(s\) lasted longer than \[Control\] allows")
        finally:
            d.cleanup()


class TextTest(HostileTest):
    def assert_clean(self, data, what):
        text = data.decode("utf-8")  # raises on invalid UTF-8
        for c in text:
            self.assertFalse(ord(c) < 0x20 and c != "\n" or 0x7f <= ord(c) <= 0x9f,
                             f"control U+{ord(c):04X} in {what}: {text!r}")

    def test_hold_reason_controls_refused_and_bad_utf8_replaced(self):
        for bad in (b"csi \x9b2J", b"csi \xc2\x9b2J", b"esc \x1b[2J", b"nl \nforged"):
            r = self.ctl("hold", "1h", "--reason", bad, user=NOBODY)
            self.assertEqual(r.returncode, 1, bad)
            self.assertIn(b"invalid value for 'reason'", r.stderr)
        r = self.ctl("hold", "1h", "--reason", b"bad\xff", user=NOBODY)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.ctl("--json", "status")
        self.assert_clean(r.stdout, "status --json")
        self.assertEqual(json.loads(r.stdout)["holds"][0]["reason"], "bad\ufffd")
        self.assert_clean(self.ctl("status").stdout, "status")
        with open(os.path.join(self.d.runtime, "state"), "rb") as f:
            self.assert_clean(f.read(), "the state file")

    def test_process_names_and_command_lines(self):
        # A process of uid 1234, renamed with escape sequences, its script under a path with a
        # byte that is not UTF-8; busy, so that it is a user-process and an ml-process.
        tmp = tempfile.mkdtemp(prefix="trnidled-x")
        os.chmod(tmp, 0o755)
        d = os.path.join(tmp.encode(), b"x\xff")
        os.mkdir(d, 0o755)
        script = os.path.join(d, b"train.py")
        with open(script, "w") as f:
            f.write("import ctypes, sys, time\n"
                    "if sys.argv[1:] == ['busy']:\n"
                    "    ctypes.CDLL(None).prctl(15, b'\\x1b[2J\\x1b[31mPWN\\n', 0, 0, 0)\n"
                    "    while True:\n        pass\n"
                    "time.sleep(600)\n")
        p = subprocess.Popen(as_user(1234, [sys.executable.encode(), script, b"busy"]))
        ml = subprocess.Popen(as_user(1234, [sys.executable.encode(), script]))
        try:
            def renamed():
                with open(f"/proc/{p.pid}/comm", "rb") as f:
                    return b"PWN" in f.read()
            reliability_wait(renamed)
            once = subprocess.run([reliability.TRNIDLED, "--once", "--config", self.d.config],
                                  capture_output=True, timeout=60)
            self.assertIn(b"PWN", once.stdout)
            self.assert_clean(once.stdout, "--once")
            once = subprocess.run([reliability.TRNIDLED, "--once", "--json", "--config",
                                   self.d.config], capture_output=True, timeout=60)
            self.assert_clean(once.stdout, "--once --json")
            self.assertIn("x\ufffd/train.py", once.stdout.decode())
            r = self.ctl("--json", "check-now", user=NOBODY)
            self.assert_clean(r.stdout, "check-now --json")
            self.assertIn(b"PWN", r.stdout)
            self.assert_clean(self.ctl("check-now").stdout, "check-now")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            for q in (p, ml):
                q.kill()
                q.wait()

    def test_trnidlectl_cleans_what_it_prints(self):
        # A server on the socket path that answers with control characters (an old daemon,
        # or anything else there).
        path = os.path.join(self.d.dir, "fake.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        reply = (b'{"parameters":{"text":"\\u001b[2Jhi\\u009b31m\xc2\x9bthere\xff\\n"}}\0')

        def serve():
            for _ in range(2):
                c, _ = srv.accept()
                c.recv(65536)
                c.sendall(reply)
                c.close()
        t = threading.Thread(target=serve)
        t.start()
        r = subprocess.run([reliability.TRNIDLECTL, "--socket", path, "status"],
                           capture_output=True, timeout=30)
        r2 = subprocess.run([reliability.TRNIDLECTL, "--socket", path, "--json", "status"],
                            capture_output=True, timeout=30)
        t.join(10)
        srv.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "[2Jhi31mthere\ufffd\n")
        self.assert_clean(r2.stdout, "--json")


def reliability_wait(fn, timeout=10):
    end = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)


class AgentSocketTest(unittest.TestCase):
    def test_agent_socket_is_roots_and_idle_clients_time_out(self):
        tmp = tempfile.mkdtemp(prefix="trnidled-aws.")
        os.chmod(tmp, 0o755)
        conf = os.path.join(tmp, "aws.conf")
        with open(conf, "w") as f:
            f.write("[AWS]\nImdsEndpoint=http://127.0.0.1:1\n")
        sock = os.path.join(tmp, "io.trnidle.aws.sock")
        log = open(os.path.join(tmp, "agent.log"), "w")
        agent = subprocess.Popen([TRNIDLED_AWS, "--foreground", "--config", conf,
                                  "--socket", sock], stdout=log, stderr=subprocess.STDOUT)
        try:
            reliability_wait(lambda: os.path.exists(sock))
            time.sleep(0.3)
            self.assertEqual(stat.S_IMODE(os.stat(sock).st_mode), 0o600)
            # Nobody cannot even connect, so 300 idle clients of nobody cannot lock root out.
            out = subprocess.run(as_user(NOBODY, [sys.executable, "-c",
                                 "import socket,sys\n"
                                 "s=socket.socket(socket.AF_UNIX)\n"
                                 "try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n"
                                 " print(e.errno)\n", sock]),
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.stdout.strip(), "13", out)  # EACCES
            # Root's idle connections time out there too.
            s = connect(sock, timeout=20)
            start = time.monotonic()
            self.assertIsNone(recv_message(s))
            self.assertLess(time.monotonic() - start, 12)
            s.close()
            reply = reliability.varlink_call(sock, "org.varlink.service.GetInfo")
            self.assertIn("error", reply)  # answered
        finally:
            agent.terminate()
            agent.wait(30)
            log.close()


if __name__ == "__main__":
    unittest.main()
