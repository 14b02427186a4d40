#!/usr/bin/python3
"""Every #include "..." of src/ against the layer order of src/meson.build: a layer reaches only
the headers of the layers below it (and include/, and build-config.h). The build enforces the
same through each library's include path; this check also catches a "../probes/probe.h" that
the include path cannot, and names the file and line.

  check-layers.py SOURCE_ROOT
"""
import os
import re
import sys

# Each layer and the layers it may include from (its own is always allowed): the closure of
# the dependency lists in src/*/meson.build.
LAYERS = {
    "shared": set(),
    "core": {"shared"},
    "probes": {"shared", "core"},
    "aws": {"shared", "core"},
    "actions": {"shared", "core", "aws"},
    "daemon": {"shared", "core", "probes", "aws", "actions"},
    "agent": {"shared", "core", "aws"},
    "ctl": {"shared"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main(top):
    src = os.path.join(top, "src")
    home = {}  # header name -> layer (None: include/ or generated)
    for layer in LAYERS:
        for name in os.listdir(os.path.join(src, layer)):
            if name.endswith(".h"):
                home[name] = layer
    for name in os.listdir(os.path.join(top, "include")):
        home[name] = None
    home["build-config.h"] = None
    problems, checked = [], 0
    for layer, allowed in LAYERS.items():
        folder = os.path.join(src, layer)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    checked += 1
                    where = f"src/{layer}/{name}:{n}"
                    header = m[1]
                    if "/" in header:
                        problems.append(f"{where}: \"{header}\": a path, not a header of a layer")
                    elif header not in home:
                        problems.append(f"{where}: \"{header}\" is in no layer nor include/")
                    elif home[header] not in (None, layer) and home[header] not in allowed:
                        problems.append(f"{where}: {layer} includes \"{header}\" of "
                                        f"{home[header]} (allowed: {', '.join(sorted(allowed)) or 'none'})")
    for p in problems:
        print("FAIL:", p)
    print(f"{checked} includes checked in {len(LAYERS)} layers, {len(problems)} across the order")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
