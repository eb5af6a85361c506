#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A COW device that fills up during a cycle invalidates the snapshot: the
# cycle must not be labelled consistent.  A 1 MiB COW device, and a freeze
# hook that lets the ordered writer overwrite far more than 1 MiB of chunks
# before the cycle is read: replicate must warn, ship the cycle from the live
# device and label it "none" (and not fail).  The next cycle, with the
# writer stopped, is read from a new snapshot again ("crash"); the replica
# at it equals the source; after each run the dm-cbt device is on its disk.
# Then the state a replicate killed inside the freeze's suspend leaves, made
# with dmsetup and cbtship cbt freeze (a kill cannot be aimed there): the
# dm-cbt device suspended on its disk with `cbt of-cbtso ... data_of DISK`
# in its inactive slot, the snapshot active, of-cbtso resumed, the cycle
# frozen; the next run must remove the snapshot, drop the inactive table,
# resume the device on its disk (it takes writes again), remove of-cbtso and
# ship the cycle: point 3, and the replica equals the source.  Last, why a
# snapshot must never be active while writes reach the disk past a
# snapshot-origin: with dm-cbt on of-cbtso a snapshot keeps a rewritten
# block's old data, with dm-cbt straight on the disk it does not (the
# control that the ordering rule guards something).

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
cons_stack of "$disk"
diskno=$(devno "$disk")
sectors=$(blockdev --getsz /dev/mapper/of)
must "$CBTSHIP" keygen "$work/key"
# 3000 writes over 2048 slots of 4 KiB: about 1500 chunks, 6 MiB, copied.
cons_hook "$work/hook" "$work" 3000
rep() {
	"$CBTSHIP" replicate --store "$work/store" --key "$work/key" --state-dir "$work/state" \
		--cow "$cow" --once "$@" /dev/mapper/of 2>&1
}

"$work/ow" write /dev/mapper/of 99 $SLOTS 1 0 "$work/progress" &
writer=$!
echo "$writer" >"$work/writer.pid"
out=$(rep --hook "$work/hook") || fail "replicate failed when the snapshot overflowed: $out"
echo "$out"
kill -0 "$writer" || fail "the ordered writer died"
kill "$writer"
wait "$writer" 2>/dev/null
grep -q "snapshot overflowed" <<<"$out" || fail "no warning that the snapshot overflowed"
between_cycles of "$disk"
! grep -q "consistent point" <<<"$out" || fail "an overflowed cycle was labelled consistent"

out=$(rep) || fail "replicate after the overflow failed: $out"
echo "$out"
grep -q "crash-consistent point" <<<"$out" || fail "the next cycle was not read from a snapshot"
between_cycles of "$disk"

info "a run killed inside the freeze's suspend (state made by hand)"
dd if=/dev/urandom of=/dev/mapper/of bs=4096 seek=1000 count=16 oflag=direct \
	conv=notrunc status=none || fail "writing to of failed"
must dmsetup create of-cbtso --notable
must dmsetup load of-cbtso --table "0 $sectors snapshot-origin $diskno"
sono=$(dmsetup info -c --noheadings -o major,minor --separator : of-cbtso | tr -d ' ')
must dmsetup suspend of
must "$CBTSHIP" cbt freeze /dev/mapper/of
must dmsetup create of-cbtsnap --table "0 $sectors snapshot $diskno $cow N 8"
must dmsetup resume of-cbtso
must dmsetup load of --table "0 $sectors cbt $sono 4096 2 data_of $diskno"
st=$(stack_state of "$diskno")
[ "$st" = "disk+so snapshot suspended" ] || fail "the hand-made state is not the one wanted: $st"
out=$(rep) || fail "the run after the interrupted suspend failed: $out"
echo "$out"
between_cycles of "$disk"
dmsetup info of | grep -q '^Tables present: *LIVE$' ||
	fail "of keeps an inactive table: $(dmsetup info of)"
timeout 60 dd if=/dev/urandom of=/dev/mapper/of bs=4096 seek=1100 count=4 oflag=direct \
	conv=notrunc status=none || fail "of does not take writes after the repair"
out=$(rep) || fail "replicate after the repair failed: $out"

must "$CBTSHIP" apply --store "$work/store" --key "$work/key" --volume of --replica "$work/rep.img"
pts=$(point_list "$work/rep.img" | tr '\n' ';')
info "points: $pts"
[ "$pts" = "1 none;2 crash;3 crash;4 crash;" ] ||
	fail "expected point 1 none and points 2 to 4 crash, got $pts"
[ "$(sha256_of "$work/rep.img")" = "$(sha256_of /dev/mapper/of)" ] ||
	fail "the replica differs from the source"

info "control: a snapshot with dm-cbt straight on the disk does not keep the old data"
# snap_block so|disk BLOCK: a snapshot of the disk taken with dm-cbt on
# of-cbtso (what replicate does) or straight on the disk, BLOCK rewritten
# through of: "kept" if the snapshot still reads the old data, else
# "changed".
snap_block() {
	local old new so
	old=$(dd if=/dev/mapper/of bs=4096 skip="$2" count=1 iflag=direct status=none | sha256sum)
	if [ "$1" = so ]; then
		must dmsetup create of-cbtso --notable
		must dmsetup load of-cbtso --table "0 $sectors snapshot-origin $diskno"
	fi
	must dmsetup suspend of
	must dmsetup create of-cbtsnap --table "0 $sectors snapshot $diskno $cow N 8"
	if [ "$1" = so ]; then
		must dmsetup resume of-cbtso
		so=$(dmsetup info -c --noheadings -o major,minor --separator : of-cbtso | tr -d ' ')
		must dmsetup load of --table "0 $sectors cbt $so 4096 2 data_of $diskno"
	fi
	must dmsetup resume of
	dd if=/dev/urandom of=/dev/mapper/of bs=4096 seek="$2" count=1 oflag=direct \
		conv=notrunc status=none || fail "writing block $2 failed"
	new=$(dd if=/dev/mapper/of-cbtsnap bs=4096 skip="$2" count=1 iflag=direct status=none |
		sha256sum)
	must dmsetup remove --retry of-cbtsnap
	if [ "$1" = so ]; then
		must dmsetup load of --table "0 $sectors cbt $diskno 4096"
		must dmsetup resume of
		must dmsetup remove --retry of-cbtso
	fi
	[ "$new" = "$old" ] && echo kept || echo changed
}
[ "$(snap_block so 500)" = kept ] ||
	fail "a snapshot with dm-cbt on of-cbtso lost the old data of a rewritten block"
[ "$(snap_block disk 501)" = changed ] ||
	fail "a snapshot with dm-cbt straight on the disk kept the old data: the check above proves nothing"
between_cycles of "$disk"
