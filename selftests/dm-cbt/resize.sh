#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Growing the table over the same device keeps the volume id, every
# recorded change and a frozen cycle, and tracks the new blocks.
# Shrinking starts a new volume (new id, empty), since changes past the
# new end cannot be kept.  Removing the device logs whether unshipped
# changes were left.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

# 512-byte blocks: 4096 per bitmap leaf; 5 MiB = 10240 blocks, 40 MiB past it.
disk=$(make_ramdisk 64)
devno=$(lsblk -dno MAJ:MIN "$disk" | tr -d ' ')
small=10241	# sectors: a partial last region, odd length
dmsetup create rs --table "0 $small cbt $disk 512" || fail "create failed"
at_exit "dmsetup remove --retry rs"
dev=/dev/mapper/rs

wr() {	# SECTOR COUNT
	dd if=/dev/urandom of="$dev" bs=512 seek="$1" count="$2" oflag=direct \
		status=none || fail "write at $1 failed"
}

wr 0 1
wr 10240 1			# the last block of the small table
id=$(vol_field "$dev" id)
cycle=$(probe freeze "$dev") || fail "freeze failed"
wr 100 2			# live set, next cycle
# The whole small volume marked: a full (partial) region must stay partial.
must probe mark "$dev" 0 10241

big=$((80 * 1024))
must dmsetup reload rs --table "0 $big cbt $devno 512 2 ring_size 16"
must dmsetup suspend rs
must dmsetup resume rs
[ "$(vol_field "$dev" id)" = "$id" ] || fail "grow changed the volume id"
[ "$(vol_field "$dev" nr_blocks)" = "$big" ] || fail "nr_blocks is not $big"
[ "$(vol_field "$dev" ring_size)" = 16 ] || fail "the ring was not added on reload"
[ "$(probe changes "$dev" "$cycle")" = "$(printf '0 1\n10240 1')" ] ||
	fail "grow changed the frozen cycle: $(probe changes "$dev" "$cycle")"
must probe commit "$dev" "$cycle"
wr $((big - 1)) 1		# a block only the grown table has
cycle=$(probe freeze "$dev") || fail "freeze failed"
want=$(printf '0 10241\n%d 1' $((big - 1)))
[ "$(probe changes "$dev" "$cycle")" = "$want" ] ||
	fail "grown volume: want"$'\n'"$want"$'\n'"got"$'\n'"$(probe changes "$dev" "$cycle")"
must probe abort "$dev" "$cycle"

# Shrink: a new volume.
must dmsetup reload rs --table "0 $small cbt $devno 512"
must dmsetup suspend rs
must dmsetup resume rs
[ "$(vol_field "$dev" id)" != "$id" ] || fail "shrink kept the volume id"
[ "$(vol_field "$dev" dirty)" = 0 ] || fail "shrunk volume is not empty"

# Removal says whether changes were left unshipped.
wr 3 1
before=$(dmesg | wc -l)
must dmsetup remove rs
dmesg | tail -n +"$((before + 1))" |
	grep -q 'cbt: rs: tracking ended, 1 dirty and 0 frozen blocks unshipped' ||
	fail "removal did not log the unshipped changes: $(dmesg | tail -n 5)"
exit 0
