#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A COW device that fills up during a cycle invalidates the snapshot: the
# cycle must not be labelled consistent.  A 1 MiB COW device, and a freeze
# hook that lets the ordered writer overwrite far more than 1 MiB of chunks
# before the cycle is read: replicate must warn, ship the cycle from the live
# device and label it "none" (and not fail).  The next cycle, with the
# writer stopped, is read from a new snapshot again ("crash"); the replica
# at it equals the source.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cons-lib.bash"
requires_vm
requires_root
requires_cmd dmsetup cc blockdev sha256sum losetup
cons_modules

SLOTS=2048
work=$(mktemp -d /tmp/consof.XXXXXX)
at_exit "rm -rf '$work'"
cc -O2 -Wall -o "$work/ow" "$CONS_DIR/ordered-writer.c" || fail "cannot build ordered-writer"

disk=$(make_ramdisk 32)
cow=$(make_loop 1)
cons_stack of "$disk"
must "$CBTSHIP" keygen "$work/key"
# 3000 writes over 2048 slots of 4 KiB: about 1500 chunks, 6 MiB, copied.
cons_hook "$work/hook" "$work" 3000
rep() {
	"$CBTSHIP" replicate --store "$work/store" --key "$work/key" --state-dir "$work/state" \
		--origin of-origin --cow "$cow" --once "$@" /dev/mapper/of 2>&1
}

"$work/ow" write /dev/mapper/of-origin 99 $SLOTS 1 0 "$work/progress" &
writer=$!
echo "$writer" >"$work/writer.pid"
out=$(rep --hook "$work/hook") || fail "replicate failed when the snapshot overflowed: $out"
echo "$out"
kill -0 "$writer" || fail "the ordered writer died"
kill "$writer"
wait "$writer" 2>/dev/null
grep -q "snapshot overflowed" <<<"$out" || fail "no warning that the snapshot overflowed"
! grep -q "consistent point" <<<"$out" || fail "an overflowed cycle was labelled consistent"

out=$(rep) || fail "replicate after the overflow failed: $out"
echo "$out"
grep -q "crash-consistent point" <<<"$out" || fail "the next cycle was not read from a snapshot"

must "$CBTSHIP" apply --store "$work/store" --key "$work/key" --volume of --replica "$work/rep.img"
pts=$(point_list "$work/rep.img" | tr '\n' ';')
info "points: $pts"
[ "$pts" = "1 none;2 crash;" ] || fail "expected point 1 none and point 2 crash, got $pts"
[ "$(sha256_of "$work/rep.img")" = "$(sha256_of /dev/mapper/of-origin)" ] ||
	fail "the replica differs from the source"
