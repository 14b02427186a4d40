"""The control socket through trnidlectl and raw Varlink: status, check-now, holds, exit codes,
authorisation, and bad clients that must not disturb the check schedule."""
import json
import time
import os
import socket
import subprocess
import threading

from harness import (TRNIDLECTL, DaemonTestCase, recv_message, varlink_call, wait_until)


class ControlTest(DaemonTestCase):
    def test_status(self):
        d = self.daemon()
        d.wait_for_check(verdict="idle", idle=1, needed=1000)
        out = d.status_text()
        first = out.splitlines()[0]
        self.assertRegex(first, r"^idle: nothing active; idle \d+/1000$")
        self.assertIn("action: poweroff (dry-run: nothing will be stopped) after 1000 idle "
                      "check(s)", out)
        r = d.ctl("--json", "status", check=0)
        p = json.loads(r.stdout)
        self.assertEqual(p["action"], "poweroff")
        self.assertIs(p["dry_run"], True)
        self.assertEqual(p["holds"], [])
        self.assertEqual(p["last_check"]["verdict"], "idle")
        self.assertIsInstance(p["next_check_sec"], int)

    def test_check_now_text_and_json(self):
        d = self.daemon()
        r = d.ctl("check-now", check=0)
        self.assertRegex(r.stdout, r"^idle: nothing active; idle \d+/1000\n$")
        r = d.ctl("check-now", "--json", check=0)
        p = json.loads(r.stdout)
        for key in ("verdict", "reasons", "idle_checks", "idle_checks_needed", "signals"):
            self.assertIn(key, p)
        self.assertEqual(p["verdict"], "idle")
        self.assertEqual(p["reasons"], [])
        self.assertEqual(p["idle_checks_needed"], 1000)
        self.assertIsInstance(p["idle_checks"], int)
        self.assertIn("busy_percent", p["signals"]["cpu"])
        self.assertGreater(p["signals"]["memory"]["total_kib"], 0)
        self.assertEqual(p["signals"]["probe-error"], [])
        # A verdict with reasons: a hold makes check-now say "held" with a hold reason.
        d.ctl("hold", "1h", "--reason", "json test", check=0)
        p = json.loads(d.ctl("--json", "check-now", check=0).stdout)
        self.assertEqual(p["verdict"], "held")
        self.assertEqual(len(p["reasons"]), 1)
        self.assertEqual(set(p["reasons"][0]), {"signal", "detail"})
        self.assertEqual(p["reasons"][0]["signal"], "hold")
        self.assertIn("json test", p["reasons"][0]["detail"])
        self.assertIn("check-now: held", "\n".join(d.find(r"^check-now:")))

    def test_check_now_never_measures_cpu_over_a_sliver(self):
        # Right after a scheduled check, a new sample would average CPU over milliseconds
        # (mostly the daemon itself) and read busy; the daemon reuses that check's facts.
        d = self.daemon()
        d.wait_for_check()
        end = time.monotonic() + 4
        windows = []
        while time.monotonic() < end:
            p = json.loads(d.ctl("--json", "check-now", check=0).stdout)
            windows.append(p["signals"]["cpu"]["window_sec"])
        self.assertGreater(len(windows), 5)
        self.assertGreaterEqual(min(windows), 0.9, f"{len(windows)} calls, min {min(windows)}")

    def test_check_now_does_not_advance_the_streak(self):
        d = self.daemon({"Check": {"IntervalSec": "1h"}})
        for _ in range(3):
            p = json.loads(d.ctl("--json", "check-now", check=0).stdout)
            self.assertEqual(p["idle_checks"], 0)
        self.assertEqual(d.checks(), [])

    def test_hold_then_release(self):
        d = self.daemon()
        r = d.ctl("hold", "2h", "--reason", "training run", check=0)
        self.assertRegex(r.stdout, r"^hold #1: the machine stays up for 2h: training run "
                         r"\(release it with: trnidlectl release 1\)")
        out = d.status_text()
        self.assertRegex(out, r"hold #1 by root, 1h 59min \d+s left: training run")
        mark = d.mark()
        d.wait_for_check(start=mark, verdict="held", idle=0, needed=1000, signal="hold",
                         has="hold #1 by root")
        p = json.loads(d.ctl("--json", "hold", "90min", check=0).stdout)
        self.assertEqual(p["hold"]["id"], 2)
        self.assertEqual(p["hold"]["owner"], "root")
        self.assertEqual(p["hold"]["reason"], "")
        self.assertEqual(d.ctl("release", "1", check=0).stdout, "released hold #1\n")
        self.assertEqual(d.ctl("release", check=0).stdout, "released hold #2\n")
        self.assertEqual(json.loads(d.ctl("--json", "status", check=0).stdout)["holds"], [])
        mark = d.mark()
        d.wait_for_check(start=mark, verdict="idle", needed=1000)
        # Each release is one record, with whose hold it was, until when and why.
        self.assertEqual(len(d.find(r"^hold #1 by root \(uid 0, until \S+Z\) released by uid 0; "
                                    r"reason: training run$")), 1)

    def test_hold_reason_must_be_printable(self):
        d = self.daemon()
        for reason in ("clear\x1b[2J", "two\nlines", "bell\x07", "csi\u009b31m"):
            r = d.ctl("hold", "1h", "--reason", reason, check=1)
            self.assertIn("invalid value for 'reason'", r.stderr)
        r = d.ctl("hold", "1h", "--reason", "x" * 2000, check=1)
        self.assertIn("invalid value for 'reason'", r.stderr)
        # Ordinary text, any language, is fine; a long one is kept in part.
        d.ctl("hold", "1h", "--reason", "Übung: 训练 \"run\" 'b' ; $x", check=0)
        self.assertIn("Übung: 训练 \"run\" 'b' ; $x", d.status_text())
        d.ctl("hold", "1h", "--reason", "y" * 1000, check=0)
        self.assertRegex(d.status_text(), r"hold #2 by root, .* left: y{127}\n")

    def test_too_many_clients(self):
        d = self.daemon()
        conns = []
        try:
            for _ in range(64):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(30)
                s.connect(d.socket)
                conns.append(s)
            # Make sure the daemon has taken all 64 before the next one.
            for s in conns:
                s.sendall(b'{"method":"io.trnidle.Status"}\0')
                self.assertIn("text", json.loads(recv_message(s))["parameters"])
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as extra:
                extra.settimeout(30)
                extra.connect(d.socket)
                r = json.loads(recv_message(extra))
                self.assertEqual(r["error"], "io.trnidle.TooManyClients")
            r = d.ctl("status")
            self.assertEqual(r.returncode, 1)
            self.assertIn("io.trnidle.TooManyClients", r.stderr)
            for s in conns[:8]:
                s.close()
            wait_until("a free connection slot", lambda: d.ctl("status").returncode == 0)
            d.wait_for_check(start=d.mark())
        finally:
            # The rest stay open: the daemon must shut down cleanly with clients connected.
            self.addCleanup(lambda: [s.close() for s in conns])

    def test_exit_codes(self):
        d = self.daemon()
        # 2: usage
        for args in ([], ["frobnicate"], ["status", "extra"], ["hold"], ["release", "x"],
                     ["release", "0"], ["check-now", "--reason", "x"], ["--bogus", "status"]):
            r = d.ctl(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
            self.assertIn("trnidlectl: ", r.stderr)
        # 1: the daemon answered an error
        r = d.ctl("release", "42", check=1)
        self.assertIn("io.trnidle.NoSuchHold: there is no hold #42", r.stderr)
        r = d.ctl("release", check=1)
        self.assertIn("io.trnidle.NoSuchHold: you have no holds", r.stderr)
        r = d.ctl("hold", "soon", check=1)
        self.assertIn("org.varlink.service.InvalidParameter", r.stderr)
        self.assertIn("'duration'", r.stderr)
        r = d.ctl("hold", "100d", check=1)
        self.assertIn("at most 1d (MaxHoldSec=)", r.stderr)
        r = d.ctl("hold", "0", check=1)
        r = d.ctl("--json", "release", "42", check=1)
        self.assertEqual(json.loads(r.stdout)["error"], "io.trnidle.NoSuchHold")
        # 3: cannot connect
        r = subprocess.run([TRNIDLECTL, "--socket", os.path.join(self.tmp, "nothing.sock"),
                            "status"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot connect to", r.stderr)
        # 0
        d.ctl("--help", check=0)
        self.assertRegex(d.ctl("--version", check=0).stdout, r"^trnidlectl \d")

    def test_reload_over_the_socket(self):
        d = self.daemon()
        self.assertEqual(d.ctl("reload", check=0).stdout, "configuration reloaded\n")
        with open(d.config_path, "a") as f:
            f.write("[Check]\nIdleChecks=many\n")
        r = d.ctl("reload", check=1)
        self.assertIn("io.trnidle.ReloadFailed", r.stderr)
        self.assertRegex(r.stderr, re_escape(d.config_path) + r":\d+: \[Check\] IdleChecks=many")
        self.assertIn("after 1000 idle check(s)", d.status_text())

    def test_varlink_service_interface(self):
        d = self.daemon()
        r = varlink_call(d.socket, "org.varlink.service.GetInfo", {})
        p = r["parameters"]
        self.assertNotIn("error", r)
        self.assertEqual(p["vendor"], "trnidled")
        self.assertRegex(p["version"], r"^\d+\.\d+")
        self.assertIn("io.trnidle", p["interfaces"])
        self.assertIn("org.varlink.service", p["interfaces"])
        r = varlink_call(d.socket, "org.varlink.service.GetInterfaceDescription",
                         {"interface": "io.trnidle"})
        desc = r["parameters"]["description"]
        self.assertIn("interface io.trnidle\n", desc)
        for method in ("Status", "CheckNow", "Hold", "Release", "Reload"):
            self.assertIn(f"method {method}(", desc)
        r = varlink_call(d.socket, "org.varlink.service.GetInterfaceDescription",
                         {"interface": "com.example.nothing"})
        self.assertEqual(r["error"], "org.varlink.service.InterfaceNotFound")
        r = varlink_call(d.socket, "org.varlink.service.GetInterfaceDescription", {})
        self.assertEqual(r["error"], "org.varlink.service.InvalidParameter")
        r = varlink_call(d.socket, "io.trnidle.Frobnicate", {})
        self.assertEqual(r["error"], "org.varlink.service.MethodNotFound")
        r = varlink_call(d.socket, "io.trnidle.Status")  # no parameters at all
        self.assertIn("text", r["parameters"])

    def test_oneway_gets_no_reply(self):
        d = self.daemon()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(d.socket)
            s.sendall(b'{"method":"io.trnidle.Hold","parameters":{"duration":"1h"},'
                      b'"oneway":true}\0{"method":"io.trnidle.Status"}\0')
            reply = json.loads(recv_message(s))
        # The only reply is Status's, and it already shows the one-way hold.
        self.assertIn("hold #1 by root", reply["parameters"]["text"])

    def test_garbage_and_oversized_messages(self):
        d = self.daemon()
        d.wait_for_check()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(d.socket)
            buf = bytearray()
            for bad in (b"garbage", b"", b"{\"method\":", b"[1,2,3]", b"{\"method\":7}",
                        b"\xff\xfe\x00"[:2], b"{\"method\":\"a.b\",\"parameters\":[]}"):
                s.sendall(bad + b"\0")
                r = json.loads(recv_message(s, buf))
                self.assertEqual(r["error"], "io.trnidle.InvalidMessage", bad)
                self.assertTrue(r["parameters"]["reason"])
            # The same connection still works.
            s.sendall(b'{"method":"io.trnidle.Status"}\0')
            self.assertIn("text", json.loads(recv_message(s, buf))["parameters"])

        # A flood of bad messages in one write: one error each, in order, nothing lost.
        n = 500
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(d.socket)
            replies = []
            buf = bytearray()

            def reader():
                for _ in range(n + 1):
                    replies.append(json.loads(recv_message(s, buf)))
            t = threading.Thread(target=reader)
            t.start()
            s.sendall(b"nonsense\0" * n + b'{"method":"io.trnidle.Status"}\0')
            t.join(60)
            self.assertFalse(t.is_alive())
            self.assertEqual(len(replies), n + 1)
            self.assertTrue(all(r.get("error") == "io.trnidle.InvalidMessage"
                                for r in replies[:n]))
            self.assertIn("text", replies[n]["parameters"])

        # Oversized: an error, then the daemon closes that connection.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(d.socket)
            try:
                s.sendall(b"a" * (64 * 1024 + 100))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon may close before taking it all
            r = json.loads(recv_message(s))
            self.assertEqual(r["error"], "io.trnidle.MessageTooLarge")
            self.assertEqual(s.recv(1), b"")

        # Clients that connect and say nothing, or hang up mid-message.
        idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(10)]
        for s in idle:
            s.connect(d.socket)
            s.sendall(b'{"method":"io.trnidle.Sta')
        for s in idle[:5]:
            s.close()

        # The daemon still answers, and the checks kept their schedule throughout.
        mark = d.mark()
        d.wait_for_check(start=mark, count=3, verdict="idle")
        for s in idle[5:]:
            s.close()
        self.assertEqual(d.ctl("check-now", check=0).returncode, 0)
        self.check_gaps(d, 1.0)

    def test_non_root_may_not_reload(self):
        d = self.daemon()
        nobody = 65534
        r = d.ctl("reload", user=nobody, check=1)
        self.assertIn("io.trnidle.PermissionDenied: only root may reload the configuration",
                      r.stderr)
        self.assertEqual(d.find(r"reload requested"), [])
        # But nobody may look and hold, and only release its own holds.
        self.assertEqual(d.ctl("status", user=nobody, check=0).returncode, 0)
        d.ctl("hold", "1h", "--reason", "root's", check=0)
        r = d.ctl("hold", "1h", "--reason", "nobody's", user=nobody, check=0)
        self.assertIn("hold #2", r.stdout)
        self.assertIn("hold #2 by nobody", d.status_text())
        r = d.ctl("release", "1", user=nobody, check=1)
        self.assertIn("io.trnidle.PermissionDenied: hold #1 belongs to another user", r.stderr)
        self.assertEqual(d.ctl("release", user=nobody, check=0).stdout, "released hold #2\n")
        # root may release anyone's.
        d.ctl("hold", "1h", user=nobody, check=0)
        self.assertEqual(d.ctl("release", "3", check=0).stdout, "released hold #3\n")


def re_escape(s):
    import re
    return re.escape(s)
