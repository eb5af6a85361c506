#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# CHANGED is multicast when the live set goes from empty to non-empty:
# once for the first write of a new volume, none for further writes, once
# again for the first write after a FREEZE emptied the live set (also
# while that cycle is still frozen), none after a COMMIT or MARK_DIRTY
# that finds the live set already non-empty.  postsuspend flushes a
# queued CHANGED before the suspend completes.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

work=$(mktemp -d /tmp/changed.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 8)
cbt_create chg "$disk" 4096
dev=/dev/mapper/chg
devno=$(dmsetup info -c --noheadings -o major,minor --separator : chg | tr -d ' ')

wr() {	# wr BLOCK: one direct 4 KiB write
	dd if=/dev/urandom of="$dev" bs=4096 seek="$1" count=1 oflag=direct \
		status=none || fail "write to block $1 failed"
}

# CHANGED comes from a work item: wait for line N of the event file before
# the next synchronous event, so the order is deterministic.  No timing
# assertion: up to 60 s under TCG.
wait_lines() {
	for _ in $(seq 600); do
		[ "$(wc -l <"$work/events")" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "event $1 never came: $(cat "$work/events")"
}

timeout 120 "$PROBE" monitor 8 changed >"$work/events" 2>&1 &
MON=$!
at_exit "kill $MON"
wait_lines 1
grep -qx ready "$work/events" || fail "monitor did not start: $(cat "$work/events")"

wr 1; wait_lines 2		# first write of the volume: CHANGED
wr 2; wr 3; wr 1		# live set not empty: nothing
c1=$(probe freeze "$dev") || fail "freeze failed"
wait_lines 3
must probe commit "$dev" "$c1"
wait_lines 4
wr 4				# first write after freeze+commit: CHANGED
must dmsetup suspend chg	# ... flushed by postsuspend
[ "$(wc -l <"$work/events")" -ge 5 ] ||
	fail "suspend completed before the queued CHANGED was sent: $(cat "$work/events")"
must dmsetup resume chg
wr 5; wr 4			# nothing
must probe mark "$dev" 10 3	# live set not empty: MARK_DIRTY only
wait_lines 6
c2=$(probe freeze "$dev") || fail "freeze failed"
wait_lines 7
wr 6; wait_lines 8		# first write while frozen: CHANGED
wr 7				# nothing
must probe commit "$dev" "$c2"	# the last event: any extra CHANGED shows before it
wait "$MON" || fail "monitor failed or missed events: $(cat "$work/events")"

cat >"$work/want" <<EOF
ready
changed $devno chg
freeze $devno cycle=$c1 frozen=1 dirty=0
commit $devno cycle=$c1 frozen=0 dirty=0
changed $devno chg
mark $devno cycle=$c1 frozen=0 dirty=5
freeze $devno cycle=$c2 frozen=1 dirty=0
changed $devno chg
commit $devno cycle=$c2 frozen=0 dirty=2
EOF
diff -u "$work/want" "$work/events" || fail "CHANGED events differ from the writes done"
exit 0
