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
# One sample moves by about 2 MiB with whatever else the guest does, so
# measure up to three times: a real regression (a bitmap sized to the
# volume would be hundreds of MiB) fails every attempt.
avail_kb() {
	sync
	echo 1 >/proc/sys/vm/drop_caches
	awk '/^MemAvailable:/ { print $2 }' /proc/meminfo
}
table_of() {
	echo "0 $(blockdev --getsz "$1") cbt $1 4096"
}
for attempt in 1 2 3; do
	m0=$(avail_kb)
	dmsetup create small --table "$(table_of /dev/mapper/cbt-zero-small)" || fail "create small failed"
	m1=$(avail_kb)
	dmsetup create big --table "$(table_of /dev/mapper/cbt-zero)" || fail "create big failed"
	m2=$(avail_kb)
	# The device-mapper overhead is the same for both; the difference is
	# the tracking state of 16 TiB against 1 GiB.
	extra=$(((m1 - m2) - (m0 - m1)))
	info "attempt $attempt: 1 GiB volume: $((m0 - m1)) KiB, 16 TiB volume: $((m1 - m2)) KiB"
	[ "$extra" -lt 1024 ] && break
	dmsetup remove --retry big
	dmsetup remove --retry small
done
at_exit "dmsetup remove --retry small"
at_exit "dmsetup remove --retry big"
[ "$extra" -lt 1024 ] || fail "an empty 16 TiB volume took $extra KiB more than a 1 GiB one (3 attempts)"
dev=/dev/mapper/big
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
