#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host test of scripts/lint-kmod: the module in the tree is checkpatch
# --strict, sparse and W=1 clean, and lint-kmod does catch what it is for
# (a copy of the module with a style fault and a sparse fault planted in
# one file fails, naming both; only that file is checked again, which is
# what --file is for).
# Exit 0: pass, 1: fail, 77: skip (with the reason).

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LINT=$ROOT/scripts/lint-kmod

[ -r /usr/src/linux-source-6.1.tar.xz ] ||
	{ echo "SKIP: lint-kmod: no /usr/src/linux-source-6.1.tar.xz (apt-get install linux-source-6.1)"; exit 77; }
command -v sparse >/dev/null || { echo "SKIP: lint-kmod: needs sparse"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/lint-kmod-test.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
failed=0

# 1. The tree itself.
"$LINT" >"$work/tree.out" 2>&1
rc=$?
cat "$work/tree.out"
if [ $rc = 0 ]; then
	echo "ok 1 - the module is checkpatch --strict, sparse and W=1 clean"
else
	echo "not ok 1 - lint-kmod on the tree exited $rc"
	failed=1
fi

# 2. A copy with two planted faults must fail and name both.
mkdir -p "$work/copy/kmod"
cp "$ROOT/Kbuild" "$work/copy/" && cp -r "$ROOT/uapi" "$work/copy/" &&
	cp "$ROOT"/kmod/Kbuild "$ROOT"/kmod/*.[ch] "$work/copy/kmod/" || exit 1
rm -f "$work"/copy/kmod/*.mod.c
f=$(ls "$work"/copy/kmod/*.c | head -n 1)
# A trailing blank (checkpatch) and a global without a declaration (sparse:
# "was not declared. Should it be static?").
printf 'int cbt_lint_planted_symbol;  \n' >>"$f"
"$LINT" --root "$work/copy" --file "kmod/${f##*/}" >"$work/copy.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q 'TRAILING_WHITESPACE' "$work/copy.out" &&
	grep -q "cbt_lint_planted_symbol' was not declared" "$work/copy.out"; then
	echo "ok 2 - planted checkpatch and sparse faults are reported"
else
	echo "not ok 2 - planted faults: lint-kmod exited $rc (want 1) with:"
	sed 's/^/# /' "$work/copy.out"
	failed=1
fi
exit $failed
