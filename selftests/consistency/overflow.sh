#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A COW device that fills up during a cycle invalidates the snapshot: the
# cycle must not be labelled consistent.  A 1 MiB COW device, and a freeze
# hook that lets the ordered writer overwrite far more than 1 MiB of chunks
# before the cycle is read: replicate must warn, ship the cycle from the live
# device and label it "none" (and not fail).  The next cycle, with the
# writer stopped, is read from a new snapshot again ("crash"); the replica
# at it equals the source.  The origin is created on snapshot-origin (the
# older way, still accepted): after each run it is on linear.
# Then the state a replicate killed inside the freeze's suspend leaves, made
# with dmsetup and cbtship cbt freeze (a kill cannot be aimed there): the
# origin suspended on linear with snapshot-origin in its inactive slot, the
# snapshot active, the cycle frozen; the next run must remove the snapshot,
# resume the origin on linear (it takes writes again) and ship the cycle:
# point 3, and the replica equals the source.  Last, why a snapshot must
# never be active under a writable linear origin: taken under
# snapshot-origin it keeps a rewritten block's old data, under linear it
# does not (the control that the ordering rule guards something).

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cons-lib.bash"
requires_vm
requires_root
requires_cmd dmsetup cc blockdev sha256sum losetup timeout
cons_modules

SLOTS=2048
work=$(mktemp -d /tmp/consof.XXXXXX)
at_exit "rm -rf '$work'"
# Built on the host by make; compiling it in the guest costs ~40 s under TCG.
if [ -x "$CONS_DIR/ordered-writer" ]; then
	cp "$CONS_DIR/ordered-writer" "$work/ow" || fail "cannot copy ordered-writer"
else
	cc -O2 -Wall -o "$work/ow" "$CONS_DIR/ordered-writer.c" || fail "cannot build ordered-writer"
fi

disk=$(make_ramdisk 32)
cow=$(make_loop 1)
cons_stack of "$disk" snapshot-origin
sectors=$(blockdev --getsz /dev/mapper/of)
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
between_cycles of
! grep -q "consistent point" <<<"$out" || fail "an overflowed cycle was labelled consistent"

out=$(rep) || fail "replicate after the overflow failed: $out"
echo "$out"
grep -q "crash-consistent point" <<<"$out" || fail "the next cycle was not read from a snapshot"
between_cycles of

info "a run killed inside the freeze's suspend (state made by hand)"
dd if=/dev/urandom of=/dev/mapper/of-origin bs=4096 seek=1000 count=16 oflag=direct \
	conv=notrunc status=none || fail "writing to of-origin failed"
must dmsetup load of-origin --table "0 $sectors snapshot-origin /dev/mapper/of"
must dmsetup suspend of-origin
must "$CBTSHIP" cbt freeze /dev/mapper/of
must dmsetup create of-cbtsnap --table "0 $sectors snapshot /dev/mapper/of $cow N 8"
st=$(origin_state of)
[ "$st" = "linear snapshot suspended" ] || fail "the hand-made state is not the one wanted: $st"
out=$(rep) || fail "the run after the interrupted suspend failed: $out"
echo "$out"
between_cycles of
dmsetup info of-origin | grep -q '^Tables present: *LIVE$' ||
	fail "of-origin keeps an inactive table: $(dmsetup info of-origin)"
timeout 60 dd if=/dev/urandom of=/dev/mapper/of-origin bs=4096 seek=1100 count=4 oflag=direct \
	conv=notrunc status=none || fail "of-origin does not take writes after the repair"
out=$(rep) || fail "replicate after the repair failed: $out"

must "$CBTSHIP" apply --store "$work/store" --key "$work/key" --volume of --replica "$work/rep.img"
pts=$(point_list "$work/rep.img" | tr '\n' ';')
info "points: $pts"
[ "$pts" = "1 none;2 crash;3 crash;4 crash;" ] ||
	fail "expected point 1 none and points 2 to 4 crash, got $pts"
[ "$(sha256_of "$work/rep.img")" = "$(sha256_of /dev/mapper/of-origin)" ] ||
	fail "the replica differs from the source"

info "control: a snapshot under a linear origin does not keep the old data"
# snap_block TABLE BLOCK: a snapshot taken with the origin on TABLE, BLOCK
# rewritten through the origin: "kept" if the snapshot still reads the old
# data, else "changed".
snap_block() {
	local old new
	old=$(dd if=/dev/mapper/of bs=4096 skip="$2" count=1 iflag=direct status=none | sha256sum)
	[ "$1" = snapshot-origin ] &&
		must dmsetup load of-origin --table "0 $sectors snapshot-origin /dev/mapper/of"
	must dmsetup suspend of-origin
	must dmsetup create of-cbtsnap --table "0 $sectors snapshot /dev/mapper/of $cow N 8"
	must dmsetup resume of-origin
	dd if=/dev/urandom of=/dev/mapper/of-origin bs=4096 seek="$2" count=1 oflag=direct \
		conv=notrunc status=none || fail "writing block $2 failed"
	new=$(dd if=/dev/mapper/of-cbtsnap bs=4096 skip="$2" count=1 iflag=direct status=none |
		sha256sum)
	must dmsetup remove --retry of-cbtsnap
	if [ "$1" = snapshot-origin ]; then
		must dmsetup load of-origin --table "0 $sectors linear /dev/mapper/of 0"
		must dmsetup resume of-origin
	fi
	[ "$new" = "$old" ] && echo kept || echo changed
}
[ "$(snap_block snapshot-origin 500)" = kept ] ||
	fail "a snapshot under snapshot-origin lost the old data of a rewritten block"
[ "$(snap_block linear 501)" = changed ] ||
	fail "a snapshot under a linear origin kept the old data: the check above proves nothing"
