"""Sessions with real processes: a pty from script(1), sshd on loopback, an ssm-session-worker,
tmux and screen of two users, a Jupyter Notebook server on loopback with a real kernel. Each scenario runs inside its own PID namespace
(unshare --pid --fork --mount-proc), so trnidled --once sees only the scenario's processes; the
scenario prints the verdicts it collected as one JSON object and the test checks them here.

Thresholds are set so that the shared machine's load cannot decide: CpuPercent=100 and
MemoryPercent=100 except in the CPU scenario."""
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

TRNIDLED = os.environ.get("TRNIDLED", "build/src/trnidled")
HERE = os.path.abspath(__file__)
SCENARIO_TIMEOUT = 240
QUIET = "[Thresholds]\nCpuPercent=100\nMemoryPercent=100\n"
LONG_AGO = "3 hours ago"  # well past the default SessionIdleSec=1h


# --- inside the namespace -------------------------------------------------------------------

class Scene:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="trnidled-sessions-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.env = dict(os.environ, TERM="xterm", SHELL="/bin/sh", HOME=self.dir,
                        TMUX_TMPDIR=self.dir, SCREENDIR=os.path.join(self.dir, "screen"))
        self.env.pop("TMUX", None)
        self.env.pop("STY", None)

    def start(self, argv, **kw):
        kw.setdefault("stdin", subprocess.PIPE)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(argv, env=kw.pop("env", self.env), **kw)
        self.procs.append(p)
        return p

    def run(self, argv, **kw):
        subprocess.run(argv, env=kw.pop("env", self.env), check=True, timeout=30,
                       stdin=subprocess.DEVNULL, **kw)

    def once(self, conf=QUIET, window="1s"):
        path = os.path.join(self.dir, "trnidled.conf")
        with open(path, "w") as f:
            f.write(conf)
        out = subprocess.run([TRNIDLED, "--once", "--json", "--window", window, "-c", path,
                              # not this machine's cloud-init or apt (harness.NOT_THIS_MACHINE)
                              "--cloud-init-dir", "/nonexistent/trnidled-test/cloud-init",
                              "--package-root", "/nonexistent/trnidled-test/root"],
                             capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"trnidled failed: {out.stderr}")
        return json.loads(out.stdout)

    def set_back(self, verdict, owner):
        """Sets the times of every terminal of this owner far into the past, and again until
        they stay there: a shell or tmux still starting up on a loaded machine may write to
        its terminal after the first touch (that is start-up, not the use under test)."""
        paths = ["/dev/" + t["tty"] for t in verdict["signals"].get("terminal", [])
                 if t["owner"] == owner]
        quiet_rounds = 0
        for _ in range(20):
            recent = [p for p in paths
                      if time.time() - max(os.stat(p).st_atime, os.stat(p).st_mtime) < 3600]
            if not recent:
                quiet_rounds += 1
                if quiet_rounds == 2:
                    return
            else:
                quiet_rounds = 0
                for p in recent:
                    self.run(["touch", "-a", "-m", "-d", LONG_AGO, p])
            time.sleep(0.5)
        raise RuntimeError(f"terminals {paths} kept being written to")

    def wait_for(self, what, predicate, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    def cmdlines(self):
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
        return out

    def cmdline_of(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""

    def verdict_until(self, what, predicate, conf=QUIET, timeout=15, window="1s"):
        """Runs --once until predicate(verdict) holds (processes take a moment to appear)."""
        end = time.monotonic() + timeout
        v = None
        while time.monotonic() < end:
            v = self.once(conf, window)
            if predicate(v):
                return v
            time.sleep(0.3)
        raise RuntimeError(f"timed out waiting for {what}: {json.dumps(v)}")


def terminals(v, owner):
    return [t for t in v["signals"].get("terminal", []) if t["owner"] == owner]


def scenario_nothing(s):
    return {"idle": s.once()}


def scenario_cpu(s):
    s.start(["sh", "-c", "while :; do :; done"])
    return {"busy": s.once("[Thresholds]\nCpuPercent=20\nMemoryPercent=100\n", window="2s")}


def scenario_script_pty(s):
    s.start(["script", "-q", "-c", "sleep 600", "/dev/null"])
    active = s.verdict_until("the pty", lambda v: terminals(v, "other"))
    s.set_back(active, "other")
    res = {"active": active, "idle": s.once(),
           "zero": s.once(QUIET + "[Sessions]\nSessionIdleSec=0\n")}
    # A job that prints nothing: its terminal's times stay old, its CPU is the use.
    # Busy about 60 % of a CPU (0.17 s of counting, 0.1 s asleep), so BusyPercent=100 below
    # holds it back for sure: a loop at 100 % read 100.5 % now and then (10 ms ticks).
    s.start(["script", "-q", "-c", "sh -c 'while :; do i=0; while [ $i -lt 200000 ]; do "
             "i=$((i+1)); done; sleep 0.1; done'", "/dev/null"])
    v = s.verdict_until("the busy pty", lambda v: len(terminals(v, "other")) == 2)
    s.set_back(v, "other")
    res["busy"] = s.once(window="2s")
    res["busy_at_100"] = s.once(QUIET + "[Sessions]\nBusyPercent=100\n", window="2s")
    return res


def scenario_other_devpts(s):
    """A terminal on a devpts instance the daemon's /dev/pts does not have, as `docker exec
    -it` gives one: script(1) in its own mount namespace with a new instance over /dev/pts."""
    inner = ("mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts && "
             "mount --bind /dev/pts/ptmx /dev/ptmx && "
             "exec script -q -c 'sleep 600' /dev/null")
    s.start(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner])

    def in_container():
        return [int(p) for p in filter(str.isdigit, os.listdir("/proc"))
                if s.cmdline_of(p).startswith("sleep 600")]
    s.wait_for("script in its namespace", in_container)
    pid = in_container()[0]
    res = {"fresh": s.verdict_until("the container's pty", lambda v: terminals(v, "other"))}
    pts = terminals(res["fresh"], "other")[0]["tty"]
    # Its age is the container's pts's, not a host pts's of the same number.
    s.run(["touch", "-a", "-m", "-d", LONG_AGO, f"/proc/{pid}/root/dev/{pts}"])
    res["set_back"] = s.once()
    res["host_has_it"] = os.path.exists(f"/dev/{pts}")
    return res


def scenario_ssm(s):
    worker = os.path.join(s.dir, "ssm-session-worker")
    shutil.copy("/bin/sleep", worker)
    s.start([worker, "600"])
    return {"active": s.verdict_until("the worker", lambda v: v["signals"].get("ssm"))}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sshd_start(s, user):
    """Starts sshd on 127.0.0.1 with a key for user (and root); returns the ssh command."""
    port = free_port()
    for key in ("hostkey", "userkey"):
        s.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(s.dir, key)])
    shutil.copy(os.path.join(s.dir, "userkey.pub"), os.path.join(s.dir, "authorized_keys"))
    os.chmod(os.path.join(s.dir, "authorized_keys"), 0o644)
    conf = os.path.join(s.dir, "sshd_config")
    with open(conf, "w") as f:
        f.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {s.dir}/hostkey
