#!/usr/bin/env python3
"""Checks that the shipped default configuration and the man pages agree with the code, so
that neither can drift: every key of `trnidled --check-config` (the key table in src/shared/config.c)
appears in systemd/trnidled.conf commented out at its default and in trnidled.conf(5) with that
default and an example; every signal name (src/core/sample.c) is described in trnidled(8) and in
the SIGNALS section of trnidled.conf(5), and neither describes a signal the code does not
have; every long option (src/main.c, src/ctl/trnidlectl.c) is in the man pages; README.md has one
row per signal in "What it watches" and one per key in "Configuration"; every journal
field (a "TRNIDLED_*=" string in src/) is in trnidled(8), which names no field the code does
not set; every MESSAGE_ID of src/shared/log.h is substituted by man/meson.build and listed in
trnidled(8).

Usage: check-docs.py TRNIDLED SOURCE_ROOT. Prints one line per problem and a RESULT line."""
import glob
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


def sh_section(text, title):
    """The mdoc source of section .Sh TITLE, up to the next .Sh."""
    m = re.search(r"^\.Sh " + re.escape(title) + r"\n(.*?)(?=^\.Sh |\Z)", text, re.M | re.S)
    return m[1] if m else ""


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
    page5 = open(f"{top}/man/trnidled.conf.5.in", encoding="utf-8").read()
    sample_c = open(f"{top}/src/core/sample.c", encoding="utf-8").read()
    signals = re.findall(r'\[SIGNAL_\w+\] = "([\w-]+)"', sample_c)
    for page, text, section in (("trnidled(8)", page8, "ACTIVITY SIGNALS"),
                                ("trnidled.conf(5)", page5, "SIGNALS")):
        described = re.findall(r"^\.It Cm ([\w-]+)$", sh_section(text, section), re.M)
        checked += 1
        if not described:
            problems.append(f"{page}: no section {section} with signals")
        for name in signals:
            checked += 1
            if name not in described:
                problems.append(f"{page}: signal '{name}' is not described in {section}")
        for name in set(described) - set(signals):
            problems.append(f"{page}: {section} describes '{name}', which is no signal")

    readme = open(f"{top}/README.md", encoding="utf-8").read()
    table = re.findall(r"^\| `([\w-]+)` \|", readme, re.M)
    for name in signals:
        checked += 1
        if table.count(name) != 1:
            problems.append(f"README.md: 'What it watches' has {table.count(name)} rows "
                            f"for signal '{name}', not 1")
    config_rows = re.findall(r"^\| (?:`\[\w+\]`)? *\| `(\w+)` \|", readme, re.M)
    for section, key, _ in want:
        checked += 1
        if key not in config_rows:
            problems.append(f"README.md: the Configuration table has no row for [{section}] {key}=")

    code = "".join(open(f, encoding="utf-8").read()
                   for f in sorted(glob.glob(f"{top}/src/**/*.c", recursive=True)))
    fields = sorted(set(re.findall(r'"(TRNIDLED_[A-Z_]+)=', code)))
    if len(fields) < 10:
        problems.append(f"src/: found only {len(fields)} TRNIDLED_* journal fields")
    for field in fields:
        checked += 1
        if not re.search(r"^\.(It )?(Va|Ev) " + field + r"\b", page8, re.M):
            problems.append(f"trnidled(8): journal field {field} (set in src/) is not described")
    for field in sorted(set(re.findall(r"^\.(?:It )?Va (TRNIDLED_[A-Z_]+)\b", page8, re.M))):
        if field not in fields:
            problems.append(f"trnidled(8): describes {field}, which src/ never sets")

    log_h = open(f"{top}/src/shared/log.h", encoding="utf-8").read()
    man_build = open(f"{top}/man/meson.build", encoding="utf-8").read()
    ids = re.findall(r'^#define MESSAGE_ID_(\w+) +"[0-9a-f]{32}"$', log_h, re.M)
    if not ids:
        problems.append("src/shared/log.h: no MESSAGE_ID_* found")
    for name in ids:
        checked += 1
        if f"'{name}'" not in man_build:
            problems.append(f"man/meson.build: MESSAGE_ID_{name} is not substituted")
        elif f"@MESSAGE_ID_{name}@" not in page8:
            problems.append(f"trnidled(8): MESSAGE_ID_{name} is not listed")

    for src, page in (("src/daemon/main.c", "man/trnidled.8.in"),
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
