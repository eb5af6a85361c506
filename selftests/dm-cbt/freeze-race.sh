#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# No change is lost at a cycle boundary, raced thousands of times.
# cbt-race (cbt-race.c) runs writer threads doing O_DIRECT writes of
# self-describing data (single blocks, runs, unaligned pieces crossing
# block boundaries) against FREEZE / GET_CHANGES / read / COMMIT cycles
# (every 7th an ABORT), keeping a shadow copy built only from the cycles.
# It checks per cycle that every write completed before FREEZE was called
# is in that cycle or an earlier one (after its submission), and at the
# end that the shadow equals the device.  Writers pause 500 us between
# writes, so writes arrive all through every cycle (a dozen or so per
# cycle); the driver stops counting if a writer runs out of log.  At least
# 1000 cycles must run (3000 are asked for, within 300 s).
# Negative control: leaving one block of a write out of one cycle, as a
# tracker losing a change would, must be detected.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

RACE=$CBT_ROOT/selftests/dm-cbt/cbt-race
if [ ! -x "$RACE" ] || [ "$RACE.c" -nt "$RACE" ]; then
	fail "$RACE is missing or older than its source: run make"
fi

work=$(mktemp -d /tmp/race.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 16)
cbt_create race "$disk" 4096
dev=/dev/mapper/race

# field NAME: a "name=value" field of the driver's summary line.
field() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" "$work/out" | head -n 1
}

"$RACE" --writers 4 --cycles 3000 --seconds 300 "$dev" >"$work/out" 2>"$work/err"
rc=$?
info "$(cat "$work/out")"
[ "$rc" = 0 ] || fail "cbt-race failed (exit $rc): $(head -20 "$work/err")"
cycles=$(field cycles)
writes=$(field writes)
[ -n "$cycles" ] && [ "$cycles" -ge 1000 ] || fail "only ${cycles:-no} cycles ran, want >= 1000"
[ "$(field failures)" = 0 ] || fail "failures reported: $(cat "$work/out")"
# The writers really raced the cycles: many writes per cycle on average.
[ -n "$writes" ] && [ "$writes" -ge "$cycles" ] ||
	fail "only ${writes:-no} writes in $cycles cycles: the test did not race"
[ "$(vol_field "$dev" frozen)" = 0 ] || fail "the driver left a cycle frozen"

# Negative control: one block of a write dropped from one cycle.
"$RACE" --writers 4 --cycles 40 --drop-at 10 "$dev" >"$work/out" 2>"$work/err"
rc=$?
info "negative control: $(cat "$work/out")"
[ "$rc" = 1 ] || fail "a dropped block went unnoticed (exit $rc): $(head -5 "$work/err")"
grep -q "negative control: leaving block" "$work/err" || fail "the negative control was not applied"
grep -q "^cbt-race: LOST: " "$work/err" || fail "the dropped block was not reported as lost: $(head -5 "$work/err")"
exit 0
