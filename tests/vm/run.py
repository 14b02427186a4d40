#!/usr/bin/python3
"""The VM test: trnidled installed the way users install it (cloud-init user-data and the .deb)
on a real systemd machine, a Debian 12 or 13 VM under QEMU, doing its one job.

  tests/vm/run.py [--release SUITE] [--deb PATH] [--keep] [SCENARIO ...]
                                          (scenarios: idle work ssh upgrade companion; release: bookworm)

Builds (or finds cached) the VM image of the release, builds the .deb for that release from
this checkout (packaging/build-deb --release) unless --deb is given, boots one throwaway VM per
scenario (one at a time; every boot under a hard timeout), reads the guest's journal from its
disk after it powered off, and prints one line per scenario and "RESULT passed=N failed=M
skipped=K". Needs root, and the packages of `scripts/install-deps vm`.
See tests/vm/README.md for what each scenario proves.
"""
import argparse
import base64
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import yaml

import companion

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

MSG_CHECK = "6b1f0c3e8a2d4e51b7c94d0a5e3f2a17"
MSG_ACTION_TAKEN = "d3a45f1e9c0b4b7e8f216a5c7e0d9b42"
MSG_UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"  # systemd: a unit finished starting

DROPIN_PATH = "/etc/trnidled.conf.d/50-cloud-init.conf"
DEB_PATH = "/var/cache/trnidled/trnidled.deb"

# The test-speed settings, in the drop-in that the user-data ships for users to replace.
INTERVAL = 10
GRACE = 120
IDLE_CHECKS = 2
# A check record's journal time is when it was written, after the daemon read its clock and
# sampled every process (tens of ms under TCG): a check stamped just after the grace may have
# decided just before it, and rightly said "grace". Boundaries against GRACE allow this much.
RECORD_SLACK = 1.0
# Half an interval: the re-check at the end of the warning then falls between two checks.
WARN = 5
# Debian 13 boots slower under TCG: cloud-init 25's single-process service alone took 84 s to
# start on a loaded 2-core host, and trnidled was installed at 330 s of boot. Its boot grace and
# every hard limit get this much more (set by --release), so that the grace still covers the
# boot and the first counted checks see an idle machine.
BOOT_SLACK = {"bookworm": 0, "trixie": 120}
DROPIN = """# trnidled VM test: fast checks, so a scenario takes minutes, not hours.
[Check]
IntervalSec={interval}s
BootGraceSec={grace}s
IdleChecks={idle_checks}
[Action]
Action=poweroff
WarnSec={warn}s
{sessions}"""
# The ssh scenario's [Sessions] SessionIdleSec=: a terminal or connection untouched this long
# stops counting. The user types every INTERVAL (and a pty's times move in 8 s steps), so a
# third of it is margin enough; the forgotten tunnel, opened before the login and carrying only
# keepalives, stops counting an interval after it connected plus this, long before the logout.
SESSION_IDLE = 30
SESSIONS = f"[Sessions]\nSessionIdleSec={SESSION_IDLE}s\n"
# From the daemon's last idle check to the kernel's "Power down": the warning, then systemd's
# shutdown under TCG (measured 5-15 s).
POWEROFF_SLACK = WARN + 45
# From the end of work (or a logout) to the action: the first check may still see the work's
# last seconds in its CPU window, then IdleChecks idle checks, then the warning.
AFTER_WORK_LIMIT = (IDLE_CHECKS + 2) * INTERVAL + WARN + 5

# The image runs only these cloud-init modules (tests/vm/image/cloud.cfg); a user-data key that
# none of them reads would silently do nothing in the VM, so the test refuses it.
USERDATA_KEYS = {"write_files", "runcmd", "bootcmd", "users", "groups", "ssh_authorized_keys",
                 "ssh_pwauth", "disable_root", "final_message", "merge_how"}

GUEST_USER = "tester"

children = []  # process groups to end, whatever happens


def kill_children():
    for p in children:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def on_signal(signum, frame):
    kill_children()
    sys.exit(128 + signum)


def log(msg):
    print(f"vm: {msg}", flush=True)


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, check=True, timeout=timeout, text=True, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, **kw).stdout


class ScenarioFailed(Exception):
    pass


class Checks:
    """Collects the failed assertions of one scenario, so one run reports them all."""

    def __init__(self):
        self.failures = []

    def expect(self, ok, what):
        log(("  ok   " if ok else "  FAIL ") + what)
        if not ok:
            self.failures.append(what)
        return ok


# ---- the image, the .deb, the seed --------------------------------------------------------


def build_image(release):
    out = run([os.path.join(HERE, "build-image"), release], timeout=900).strip().splitlines()
    return out[-1]


def build_deb(release, outdir, version=None):
    env = dict(os.environ, TRNIDLED_VERSION=version) if version else None
    out = run([os.path.join(TOP, "packaging", "build-deb"), "--release", release, outdir],
              timeout=900, env=env)
    return out.strip().splitlines()[-1]


def deb_missing_depends(deb, image_dir):
    """Depends of the .deb that the image cannot satisfy (the VM has no network for apt)."""
    have = set()
    with open(os.path.join(image_dir, "packages.txt")) as f:
        for line in f:
            have.add(line.split()[0].split(":")[0])
    depends = ",".join(run(["dpkg-deb", "-f", deb, field]) for field in ("Pre-Depends", "Depends"))
    missing = []
    for clause in depends.split(","):
        # "libc6 (>= 2.34)", "python3:any", "a | b": any alternative's package name will do.
        alts = [re.sub(r"[\s(:].*", "", a.strip()) for a in clause.split("|") if a.strip()]
        if alts and not any(a in have for a in alts):
            missing.append(clause.strip())
    return missing


def make_user_data(deb, extra_runcmd=(), users=(), extra_files=(), sessions=""):
    """The project's user-data as a user would use it: its drop-in's content replaced by ours,
    the .deb put where its runcmd installs it, and the scenario's own additions."""
    with open(os.path.join(TOP, "packaging", "cloud-init", "user-data.yaml")) as f:
        text = f.read()
    if not text.startswith("#cloud-config"):
        raise ScenarioFailed("user-data does not start with #cloud-config")
    data = yaml.safe_load(text)
    unknown = set(data) - USERDATA_KEYS
    if unknown:
        raise ScenarioFailed(f"user-data uses {sorted(unknown)}, which the VM image's trimmed "
                             "cloud-init does not run: add the module to tests/vm/image/cloud.cfg "
                             "and the key to USERDATA_KEYS in tests/vm/run.py")
    files = data.setdefault("write_files", [])
    dropins = [e for e in files if e.get("path") == DROPIN_PATH]
    if len(dropins) != 1:
        raise ScenarioFailed(f"user-data has {len(dropins)} write_files entries for {DROPIN_PATH}"
                             ", expected one (the drop-in users replace)")
    dropins[0]["content"] = DROPIN.format(interval=INTERVAL, grace=GRACE,
                                          idle_checks=IDLE_CHECKS, warn=WARN, sessions=sessions)
    dropins[0].pop("encoding", None)
    if DEB_PATH not in json.dumps(data.get("runcmd", [])):
        raise ScenarioFailed(f"user-data's runcmd never mentions {DEB_PATH}")
    with open(deb, "rb") as f:
        payload = base64.b64encode(f.read()).decode()
    files.insert(0, {"path": DEB_PATH, "encoding": "b64", "permissions": "0644",
                     "content": payload})
    files.extend(extra_files)
    data["runcmd"] = list(data.get("runcmd", [])) + list(extra_runcmd)
    if users:
        data["users"] = list(data.get("users", [])) + list(users)
    return "#cloud-config\n" + yaml.safe_dump(data, sort_keys=False, width=1 << 20)