PidFile {s.dir}/sshd.pid
AuthorizedKeysFile {s.dir}/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PrintMotd no
PrintLastLog no
""")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    s.start(["/usr/sbin/sshd", "-D", "-e", "-f", conf])

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    s.wait_for("sshd to listen", listening)
    ssh = ["ssh", "-i", os.path.join(s.dir, "userkey"), "-p", str(port), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", f"{user}@127.0.0.1"]
    return ssh


def scenario_ssh(s):
    user = os.environ["SESSIONS_SSH_USER"]
    ssh = sshd_start(s, user)
    res = {"idle_before": s.once()}

    tty = s.start(ssh[:1] + ["-tt"] + ssh[1:] + ["sleep 600"])
    res["tty"] = s.verdict_until("the ssh pty", lambda v: terminals(v, "sshd"))
    tty.kill()
    tty.wait()
    s.wait_for("the pty session to end",
               lambda: not any(c.startswith(f"sshd: {user}@pts") for c in s.cmdlines()))

    notty = s.start(ssh[:1] + ["-T"] + ssh[1:] + ["sleep 600"])
    res["notty"] = s.verdict_until("the notty connection", lambda v: v["signals"].get("ssh"))
    notty.kill()
    notty.wait()
    s.wait_for("the connection to end",
               lambda: not any(c.startswith(f"sshd: {user}@") for c in s.cmdlines()))
    res["after"] = s.once()
    return res


def scenario_ssh_tunnel(s):
    """`ssh -N -L`: port forwarding only, no session channel, so no "@notty" title; as a
    normal user (a privileged monitor and a child) and as root (one process)."""
    user = os.environ["SESSIONS_SSH_USER"]
    ssh = sshd_start(s, user)
    res = {"idle_before": s.once()}
    for who in (user, "root"):
        argv = ssh[:-1] + ["-N", "-L", f"127.0.0.1:{free_port()}:127.0.0.1:9", f"{who}@127.0.0.1"]
        tunnel = s.start(argv)
        s.wait_for(f"{who}'s tunnel to log in", lambda: any(
            c.strip() == f"sshd: {who}" for c in s.cmdlines()), timeout=30)
        res[who] = s.verdict_until(f"{who}'s tunnel", lambda v: v["signals"].get("ssh"))
        res[who + "_titles"] = [c for c in s.cmdlines() if c.startswith("sshd:")]
        tunnel.kill()
        tunnel.wait()
        s.wait_for("the tunnel to end", lambda: not any(
            c.strip() == f"sshd: {who}" for c in s.cmdlines()))
    res["after"] = s.once()
    return res


def web_server(size):
    """A local HTTP server with a page of size bytes: the far end of the tunnels."""
    import http.server
    import threading
    page = b"x" * size

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def connection_pids(user):
    """The sshd processes that carry user's connections without a terminal."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0].decode()
        except OSError:
            continue
        if title in (f"sshd: {user}", f"sshd: {user}@notty"):
            out.append(int(pid))
    return out


