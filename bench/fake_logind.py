#!/usr/bin/env python3
"""A private dbus-daemon standing in for the system bus with a fake logind on it that answers
ListInhibitors (no locks) and CanPowerOff after DELAY seconds: for bench/slow-aws (a slow
logind) and bench/run (the daemon's cost per check where logind answers, as on a machine).

As a program: bench/fake_logind.py DIR DELAY prints the bus address and runs until SIGTERM.
"""
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import start_private_bus  # noqa: E402  (the inhibitor tests' bus)

SYS_PYTHON = "/usr/bin/python3"  # python3-dbus and python3-gi are Debian packages

FAKE_LOGIND = r'''
import sys, time
import dbus, dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib
DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
delay = float(sys.argv[2])
class Manager(dbus.service.Object):
    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="",
                         out_signature="a(ssssuu)")
    def ListInhibitors(self):
        time.sleep(delay)
        return dbus.Array([], signature="(ssssuu)")
    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="",
                         out_signature="s")
    def CanPowerOff(self):
        time.sleep(delay)
        return "yes"
name = dbus.service.BusName("org.freedesktop.login1", bus)
Manager(bus, "/org/freedesktop/login1")
print("ready", flush=True)
GLib.MainLoop().run()
'''



def available():
    return shutil.which("dbus-daemon") is not None and subprocess.run(
        [SYS_PYTHON, "-c", "import dbus, gi"], capture_output=True).returncode == 0


def start(tmp, procs, delay):
    """Starts the bus and logind (appended to procs); their address, or None when
    dbus-daemon or python3-dbus are missing."""
    if not available():
        return None
    address = start_private_bus(tmp, procs)
    with open(os.path.join(tmp, "logind.py"), "w") as f:
        f.write(FAKE_LOGIND)
    logind = subprocess.Popen([SYS_PYTHON, f"{tmp}/logind.py", address, str(delay)],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    procs.append(logind)
    logind.stdout.readline()
    return address


def main():
    procs = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        address = start(sys.argv[1], procs, float(sys.argv[2]))
        print(address or "", flush=True)
        if address:
            signal.pause()
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
