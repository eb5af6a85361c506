#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A 16 TiB volume at 4 KiB blocks (over dm-zero) costs little memory and
# stays exact at its ends: the first and last blocks, and a 8 TiB extent
# marked dirty (stored as whole bitmap regions) come back exactly.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

sectors=$((16 << 31))		# 16 TiB
blocks=$((sectors / 8))
modprobe dm-zero || skip "no dm-zero module"
dmsetup create cbt-zero --table "0 $sectors zero" ||
	fail "cannot create a dm-zero device: $(dmesg | tail -3)"
at_exit "dmsetup remove --retry cbt-zero"

dmsetup create cbt-zero-small --table "0 $((1 << 21)) zero" ||
	fail "cannot create a small dm-zero device"
at_exit "dmsetup remove --retry cbt-zero-small"

# Memory cost of a cbt device: MemAvailable before and after creating it.
avail_kb() {
	sync
	awk '/^MemAvailable:/ { print $2 }' /proc/meminfo
}
m0=$(avail_kb)
cbt_create small /dev/mapper/cbt-zero-small 4096
m1=$(avail_kb)
cbt_create big /dev/mapper/cbt-zero 4096
m2=$(avail_kb)
dev=/dev/mapper/big
# The device-mapper overhead is the same for both; the difference is the
# tracking state of 16 TiB against 1 GiB.
extra=$(((m1 - m2) - (m0 - m1)))
info "1 GiB volume: $((m0 - m1)) KiB, 16 TiB volume: $((m1 - m2)) KiB"
[ "$extra" -lt 1024 ] || fail "an empty 16 TiB volume took $extra KiB more than a 1 GiB one"
[ "$(vol_field "$dev" nr_blocks)" = "$blocks" ] || fail "nr_blocks wrong"

dd if=/dev/urandom of="$dev" bs=4096 count=1 oflag=direct status=none || fail "write failed"
dd if=/dev/urandom of="$dev" bs=4096 count=1 seek=$((blocks - 1)) oflag=direct \
	status=none || fail "write of the last block failed"
must probe mark "$dev" 1000 $((blocks / 2))
want=$(printf '0 1\n1000 %d\n%d 1\n' $((blocks / 2)) $((blocks - 1)))
cycle=$(probe freeze "$dev") || fail "freeze failed"
got=$(probe changes "$dev" "$cycle") || fail "changes failed"
[ "$got" = "$want" ] || fail "want"$'\n'"$want"$'\n'"got"$'\n'"$got"
[ "$(vol_field "$dev" frozen_blocks)" = $((blocks / 2 + 2)) ] || fail "frozen count wrong"
must probe commit "$dev" "$cycle"
exit 0
