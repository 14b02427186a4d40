"""The warning before the action: written to every terminal (a real pty, found through a
--dev-dir whose pts/0 points at it), and cancelled by a hold taken while it runs."""
import os
import select
import time

from harness import DEADLINE, DaemonTestCase, check_records

ACTION = r"^action poweroff \(dry-run\): "


class Terminal:
    """A real pseudo-terminal; the daemon writes to its slave, the test reads the master."""

    def __init__(self, dev_dir):
        self.master, self.slave = os.openpty()
        os.makedirs(os.path.join(dev_dir, "pts"), exist_ok=True)
        os.symlink(os.ttyname(self.slave), os.path.join(dev_dir, "pts", "0"))
        # Not terminals: the daemon must skip these without trouble.
        os.symlink("/nonexistent/pts/9", os.path.join(dev_dir, "pts", "7"))
        open(os.path.join(dev_dir, "pts", "ptmx"), "w").close()
        self.seen = b""

    def read_until(self, text, timeout=DEADLINE):
        end = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the terminal never showed {text!r}; it got "
                                     f"{self.seen.decode(errors='replace')!r}")
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                self.seen += os.read(self.master, 65536)
        return self.seen.decode(errors="replace")

    def close(self):
        os.close(self.master)
        os.close(self.slave)


class WarningTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.dev = os.path.join(self.tmp, "dev")
        self.term = Terminal(self.dev)

    def tearDown(self):
        self.term.close()
        super().tearDown()

    def test_warning_does_not_make_the_terminal_look_used(self):
        # A terminal nobody used for 3 hours: the warning written to it must not count as
        # its use, or every warning would cancel itself and keep the machine up.
        tty = os.ttyname(self.term.slave)
        old = time.time() - 3 * 3600
        os.utime(tty, (old, old))
        d = self.daemon({"Check": {"IdleChecks": "1"}, "Action": {"WarnSec": "1s"}},
                        extra_args=["--dev-dir", self.dev])
        self.term.read_until("this machine looks idle")
        d.wait_for(ACTION)
        st = os.stat(tty)
        self.assertLess(st.st_mtime, old + 2, "the warning moved the terminal's output time")
        self.assertLess(st.st_atime, old + 2, "the warning moved the terminal's input time")

    def test_warning_reaches_the_terminal_then_the_action_runs(self):
        d = self.daemon({"Check": {"IdleChecks": "2"}, "Action": {"WarnSec": "2s"}},
                        extra_args=["--dev-dir", self.dev])
        warned = d.wait_for(r"^action poweroff in 2s unless the machine becomes busy")[0]
        self.assertIn("warned 1 terminal(s)", warned)
        seen = self.term.read_until("this machine looks idle and will power off in 2s")
        self.assertIn("trnidled (dry-run, nothing will happen)", seen)
        self.assertIn("trnidlectl hold 2h", seen)
        # Tests the wording of the warning's "why" on purpose.
        self.assertIn("Why: idle: nothing active; idle 2/2, action due", seen)
        self.assertIn("warning running", d.status_text())
        d.wait_for(ACTION)
        msgs = [m for _, m in d.lines()]
        warn_at = next(i for i, m in enumerate(msgs) if m.startswith("action poweroff in 2s"))
        act_at = next(i for i, m in enumerate(msgs) if m.startswith("action poweroff (dry-run)"))
        self.assertLess(warn_at, act_at)
        # The action waited for the re-check at the end of the warning.
        self.assertTrue(any(r.matches(kind="recheck", verdict="idle")
                            for r in check_records(msgs[warn_at:act_at])), d.text())
        self.assertEqual(d.find(r"cancelled"), [])

    def test_hold_during_the_warning_cancels_the_action(self):
        # A long warning, so that the hold surely lands inside it.
        d = self.daemon({"Check": {"IdleChecks": "1"}, "Action": {"WarnSec": "10min"}},
                        extra_args=["--dev-dir", self.dev])
        d.wait_for(r"^action poweroff in 10min unless the machine becomes busy")
        self.term.read_until("will power off in 10min")
        d.ctl("hold", "1h", "--reason", "still working", check=0)
        cancelled = d.wait_for(r"^action poweroff cancelled")[0]
        self.assertIn("hold #1 by root", cancelled)
        seen = self.term.read_until("the power-off is cancelled")
        self.assertIn("still working", seen)
        self.assertNotIn("warning running", d.status_text())
        # Nothing runs after the cancellation while the hold lasts.
        mark = d.mark()
        d.wait_for_check(start=mark, count=3, verdict="held")
        self.assertEqual(d.find(r"^action poweroff \(dry-run\)"), [])
        self.assertEqual(len(d.find(r"^action poweroff in ")), 1)

    def test_no_terminals_is_fine(self):
        empty = os.path.join(self.tmp, "empty-dev")
        os.makedirs(empty)
        d = self.daemon({"Check": {"IdleChecks": "1"}, "Action": {"WarnSec": "1s"}},
                        extra_args=["--dev-dir", empty])
        self.assertIn("warned 0 terminal(s)", d.wait_for(r"^action poweroff in 1s")[0])
        d.wait_for(ACTION)
