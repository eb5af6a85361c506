#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# memory_cap 1 (MiB): the bitmap allocates directory pages (4 KiB, one per
# 512 regions) and leaves (512 bytes, one per region) until the next one
# would pass the cap, then tracks further regions whole.  Marking one block
# in each of 2100 regions gives exactly: 4 directory pages and 2016 leaves
# (1048576 bytes) exact, the last 84 regions whole.  COMMIT frees the memory
# and tracking is exact again; mem_bytes reports what is held.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

[ "$(getconf PAGESIZE)" = 4096 ] || skip "expects 4 KiB pages"
region=4096			# 512-byte blocks per 512-byte leaf
sectors=$((4096 * region))	# 8 GiB: 4096 regions, 8 directory pages
modprobe dm-zero || skip "no dm-zero module"
dmsetup create cbt-capz --table "0 $sectors zero" || fail "cannot create a dm-zero device"
at_exit "dmsetup remove --retry cbt-capz"
cbt_create capp /dev/mapper/cbt-capz 512 2 memory_cap 1
dev=/dev/mapper/capp
empty=$(vol_field "$dev" mem_bytes)

# Block 7 of regions 0..2099, 60 extents per MARK_DIRTY, in region order.
for first in $(seq 0 60 2099); do
	args=()
	for r in $(seq "$first" $((first + 59 < 2099 ? first + 59 : 2099))); do
		args+=($((r * region + 7)) 1)
	done
	must probe mark "$dev" "${args[@]}"
done

[ "$(vol_field "$dev" dirty)" = $((2016 + 84 * region)) ] ||
	fail "dirty is $(vol_field "$dev" dirty), want 2016 exact blocks and 84 whole regions"
[ "$(vol_field "$dev" state)" = 1 ] || fail "state is not DEGRADED at the cap"
[ "$(vol_field "$dev" mem_bytes)" = $((empty + 1048576)) ] ||
	fail "mem_bytes is $(vol_field "$dev" mem_bytes), want $empty + 1 MiB"
cycle=$(probe freeze "$dev") || fail "freeze failed"
want=$( (for r in $(seq 0 2015); do echo "$((r * region + 7)) 1"; done
	echo "$((2016 * region)) $((84 * region))") )
[ "$(probe changes "$dev" "$cycle")" = "$want" ] || fail "capped change set is not as expected"
must probe commit "$dev" "$cycle"
[ "$(vol_field "$dev" mem_bytes)" = "$empty" ] || fail "commit did not free the memory"

must probe mark "$dev" $((3000 * region + 3)) 1
cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle")" = "$((3000 * region + 3)) 1" ] ||
	fail "tracking is not exact after the commit freed the memory"
must probe commit "$dev" "$cycle"
exit 0
