#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kill -9 safety of cbtship replicate on the host, with the fake kernel
# source (cbt-file.c): many rounds of "change random blocks, start
# replicate, SIGKILL it at a random moment", then one clean catch-up cycle
# and apply: the replica's sha256 equals the source's.  The kill delays are
# drawn from 0 to 1.5x the measured length of an uninterrupted cycle, and
# the test prints (and requires some) kills that landed mid-cycle: a frozen
# tracking cycle or a cycle directory without a manifest left behind.
# Negative control: before the catch-up cycle the replica differs.

. "$(dirname "$0")/../common/lib.sh"
requires_cmd sha256sum python3

ROUNDS=${CBT_KILL9_ROUNDS:-40}
BS=4096
NR=4096	# 16 MiB
work=$(mktemp -d "${TMPDIR:-/tmp}/cbt-kill9.XXXXXX")
at_exit "rm -rf '$work'"
cd "$work" || fail "cd $work"

must "$CBTSHIP" keygen key
head -c $((NR * BS)) /dev/urandom >src
REPL=("$CBTSHIP" -q replicate --store store --key key --volume v --fake-state fs
      --state-dir sd --workers 2 --once src)

# change N: rewrite N random block runs and record them as tracked.
change() {
	local i start count
	for ((i = 0; i < $1; i++)); do
		start=$((RANDOM % NR))
		count=$((1 + RANDOM % 32))
		[ $((start + count)) -le $NR ] || count=$((NR - start))
		head -c $((count * BS)) /dev/urandom |
			dd of=src bs=$BS seek=$start conv=notrunc status=none || fail "dd failed"
		echo "dirty $start $count" >>fs
	done
}

now_ms() {
	date +%s%3N
}

info "initial copy, uninterrupted, timing a cycle"
t0=$(now_ms)
must "${REPL[@]}"
change 60
t1=$(now_ms)
must "${REPL[@]}"
cycle_ms=$(( $(now_ms) - t1 ))
[ $cycle_ms -gt 0 ] || cycle_ms=1
info "initial copy $((t1 - t0)) ms, one delta cycle $cycle_ms ms"

mid_frozen=0 mid_partial=0 kills=0
for ((r = 1; r <= ROUNDS; r++)); do
	change $((20 + RANDOM % 60))
	delay_ms=$(( (RANDOM * 32768 + RANDOM) % (cycle_ms * 3 / 2 + 1) ))
	"${REPL[@]}" >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
	if kill -9 $pid 2>/dev/null; then
		kills=$((kills + 1))
	fi
	wait $pid 2>/dev/null
	grep -qx 'frozen 1' fs && mid_frozen=$((mid_frozen + 1))
	for c in store/volumes/v/cycles/*/; do
		[ -e "$c/manifest" ] || { mid_partial=$((mid_partial + 1)); break; }
	done
done
info "$ROUNDS rounds, $kills processes killed; left behind: $mid_frozen frozen tracking cycles, $mid_partial cycles without manifest"
[ $((mid_frozen + mid_partial)) -gt 0 ] ||
	fail "no kill landed inside a cycle: the test did not exercise the restart rules"

change 5	# pending for sure, even if the last round was not killed
must "$CBTSHIP" -q apply --store store --key key --volume v --replica replica
if [ "$(sha256_of src)" = "$(sha256_of replica)" ]; then
	fail "negative control: the replica already equals the source before the catch-up cycle, so the comparison proves nothing"
fi

info "catch-up cycle and apply"
must "${REPL[@]}"
grep -qx 'frozen 0' fs || fail "a frozen tracking cycle is left after a clean run"
must "$CBTSHIP" -q apply --store store --key key --volume v --replica replica
src_hash=$(sha256_of src)
rep_hash=$(sha256_of replica)
info "source  $src_hash"
info "replica $rep_hash"
[ "$src_hash" = "$rep_hash" ] || fail "replica differs from the source after $ROUNDS kill -9 rounds"
info "cycles in the store: $(ls store/volumes/v/cycles | wc -l)"
