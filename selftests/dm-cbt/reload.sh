#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Tracking state belongs to the dm device: suspend/resume and reloading the
# same table keep every change, a frozen cycle and the volume id; an
# inactive table is not what netlink sees; a table on a device stacked over
# the disk keeps the state only with data_of (and so does the reload back
# onto the disk), without it starts fresh; a table with another block size
# starts new tracking with a new volume id; removing the device ends it.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

disk=$(make_ramdisk 8)
cbt_create rl "$disk" 4096
dev=/dev/mapper/rl
table=$(dmsetup table rl)

dd if=/dev/urandom of="$dev" bs=4096 seek=7 count=3 oflag=direct status=none
id=$(vol_field "$dev" id)
[ "$(vol_field "$dev" dirty)" = 3 ] || fail "expected 3 dirty blocks"

must dmsetup suspend rl
must dmsetup resume rl
[ "$(vol_field "$dev" dirty)" = 3 ] || fail "suspend/resume lost changes"

must dmsetup reload rl --table "$table"
must dmsetup suspend rl
must dmsetup resume rl
[ "$(vol_field "$dev" id)" = "$id" ] || fail "reload of the same table changed the volume id"
[ "$(vol_field "$dev" dirty)" = 3 ] || fail "reload lost changes"

# A frozen cycle survives a reload; writes meanwhile go to the live set.
cycle=$(probe freeze "$dev") || fail "freeze failed"
dd if=/dev/urandom of="$dev" bs=4096 seek=100 count=1 oflag=direct status=none
must dmsetup reload rl --table "$table"
must dmsetup suspend rl
must dmsetup resume rl
[ "$(vol_field "$dev" frozen)" = 1 ] || fail "reload dropped the frozen cycle"
[ "$(probe changes "$dev" "$cycle")" = "7 3" ] || fail "frozen set changed by reload"
must probe commit "$dev" "$cycle"
[ "$(vol_field "$dev" dirty)" = 1 ] || fail "write during the frozen cycle lost"

# An inactive table does not replace what netlink sees.
must dmsetup load rl --table "${table% 4096} 512"
[ "$(vol_field "$dev" block_size)" = 4096 ] || fail "inactive table became visible"
must dmsetup clear rl
[ "$(vol_field "$dev" id)" = "$id" ] || fail "clearing the inactive table changed the volume"

# swap_table TABLE: rl's table replaced through suspend and resume.
swap_table() {
	must dmsetup reload rl --table "$1"
	must dmsetup suspend rl
	must dmsetup resume rl
}

# data_of: a table on a device stacked over the disk that says it presents
# the disk's data keeps the state (changes, frozen cycle, id), and so does
# the reload back onto the disk; what is written meanwhile reaches the disk.
set -- $table
diskno=$4
sectors=$(blockdev --getsz "$disk")
must dmsetup create rl-over --table "0 $sectors linear $diskno 0"
overno=$(dmsetup info -c --noheadings -o major,minor --separator : rl-over | tr -d ' ')
at_exit "dmsetup remove --retry rl; dmsetup remove rl-over"
dd if=/dev/urandom of="$dev" bs=4096 seek=20 count=2 oflag=direct status=none
cycle=$(probe freeze "$dev") || fail "freeze failed"
swap_table "0 $sectors cbt $overno 4096 2 data_of $disk"
[ "$(dmsetup table rl)" = "0 $sectors cbt $overno 4096 2 data_of $diskno" ] ||
	fail "data_of table reads back as: $(dmsetup table rl)"
[ "$(vol_field "$dev" id)" = "$id" ] || fail "reload with data_of changed the volume id"
[ "$(vol_field "$dev" frozen)" = 1 ] || fail "reload with data_of dropped the frozen cycle"
[ "$(probe changes "$dev" "$cycle")" = "$(printf '20 2\n100 1')" ] ||
	fail "frozen set changed by the data_of reload: $(probe changes "$dev" "$cycle")"
dd if=/dev/urandom of="$dev" bs=4096 seek=30 count=1 oflag=direct status=none
cmp -s <(dd if="$dev" bs=4096 skip=30 count=1 status=none) \
	<(dd if="$disk" bs=4096 skip=30 count=1 iflag=direct status=none) ||
	fail "a write through the stacked device did not reach the disk"
swap_table "$table"
[ "$(vol_field "$dev" id)" = "$id" ] || fail "reload back onto the disk changed the volume id"
[ "$(vol_field "$dev" dirty)" = 1 ] || fail "reload back onto the disk lost the live change"
must probe commit "$dev" "$cycle"

# Negative control: the same stacked device without data_of is another
# device, so tracking starts fresh (a reload onto another disk must not keep
# stale changes); back on the disk it is fresh again.
swap_table "0 $sectors cbt $overno 4096"
[ "$(vol_field "$dev" id)" != "$id" ] || fail "reload onto another device without data_of kept the volume id"
[ "$(vol_field "$dev" dirty)" = 0 ] || fail "reload onto another device without data_of kept the changes"
[ "$(vol_field "$dev" resync_required)" = 1 ] || fail "fresh tracking on another device is not resync required"
swap_table "$table"
must dmsetup remove rl-over
id=$(vol_field "$dev" id)
dd if=/dev/urandom of="$dev" bs=4096 seek=7 count=1 oflag=direct status=none

# Another block size: new tracking, new id, everything dirty is gone.
must dmsetup reload rl --table "${table% 4096} 512"
must dmsetup suspend rl
must dmsetup resume rl
[ "$(vol_field "$dev" block_size)" = 512 ] || fail "new block size not in effect"
[ "$(vol_field "$dev" dirty)" = 0 ] || fail "new tracking is not empty"
[ "$(vol_field "$dev" id)" != "$id" ] || fail "new tracking kept the old volume id"

devno=$(dmsetup info -c --noheadings -o major,minor --separator : rl | tr -d ' ')
[ -n "$(probe get "$devno")" ] || fail "cannot get the volume by $devno"
must dmsetup remove rl
expect_fail "No such device" probe get "$devno"
probe list | grep -q "^$devno " && fail "volume still listed after removal: $(probe list)"
exit 0
