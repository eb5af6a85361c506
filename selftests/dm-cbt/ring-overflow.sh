#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A full ring overwrites its oldest records: they are counted as lost, the
# overflow flag is set (netlink and status), the watermark and overflow
# events are multicast once each, and the bitmap still holds every change.
# Committing a cycle frozen after the lost records clears the flag.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

work=$(mktemp -d /tmp/ringov.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 8)
cbt_create ro "$disk" 4096 2 ring_size 8
dev=/dev/mapper/ro
devno=$(dmsetup info -c --noheadings -o major,minor --separator : ro | tr -d ' ')

monitor_start 2 "$work/events"

# 11 one-block writes into an 8-record ring: records 1-3 are lost.
for b in $(seq 0 10); do
	dd if=/dev/urandom of="$dev" bs=4096 seek=$((b * 2)) count=1 oflag=direct \
		status=none || fail "write failed"
done
wait "$MON" || fail "monitor failed: $(cat "$work/events")"
# Events are sent from a work item: the counters they carry may be newer.
cat >"$work/want" <<EOT
ready
watermark $devno
overflow $devno overflow=1
EOT
sed -e 's/ fill=[^ ]* lost=[^ ]*//' -e 's/^watermark \(.*\) overflow=.*/watermark \1/' \
	"$work/events" >"$work/got"
diff -u "$work/want" "$work/got" || fail "ring events differ"

[ "$(vol_field "$dev" ring_lost)" = 3 ] || fail "ring_lost is not 3"
[ "$(vol_field "$dev" ring_overflow)" = 1 ] || fail "overflow flag not set"
[ "$(vol_field "$dev" ring_first)" = 4 ] || fail "oldest record is not 4"
[ "$(probe ring "$dev" 1 | head -n 1)" = "4 write 48 8 0 0" ] ||
	fail "ring from 1 does not start at the oldest record held"
[ "$(probe ring "$dev" | wc -l)" = 8 ] || fail "ring does not hold 8 records"
[ "$(cut -d' ' -f10-12 <<<"$(dmsetup status ro)")" = "8/8 3 overflow" ] ||
	fail "status does not show the overflow: $(dmsetup status ro)"
[ "$(vol_field "$dev" dirty)" = 11 ] || fail "the bitmap lost changes"

cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle" | expand | tr '\n' ' ')" = "0 2 4 6 8 10 12 14 16 18 20 " ] ||
	fail "frozen set is not the 11 blocks written"
must probe commit "$dev" "$cycle"
[ "$(vol_field "$dev" ring_overflow)" = 0 ] || fail "commit did not clear the overflow flag"
[ "$(vol_field "$dev" ring_fill)" = 0 ] || fail "commit did not release the records"
[ "$(vol_field "$dev" ring_lost)" = 3 ] || fail "the lost counter changed"
exit 0
