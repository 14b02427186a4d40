"""The verdict history: a real daemon driven through active (a terminal from script(1) in its
PID namespace), idle and held, read back with `trnidlectl history` (--json and the timeline),
kept across a restart, with "off" for the time the daemon did not run, and a corrupt file set
aside rather than written over."""
import json
import os
import shutil
import subprocess
import time

from harness import Daemon, DaemonTestCase, config_text, kill_tree, wait_until

CONFIG = {"Check": {"IdleChecks": "1000"}}


def verdicts(entries):
    return [e["verdict"] for e in entries]


def is_subsequence(want, got):
    it = iter(got)
    return all(any(w == g for g in it) for w in want)


class HistoryTest(DaemonTestCase):
    def terminal_in(self, d):
        """script(1) with a fresh pty, inside the daemon's PID and mount namespaces."""
        p = subprocess.Popen(["nsenter", "--target", str(d.pid), "--pid", "--mount", "--",
                              "script", "-q", "-c", "sleep 600", "/dev/null"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=dict(os.environ, TERM="xterm"))
        self.addCleanup(kill_tree, p)
        return p

    def history(self, d, *args):
        return json.loads(d.ctl("--json", "history", *args, check=0).stdout)

    def restart(self, d, kill=False):
        if kill:
            d.kill9()
        else:
            self.assertEqual(d.stop(), 0, d.text())
        again = Daemon(self.tmp, runtime_dir=d.runtime_dir, config=config_text(CONFIG))
        self.daemons.append(again)
        return again.start()

    def drive_active_idle_held(self, d):
        script = self.terminal_in(d)
        d.wait_for_check(verdict="active", idle=0, needed=1000, signal="terminal")
        kill_tree(script)
        mark = d.mark()
        d.wait_for_check(start=mark, verdict="idle")
        d.ctl("hold", "1h", "--reason", "history test", check=0)
        d.wait_for_check(start=mark, verdict="held")

    def test_active_idle_held_json_and_timeline(self):
        d = self.daemon(CONFIG)
        self.drive_active_idle_held(d)
        p = self.history(d)
        entries = p["entries"]
        self.assertTrue(is_subsequence(["active", "idle", "held"], verdicts(entries)),
                        entries)
        active = next(e for e in entries if e["verdict"] == "active")
        self.assertEqual(active["signal"], "terminal")
        held = entries[-1]
        self.assertEqual((held["verdict"], held["signal"]), ("held", "hold"))
        self.assertIn("history test", held["detail"])
        self.assertEqual(set(active), {"at_usec", "time", "verdict", "signal", "detail"})
        self.assertRegex(active["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # A change is recorded once: consecutive entries always differ.
        for a, b in zip(entries, entries[1:]):
            self.assertNotEqual(a["verdict"], b["verdict"], entries)
            self.assertLessEqual(a["at_usec"], b["at_usec"])
        self.assertLessEqual(abs(p["since"] - (time.time() - 7 * 86400)), 60)

        text = d.ctl("history", check=0).stdout
        today = time.strftime("%a %m-%d")
        day_lines = [line for line in text.splitlines() if line.startswith(today)]
        self.assertEqual(len(day_lines), 1, text)
        self.assertEqual(len(day_lines[0]), 10 + 96, text)
        self.assertRegex(day_lines[0][10:], r"[#.H]", text)
        self.assertIn("# active  . idle  H held  g boot grace  _ off or stopped", text)
        self.assertRegex(text, r"Longest active stretches.*\n  \S.* terminal: ")

        # --since: only what was in force then and after; a bad value is a usage error.
        later = verdicts(self.history(d, "--since", "0s")["entries"])
        self.assertIn(later, (["held"], ["idle", "held"]))  # held may be younger than 1 s
        self.assertEqual(d.ctl("history", "--since", "yesterday-ish").returncode, 2)
        self.assertEqual(d.ctl("status", "--since", "1h").returncode, 2)

    def test_restart_keeps_history_and_records_off(self):
        d = self.daemon(CONFIG)
        self.drive_active_idle_held(d)
        before = self.history(d)["entries"]
        d2 = self.restart(d)
        d2.wait_for_check(verdict="held")
        after = self.history(d2)["entries"]
        self.assertEqual(after[:len(before)], before, after)
        off = after[len(before)]
        self.assertEqual((off["verdict"], off["detail"]), ("off", "trnidled stopped"))
        self.assertEqual(after[len(before) + 1]["verdict"], "held")  # the hold survived

        # A daemon that did not stop cleanly: off from its last check, although nothing had
        # changed (and nothing was written) for several checks before.
        mark = d2.mark()
        for _ in range(6):
            d2.wait_for_check(start=mark, verdict="held")
            mark = d2.mark()
        killed_at = time.time()
        d3 = self.restart(d2, kill=True)
        d3.wait_for_check(verdict="held")
        last = self.history(d3)["entries"]
        self.assertEqual(verdicts(last[-2:]), ["off", "held"], last)
        self.assertIn("did not stop cleanly", last[-2]["detail"])
        self.assertLess(last[-2]["at_usec"], last[-1]["at_usec"])
        self.assertGreater(last[-2]["at_usec"] / 1e6, killed_at - 2.5, "off began before the "
                           "last check: the last sign of life is not the last check")

    def test_history_survives_a_reboot_in_the_state_directory(self):
        """A stop and start of the instance is a reboot: /run is empty again, /var/lib is not.
        With --state-dir the history lives there, not in the runtime directory."""
        state = os.path.join(self.tmp, "lib")
        d = self.daemon(CONFIG, extra_args=["--state-dir", state])
        self.drive_active_idle_held(d)
        before = self.history(d)["entries"]
        self.assertTrue(os.path.exists(os.path.join(state, "history")))
        self.assertFalse(os.path.exists(os.path.join(d.runtime_dir, "history")))
        self.assertEqual(d.stop(), 0, d.text())
        shutil.rmtree(d.runtime_dir)  # the reboot's empty /run
        again = Daemon(self.tmp, runtime_dir=d.runtime_dir, config=config_text(CONFIG),
                       extra_args=["--state-dir", state])
        self.daemons.append(again)
        again.start()
        again.wait_for_check(verdict="idle")  # the hold ended with the boot's state
        after = self.history(again)["entries"]
        self.assertEqual(after[:len(before)], before, after)
        self.assertEqual(verdicts(after[len(before):]), ["off", "idle"], after)

    def test_corrupt_history_is_set_aside(self):
        run = os.path.join(self.tmp, "run")
        os.makedirs(run, mode=0o711)
        with open(os.path.join(run, "history"), "w") as f:
            f.write('{"version":1,"entries":[{"at_usec":')
        d = self.daemon(CONFIG)
        d.wait_for(r"cannot use the verdict history .*/run/history: not JSON.*moved it to "
                   r".*/run/history\.corrupt")
        d.wait_for_check(verdict="idle")
        with open(os.path.join(run, "history.corrupt")) as f:
            self.assertEqual(f.read(), '{"version":1,"entries":[{"at_usec":')
        wait_until("a new history file", lambda: os.path.exists(os.path.join(run, "history")))
        self.assertEqual(verdicts(self.history(d)["entries"]), ["idle"])


if __name__ == "__main__":
    import unittest
    unittest.main()