FORGOTTEN_IDLE = 15  # SessionIdleSec= of the forgotten-connection scenario


def scenario_ssh_forgotten(s):
    """Issue #17: a tunnel and an `ssh -T` session carrying only keepalives stop counting once
    SessionIdleSec has passed; a tunnel in use, an scp and the old rule keep the machine up."""
    user = os.environ["SESSIONS_SSH_USER"]
    ssh = sshd_start(s, user)
    conf = QUIET + f"[Sessions]\nSessionIdleSec={FORGOTTEN_IDLE}s\n"
    web, local = web_server(64 * 1024), free_port()
    keepalive = ["-o", "ServerAliveInterval=5"]
    start = time.monotonic()
    s.start(ssh[:-1] + keepalive + ["-N", "-L", f"127.0.0.1:{local}:127.0.0.1:{web}", ssh[-1]])
    s.start(ssh[:-1] + keepalive + ["-T", "-L", f"127.0.0.1:{free_port()}:127.0.0.1:{web}",
                                    ssh[-1], "sleep 600"])
    s.wait_for("both connections", lambda: len(connection_pids(user)) == 2, timeout=30)

    def tunnel_up():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=5).read()
            return True
        except OSError:
            return False
    s.wait_for("the tunnel", tunnel_up)
    res = {"fresh": s.once(conf, window="2s")}
    time.sleep(max(0, start + FORGOTTEN_IDLE + 1 - time.monotonic()))
    res["forgotten"] = s.once(conf, window="3s")
    res["always"] = s.once(conf + "ConnectionsAlwaysActive=yes\n", window="3s")

    # A client using the tunnel: a 64 KB page every second.
    import threading
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=5).read()
            stop.wait(1)
    threading.Thread(target=poll, daemon=True).start()
    res["polled"] = s.once(conf, window="3s")
    stop.set()

    big = os.path.join(s.dir, "big")
    with open(big, "wb") as f:
        f.write(os.urandom(32 << 20))
    opts = ["-P" if o == "-p" else o for o in ssh[1:-1]]
    # -O: the scp protocol (this sshd has no sftp subsystem); -l: 2 MB/s, 16 s.
    scp = s.start(["scp", "-O", "-l", "16000"] + opts + [big, f"{ssh[-1]}:/dev/null"])
    s.wait_for("scp", lambda: len(connection_pids(user)) == 3, timeout=30)
    time.sleep(1)
    res["scp"] = s.once(conf, window="2s")
    res["scp_running"] = scp.poll() is None
    return res


