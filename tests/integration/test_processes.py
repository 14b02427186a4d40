"""How processes and their CPU are read, with real processes (issue #12, items 2 and 3).

- CPU spent in short-lived children counts where the loop that starts them runs (its reaped
  children's time, cutime + cstime), for user-process, terminal, multiplexer and jupyter.
- A process is recognised by its executable and command line, not by its 15-character name:
  PyTorch names its main thread `pt_main_thread`, torchrun's agent `pt_elastic`.

Like test_neuron, each case starts its processes and `trnidled --once --json` in a fresh PID
namespace, with CPU and memory thresholds at 100 %, so only what the test starts can decide.
"""
import os
import shutil
import unittest

from test_neuron import Env, have_root_and_unshare, run_once

# The reproduction: each child counts to 3000 and exits before any check sees it.
CHILD = 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done'
LOOP = f"while :; do sh -c '{CHILD}'; done"

# Renames its main thread like PyTorch does (prctl PR_SET_NAME), then waits.
RENAMER = """import ctypes, os, time
ctypes.CDLL(None).prctl(15, os.environ.get("RENAME_TO", "pt_main_thread").encode(), 0, 0, 0)
time.sleep(60)
"""

# A Jupyter kernel as Jupyter starts it (python -m ipykernel_launcher), after `import torch`
# renamed it, running a cell that calls a short command again and again.
KERNEL = f"""import ctypes, subprocess
ctypes.CDLL(None).prctl(15, b"pt_main_thread", 0, 0, 0)
while True:
    subprocess.run(["sh", "-c", {CHILD!r}])
"""


def wait_comm(name):
    """Shell lines that wait until the last background process is called name."""
    return (f"p=$!; n=0; until [ \"$(cat /proc/$p/comm)\" = {name} ]; do "
            f"n=$((n+1)); [ $n -lt 300 ] || exit 9; sleep 0.1; done")


def wait_file_then_set_back(path):
    """Shell lines that wait for a file naming a terminal, then date the terminal 3 h back
    (its start-up output is not the use under test), twice in case it was still writing."""
    return (f"n=0; until [ -s {path} ]; do n=$((n+1)); [ $n -lt 300 ] || exit 9; sleep 0.1; done\n"
            f"sleep 0.5; touch -a -m -d '3 hours ago' \"$(cat {path})\"\n"
            f"sleep 0.5; touch -a -m -d '3 hours ago' \"$(cat {path})\"")


def signals(v):
    return [r["signal"] for r in v["reasons"]]


def details(v, signal):
    return [r["detail"] for r in v["reasons"] if r["signal"] == signal]


@unittest.skipUnless(have_root_and_unshare(), "needs root and unshare for a PID namespace")
class ChildrenCpuTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(extra="[Processes]\nUserBusyPercent=10\n")
        os.chmod(self.env.dir, 0o755)

    def tearDown(self):
        self.env.cleanup()

    def test_login_users_loop_of_short_commands_is_active(self):
        v, _ = run_once(self.env, "setpriv --reuid=1000 --regid=1000 --clear-groups "
                                  f"sh -c \"{LOOP}\" &", window="3s")
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("user-process", signals(v), v)
        self.assertTrue(details(v, "user-process")[0].startswith("sh (pid "), v)

    def test_the_same_loop_of_a_dynamic_service_user_is_not_user_work(self):
        # trnidled-aws runs as a DynamicUser= uid (61184-65519): a service, not a person; its
        # CPU counted as a user's kept an idle machine up.
        v, _ = run_once(self.env, "setpriv --reuid=63199 --regid=63199 --clear-groups "
                                  f"sh -c \"{LOOP}\" &", window="2s")
        self.assertNotIn("user-process", signals(v), v)

    def test_the_same_loop_of_root_is_not_user_work(self):
        v, _ = run_once(self.env, f"sh -c \"{LOOP}\" &", window="2s")
        self.assertNotIn("user-process", signals(v), v)

    def test_loop_on_a_terminal_is_active(self):
        loop = self.env.path("bin", "loop")
        with open(loop, "w") as f:
            f.write(f"readlink /proc/self/fd/0 > {self.env.path('pty')}\n{LOOP}\n")
        v, _ = run_once(self.env, f"script -q -c 'sh {loop}' /dev/null </dev/null &\n"
                        + wait_file_then_set_back(self.env.path("pty")), window="3s")
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("terminal", signals(v), v)

    @unittest.skipUnless(shutil.which("tmux"), "needs tmux")
    def test_loop_in_a_tmux_pane_is_active(self):
        loop = self.env.path("bin", "loop")
        with open(loop, "w") as f:
            f.write(f"readlink /proc/self/fd/0 > {self.env.path('pty')}\n{LOOP}\n")
        sock = self.env.path("tmux.sock")
        v, _ = run_once(self.env, f"tmux -S {sock} new-session -d -s build 'sh {loop}'\n"
                        + wait_file_then_set_back(self.env.path("pty")), window="3s",
                        extra_env={"TMUX": "", "TERM": "xterm"})
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("multiplexer", signals(v), v)

    def test_renamed_jupyter_kernel_running_short_commands_is_active(self):
        with open(self.env.path("ipykernel_launcher.py"), "w") as f:
            f.write(KERNEL)
        v, _ = run_once(self.env, "python3 -m ipykernel_launcher -f kernel-1.json &\n"
                        + wait_comm("pt_main_thread"), window="3s")
        self.assertEqual(v["verdict"], "active", v)
        self.assertIn("jupyter", signals(v), v)


