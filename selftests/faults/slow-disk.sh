#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A slow disk under the source (dm-delay, 40 ms per read and write): cycles
# still complete while a writer runs, nothing is lost, the replica equals
# the source (sha256).  Prints each cycle's duration next to one over the
# same disk without delay, as a ratio (informational, not asserted).

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/faults-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt
modprobe dm-delay 2>/dev/null || skip "no dm-delay in this kernel"

faults_setup slow 16

# timed_ship: run one cycle, print its wall time in ms.
timed_ship() {
	local t0 t1
	t0=$(date +%s%N)
	ship >"$work/ship.log" 2>&1 || fail "cycle failed:"$'\n'"$(cat "$work/ship.log")"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

writes "$vol" 1 8
fast_initial=$(timed_ship)
writes "$vol" 2 2
fast_delta=$(timed_ship)

info "40 ms on every read and write from now on"
lower_table slow-lower "0 $sectors delay $disk 0 40"
writes "$vol" 3 2
slow_delta=$(timed_ship)
info "a cycle while a writer runs on the slow disk"
writes "$vol" 4 1 &
writer=$!
slow_busy=$(timed_ship)
wait $writer || fail "writer failed"
slow_last=$(timed_ship)

ratio=$(awk -v a="$slow_delta" -v b="$fast_delta" 'BEGIN { printf "%.1f", a / (b ? b : 1) }')
info "delta cycle: ${fast_delta} ms healthy, ${slow_delta} ms slow (x$ratio);" \
	"initial ${fast_initial} ms; with a writer ${slow_busy} ms, then ${slow_last} ms"
[ "$(vol_field "$vol" frozen)" = 0 ] || fail "a cycle is left frozen"
lower_table slow-lower "0 $sectors linear $disk 0"
must ship
check_replica "$work/replica"
# Negative control: a byte changed in the replica is seen.
printf 'x' | dd of="$work/replica" bs=1 seek=12345 conv=notrunc status=none
replica_differs "$work/replica"
