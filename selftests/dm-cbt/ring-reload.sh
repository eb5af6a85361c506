#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ring belongs to the volume: reloading the same table keeps every
# record; a reload with a smaller ring_size keeps the newest records,
# counts the others as lost and continues the sequence numbers; a reload
# without a ring drops them all (TAG then fails).

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

disk=$(make_ramdisk 8)
cbt_create rr "$disk" 4096 2 ring_size 8
dev=/dev/mapper/rr
table=$(dmsetup table rr)
base=${table% 2 ring_size 8}

reload() {
	must dmsetup reload rr --table "$1"
	must dmsetup suspend rr
	must dmsetup resume rr
}

for b in 1 2 3 4 5; do
	dd if=/dev/urandom of="$dev" bs=4096 seek="$b" count=1 oflag=direct \
		status=none || fail "write failed"
done
want=$(for b in 1 2 3 4 5; do echo "$b write $((b * 8)) 8 0 0"; done)
reload "$table"
[ "$(probe ring "$dev")" = "$want" ] || fail "reloading the same table changed the ring"

reload "$base 2 ring_size 4"
[ "$(probe ring "$dev")" = "$(tail -n 4 <<<"$want")" ] ||
	fail "smaller ring does not hold the 4 newest records: $(probe ring "$dev")"
[ "$(vol_field "$dev" ring_lost)" = 1 ] || fail "the dropped record is not counted as lost"
[ "$(vol_field "$dev" ring_overflow)" = 1 ] || fail "overflow flag not set"
must probe tag "$dev" 9
[ "$(probe ring "$dev" 6)" = "6 tag 0 0 0 9" ] || fail "sequence did not continue at 6"

reload "$base"
[ "$(vol_field "$dev" ring_size)" = 0 ] || fail "ring not removed"
[ -z "$(probe ring "$dev")" ] || fail "a volume without a ring returned records"
expect_fail "has no ring" probe tag "$dev" 1
[ "$(vol_field "$dev" dirty)" = 5 ] || fail "ring reloads changed the change set"
exit 0
