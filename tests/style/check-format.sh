#!/bin/sh
# Every C file is as .clang-format makes it. clang-format's output changes in details from one
# major version to the next, so the check runs with the version the tree is formatted by
# (Debian 12's 14) and is skipped (77) with any other.
# Fix: clang-format -i $(git ls-files '*.c' '*.h')
top=${1:?usage: check-format.sh SOURCE_ROOT}
want=14
for cf in clang-format-$want clang-format; do
    command -v "$cf" >/dev/null 2>&1 || continue
    major=$("$cf" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
    [ "$major" = "$want" ] && break
    cf=
done
if [ -z "$cf" ]; then
    echo "clang-format $want not found: skipped"
    exit 77
fi
cd "$top" || exit 1
files=$(find src include tests bench -name node_modules -prune -o -name '*.[ch]' -print | sort)
bad=0
for f in $files; do
    if ! "$cf" --dry-run -Werror "$f" 2>/dev/null; then
        echo "FAIL: $f is not formatted (clang-format -i $f)"
        bad=$((bad + 1))
    fi
done
echo "$(echo "$files" | wc -l) files checked, $bad not formatted"
[ "$bad" -eq 0 ]
