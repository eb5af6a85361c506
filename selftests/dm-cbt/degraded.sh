#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# When bitmap pages cannot be allocated (simulated with the module's
# fail_leaf_alloc test parameter), writes are still never lost: their whole
# bitmap region is reported, the state says degraded, a warning is logged
# once, and exact tracking resumes with the next cycle.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

param=/sys/module/dm_cbt/parameters/fail_leaf_alloc
[ -w "$param" ] || skip "dm-cbt has no fail_leaf_alloc parameter"
at_exit "echo N > $param"

# 512-byte blocks: a region (one 512-byte leaf) is 4096 blocks = 2 MiB.
disk=$(make_ramdisk 64)
cbt_create degr "$disk" 512
dev=/dev/mapper/degr
region=4096

wr() {	# SECTOR NR_SECTORS
	dd if=/dev/urandom of="$dev" bs=512 seek="$1" count="$2" oflag=direct \
		status=none || fail "write at $1 failed"
}

wr 5 1				# exact: region 0 gets a page
before=$(dmesg | wc -l)
echo Y >"$param"
wr 7 1				# region 0 has its page: still exact
wr $((2 * region + 100)) 3	# region 2: no page, reported whole
wr $((2 * region + 9)) 1
echo N >"$param"
wr $((3 * region + 1)) 1	# exact again

[ "$(vol_field "$dev" state)" = 1 ] || fail "state is not DEGRADED"
dmsetup status degr | grep -q ' degraded ' || fail "dmsetup status does not say degraded"
[ "$(dmesg | tail -n +"$((before + 1))" | grep -c 'cbt: degr: out of memory for the change bitmap')" = 1 ] ||
	fail "expected exactly one out-of-memory warning naming the device"
want=$(printf '5 1\n7 1\n%d %d\n%d 1\n' $((2 * region)) $region $((3 * region + 1)))
[ "$(vol_field "$dev" dirty)" = $((3 + region)) ] || fail "dirty count wrong"

cycle=$(probe freeze "$dev") || fail "freeze failed"
got=$(probe changes "$dev" "$cycle") || fail "changes failed"
[ "$got" = "$want" ] || fail "degraded cycle: want"$'\n'"$want"$'\n'"got"$'\n'"$got"
# Abort keeps the coarse region (and the state) in the live set.
must probe abort "$dev" "$cycle"
[ "$(vol_field "$dev" state)" = 1 ] || fail "abort lost the degraded state"
cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle")" = "$want" ] || fail "abort changed the set"
must probe commit "$dev" "$cycle"
[ "$(vol_field "$dev" state)" = 0 ] || fail "state not back to TRACKING after commit"

wr $((2 * region + 100)) 3
cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle")" = "$((2 * region + 100)) 3" ] ||
	fail "tracking not exact again after recovery"
must probe commit "$dev" "$cycle"
exit 0
