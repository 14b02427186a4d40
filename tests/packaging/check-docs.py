#!/usr/bin/env python3
"""Checks that the shipped default configuration and the man pages agree with the code, so
that neither can drift: every key of `trnidled --check-config` (the key table in src/config.c)
appears in systemd/trnidled.conf commented out at its default and in trnidled.conf(5) with that
default and an example; every signal name (src/sample.c) and every long option (src/main.c,
src/ctl/trnidlectl.c) is in the man pages.

Usage: check-docs.py TRNIDLED SOURCE_ROOT. Prints one line per problem and a RESULT line."""
import re
import subprocess
import sys


def effective_defaults(trnidled):
    out = subprocess.run([trnidled, "--check-config", "-c", "/nonexistent/trnidled.conf"],
                         check=True, capture_output=True, text=True).stdout
    section, keys = None, []
    for line in out.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m[1]
        elif m := re.fullmatch(r"(\w+)=(.*)", line):
            keys.append((section, m[1], m[2]))
    return keys


def shipped_config(path):
    section, keys = None, []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m[1]
        elif m := re.fullmatch(r"#(\w+)=(.*)", line):
            keys.append((section, m[1], m[2]))
        elif line and not line.startswith("# ") and line != "#":
            keys.append((section, "?", line))
    return keys


def man_entries(path):
    """section -> key -> (default text, example) from trnidled.conf(5)."""
    lines = open(path, encoding="utf-8").read().splitlines()
    entries, section, key = {}, None, None
    for i, line in enumerate(lines):
        if m := re.fullmatch(r"\.Sh \[(\w+)\]", line):
            section = m[1]
        elif m := re.match(r"\.It Cm (\w+) Ns = Ns Ar ", line):
            key = m[1]
            entries.setdefault(section, {})[key] = [None, None]
        elif line == "Default:" and key:
            text = re.sub(r"^\.(Ql|Cm) ", "", lines[i + 1])
            text = re.sub(r" \.$", "", text)
            entries[section][key][0] = text[len(key) + 1:] if text.startswith(key + "=") else text
        elif line.startswith(".Dl " + str(key) + "="):
            entries[section][key][1] = line[4:]
    return entries


def main():
    trnidled, top = sys.argv[1], sys.argv[2]
    problems, checked = [], 0
    want = effective_defaults(trnidled)
    if len(want) < 10:
        problems.append(f"--check-config printed only {len(want)} keys")

    have = shipped_config(f"{top}/systemd/trnidled.conf")
    checked += 1
    if have != want:
        for w in want:
            if w not in have:
                problems.append("systemd/trnidled.conf: missing or wrong: [%s] #%s=%s" % w)
        for h in have:
            if h not in want:
                problems.append("systemd/trnidled.conf: not a default: [%s] %s=%s" % h)
        if not problems:
            problems.append("systemd/trnidled.conf: keys not in --check-config order")

    man = man_entries(f"{top}/man/trnidled.conf.5.in")
    for section, key, default in want:
        checked += 1
        entry = man.get(section, {}).get(key)
        if not entry:
            problems.append(f"trnidled.conf(5): no entry for [{section}] {key}=")
        elif entry[0] != default:
            problems.append(f"trnidled.conf(5): [{section}] {key}= default says '{entry[0]}', "
                            f"the daemon says '{default}'")
        elif not entry[1]:
            problems.append(f"trnidled.conf(5): [{section}] {key}= has no example (.Dl)")

    page8 = open(f"{top}/man/trnidled.8.in", encoding="utf-8").read()
    sample_c = open(f"{top}/src/sample.c", encoding="utf-8").read()
    for name in re.findall(r'\[SIGNAL_\w+\] = "([\w-]+)"', sample_c):
        checked += 1
        if f".It Cm {name}\n" not in page8:
            problems.append(f"trnidled(8): signal '{name}' is not described")

    for src, page in (("src/main.c", "man/trnidled.8.in"),
                      ("src/ctl/trnidlectl.c", "man/trnidlectl.1.in")):
        text = open(f"{top}/{page}", encoding="utf-8").read()
        code = open(f"{top}/{src}", encoding="utf-8").read()
        for opt in re.findall(r'\{ "([\w-]+)", (?:no|required)_argument', code):
            checked += 1
            if not re.search(r"\.(It|Op) .*Fl -" + re.escape(opt) + r"\b", text):
                problems.append(f"{page}: option --{opt} of {src} is not described")

    for p in problems:
        print("FAIL:", p)
    failed = min(len(problems), checked)
    print(f"RESULT passed={checked - failed} failed={failed} skipped=0")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
