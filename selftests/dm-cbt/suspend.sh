#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# postsuspend/preresume duties:
# - a FREEZE on a suspended volume completes at once (nothing is in flight)
#   and a cycle can be read and committed while suspended;
# - a device that shrank below the table while the dm device was suspended
#   is refused at resume with a message naming both; once it is grown back
#   the resume succeeds and every recorded change is still there;
# - no "writes still counted in flight" complaint from postsuspend.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

disk=$(make_ramdisk 8)
full=$(blockdev --getsz "$disk")
half=$((full / 2))
dmsetup create sus-under --table "0 $full linear $disk 0" || fail "dmsetup create sus-under failed"
at_exit "dmsetup remove --retry sus-under"
under=/dev/mapper/sus-under
cbt_create sus "$under" 4096
dev=/dev/mapper/sus
underno=$(dmsetup info -c --noheadings -o major,minor --separator : sus-under | tr -d ' ')
before=$(dmesg | wc -l)

dd if=/dev/urandom of="$dev" bs=4096 seek=3 count=2 oflag=direct status=none ||
	fail "write failed"
dd if=/dev/urandom of="$dev" bs=4096 seek=$((full / 8 - 1)) count=1 oflag=direct status=none ||
	fail "write to the last block failed"

# Frozen while suspended: no in-flight write to wait for.
must dmsetup suspend sus
cycle=$(timeout 60 "$PROBE" freeze "$dev") || fail "FREEZE on a suspended volume failed"
[ "$(probe changes "$dev" "$cycle")" = "3 2
$((full / 8 - 1)) 1" ] || fail "frozen set while suspended: $(probe changes "$dev" "$cycle")"
must probe abort "$dev" "$cycle"

# The device shrinks under the suspended table: resume is refused.
must dmsetup reload sus-under --table "0 $half linear $disk 0"
must dmsetup resume sus-under
[ "$(blockdev --getsz "$under")" = "$half" ] || fail "sus-under did not shrink"
expect_fail "" dmsetup resume sus
dmsetup info sus | grep -q '^State: *SUSPENDED' || fail "sus is not suspended after the refused resume"
dmesg | tail -n +"$((before + 1))" |
	grep -q "cbt: sus: device $underno shrank to $half sectors, table needs $full: not resuming" ||
	fail "the refused resume did not log why: $(dmesg | tail -n 5)"

# Grown back: the resume works and nothing was lost.
must dmsetup reload sus-under --table "0 $full linear $disk 0"
must dmsetup resume sus-under
must dmsetup resume sus
[ "$(vol_field "$dev" dirty)" = 3 ] || fail "changes lost across the refused resume: $(vol_field "$dev" dirty)"
dd if=/dev/urandom of="$dev" bs=4096 seek=10 count=1 oflag=direct status=none ||
	fail "write after resume failed"
[ "$(vol_field "$dev" dirty)" = 4 ] || fail "a write after the resume was not tracked"

dmesg | tail -n +"$((before + 1))" | grep -q 'still counted in flight' &&
	fail "postsuspend found writes in flight: $(dmesg | grep 'still counted in flight')"
exit 0
