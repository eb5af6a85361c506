#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ring (ring_size) records writes, flushes and tags in the order they
# were mapped, with exact sectors and epochs; tags come from netlink and
# from `dmsetup message`; COMMIT releases the records taken before its
# freeze; GET_RING starts at a given sequence.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

# A loop device has a volatile write cache, so flushes reach the target
# (brd has none and they would be dropped above it).
disk=$(make_loop 8)
cbt_create rg "$disk" 4096 2 ring_size 64
dev=/dev/mapper/rg

wr() {	# BLOCK COUNT [DD_FLAGS]
	dd if=/dev/urandom of="$dev" bs=4096 seek="$1" count="$2" \
		oflag=direct${3:+,$3} status=none || fail "write at block $1 failed"
}

[ "$(vol_field "$dev" ring_size)" = 64 ] || fail "ring_size attribute is not 64"
[ "$(vol_field "$dev" ring_next)" = 1 ] || fail "a new ring does not start at sequence 1"

wr 3 1
wr 10 2
dd if=/dev/zero of="$dev" bs=4096 count=0 conv=fsync status=none ||
	fail "fsync failed"
must probe tag "$dev" 12345
must dmsetup message rg 0 tag 0xfeed
wr 7 1
wr 12 1 dsync
# "SEQ OP SECTOR NR_SECTORS EPOCH TAG".  dd writes one bio per block; the
# fsync is an empty flush that closes epoch 0; an O_DSYNC write is a FUA
# write followed by a flush.
want="1 write 24 8 0 0
2 write 80 8 0 0
3 write 88 8 0 0
4 flush 0 0 0 0
5 tag 0 0 1 12345
6 tag 0 0 1 65261
7 write 56 8 1 0
8 fua 96 8 1 0
9 flush 0 0 1 0"
got=$(probe ring "$dev") || fail "ring dump failed"
[ "$got" = "$want" ] || fail "ring: want"$'\n'"$want"$'\n'"got"$'\n'"$got"
[ "$(vol_field "$dev" epoch)" = 2 ] || fail "epoch is not 2 after two flushes"

# From a sequence on.
[ "$(probe ring "$dev" 5)" = "$(tail -n 5 <<<"$want")" ] || fail "ring from 5 differs"
[ -z "$(probe ring "$dev" 10)" ] || fail "ring from the next sequence is not empty"

# Status: 9 of 64 records, none lost, no overflow, epoch 2.
st=$(dmsetup status rg)
[ "$(cut -d' ' -f10-13 <<<"$st")" = "9/64 0 - 2" ] || fail "status ring fields wrong: $st"

# A committed cycle releases its records; later ones stay.
cycle=$(probe freeze "$dev") || fail "freeze failed"
wr 20 1
must probe commit "$dev" "$cycle"
[ "$(probe ring "$dev")" = "10 write 160 8 2 0" ] ||
	fail "after commit the ring holds: $(probe ring "$dev")"
[ "$(vol_field "$dev" ring_first)" = 10 ] || fail "ring_first is not 10"

# An aborted cycle releases nothing.
cycle=$(probe freeze "$dev") || fail "freeze failed"
must probe abort "$dev" "$cycle"
[ "$(vol_field "$dev" ring_fill)" = 1 ] || fail "abort released records"

# Errors say what is wrong.
expect_fail "CBT_A_TAG is required" probe tag "$dev"
expect_fail "Invalid argument" dmsetup message rg 0 tag notanumber
exit 0
