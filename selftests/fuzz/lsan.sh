#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# LeakSanitizer works here and fails a run: a program that leaks, built
# like the unit-asan tests and run with the unit-asan settings
# (CBT_ASAN_OPTIONS from selftests/run), must fail and name the leak; the
# same program freeing its memory must pass (the control).
source "$(dirname "$0")/../common/lib.sh"

: "${CBT_ASAN_OPTIONS:?run me through selftests/run}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/cbtship-lsan.XXXXXX")
at_exit "rm -rf '$dir'"
cat >"$dir/leak.c" <<'PROG'
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
	char *p = malloc(4242);

	(void)argv;
	memset(p, 1, 4242);
	if (argc == 1)
		p = NULL;	/* the only pointer to the block is gone: a leak */
	free(p);
	return 0;
}
PROG
cc -fsanitize=address,undefined -fno-omit-frame-pointer -g -o "$dir/leak" "$dir/leak.c" ||
	fail "cannot build the leak program with cc -fsanitize=address"

ASAN_OPTIONS=$CBT_ASAN_OPTIONS "$dir/leak" --free >"$dir/ok.log" 2>&1 ||
	fail "the control (no leak) failed under ASAN_OPTIONS=$CBT_ASAN_OPTIONS: $(cat "$dir/ok.log")"
if ASAN_OPTIONS=$CBT_ASAN_OPTIONS "$dir/leak" >"$dir/leak.log" 2>&1; then
	fail "a 4242-byte leak passed under ASAN_OPTIONS=$CBT_ASAN_OPTIONS"
fi
grep -q "LeakSanitizer: detected memory leaks" "$dir/leak.log" &&
	grep -q "4242 byte" "$dir/leak.log" ||
	fail "the leak run failed without a LeakSanitizer report: $(cat "$dir/leak.log")"
echo "LeakSanitizer reports and fails a leak; the control passes"