def panes_up(kind, n=1):
    def check(v):
        return sum(1 for m in v["signals"].get("multiplexer", [])
                   if m["kind"] == kind and m["panes"] > 0) >= n
    return check


def scenario_tmux(s):
    sock = os.path.join(s.dir, "tmux.sock")
    tmux = ["tmux", "-S", sock]
    res = {}
    s.run(tmux + ["new-session", "-d", "-s", "quiet", "sh"])
    v = s.verdict_until("the tmux pane", panes_up("tmux"))
    time.sleep(1)  # the shell's prompt
    s.set_back(v, "tmux")
    res["detached_idle"] = s.once()

    # A second server: per-server facts must not mix the two up.
    busy = ["tmux", "-S", os.path.join(s.dir, "busy.sock")]
    s.run(busy + ["new-session", "-d", "-s", "busy", "sh -c 'while :; do :; done'"])
    v = s.verdict_until("the busy pane", panes_up("tmux", 2))
    s.set_back(v, "tmux")
    res["detached_busy"] = s.once(window="2s")
    s.run(busy + ["kill-server"])

    client = s.start(["script", "-q", "-c", f"tmux -S {sock} attach -t quiet", "/dev/null"])
    res["attached"] = s.verdict_until(
        "the attached client",
        lambda v: any(m["clients"] > 0 for m in v["signals"].get("multiplexer", [])))
    client.kill()
    return res


def scenario_tmux_other_user(s):
    user = os.environ["SESSIONS_OTHER_USER"]
    env = dict(s.env, HOME="/tmp", TMUX_TMPDIR="/tmp", USER=user, LOGNAME=user)
    s.run(["runuser", "-u", user, "--", "tmux", "new-session", "-d", "-s", "theirs", "sh"],
          env=env)
    v = s.verdict_until("the other user's tmux", panes_up("tmux"))
    time.sleep(1)
    s.set_back(s.once(), "tmux")
    return {"fresh": v, "set_back": s.once()}


def scenario_screen(s):
    os.makedirs(s.env["SCREENDIR"], mode=0o700, exist_ok=True)
    res = {}
    s.run(["screen", "-dmS", "quiet", "sh"])
    v = s.verdict_until("the screen window", panes_up("screen"))
    time.sleep(1)
    s.set_back(v, "screen")
    res["detached_idle"] = s.once()
    s.run(["screen", "-dmS", "busy", "sh", "-c", "while :; do :; done"])
    v = s.verdict_until("the busy window", panes_up("screen", 2))
    s.set_back(v, "screen")
    res["detached_busy"] = s.once(window="2s")
    return res


def scenario_user_process(s):
    """A login user's detached busy loop (no terminal, no pattern) and root's."""
    user = os.environ["SESSIONS_OTHER_USER"]
    s.start(["sh", "-c", "while :; do :; done"])  # root's: not a login user
    job = s.start(["runuser", "-u", user, "--", "setsid", "sh", "-c", "while :; do :; done"])
    s.wait_for("the user's loop", lambda: any(
        c.startswith("sh -c while") for c in s.cmdlines()) and job.poll() is None)
    res = {"busy": s.once(window="2s"),
           "off": s.once(QUIET + "[Processes]\nUserBusyPercent=0\n", window="2s")}
    subprocess.run(["pkill", "-u", user], check=False)
    job.wait(timeout=10)
    res["after"] = s.once(window="2s")
    return res


