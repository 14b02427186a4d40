#!/usr/bin/env python3
"""Adds up the RESULT lines of every suite and prints 'N passed, M failed, K skipped'.
A meson test that failed without printing a RESULT line (a crash, a sanitizer abort, a
timeout) counts as one failure; so does a suite that left no result file."""
import json
import os
import re
import sys

RESULT = re.compile(r"^RESULT passed=(\d+) failed=(\d+) skipped=(\d+)\s*$", re.M)


def main() -> int:
    testlog, results_dir = sys.argv[1], sys.argv[2]
    passed = failed = skipped = 0
    if os.path.exists(testlog):
        with open(testlog) as f:
            for line in f:
                t = json.loads(line)
                found = RESULT.findall(t.get("stdout") or "")
                ok = t.get("result") in ("OK", "EXPECTEDFAIL")
                if found:
                    p, fl, s = (int(x) for x in found[-1])
                    passed, failed, skipped = passed + p, failed + fl, skipped + s
                    if not ok and fl == 0:
                        print(f"summarize: {t['name']} ended {t['result']} after its tests")
                        failed += 1
                elif t.get("result") == "SKIP":
                    skipped += 1
                elif ok:
                    passed += 1
                else:
                    print(f"summarize: {t['name']} ended {t['result']} with no RESULT line")
                    failed += 1
    for name in sorted(os.listdir(results_dir)) if os.path.isdir(results_dir) else []:
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(results_dir, name)) as f:
            for p, fl, s in RESULT.findall(f.read()):
                passed, failed, skipped = passed + int(p), failed + int(fl), skipped + int(s)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
