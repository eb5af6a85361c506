#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the dm-cbt VM tests; source after ../common/lib.sh.
#
#   probe ARGS...         run cbt-nl-probe (built by make)
#   vol_field DEV KEY     one "key=value" field of `probe get DEV`
#   coalesce              stdin: block numbers; stdout: "start count" runs
#   expand                stdin: "start count" runs; stdout: block numbers
#   monitor_start N FILE [WRAPPER...]
#                         listen for N events into FILE (background, $MON)

PROBE_SRC=$CBT_ROOT/selftests/dm-cbt/cbt-nl-probe.c
PROBE=$CBT_ROOT/selftests/dm-cbt/cbt-nl-probe

# Built by the top-level make (make selftests); never compiled in the guest.
if [ ! -x "$PROBE" ] || [ "$PROBE_SRC" -nt "$PROBE" ]; then
	fail "$PROBE is missing or older than its source: run make"
fi

probe() {
	"$PROBE" "$@"
}

vol_field() {
	local out
	out=$(probe get "$1") || fail "probe get $1 failed"
	sed -n "s/^$2=//p" <<<"$out"
}

coalesce() {
	sort -n -u | awk '
		NR == 1 { s = $1; e = $1; next }
		$1 == e + 1 { e = $1; next }
		{ print s, e - s + 1; s = $1; e = $1 }
		END { if (NR) print s, e - s + 1 }'
}

expand() {
	awk '{ for (i = 0; i < $2; i++) print $1 + i }'
}

# expect_fail REGEX COMMAND...: COMMAND fails and its stderr matches REGEX.
expect_fail() {
	local re=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "succeeded but should have failed: $*"
	fi
	grep -qE -- "$re" <<<"$out" ||
		fail "'$*' failed without saying /$re/:"$'\n'"$out"
}

# monitor_start COUNT FILE [WRAPPER...]: run "probe monitor COUNT" in the
# background (through WRAPPER, e.g. setpriv ..., if given), its output in
# FILE, and wait until it has joined the events group.  Its pid is in MON;
# `wait "$MON"` collects it.
monitor_start() {
	local count=$1 file=$2
	shift 2
	"$@" timeout 120 "$PROBE" monitor "$count" >"$file" 2>&1 &
	MON=$!
	at_exit "kill $MON"
	for _ in $(seq 100); do
		grep -q '^ready$' "$file" && return 0
		sleep 0.1
	done
	fail "monitor did not start: $(cat "$file")"
}