# Runs in Debian's python3 (where jupyter_client is): starts CODE in the kernel of the
# connection file argv[1] without waiting for it to finish.
KERNEL_CLIENT = """
import sys
from jupyter_client import BlockingKernelClient
kc = BlockingKernelClient(connection_file=sys.argv[1])
kc.load_connection_file()
kc.start_channels()
kc.wait_for_ready(timeout=60)
kc.execute(sys.argv[2])
kc.stop_channels()
"""


def scenario_jupyter(s):
    port, token = free_port(), "trnidled-test"
    env = dict(s.env, JUPYTER_RUNTIME_DIR=os.path.join(s.dir, "runtime"),
               JUPYTER_DATA_DIR=os.path.join(s.dir, "data"),
               JUPYTER_CONFIG_DIR=os.path.join(s.dir, "config"))
    s.start(["jupyter-notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={port}", f"--NotebookApp.token={token}", f"--notebook-dir={s.dir}"],
            env=env)

    def api(method, path):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/{path}", method=method,
                                     headers={"Authorization": f"token {token}"},
                                     data=b"{}" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def up():
        try:
            api("GET", "status")
            return True
        except OSError:
            return False
    s.wait_for("the notebook server", up, timeout=60)
    kernel = api("POST", "kernels")["id"]
    conn = os.path.join(env["JUPYTER_RUNTIME_DIR"], f"kernel-{kernel}.json")
    s.wait_for("the kernel's connection file", lambda: os.path.exists(conn), timeout=60)

    def kernel_settled(v):
        return v["signals"].get("jupyter") and v["verdict"] == "idle"
    res = {"idle": s.verdict_until("the kernel to settle", kernel_settled, timeout=60)}

    def execute(code):
        subprocess.run(["/usr/bin/python3", "-c", KERNEL_CLIENT, conn, code], check=True,
                       timeout=90, stdin=subprocess.DEVNULL, env=env)
    execute("while True: pass")
    res["busy"] = s.verdict_until(
        "the busy cell", lambda v: "jupyter" in [r["signal"] for r in v["reasons"]],
        window="2s", timeout=30)
    api("POST", f"kernels/{kernel}/interrupt")
    res["interrupted"] = s.verdict_until("the kernel to settle again", kernel_settled,
                                         timeout=60)

    compiler = os.path.join(s.dir, "neuronx-cc")
    shutil.copy("/bin/sleep", compiler)
    execute(f"import subprocess; p = subprocess.Popen([{compiler!r}, '600'])")
    res["compiler"] = s.verdict_until(
        "the compiler the cell started",
        lambda v: any(k["work_pid"] for k in v["signals"].get("jupyter", [])), timeout=30)
    return res


def scenario_main(name):
    s = Scene()
    try:
        res = globals()["scenario_" + name](s)
    finally:
        for p in s.procs:
            p.kill()
        shutil.rmtree(s.dir, ignore_errors=True)
    print(json.dumps(res))


# --- outside: the tests ---------------------------------------------------------------------

def run_scenario(name, env=None):
    out = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, HERE,
                          "--scenario", name],
                         capture_output=True, text=True, timeout=SCENARIO_TIMEOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True,
                         env=dict(os.environ, **(env or {})))
    if out.returncode != 0:
        raise AssertionError(f"scenario {name} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def signals(v):
    return [r["signal"] for r in v["reasons"]]


def details(v, signal):
    return [r["detail"] for r in v["reasons"] if r["signal"] == signal]


def missing_tools():
    need = ["unshare", "script", "tmux", "screen", "ssh", "ssh-keygen", "/usr/sbin/sshd",
            "runuser", "useradd", "userdel", "touch"]
    return [t for t in need if not shutil.which(t)]


def add_user(prefix):
    name = f"{prefix}{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-d", "/tmp", "-s", "/bin/sh", name], check=True)
    # Not locked ("!"): sshd without PAM refuses locked accounts even for keys.
    subprocess.run(["usermod", "-p", "*", name], check=True)
    return name