@unittest.skipUnless(have_root_and_unshare(), "needs root and unshare for a PID namespace")
class RenamedProcessTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.train = self.env.script("train.py", body=RENAMER, where=".")

    def tearDown(self):
        self.env.cleanup()

    def test_python_train_py_named_pt_main_thread_is_active(self):
        v, _ = run_once(self.env, "python3 train.py --epochs 3 &\n" + wait_comm("pt_main_thread"))
        self.assertEqual(v["verdict"], "active", v)
        self.assertTrue(any(d.startswith("train.py: pid ") for d in details(v, "ml-process")), v)

    def test_torchrun_agent_named_pt_elastic_is_active(self):
        launcher = self.env.script("torchrun", body=RENAMER)
        v, _ = run_once(self.env, f"RENAME_TO=pt_elastic {launcher} --nproc_per_node=2 train.py &\n"
                        + wait_comm("pt_elastic"))
        self.assertEqual(v["verdict"], "active", v)
        self.assertTrue(any(d.startswith("torchrun:") for d in details(v, "ml-process")), v)

    def test_renamed_compiler_is_active(self):
        cc = self.env.script("neuronx-cc", body=RENAMER)
        v, _ = run_once(self.env, f"RENAME_TO=nxc_worker python3 {cc} compile model.hlo &\n"
                        + wait_comm("nxc_worker"))
        self.assertEqual(v["verdict"], "active", v)
        self.assertTrue(any("neuronx-cc" in d for d in details(v, "neuron-process")), v)

    def test_a_renamed_python_given_train_py_is_not(self):
        # `python3 lint.py train.py`: lint.py is the program, train.py an argument.
        self.env.script("lint.py", body=RENAMER, where=".")
        v, _ = run_once(self.env, "python3 lint.py train.py &\n" + wait_comm("pt_main_thread"))
        self.assertEqual(v["signals"]["ml-process"]["count"], 0, v)
        self.assertEqual(v["verdict"], "idle", v)

    def test_vim_train_py_is_not(self):
        # A program its name stands for, and one run as a link to another name (vi ->
        # vim.basic): the file is an argument either way.
        vim = self.env.path("bin", "vim.basic")
        shutil.copy("/usr/bin/tail", vim)
        os.symlink(vim, self.env.path("bin", "vim"))
        v, _ = run_once(self.env, f"{self.env.path('bin', 'vim')} -f train.py >/dev/null &\n"
                                  f"{vim} -f train.py >/dev/null &")
        self.assertEqual(v["signals"]["ml-process"]["count"], 0, v)
        self.assertEqual(v["verdict"], "idle", v)


if __name__ == "__main__":
    unittest.main()