# ---- one VM -------------------------------------------------------------------------------


class Vm:
    def __init__(self, image_dir, workdir, name, user_data, limit, hostfwd_port=None, disks=(),
                 smbios=None):
        self.image_dir, self.dir, self.name = image_dir, workdir, name
        self.limit = limit + GRACE - 120  # the limits are for a 120 s grace
        self.port = hostfwd_port
        self.disks = disks  # (qcow2 path, serial) of more virtio disks
        self.smbios = smbios  # -smbios value: what the firmware says the machine is
        os.makedirs(self.dir)
        self.overlay = os.path.join(self.dir, "overlay.qcow2")
        self.console = os.path.join(self.dir, "console.log")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
             os.path.join(image_dir, "base.qcow2"), self.overlay])
        seed = os.path.join(self.dir, "seed")
        os.makedirs(seed)
        with open(os.path.join(seed, "user-data"), "w") as f:
            f.write(user_data)
        with open(os.path.join(seed, "meta-data"), "w") as f:
            f.write(f"instance-id: vmtest-{name}-{os.getpid()}-{int(time.time())}\n"
                    "local-hostname: trnidled-vm\n")
        self.seed_iso = os.path.join(self.dir, "seed.iso")
        run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-R", "-o",
             self.seed_iso, os.path.join(seed, "user-data"), os.path.join(seed, "meta-data")],
            stderr=subprocess.STDOUT)
        self.proc = None
        self.started = None

    def start(self):
        cmd = ["timeout", "--kill-after=10", str(self.limit),
               "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2",
               "-m", "2048", "-display", "none", "-monitor", "none", "-no-reboot",
               "-serial", f"file:{self.console}",
               "-kernel", os.path.join(self.image_dir, "vmlinuz"),
               "-initrd", os.path.join(self.image_dir, "initrd.img"),
               "-append", "root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=0",
               "-drive", f"file={self.overlay},if=virtio,format=qcow2,cache=unsafe",
               "-drive", f"file={self.seed_iso},if=virtio,format=raw,readonly=on",
               "-device", "virtio-rng-pci"]
        for i, (path, serial) in enumerate(self.disks):
            # PCI slots after the if=virtio ones: the root disk must stay /dev/vda.
            cmd += ["-drive", f"file={path},if=none,id=disk{i},format=qcow2,cache=unsafe",
                    "-device", f"virtio-blk-pci,drive=disk{i},serial={serial},addr={0x10 + i:#x}"]
        if self.smbios:
            cmd += ["-smbios", self.smbios]
        if self.port:
            # restrict=on: the guest reaches nothing; only the forwarded port comes in.
            cmd += ["-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                    "-device", "virtio-net-pci,netdev=n0,romfile="]
        else:
            cmd += ["-nic", "none"]
        self.qemu_log = open(os.path.join(self.dir, "qemu.log"), "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.qemu_log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        children.append(self.proc)
        log(f"{self.name}: VM started (hard limit {self.limit} s)")

    def elapsed(self):
        return time.monotonic() - self.started

    def wait(self):
        """Waits for QEMU to exit; returns its exit code, or None if the hard limit hit."""
        try:
            rc = self.proc.wait(timeout=max(1, self.limit - self.elapsed() + 15))
        except subprocess.TimeoutExpired:
            rc = None
        kill_children()
        self.qemu_log.close()
        if rc in (124, 137):
            rc = None
        log(f"{self.name}: QEMU {'exited ' + str(rc) if rc is not None else 'killed at the limit'}"
            f" after {self.elapsed():.0f} s")
        return rc

    def console_text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def harvest(self):
        """Reads the guest's journal and cloud-init's records from the overlay, without booting."""
        raw = os.path.join(self.dir, "disk.raw")
        run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", self.overlay, raw], timeout=300)
        out = os.path.join(self.dir, "guest")
        os.makedirs(out)
        for path in ("/var/log/journal", "/var/lib/cloud/data", "/var/log/cloud-init-output.log",
                     "/var/log/cloud-init.log"):
            subprocess.run(["debugfs", "-R", f"rdump {path} {out}", raw], timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.unlink(raw)
        self.guest = out
        jdir = os.path.join(out, "journal")
        self.journal = []
        if os.path.isdir(jdir):
            text = subprocess.run(["journalctl", "--directory", jdir, "-o", "json", "--no-pager"],
                                  text=True, stdout=subprocess.PIPE, timeout=120).stdout
            self.journal = [json.loads(line) for line in text.splitlines() if line.strip()]
        with open(os.path.join(self.dir, "journal.txt"), "w") as f:
            for e in self.journal:
                f.write(f"{mono(e):9.3f} {e.get('SYSLOG_IDENTIFIER', '?')}: "
                        f"{field_text(e.get('MESSAGE'))}\n")
        return self.journal

    def cloud_init_errors(self):
        try:
            with open(os.path.join(self.guest, "data", "result.json")) as f:
                return json.load(f).get("v1", {}).get("errors", ["no result"])
        except (OSError, ValueError) as e:
            return [f"cannot read cloud-init's result.json: {e}"]

    def show_tail(self):
        with open(os.path.join(self.dir, "qemu.log"), errors="replace") as f:
            for line in f.read().splitlines()[-10:]:
                print("    qemu: " + line)
        lines = self.console_text().splitlines()
        log(f"{self.name}: last console lines:")
        for line in lines[-25:]:
            print("    " + line)
        path = os.path.join(self.dir, "journal.txt")
        if os.path.exists(path):
            with open(path) as f:
                ours = [ln for ln in f if "trnidle" in ln or "vmtest" in ln or "cloud-init" in ln]
            log(f"{self.name}: trnidled, workload and cloud-init journal records (last 60):")
            for line in ours[-60:]:
                print("    " + line.rstrip())


# ---- reading the journal ------------------------------------------------------------------


def mono(entry):
    return int(entry.get("__MONOTONIC_TIMESTAMP", 0)) / 1e6


def field_text(v):
    if isinstance(v, list) and all(isinstance(x, int) for x in v):
        return bytes(v).decode(errors="replace")
    return "" if v is None else str(v)


def field_list(entry, name):
    v = entry.get(name)
    if v is None:
        return []
    if isinstance(v, list) and not all(isinstance(x, int) for x in v):
        return [field_text(x) for x in v]
    return [field_text(v)]


def checks_of(journal):
    return [e for e in journal if e.get("MESSAGE_ID") == MSG_CHECK]


def actions_of(journal):
    return [e for e in journal if e.get("MESSAGE_ID") == MSG_ACTION_TAKEN]


def trnidled_start(journal):
    for e in journal:
        if e.get("MESSAGE_ID") == MSG_UNIT_STARTED and e.get("UNIT") == "trnidled.service":
            return mono(e)
    return None


def marker(journal, text):
    for e in journal:
        if e.get("SYSLOG_IDENTIFIER") == "vmtest-workload" and text in field_text(e.get("MESSAGE")):
            return mono(e)
    return None


def setup_only(entry):
    """A check that was active because cloud-init had not finished this boot's setup (the
    first may also see the boot's last CPU)."""
    return (field_text(entry.get("TRNIDLED_VERDICT")) == "active"
            and "cloud-init" in field_list(entry, "TRNIDLED_SIGNAL"))


def counted(entry):
    """A check of the idle streak the model follows: after the grace and cloud-init's setup."""
    return (field_text(entry.get("MESSAGE")).startswith("check:")
            and field_text(entry.get("TRNIDLED_VERDICT")) != "grace" and not setup_only(entry))


def streak_checks(checks):
    """The checks the idle streak's model follows: those counted, except that the first after
    cloud-init's setup (when it outlasted the grace) may still see the setup's last seconds in
    its CPU window, as the first check after work does."""
    setup = [mono(e) for e in checks if setup_only(e)]
    out = [e for e in checks if counted(e)]
    if (setup and out and field_list(out[0], "TRNIDLED_SIGNAL") == ["cpu"]
            and mono(out[0]) <= setup[-1] + INTERVAL + RECORD_SLACK):
        return out[1:], mono(out[0])
    return out, max(setup, default=0)


def cloud_init_finished(journal):
    """When cloud-init's last stage printed its final message ("Cloud-init v. 25.1 finished at
    ..."), just before it wrote result.json; None when the journal has no such line."""
    for e in journal:
        if re.search(r"Cloud-init v\. \S+ finished at", field_text(e.get("MESSAGE"))):
            return mono(e)
    return None


def setup_checks_match_cloud_init(c, journal, checks):
    """The daemon said cloud-init exactly while cloud-init's setup ran: no such check after its
    final message (result.json follows within a moment), and none missing before it."""
    done = cloud_init_finished(journal)
    c.expect(done is not None, "the guest journal has cloud-init's final message")
    if done is None:
        return
    setup = [mono(e) for e in checks if setup_only(e)]
    c.expect(all(t <= done + 2 + RECORD_SLACK for t in setup),
             f"no check said cloud-init after its setup ended at {done:.1f} s of boot "
             f"(cloud-init checks at {[round(t, 1) for t in setup]})")
    early = [mono(e) for e in checks if counted(e) and mono(e) < done - RECORD_SLACK]
    c.expect(not early, f"every check after the grace and before cloud-init ended at {done:.1f} s"
             f" said cloud-init (these did not: {[round(t, 1) for t in early]})")


def power_down_at(console):
    m = re.search(r"\[\s*(\d+\.\d+)\] reboot: Power down", console)
    return float(m.group(1)) if m else None


def model_action(start, grace=None):
    """When an idle machine's action is due: the first check at or after the boot grace (checks
    run every interval from the daemon's start), IdleChecks - 1 more checks, then the warning."""
    grace = GRACE if grace is None else grace
    first = start + INTERVAL * max(1, math.ceil((grace - start) / INTERVAL))
    return first + (IDLE_CHECKS - 1) * INTERVAL + WARN


def common_checks(c, vm, rc):
    """What every scenario asserts about its boot: it ended by powering off, cloud-init did its
    work, trnidled ran and decided, and no probe failed."""
    console = vm.console_text()
    c.expect(rc == 0, f"QEMU exited by itself with status 0 (got {rc})")
    c.expect(power_down_at(console) is not None, "the guest kernel powered off (\"reboot: Power down\")")
    journal = vm.harvest()
    c.expect(len(journal) > 0, "the guest journal was read back from the disk")
    errors = vm.cloud_init_errors()
    c.expect(not errors, f"cloud-init reported no errors {errors if errors else ''}")
    start = trnidled_start(journal)
    c.expect(start is not None, "systemd started trnidled.service (installed by cloud-init)")
    checks = checks_of(journal)
    c.expect(len(checks) > 0, f"the journal holds trnidled's per-check records ({len(checks)})")
    bad = [e for e in journal if "probe-error" in field_list(e, "TRNIDLED_SIGNAL")]
    c.expect(not bad, "no probe-error in any check" +
             (f" (first: {field_text(bad[0].get('TRNIDLED_REASONS'))})" if bad else ""))
    actions = actions_of(journal)
    c.expect(len(actions) == 1, f"exactly one action record (MESSAGE_ID {MSG_ACTION_TAKEN})")
    if actions:
        c.expect(field_text(actions[0].get("TRNIDLED_ACTION")) == "poweroff",
                 f"the action was poweroff ({field_text(actions[0].get('MESSAGE'))})")
    return journal, start, checks, (mono(actions[0]) if actions else None), power_down_at(console)


def signal_checks(checks, name):
    return [e for e in checks if name in field_list(e, "TRNIDLED_SIGNAL")]


def powered_off_on_time(c, start, down, grace=None, checks=()):
    """An idle machine's power-off came when the grace, the checks and the warning say. The
    check schedule's phase comes from the daemon's own first counted check when there is one:
    the start record is written after the timer is armed (up to a second later), and a check
    due a fraction of a second before the grace ends rightly says grace, so a model from the
    start record alone can be an interval off."""
    grace = GRACE if grace is None else grace
    want = model_action(start, grace)
    # cloud-init's setup still running after the grace keeps the machine up until it ends.
    streak, after = streak_checks(checks)
    floor = max(grace, after)
    times = [mono(e) for e in streak]
    if times:
        first = times[0]
        c.expect(floor <= first <= floor + INTERVAL + RECORD_SLACK,
                 f"the first counted check ({first:.1f} s of boot) is the first after the "
                 f"grace ({grace} s) and cloud-init's setup (last check of it at {floor:.1f} s)")
        want = first + (IDLE_CHECKS - 1) * INTERVAL + WARN
    c.expect(down is not None and abs(down - want) <= INTERVAL,
             f"powered off {(down or 0) - start:.1f} s after trnidled's start (at {start:.1f} s "
             f"of boot); grace {grace} s from boot, {IDLE_CHECKS} x {INTERVAL} s checks and a "
             f"{WARN} s warning give {want - start:.1f} s, +/- {INTERVAL} s")


def all_idle_after_grace(c, checks):
    verdicts = [field_text(e.get("TRNIDLED_VERDICT")) for e in streak_checks(checks)[0]]
    c.expect(verdicts and all(v == "idle" for v in verdicts),
             f"every check after the grace said idle ({verdicts})")


# ---- scenarios ----------------------------------------------------------------------------


# The last step of the idle scenario's setup waits without CPU, as a first boot's apt-get
# waiting on the network does, until SETUP_WAIT s after trnidled runs and the boot grace ended:
# cloud-init is not done, and the machine must not power off before it is.
SETUP_WAIT = 4 * INTERVAL + 5


def setup_wait_runcmd():
    return [["sh", "-c",
             "for i in $(seq 120); do systemctl is-active -q trnidled && break; sleep 1; done; "
             "now=$(cut -d. -f1 /proc/uptime); "
             f"end=$((now > {GRACE} ? now + {SETUP_WAIT} : {GRACE + SETUP_WAIT})); "
             "logger -t vmtest-workload \"setup waits until $end s of boot\"; "
             "sleep $((end - now)); logger -t vmtest-workload 'setup done'"]]


def scenario_idle(image_dir, deb, workdir, c):
    """An idle machine powers off by itself, on time, and not before cloud-init's setup ended
    (its last step waits, without CPU, past the boot grace)."""
    vm = Vm(image_dir, os.path.join(workdir, "idle"), "idle",
            make_user_data(deb, extra_runcmd=setup_wait_runcmd()), limit=420 + SETUP_WAIT)
    vm.start()
    rc = vm.wait()
    journal, start, checks, action, down = common_checks(c, vm, rc)
    if start is None or action is None:
        return vm
    powered_off_on_time(c, start, down, checks=checks)
    # The same, to the second, from the daemon's own check times (timer slack lets each check
    # run a fraction of a second late, which can move the first counted check by an interval).
    times = [mono(e) for e in checks if field_text(e.get("MESSAGE")).startswith("check:")]
    gaps = [b - a for a, b in zip([start] + times, times)]
    c.expect(all(INTERVAL - 0.5 <= g <= INTERVAL + 2 for g in gaps),
             f"a check every {INTERVAL} s from the start (gaps {[round(g, 1) for g in gaps]})")
    first = next((mono(e) for e in streak_checks(checks)[0]), None)
    if first is not None:
        exact = first + (IDLE_CHECKS - 1) * INTERVAL + WARN
        c.expect(abs(action - exact) <= 2,
                 f"action at {action:.1f} s of boot: first check after the grace at {first:.1f} s"
                 f" + {IDLE_CHECKS - 1} x {INTERVAL} s + {WARN} s = {exact:.1f} s, +/- 2 s")
    all_idle_after_grace(c, checks)
    setup_checks_match_cloud_init(c, journal, checks)
    setup = [mono(e) for e in checks if setup_only(e)]
    c.expect(len(setup) >= 2, f"checks after the grace said cloud-init while its setup waited "
             f"({len(setup)} did, at {[round(t, 1) for t in setup]} s of boot)")
    c.expect(all(mono(e) < GRACE + RECORD_SLACK for e in checks if field_text(e.get("TRNIDLED_VERDICT"))
                 == "grace"), "no check said grace after the boot grace")
    if down is not None:
        c.expect(0 <= down - action <= POWEROFF_SLACK,
                 f"powered off {down - action:.1f} s after the action (<= {POWEROFF_SLACK} s)")
    return vm


WORK_SECONDS = 180
INHIBIT_SECONDS = 120
WORK_RUNCMD = [
    # A CPU loop in a detached tmux session, as a user would leave a job running.
    ["systemd-run", "--unit=vmtest-tmux", "--property=Type=forking", "tmux", "new-session", "-d",
     "-s", "work", f"timeout {WORK_SECONDS} sh -c 'while :; do :; done'; "
     "logger -t vmtest-workload 'cpu loop ended'"],
    # An idle inhibitor, as a long copy or an editor would hold one.
    ["systemd-run", "--unit=vmtest-inhibit", "sh", "-c",
     "systemd-inhibit --what=idle --who=vmtest --why='scenario work' sleep "
     f"{INHIBIT_SECONDS}; logger -t vmtest-workload 'inhibitor released'"],
    ["logger", "-t", "vmtest-workload", "workload started"],
]


def scenario_work(image_dir, deb, workdir, c):
    """Work keeps the machine up; when it ends, the machine powers off."""
    vm = Vm(image_dir, os.path.join(workdir, "work"), "work",
            make_user_data(deb, extra_runcmd=WORK_RUNCMD), limit=600)
    vm.start()
    rc = vm.wait()
    journal, start, checks, action, down = common_checks(c, vm, rc)
    began = marker(journal, "workload started")
    loop_end = marker(journal, "cpu loop ended")
    inhibit_end = marker(journal, "inhibitor released")
    c.expect(None not in (began, loop_end, inhibit_end),
             f"the workload ran (started {began}, cpu loop ended {loop_end}, inhibitor "
             f"released {inhibit_end})")
    if None in (start, action, began, loop_end, inhibit_end):
        return vm
    idle_off = model_action(start)
    c.expect(action >= idle_off + 90,
             f"the VM stayed up well past an idle machine's power-off: action at {action:.0f} s "
             f"of boot, idle would be {idle_off:.0f} s")
    work_end = max(loop_end, inhibit_end)
    c.expect(action >= work_end, f"no action while the workload ran (ended {work_end:.0f} s)")
    c.expect(action - work_end <= AFTER_WORK_LIMIT,
             f"action {action - work_end:.0f} s after the workload ended "
             f"(<= {AFTER_WORK_LIMIT} s)")
    mux = signal_checks(checks, "multiplexer")
    inh = signal_checks(checks, "inhibitor")
    c.expect(any(began <= mono(e) <= loop_end for e in mux),
             f"checks named `multiplexer` while the tmux job ran ({len(mux)} did)")
    c.expect(any(began <= mono(e) <= inhibit_end for e in inh),
             f"checks named `inhibitor` while it was held ({len(inh)} did)")
    stale = [e for e in mux if mono(e) > loop_end + INTERVAL + 2] + \
            [e for e in inh if mono(e) > inhibit_end + INTERVAL + 2]
    c.expect(not stale, f"no check named them after they ended ({len(stale)} did)")
    if down is not None:
        c.expect(0 <= down - action <= POWEROFF_SLACK,
                 f"powered off {down - action:.1f} s after the action")
    return vm


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ssh:
    def __init__(self, workdir, port):
        self.key = os.path.join(workdir, "id_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vmtest", "-f", self.key])
        with open(self.key + ".pub") as f:
            self.pub = f.read().strip()
        self.base = ["ssh", "-i", self.key, "-p", str(port), "-o", "StrictHostKeyChecking=no",
                     "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                     "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                     f"{GUEST_USER}@127.0.0.1"]

    def run(self, command, timeout=60):
        p = subprocess.run(self.base + [command], text=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout

    def answers(self, command):
        """Whether the command succeeded; a guest too slow to answer in 30 s (still booting
        on a loaded host) has not, yet."""
        try:
            return self.run(command, timeout=30)[0] == 0
        except subprocess.TimeoutExpired:
            return False

    def login(self):
        """An interactive login: a pty and a login shell, as a person at a terminal has."""
        p = subprocess.Popen(self.base[:1] + ["-tt"] + self.base[1:], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        children.append(p)
        out = []
        threading.Thread(target=lambda: out.extend(p.stdout), daemon=True).start()
        return p, out


def wait_until(deadline, fn, step=5):
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(step)
    return False


# Root in the guest writes what the daemon's status lists as "not counting" (what `trnidlectl
# status` shows under that title) to the journal whenever it changes: the check records name
# only what counts, and after the power-off the journal is all that is left to show that the
# open tunnel was seen and did not count. One long-lived process asking over Varlink, not a
# shell loop of trnidlectl: its forks under TCG would be CPU use that delays the power-off.
STATUS_WATCH = """#!/usr/bin/python3
import json, socket, time

def status():
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect("/run/trnidled/io.trnidle.sock")
        s.sendall(json.dumps({"method": "io.trnidle.Status", "parameters": {}}).encode() + b"\\0")
        reply = b""
        while not reply.endswith(b"\\0"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply.rstrip(b"\\0"))

def not_counting(o):
    if isinstance(o, dict):
        if isinstance(o.get("not_counting"), list):
            return o["not_counting"]
        o = list(o.values())
    for v in o if isinstance(o, list) else ():
        found = not_counting(v)
        if found:
            return found
    return []

prev = None
while True:
    time.sleep(3)
    try:
        now = [f"{r['signal']} {r['detail']}" for r in not_counting(status())]
    except (OSError, ValueError, KeyError, TypeError):
        continue
    if now and now != prev:
        print("\\n".join(now), flush=True)
    prev = now
"""
STATUS_WATCH_RUNCMD = [["systemd-run", "--unit=vmtest-status", "/usr/local/sbin/vmtest-status"]]
TUNNEL_IDLE = re.compile(r"\bssh\s+tester over SSH without a terminal \(sshd pid \d+\): only keepalives")


class Tunnel:
    """A forgotten `ssh -N -L` tunnel: opened, used once, then left with only its keepalives.
    Remembers when its ssh ended (on the host's monotonic clock)."""

    def __init__(self, ssh):
        self.port = free_port()
        cmd = ssh.base[:1] + ["-N", "-L", f"127.0.0.1:{self.port}:127.0.0.1:22",
                              # Keepalives every 5 s; a guest starved by a loaded host may not
                              # answer 3 in a row (ssh's default), which must not end it.
                              "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=24",
                              "-o", "ExitOnForwardFailure=yes"] + \
            ssh.base[1:]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        children.append(self.proc)
        self.ended = None
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self):
        self.proc.wait()
        self.ended = time.monotonic()

    def works(self):
        """Reads the guest sshd's banner through the tunnel, as its user did once."""
        for _ in range(30):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                    return s.recv(64).startswith(b"SSH-2.0-")
            except OSError:
                if self.proc.poll() is not None:
                    return False
                time.sleep(1)
        return False


def scenario_ssh(image_dir, deb, workdir, c):
    """A real user over SSH: sees the daemon, is seen by it, holds, logs out, and it stops,
    although a forgotten tunnel is still open."""
    os.makedirs(os.path.join(workdir, "ssh-keys"))
    port = free_port()
    ssh = Ssh(os.path.join(workdir, "ssh-keys"), port)
    user = {"name": GUEST_USER, "shell": "/bin/bash", "lock_passwd": True,
            # adm reads the system journal, as the default user of Debian's cloud images does.
            "groups": ["adm"], "ssh_authorized_keys": [ssh.pub]}
    watch = {"path": "/usr/local/sbin/vmtest-status", "permissions": "0755",
             "content": STATUS_WATCH}
    vm = Vm(image_dir, os.path.join(workdir, "ssh"), "ssh",
            make_user_data(deb, users=[user], extra_files=[watch], sessions=SESSIONS,
                           extra_runcmd=STATUS_WATCH_RUNCMD),
            limit=480, hostfwd_port=port)
    vm.start()
    deadline = vm.started + vm.limit - 60
    session_done = False
    tunnel = None
    logout_sent = None  # host clock when the logout was typed
    try:
        ready = wait_until(deadline, lambda: ssh.answers(
            "systemctl is-active --quiet trnidled && test -S /run/trnidled/io.trnidle.sock"))
        c.expect(ready, f"sshd let {GUEST_USER} in and trnidled was running "
                 f"({vm.elapsed():.0f} s after boot)")
        if ready:
            tunnel = Tunnel(ssh)
            c.expect(tunnel.works(), "an `ssh -N -L` tunnel (ServerAliveInterval=5) is open and "
                     "forwards, used once and then left alone")
            ssh.run("logger -t vmtest-workload 'vmtest tunnel opened'")
            session_done, logout_sent = ssh_session(c, ssh, port, vm_up=lambda: vm.proc.poll() is None)
    except subprocess.TimeoutExpired as e:
        c.expect(False, f"an ssh command timed out: {e.cmd[-1]}")
    except OSError as e:  # the login's pipe broke: the VM went away under the user
        c.expect(False, f"the login session ended unexpectedly ({e})")
    rc = vm.wait()
    qemu_exit = time.monotonic()
    journal, start, checks, action, down = common_checks(c, vm, rc)
    if not session_done or action is None:
        return vm
    login, hold, logout, opened = (marker(journal, f"vmtest {m}") for m in
                                   ("logged in", "hold", "logout", "tunnel opened"))
    c.expect(None not in (login, hold, logout, opened),
             f"the session's markers reached the guest journal ({opened}, {login}, {hold}, {logout})")
    if None in (login, hold, logout, opened):
        return vm
    alone = [e for e in checks if max(login, GRACE + RECORD_SLACK) <= mono(e) <= hold]
    seen = [e for e in alone if {"ssh", "terminal"} & set(field_list(e, "TRNIDLED_SIGNAL"))]
    c.expect(len(alone) >= IDLE_CHECKS + 1 and len(seen) == len(alone) and
             all(field_text(e.get("TRNIDLED_VERDICT")) == "active" for e in alone),
             f"every check after the grace while {GUEST_USER} was logged in (no hold) said active, "
             f"naming `ssh`/`terminal` ({len(seen)} of {len(alone)})")
    held = [e for e in signal_checks(checks, "hold") if hold <= mono(e) <= logout]
    c.expect(len(held) >= 2, f"checks named the `hold` while it held ({len(held)} did)")
    c.expect(action > logout, "no action while logged in or held")
    c.expect(action - logout <= AFTER_WORK_LIMIT,
             f"action {action - logout:.0f} s after release and logout, the tunnel still open "
             f"(<= {AFTER_WORK_LIMIT} s)")
    tunnel_checks(c, journal, tunnel, opened, logout, action, logout_sent, qemu_exit)
    return vm


def tunnel_checks(c, journal, tunnel, opened, logout, action, logout_sent, qemu_exit):
    """The forgotten tunnel: the daemon listed it as not counting, before the logout (while the
    terminal counted) and up to the action, and it was still connected when the action came."""
    idle = [mono(e) for e in journal if e.get("SYSLOG_IDENTIFIER") == "vmtest-status" and
            TUNNEL_IDLE.search(field_text(e.get("MESSAGE")))]
    c.expect(any(opened < t < logout for t in idle),
             "`trnidlectl status` listed the tunnel under \"not counting\" (only keepalives) "
             f"while {GUEST_USER} was still logged in")
    c.expect(any(action - 2 * INTERVAL <= t <= action for t in idle),
             "and still in the last checks before the action "
             f"({[round(t - action) for t in idle if t > logout]} s from the action)")
    # The check records themselves say so, for whoever reads the journal after the power-off.
    noted = [mono(e) for e in checks_of(journal)
             if any(TUNNEL_IDLE.search(v) for v in field_list(e, "TRNIDLED_NOT_COUNTING"))]
    c.expect(any(action - 2 * INTERVAL <= t <= action for t in noted),
             "the last check records before the action list the tunnel in TRNIDLED_NOT_COUNTING "
             f"({[round(t - action) for t in noted if t > logout]} s from the action)")
    # The guest's clock from the host's: the logout marker was typed at logout_sent (it reached
    # the journal a little later, which makes this estimate of the tunnel's end late, never early).
    ended = tunnel.ended if tunnel.ended is not None else qemu_exit
    ended_guest = ended - logout_sent + logout
    c.expect(ended_guest >= action,
             f"the tunnel's ssh was connected until the machine went down (it ended about "
             f"{ended_guest - action:.0f} s after the action, QEMU {qemu_exit - ended:.0f} s later)")


class Typist:
    """A person at the terminal: a command every half interval until stopped, well within
    SessionIdleSec=, so that the terminal counts all the time the user is logged in."""

    def __init__(self, shell):
        self.shell, self.lock, self.stopped = shell, threading.Lock(), threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def type(self, line):
        with self.lock:
            self.shell.stdin.write(line + "\n")
            self.shell.stdin.flush()

    def _run(self):
        while not self.stopped.wait(INTERVAL / 2):
            try:
                self.type("date")
            except (OSError, ValueError):
                return


def ssh_session(c, ssh, port, vm_up):
    """Everything the logged-in user does; returns once they have logged out: whether they
    did, and when the logout was typed (host clock)."""
    shell, screen = ssh.login()
    typist = Typist(shell)
    try:
        return user_actions(c, ssh, port, typist, screen, vm_up)
    finally:
        typist.stopped.set()
        # Whatever went wrong, the login ends: an open terminal would keep the VM up.
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()


def user_actions(c, ssh, port, typist, screen, vm_up):
    shell = typist.shell
    typist.type("echo vmtest-shell-$((6*7))")
    wait_until(time.monotonic() + 30, lambda: any("vmtest-shell-42" in ln for ln in screen), 1)
    c.expect(any("vmtest-shell-42" in ln for ln in screen), "an interactive login shell runs")

    rc, out = ssh.run("systemctl status trnidled --no-pager")
    status = re.search(r'Status: "([^"]*)"', out)
    c.expect(status is not None and re.match(r"(active|idle|grace|held|first check)", status[1]),
             f"`systemctl status trnidled` shows the STATUS line ({status[1] if status else out[-300:]!r})")
    wait_until(time.monotonic() + 3 * INTERVAL, lambda: ssh.run(
        f"journalctl -u trnidled MESSAGE_ID={MSG_CHECK} -q --no-pager | grep -q check:")[0] == 0)
    rc, out = ssh.run("journalctl -u trnidled --no-pager -q")
    c.expect(rc == 0 and "check:" in out,
             f"`journalctl -u trnidled` as {GUEST_USER} shows check records "
             f"({len(out.splitlines())} lines)")
    rc, out = ssh.run(f"timeout 5 bash -c '</dev/tcp/10.0.2.2/{port}' && echo reached-host")
    c.expect("reached-host" not in out, "restrict=on: the guest cannot open a connection out")

    # Logged in past the boot grace, for more checks than an idle streak needs, and no hold:
    # the login alone (its terminal in use: the typist) must keep the machine up.
    ssh.run("logger -t vmtest-workload 'vmtest logged in'")
    rc, out = ssh.run("cut -d' ' -f1 /proc/uptime")
    try:
        time.sleep(max(0.0, GRACE + 1 - float(out.strip())))
    except ValueError:
        c.expect(False, f"read the guest's uptime ({out!r})")
    rc, out = ssh.run("trnidlectl check-now --json")
    names = set()
    try:
        verdict = json.loads(out)
        names = {r.get("signal") for r in verdict.get("reasons", [])}
    except ValueError:
        verdict = None
    c.expect(verdict is not None and bool(names & {"ssh", "terminal"}),
             f"`trnidlectl check-now --json` names the ssh/terminal signal ({sorted(names) or out[-300:]!r})")
    time.sleep((IDLE_CHECKS + 1) * INTERVAL + 2)

    ssh.run("logger -t vmtest-workload 'vmtest hold'")
    rc, out = ssh.run("trnidlectl hold 5min --reason 'vm test'")
    c.expect(rc == 0, f"`trnidlectl hold 5min` works as {GUEST_USER} ({out.strip()[-200:]!r})")
    rc, out = ssh.run("trnidlectl status --json")
    c.expect(rc == 0 and "vm test" in out, "`trnidlectl status` shows the hold")
    # Two checks while held, so the journal shows the hold.
    time.sleep(2 * INTERVAL + 2)
    rc, out = ssh.run("trnidlectl release")
    c.expect(rc == 0, f"`trnidlectl release` works as {GUEST_USER} ({out.strip()[-200:]!r})")

    if not c.expect(vm_up(), f"the VM was still up when {GUEST_USER} logged out"):
        return False, None
    typist.stopped.set()
    logout_sent = time.monotonic()
    typist.type("logger -t vmtest-workload 'vmtest logout'; exit")
    try:
        shell.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    c.expect(shell.returncode == 0, f"logged out ({shell.returncode})")
    return True, logout_sent


NEW_DEB_PATH = "/var/cache/trnidled/trnidled-new.deb"
# Runs from runcmd after the project's own steps installed the previous package: holds,
# upgrades to the current package, purges, installs it again; each step's outcome goes to the
# journal as a "vmtest ..." marker for the test to read after the VM powered off.
UPGRADE_SCRIPT = f"""#!/bin/sh
set -u
say() {{ logger -t vmtest-workload "vmtest $*"; }}
version() {{ dpkg-query -W -f='${{Version}}' trnidled 2>/dev/null || echo none; }}
holds() {{ trnidlectl status --json 2>/dev/null | grep -o '"reason": *"vmtest upgrade"' | wc -l; }}
for i in $(seq 60); do
	systemctl is-active -q trnidled && [ -S /run/trnidled/io.trnidle.sock ] && break
	sleep 1
done
say "installed version=$(version) active=$(systemctl is-active trnidled)"
trnidlectl hold 10min --reason 'vmtest upgrade' >/dev/null
say "held holds=$(holds)"
before=$(systemctl show -P MainPID trnidled)
dpkg -i {NEW_DEB_PATH} 2>&1 | logger -t vmtest-dpkg
after=$(systemctl show -P MainPID trnidled)
say "upgraded version=$(version) active=$(systemctl is-active trnidled) pid_before=$before pid_after=$after holds=$(holds)"
trnidlectl release >/dev/null
dpkg --purge trnidled 2>&1 | logger -t vmtest-dpkg
left=0
for f in /usr/sbin/trnidled /usr/bin/trnidlectl /etc/trnidled.conf /run/trnidled /run/trnidled-aws \\
	/lib/systemd/system/trnidled.service /usr/lib/systemd/system/trnidled.service; do
	[ -e "$f" ] && left=$((left + 1)) && say "left after purge: $f"
done
say "purged version=$(version) left=$left active=$(systemctl is-active trnidled)"
dpkg -i {NEW_DEB_PATH} 2>&1 | logger -t vmtest-dpkg
sleep 2
say "reinstalled version=$(version) active=$(systemctl is-active trnidled)"
"""


def marker_fields(journal, step):
    """The key=value pairs of the upgrade script's marker for a step, and its time."""
    for e in journal:
        text = field_text(e.get("MESSAGE"))
        if e.get("SYSLOG_IDENTIFIER") == "vmtest-workload" and text.startswith(f"vmtest {step} "):
            return dict(kv.split("=", 1) for kv in text.split()[2:] if "=" in kv), mono(e)
    return None, None


def scenario_upgrade(image_dir, deb, workdir, c):
    """Install, upgrade that keeps a hold across the daemon's restart, purge, install again."""
    previous = previous_deb()
    prev_version, version = (run(["dpkg-deb", "-f", d, "Version"]).strip() for d in (previous, deb))
    with open(deb, "rb") as f:
        new = {"path": NEW_DEB_PATH, "encoding": "b64", "permissions": "0644",
               "content": base64.b64encode(f.read()).decode()}
    script = {"path": "/usr/local/sbin/vmtest-upgrade", "permissions": "0755",
              "content": UPGRADE_SCRIPT}
    vm = Vm(image_dir, os.path.join(workdir, "upgrade"), "upgrade",
            make_user_data(previous, extra_runcmd=[["/usr/local/sbin/vmtest-upgrade"]],
                           extra_files=[new, script]), limit=420)
    vm.start()
    rc = vm.wait()
    journal, start, checks, action, down = common_checks(c, vm, rc)
    steps = {k: marker_fields(journal, k)[0] or {} for k in
             ("installed", "held", "upgraded", "purged", "reinstalled")}
    inst, held, up, purged, again = (steps[k] for k in steps)
    c.expect(inst.get("version") == prev_version and inst.get("active") == "active",
             f"user-data installed the previous package {prev_version} and it ran ({inst})")
    c.expect(held.get("holds") == "1", f"a hold was taken ({held})")
    c.expect(up.get("version") == version and up.get("active") == "active",
             f"dpkg -i upgraded it to {version}, and the daemon runs ({up})")
    c.expect(up.get("pid_before", "0") not in ("", "0") and
             up.get("pid_after", "0") not in ("", "0", up.get("pid_before")),
             f"the upgrade restarted the daemon (MainPID {up.get('pid_before')} -> "
             f"{up.get('pid_after')})")
    c.expect(up.get("holds") == "1", "the hold survived the upgrade's restart")
    c.expect(purged.get("version") == "none" and purged.get("left") == "0" and
             purged.get("active") != "active",
             f"dpkg --purge removed the package, its files and its state, and stopped it ({purged})")
    c.expect(again.get("version") == version and again.get("active") == "active",
             f"installed again after the purge, it runs ({again})")
    return vm


def duration_text(sec):
    """A duration as trnidled --check-config prints it (whole minutes, or seconds)."""
    return f"{sec // 60}min" if sec % 60 == 0 else f"{sec}s"


def standin_requests(journal):
    """What tests/vm/aws-standin served, one line per request, in order."""
    return [t.removeprefix("vmtest-aws: ") for t in (field_text(e.get("MESSAGE")) for e in journal)
            if t.startswith("vmtest-aws: ")]


# The companion's first boot does more before its runcmd ends (stand-ins, data volume, the
# package fetched and installed, the delivery steps again): its boot grace, which the stack's
# drop-in sets, covers that too. Measured on Debian 13 under load: runcmd done at about 270 s.
COMPANION_GRACE_EXTRA = 120


def companion_user_data(deb, workdir, grace):
    """The CDK companion's user data (tests/vm/companion.py) from the delivery user-data with
    its warning shortened (the only key the stack leaves to it that the test needs fast)."""
    with open(os.path.join(TOP, "packaging", "cloud-init", "user-data.yaml")) as f:
        delivery = f.read()
    if delivery.count("WarnSec=5min") != 1:
        raise ScenarioFailed("the delivery user-data's drop-in no longer says WarnSec=5min once")
    os.makedirs(workdir)
    template = os.path.join(workdir, "user-data.yaml")
    with open(template, "w") as f:
        f.write(delivery.replace("WarnSec=5min", f"WarnSec={WARN}s"))
    settings = {"intervalSec": INTERVAL, "bootGraceSec": grace, "idleChecks": IDLE_CHECKS,
                "namespace": companion.NAMESPACE}
    text, expect = companion.user_data(deb, os.path.join(workdir, "made"), template, settings)
    unknown = set(expect["cdk_keys"]) - USERDATA_KEYS
    if unknown:
        raise ScenarioFailed(f"the companion's user data uses {sorted(unknown)}, which the VM "
                             "image's trimmed cloud-init does not run")
    return text, expect


def scenario_companion(image_dir, deb, workdir, c):
    """The CDK companion's instance path: its user data installs the package its SSM parameter
    names, and the daemon runs with the stack's drop-in and powers the machine off."""
    grace = GRACE + COMPANION_GRACE_EXTRA
    text, want = companion_user_data(deb, os.path.join(workdir, "companion-seed"), grace)
    c.expect(want["cdk_bytes"] <= want["limit"],
             f"the companion's own user data fits EC2's limit ({want['cdk_bytes']} <= {want['limit']} bytes)")
    data_disk = os.path.join(workdir, "companion-data.qcow2")
    run(["qemu-img", "create", "-q", "-f", "qcow2", data_disk, "64M"])
    vm = Vm(image_dir, os.path.join(workdir, "companion"), "companion", text,
            limit=420 + COMPANION_GRACE_EXTRA, disks=[(data_disk, companion.VOLUME_SERIAL)],
            smbios=companion.SMBIOS)
    vm.start()
    rc = vm.wait()
    journal, start, checks, action, down = common_checks(c, vm, rc)
    served = standin_requests(journal)
    with open(os.path.join(vm.dir, "aws-standin.txt"), "w") as f:
        f.write("\n".join(served) + "\n")
    tag = f"Tag.1.Key={want['status_tag']}"
    c.expect(f"ssm GetParameter {companion.PARAMETER}" in served,
             "the update script read the stack's SSM parameter (signed with the role from IMDSv2)")
    c.expect(f"s3 GetObject {want['key']} ({want['size']} bytes)" in served,
             "it fetched the package the parameter names from S3")
    metrics = [r for r in served if r.startswith("monitoring PutMetricData") and
               f"Namespace={companion.NAMESPACE}" in r]
    c.expect(any("MetricName=Active" in r and "MetricName=IdleChecks" not in r for r in metrics),
             "the per-boot script sent the Active heartbeat to CloudWatch")
    c.expect(any("MetricName=IdleChecks" in r for r in metrics),
             f"trnidled (CloudWatch=yes from the stack's drop-in) published its metrics there "
             f"({len(metrics)} PutMetricData in all)")
    reports = [r for r in served if r.startswith("ec2 CreateTags") and tag in r]
    c.expect(reports == [r for r in reports if r.endswith(f"{tag} Tag.1.Value=ok")] and
             len(reports) == 1,
             f"run-step reported the first boot ok on the {want['status_tag']} tag, and nothing else ({reports})")
    # (Instance metadata answers 404 for what an on-demand instance lacks, as EC2's does.)
    refused = [r for r in served if "refused" in r or
               (not r.startswith("imds ") and r.endswith((" 404", " 400")))]
    c.expect(not refused, f"every request to the stand-ins was signed and known ({refused[:3]})")
    state, _ = marker_fields(journal, "companion")
    state = state or {}
    c.expect(state.get("home", "").startswith("/dev/vd") and state.get("home", "").endswith(",ext4"),
             f"the data volume was formatted and mounted at /home ({state.get('home')})")
    c.expect(state.get("installed") == want["url"] and state.get("failed") == "no",
             f"the update script installed from the parameter's URL, and no step failed ({state})")
    version = run(["dpkg-deb", "-f", deb, "Version"]).strip()
    c.expect(state.get("version") == version and state.get("active") == "active",
             f"trnidled {version} installed by that path runs ({state.get('version')}, {state.get('active')})")
    c.expect(state.get("dropin") == want["dropin_sha"],
             "the stack's drop-in 60-cdk-stack.conf holds what the parameter says")
    config, _ = marker_fields(journal, "check-config")
    config = config or {}
    expected = {"rc": "0", "IntervalSec": duration_text(INTERVAL),
                "IdleChecks": str(IDLE_CHECKS), "Action": "auto", "CloudWatch": "yes",
                "Namespace": companion.NAMESPACE, "WarnSec": duration_text(WARN),
                "BootGraceSec": duration_text(grace)}
    c.expect(config == expected,
             f"trnidled --check-config accepts it, and the stack's keys win ({config})")
    if start is None or action is None:
        return vm
    powered_off_on_time(c, start, down, grace, checks)
    all_idle_after_grace(c, checks)
    setup_checks_match_cloud_init(c, journal, checks)
    return vm


SCENARIOS = {"idle": scenario_idle, "work": scenario_work, "ssh": scenario_ssh,
             "upgrade": scenario_upgrade, "companion": scenario_companion}
PACKAGES = {}  # release and work folder, for previous_deb()


def previous_deb():
    """The previous version of the package: this tree built as VERSION~prev (lower than
    VERSION to dpkg), for the release under test, once per run."""
    if "previous" not in PACKAGES:
        current = run(["dpkg-deb", "-f", PACKAGES["current"], "Version"]).strip()
        PACKAGES["previous"] = build_deb(PACKAGES["release"], PACKAGES["dir"], f"{current}~prev")
        log(f"previous package {PACKAGES['previous']}")
    return PACKAGES["previous"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default="bookworm",
                    help="the Debian release of the VM and the package (default: bookworm)")
    ap.add_argument("--deb", help="use this .deb (built for --release) instead of building one")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, journals)")
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                    help=f"one of {', '.join(SCENARIOS)} (default: all, in that order)")
    args = ap.parse_args()
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {unknown}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    passed = failed = skipped = 0
    workdir = tempfile.mkdtemp(prefix="trnidled-vm-", dir="/var/tmp")
    t0 = time.monotonic()
    try:
        try:
            image_dir = build_image(args.release)
            log(f"{args.release} image {image_dir} ready after {time.monotonic() - t0:.0f} s")
            deb = args.deb or build_deb(args.release, os.path.join(workdir, "deb"))
            log(f"package {deb}")
            global GRACE
            GRACE += BOOT_SLACK.get(args.release, 0)
            PACKAGES.update(release=args.release, current=deb, dir=os.path.join(workdir, "prev"))
            missing = deb_missing_depends(deb, image_dir)
            if missing:
                raise ScenarioFailed(f"the image lacks {missing}, which the .deb Depends on: "
                                     "add them to tests/vm/image/packages")
        except (subprocess.SubprocessError, ScenarioFailed) as e:
            log(f"cannot prepare the VM test: {e}")
            print(f"RESULT passed=0 failed={len(args.scenarios)} skipped=0")
            return 1
        for name in args.scenarios:
            c = Checks()
            t = time.monotonic()
            log(f"scenario {name}: {SCENARIOS[name].__doc__}")
            vm = None
            try:
                vm = SCENARIOS[name](image_dir, deb, workdir, c)
            except (subprocess.SubprocessError, ScenarioFailed, OSError) as e:
                c.expect(False, f"scenario stopped: {e}")
            finally:
                kill_children()
            if c.failures and vm:
                vm.show_tail()
            ok = not c.failures
            passed, failed = passed + ok, failed + (not ok)
            log(f"scenario {name}: {'PASS' if ok else 'FAIL'} in {time.monotonic() - t:.0f} s")
    finally:
        kill_children()
        if args.keep:
            log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"all done in {time.monotonic() - t0:.0f} s")
    print(f"RESULT passed={passed} failed={failed} skipped={skipped}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