@unittest.skipUnless(os.geteuid() == 0, "needs root (PID namespaces, sshd, useradd)")
@unittest.skipIf(missing_tools(), f"missing: {missing_tools()}")
class Sessions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = []
        cls.ssh_user = add_user("tidl-ssh")
        cls.users.append(cls.ssh_user)
        cls.other_user = add_user("tidl-tmx")
        cls.users.append(cls.other_user)

    @classmethod
    def tearDownClass(cls):
        # Their processes lived in the scenarios' PID namespaces and died with them.
        for u in cls.users:
            subprocess.run(["userdel", u], check=False)

    def test_nothing_running_is_idle(self):
        v = run_scenario("nothing")["idle"]
        self.assertEqual(v["verdict"], "idle", v["reasons"])
        self.assertEqual(v["signals"]["terminal"], [])
        self.assertEqual(v["signals"]["multiplexer"], [])

    def test_busy_loop_is_cpu_activity(self):
        v = run_scenario("cpu")["busy"]
        self.assertEqual(v["verdict"], "active")
        self.assertIn("cpu", signals(v))

    def test_script_pty_active_then_idle_when_set_back(self):
        r = run_scenario("script_pty")
        self.assertEqual(r["active"]["verdict"], "active")
        self.assertIn("terminal", signals(r["active"]))
        self.assertRegex(details(r["active"], "terminal")[0], r"^pts/\d+ of root \(terminal, ")
        self.assertEqual(r["idle"]["verdict"], "idle", r["idle"]["reasons"])
        self.assertGreater(terminals(r["idle"], "other")[0]["idle_sec"], 3600)
        # SessionIdleSec=0: an open terminal always counts, however old.
        self.assertIn("terminal", signals(r["zero"]))
        # A silent job on an old terminal: the terminal counts by its process's CPU.
        v = r["busy"]
        self.assertEqual(v["verdict"], "active")
        self.assertEqual(signals(v).count("terminal"), 1, v["reasons"])  # the quiet pty is idle
        busy = [t for t in v["signals"]["terminal"] if t["busy_percent"] > 5]
        self.assertEqual(len(busy), 1, v["signals"]["terminal"])
        self.assertEqual((busy[0]["user"], busy[0]["owner"], busy[0]["busy_comm"]),
                         ("root", "other", "sh"), busy[0])
        self.assertEqual(r["busy_at_100"]["verdict"], "idle", r["busy_at_100"]["reasons"])

    def test_ssh_interactive_notty_and_logout(self):
        r = run_scenario("ssh", {"SESSIONS_SSH_USER": self.ssh_user})
        self.assertEqual(r["idle_before"]["verdict"], "idle", r["idle_before"]["reasons"])
        self.assertEqual(r["tty"]["verdict"], "active")
        d = details(r["tty"], "terminal")
        self.assertTrue(d and f"of {self.ssh_user} (SSH session" in d[0], d)
        self.assertEqual(r["notty"]["verdict"], "active")
        d = details(r["notty"], "ssh")
        self.assertTrue(d and d[0].startswith(f"{self.ssh_user} over SSH without a terminal"), d)
        self.assertEqual(r["after"]["verdict"], "idle", r["after"]["reasons"])

    def test_terminal_of_another_devpts_instance(self):
        """Issue #12 item 4: a container's terminal is not the daemon's /dev/pts/N."""
        r = run_scenario("other_devpts")
        v = r["fresh"]
        self.assertEqual(v["verdict"], "active", v["reasons"])
        self.assertRegex(details(v, "terminal")[0],
                         r"^pts/\d+ of root \(terminal, \w+ pid \d+\): input or output")
        v = r["set_back"]
        self.assertEqual(v["verdict"], "idle", v["reasons"])
        self.assertGreater(terminals(v, "other")[0]["idle_sec"], 3600)

    def test_ssh_tunnel_without_session_channel(self):
        """Issue #12 item 7: `ssh -N -L` is a connection, for a user and for root."""
        r = run_scenario("ssh_tunnel", {"SESSIONS_SSH_USER": self.ssh_user})
        self.assertEqual(r["idle_before"]["verdict"], "idle", r["idle_before"]["reasons"])
        for who in (self.ssh_user, "root"):
            v = r[who]
            self.assertEqual(v["verdict"], "active", (who, r[who + "_titles"]))
            d = details(v, "ssh")
            self.assertEqual(len(d), 1, (d, r[who + "_titles"]))  # [priv] not counted
            self.assertTrue(d[0].startswith(f"{who} over SSH without a terminal"), d)
        self.assertEqual(r["after"]["verdict"], "idle", r["after"]["reasons"])

    def test_forgotten_connections_stop_counting(self):
        """Issue #17: keepalives alone are not use; traffic, scp and the old rule are."""
        r = run_scenario("ssh_forgotten", {"SESSIONS_SSH_USER": self.ssh_user})
        u = self.ssh_user
        v = r["fresh"]
        self.assertEqual(v["verdict"], "active", v["reasons"])
        d = details(v, "ssh")
        self.assertEqual(len(d), 2, d)
        self.assertTrue(all(x.startswith(f"{u} over SSH without a terminal (sshd pid ")
                            and "connected " in x for x in d), d)
        v = r["forgotten"]
        self.assertEqual(v["verdict"], "idle", v["reasons"])
        notes = [n["detail"] for n in v["not_counting"] if n["signal"] == "ssh"]
        self.assertEqual(len(notes), 2, v["not_counting"])
        self.assertTrue(all("only keepalives since it connected" in n for n in notes), notes)
        self.assertEqual(len(v["signals"]["ssh"]), 2)
        self.assertTrue(all(c["bytes"] is not None for c in v["signals"]["ssh"]))
        v = r["always"]
        self.assertEqual(v["verdict"], "active", v["reasons"])
        self.assertIn("ConnectionsAlwaysActive=yes", details(v, "ssh")[0])
        v = r["polled"]
        self.assertEqual(v["verdict"], "active", v["reasons"])
        d = details(v, "ssh")
        self.assertEqual(len(d), 1, d)  # the -T session still carries only keepalives
        self.assertRegex(d[0], r": [\d.]+ (KB|MB) in the last [\d.]+s$")
        self.assertEqual(len(v["not_counting"]), 1, v["not_counting"])
        self.assertTrue(r["scp_running"], "scp ended before the check: make it slower")
        v = r["scp"]
        self.assertEqual(v["verdict"], "active", v["reasons"])
        self.assertTrue(any(re.search(r"MB in the last", x) for x in details(v, "ssh")),
                        details(v, "ssh"))

    def test_ssm_session_worker_by_full_path(self):
        v = run_scenario("ssm")["active"]
        self.assertEqual(v["verdict"], "active")
        self.assertIn("ssm", signals(v))
        ssm = v["signals"]["ssm"]
        self.assertTrue(ssm and ssm[0]["terminals"] == 0, ssm)

    def test_tmux_detached_idle_busy_and_attached(self):
        r = run_scenario("tmux")
        v = r["detached_idle"]
        self.assertEqual(v["verdict"], "idle", v["reasons"])
        self.assertEqual(len(v["signals"]["multiplexer"]), 1)
        v = r["detached_busy"]
        self.assertEqual(v["verdict"], "active")
        self.assertEqual(signals(v).count("multiplexer"), 1, v["reasons"])  # the quiet one: idle
        busy = [m for m in v["signals"]["multiplexer"] if m["busy_percent"] > 5]
        self.assertEqual(len(busy), 1, v["signals"]["multiplexer"])
        self.assertEqual((busy[0]["kind"], busy[0]["user"], busy[0]["name"], busy[0]["busy_comm"]),
                         ("tmux", "root", "busy", "sh"), busy[0])
        self.assertNotIn("terminal", signals(v))  # panes belong to the multiplexer
        v = r["attached"]
        self.assertEqual(v["verdict"], "active")
        d = details(v, "multiplexer")
        self.assertTrue(any("first session 'quiet'" in x and "attached from pts/" in x
                            for x in d), d)

    def test_tmux_of_another_user_is_found(self):
        r = run_scenario("tmux_other_user", {"SESSIONS_OTHER_USER": self.other_user})
        v = r["fresh"]
        self.assertEqual(v["verdict"], "active")
        self.assertTrue(any(m["user"] == self.other_user
                            for m in v["signals"]["multiplexer"]), v["signals"])
        self.assertTrue(any(m["user"] == self.other_user and m["name"] == "theirs"
                            for m in v["signals"]["multiplexer"]), v["signals"]["multiplexer"])
        self.assertEqual(r["set_back"]["verdict"], "idle", r["set_back"]["reasons"])

    def test_screen_detached_idle_and_busy(self):
        r = run_scenario("screen")
        self.assertEqual(r["detached_idle"]["verdict"], "idle", r["detached_idle"]["reasons"])
        v = r["detached_busy"]
        self.assertEqual(v["verdict"], "active")
        self.assertTrue(any(m["kind"] == "screen" and m["name"] == "busy" and m["user"] == "root"
                            and m["busy_percent"] > 5 for m in v["signals"]["multiplexer"]),
                        v["signals"]["multiplexer"])


    def test_user_process_detached_job(self):
        r = run_scenario("user_process", {"SESSIONS_OTHER_USER": self.other_user})
        v = r["busy"]
        self.assertEqual(v["verdict"], "active")
        self.assertEqual(signals(v), ["user-process"], v["reasons"])
        busiest = v["signals"]["user-process"]["busiest"]
        self.assertEqual(busiest[0]["comm"], "sh", busiest)
        self.assertTrue(busiest and all(p["user"] == self.other_user for p in busiest), busiest)
        self.assertEqual(r["off"]["verdict"], "idle", r["off"]["reasons"])
        self.assertNotIn("user-process", r["off"]["signals"])
        # Root's loop still runs: it is not a login user's.
        self.assertEqual(r["after"]["verdict"], "idle", r["after"]["reasons"])

    @unittest.skipUnless(shutil.which("jupyter-notebook") and os.path.exists("/usr/bin/python3"),
                         "needs jupyter-notebook (scripts/install-deps test)")
    def test_jupyter_kernel_idle_busy_and_work(self):
        r = run_scenario("jupyter")
        v = r["idle"]
        self.assertEqual(v["verdict"], "idle", v["reasons"])
        k = v["signals"]["jupyter"]
        self.assertEqual(len(k), 1, k)
        self.assertEqual(k[0]["user"], "root")
        self.assertEqual(k[0]["server"], "jupyter-notebook", k)
        self.assertGreater(k[0]["server_pid"], 0)
        v = r["busy"]
        self.assertEqual(v["verdict"], "active")
        k = v["signals"]["jupyter"][0]
        self.assertIn("jupyter", signals(v))
        self.assertEqual((k["user"], k["busy_pid"], k["busy_comm"]), ("root", k["pid"], "python3"),
                         k)
        self.assertGreater(k["busy_percent"], 5, k)
        self.assertGreater(k["server_pid"], 0, k)
        self.assertEqual(r["interrupted"]["verdict"], "idle", r["interrupted"]["reasons"])
        v = r["compiler"]
        self.assertEqual(v["verdict"], "active")
        self.assertIn("jupyter", signals(v))
        self.assertGreater(v["signals"]["jupyter"][0]["work_pid"], 0, v["signals"]["jupyter"])
        self.assertIn("neuron-process", signals(v))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--scenario":
        scenario_main(sys.argv[2])
    else:
        unittest.main()
