#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Volume life-cycle events and the "resync required" state:
# - a new tracking state is announced by VOLUME_ADDED and RESYNC_REQUIRED
#   when its table is first resumed, with one log line naming the device,
#   and shows resync_required=1 in GET and "resync" in `dmsetup status`;
# - suspend/resume and a reload that keeps the state send nothing;
# - CLEAR_RESYNC clears the flag (event, status "-", GET 0) and is
#   idempotent;
# - a table loaded but never resumed sends nothing;
# - a reload with another block size makes a new state: ADDED and RESYNC
#   for the new id, then VOLUME_REMOVED for the old id;
# - removing the device sends VOLUME_REMOVED.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

work=$(mktemp -d /tmp/volev.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 8)
sectors=$(blockdev --getsz "$disk")

timeout 120 "$PROBE" monitor 10 >"$work/events" 2>&1 &
mon=$!
at_exit "kill $mon 2>/dev/null"
for _ in $(seq 100); do
	grep -q '^ready$' "$work/events" && break
	sleep 0.1
done
grep -q '^ready$' "$work/events" || fail "monitor did not start: $(cat "$work/events")"

before=$(dmesg | wc -l)
cbt_create vev "$disk" 4096
dev=/dev/mapper/vev
devno=$(dmsetup info -c --noheadings -o major,minor --separator : vev | tr -d ' ')
id1=$(vol_field "$dev" id)
[ "$(vol_field "$dev" resync_required)" = 1 ] || fail "a new volume is not resync required"
[ "$(dmsetup status vev | awk '{ print $NF }')" = resync ] ||
	fail "dmsetup status does not end in 'resync': $(dmsetup status vev)"
[ "$(dmesg | tail -n +"$((before + 1))" | grep -c 'cbt: vev: new tracking state, earlier changes unknown: resync required')" = 1 ] ||
	fail "no single log line names the device: $(dmesg | tail -n 5)"

# Nothing for a suspend/resume or a reload that keeps the state.
dd if=/dev/urandom of="$dev" bs=4096 seek=5 count=2 oflag=direct status=none ||
	fail "write failed"
must dmsetup suspend vev
must dmsetup resume vev
must dmsetup reload vev --table "0 $sectors cbt $disk 4096"
must dmsetup suspend vev
must dmsetup resume vev
[ "$(vol_field "$dev" id)" = "$id1" ] || fail "a reload of the same table changed the id"
[ "$(vol_field "$dev" resync_required)" = 1 ] || fail "a reload cleared resync required"

must probe clear-resync "$dev"
[ "$(vol_field "$dev" resync_required)" = 0 ] || fail "CLEAR_RESYNC did not clear the flag"
[ "$(dmsetup status vev | awk '{ print $NF }')" = - ] ||
	fail "dmsetup status still says resync: $(dmsetup status vev)"
must probe clear-resync "$dev"
[ "$(vol_field "$dev" dirty)" = 2 ] || fail "CLEAR_RESYNC changed the change set"

# A reload that keeps the state keeps the cleared flag too.
must dmsetup reload vev --table "0 $sectors cbt $disk 4096"
must dmsetup suspend vev
must dmsetup resume vev
[ "$(vol_field "$dev" resync_required)" = 0 ] || fail "a reload set resync required again"

# A table loaded and cleared without a resume: no state announced.
must dmsetup load vev --table "0 $sectors cbt $disk 512"
must dmsetup clear vev

# Another block size: a new tracking state replaces the old one.
must dmsetup reload vev --table "0 $sectors cbt $disk 512"
must dmsetup suspend vev
must dmsetup resume vev
id2=$(vol_field "$dev" id)
[ "$id2" != "$id1" ] || fail "a new block size kept the volume id"
[ "$(vol_field "$dev" resync_required)" = 1 ] || fail "the new state is not resync required"

must dmsetup remove vev
# A last volume, so an unexpected extra event shows up in the diff.
cbt_create vend "$disk" 4096
endno=$(dmsetup info -c --noheadings -o major,minor --separator : vend | tr -d ' ')
id3=$(vol_field /dev/mapper/vend id)
wait "$mon" || fail "monitor failed or missed events: $(cat "$work/events")"

cat >"$work/want" <<EOF
ready
added $devno vev id=$id1 resync=1 dirty=0
resync $devno vev id=$id1 resync=1 dirty=0
clear-resync $devno vev id=$id1 resync=0 dirty=2
clear-resync $devno vev id=$id1 resync=0 dirty=2
added $devno vev id=$id2 resync=1 dirty=0
resync $devno vev id=$id2 resync=1 dirty=0
removed $devno vev id=$id1 resync=0 dirty=2
removed $devno vev id=$id2 resync=1 dirty=0
added $endno vend id=$id3 resync=1 dirty=0
resync $endno vend id=$id3 resync=1 dirty=0
EOF
diff -u "$work/want" "$work/events" || fail "events differ from what was done"
exit 0
