#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# memory_cap: once the bitmaps' memory would pass the cap, new regions are
# tracked whole (coarsely) instead of allocating, and nothing is lost.
# With a cap of 0 MiB every changed region is reported whole; a reload
# without the cap keeps the changes and tracks exactly again.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

# 512-byte blocks: one 512-byte leaf covers 4096 blocks (2 MiB).
disk=$(make_ramdisk 64)
cbt_create cap "$disk" 512 2 memory_cap 0
dev=/dev/mapper/cap
region=4096
table=$(dmsetup table cap)

wr() {	# SECTOR
	dd if=/dev/urandom of="$dev" bs=512 seek="$1" count=1 oflag=direct \
		status=none || fail "write at $1 failed"
}

wr 5
wr $((2 * region + 9))
[ "$(vol_field "$dev" dirty)" = $((2 * region)) ] ||
	fail "capped tracking did not mark two whole regions: $(vol_field "$dev" dirty)"
[ "$(vol_field "$dev" state)" = 1 ] || fail "state is not DEGRADED at the cap"
cycle=$(probe freeze "$dev") || fail "freeze failed"
want=$(printf '0 %d\n%d %d\n' $region $((2 * region)) $region)
[ "$(probe changes "$dev" "$cycle")" = "$want" ] || fail "capped cycle is not the two regions"
must probe commit "$dev" "$cycle"

# Without the cap (same volume): exact again, nothing lost across the reload.
wr $((3 * region + 1))
must dmsetup reload cap --table "${table% 2 memory_cap 0}"
must dmsetup suspend cap
must dmsetup resume cap
wr $((3 * region + 7))
cycle=$(probe freeze "$dev") || fail "freeze failed"
want=$(printf '%d %d\n' $((3 * region)) $region)
[ "$(probe changes "$dev" "$cycle")" = "$want" ] ||
	fail "the write under the cap was not kept whole: $(probe changes "$dev" "$cycle")"
must probe commit "$dev" "$cycle"
wr $((3 * region + 7))
cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle")" = "$((3 * region + 7)) 1" ] ||
	fail "tracking is not exact after the cap was lifted"
must probe commit "$dev" "$cycle"
exit 0
