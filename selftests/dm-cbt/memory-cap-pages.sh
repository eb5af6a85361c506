#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# memory_cap 1 (MiB, 256 pages): the bitmap allocates pages until the cap,
# then tracks further regions whole.  Marking one block in each of 300
# regions gives exactly: the directory page and 255 leaves exact, the
# last 45 regions whole.  COMMIT frees the pages and tracking is exact
# again.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

[ "$(getconf PAGESIZE)" = 4096 ] || skip "expects 4 KiB pages"
region=32768			# 512-byte blocks per bitmap page
sectors=$((512 * region))	# 8 GiB: 512 regions, one directory page
modprobe dm-zero || skip "no dm-zero module"
dmsetup create cbt-capz --table "0 $sectors zero" || fail "cannot create a dm-zero device"
at_exit "dmsetup remove --retry cbt-capz"
cbt_create capp /dev/mapper/cbt-capz 512 2 memory_cap 1
dev=/dev/mapper/capp

# Block 7 of regions 0..299, 60 extents per MARK_DIRTY, in region order.
for first in 0 60 120 180 240; do
	args=()
	for r in $(seq "$first" $((first + 59))); do
		args+=($((r * region + 7)) 1)
	done
	must probe mark "$dev" "${args[@]}"
done

[ "$(vol_field "$dev" dirty)" = $((255 + 45 * region)) ] ||
	fail "dirty is $(vol_field "$dev" dirty), want 255 exact blocks and 45 whole regions"
[ "$(vol_field "$dev" state)" = 1 ] || fail "state is not DEGRADED at the cap"
cycle=$(probe freeze "$dev") || fail "freeze failed"
want=$( (for r in $(seq 0 254); do echo "$((r * region + 7)) 1"; done
	echo "$((255 * region)) $((45 * region))") )
[ "$(probe changes "$dev" "$cycle")" = "$want" ] || fail "capped change set is not as expected"
must probe commit "$dev" "$cycle"

must probe mark "$dev" $((400 * region + 3)) 1
cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle")" = "$((400 * region + 3)) 1" ] ||
	fail "tracking is not exact after the commit freed the pages"
must probe commit "$dev" "$cycle"
exit 0
