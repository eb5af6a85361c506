#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# no_discard_passdown: discards are tracked as changes but never reach the
# device (its data stays), and the dm device advertises discard support
# at the tracking block size even so.  Without the option discards pass.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
requires_cmd blkdiscard
load_dm_cbt

disk=$(make_ramdisk 8)
dd if=/dev/urandom of="$disk" bs=1M count=8 oflag=direct status=none || fail "fill failed"
before=$(sha256_of "$disk")
cbt_create nd "$disk" 4096 1 no_discard_passdown
dev=/dev/mapper/nd
dm=dm-$(dmsetup info -c --noheadings -o minor nd | tr -d ' ')

[ "$(cat "/sys/block/$dm/queue/discard_granularity")" = 4096 ] ||
	fail "discard granularity is not the block size"
[ "$(cat "/sys/block/$dm/queue/discard_max_bytes")" != 0 ] ||
	fail "the dm device does not advertise discards"
must blkdiscard -o $((4096 * 16)) -l $((4096 * 4)) "$dev"
[ "$(sha256_of "$disk")" = "$before" ] || fail "a discard reached the device"
cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle")" = "16 4" ] || fail "the discard was not tracked"
must probe commit "$dev" "$cycle"
exit 0
