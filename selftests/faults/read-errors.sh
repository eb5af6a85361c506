#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Read errors under the source (dm-flakey): while cbtship replicate --once
# runs, a region of the disk under dm-cbt fails every read.  The cycle must
# fail with a message naming the read, write nothing visible to the store,
# and merge its blocks back into the live set; once the disk is healthy the
# next cycle ships everything and the replica equals the source (sha256).
# Negative control: before that cycle the replica differs.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/faults-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt
modprobe dm-flakey 2>/dev/null || skip "no dm-flakey in this kernel"

faults_setup flky 32

healthy="0 $sectors linear $disk 0"
# Sectors [16384, 18432), MiB 8 to 9: every read fails (up 0 s, down 3600 s).
bad_start=16384 bad_len=2048
faulty="0 $bad_start linear $disk 0
$bad_start $bad_len flakey $disk $bad_start 0 3600
$((bad_start + bad_len)) $((sectors - bad_start - bad_len)) linear $disk $((bad_start + bad_len))"

info "initial cycle on a healthy disk"
writes "$vol" 1 16
must ship
[ "$(complete_cycles "$store" flky)" = 1 ] || fail "no initial cycle in the store"

info "changes inside and outside the region about to fail"
writes "$vol" 2 4
dd if=/dev/urandom of="$vol" bs=64k seek=$((bad_start * 512 / 65536)) count=2 \
	oflag=direct status=none || fail "dd into the region failed"
dirty=$(vol_field "$vol" dirty)
[ "$dirty" -gt 32 ] || fail "only $dirty dirty blocks after the writes"

for round in 1 2; do
	info "round $round: reads of MiB 8-9 fail"
	lower_table flky-lower "$faulty"
	ship_fails_cleanly "read of .* failed"
	lower_table flky-lower "$healthy"
done

info "negative control: the replica without the next cycle differs"
must "$CBTSHIP" apply --store "$store" --key "$work/key" --volume flky --replica "$work/early"
replica_differs "$work/early"

info "the disk is healthy: the next cycle ships everything"
ship_all "$work/early"
[ "$(complete_cycles "$store" flky)" = 2 ] || fail "no second cycle in the store"
