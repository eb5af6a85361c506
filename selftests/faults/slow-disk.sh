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

MB=16
work=$(mktemp -d /tmp/faults.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk $MB)
sectors=$(blockdev --getsz "$disk")
lower_create slow-lower "$disk"
cbt_create slow /dev/mapper/slow-lower 4096
vol=/dev/mapper/slow
store=$work/store
must "$CBTSHIP" keygen "$work/key"
ship() {
	"$CBTSHIP" replicate --store "$store" --key "$work/key" --once "$vol"
}
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

info "delta cycle: ${fast_delta} ms healthy, ${slow_delta} ms slow" \
	"(x$(awk -v a="$slow_delta" -v b="$fast_delta" 'BEGIN { printf "%.1f", a / (b ? b : 1) }'));" \
	"initial ${fast_initial} ms; with a writer ${slow_busy} ms, then ${slow_last} ms"
[ "$(vol_field "$vol" frozen)" = 0 ] || fail "a cycle is left frozen"
lower_table slow-lower "0 $sectors linear $disk 0"
must ship
must "$CBTSHIP" apply --store "$store" --key "$work/key" --volume slow --replica "$work/replica"
src=$(sha256_of "$vol")
rep=$(sha256_of "$work/replica")
info "source  $src"
info "replica $rep"
[ "$rep" = "$src" ] || fail "replica differs from source"
# Negative control: a byte changed in the replica is seen.
printf 'x' | dd of="$work/replica" bs=1 seek=12345 conv=notrunc status=none
[ "$(sha256_of "$work/replica")" != "$src" ] || fail "a changed replica still matches"
