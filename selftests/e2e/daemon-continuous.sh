#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A near-continuous volume is woken by dm-cbt's CHANGED event, not by
# polling: with poll = 600s, each of three writes made after the initial
# replication is shipped by a cycle that starts after it, well before the
# next poll could have looked (we wait up to 120 s, so no timing is
# assumed beyond "much less than 600 s").  The replica's sha256 equals the
# source's.  Negative control: a write after the daemon stopped makes the
# replica differ.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd dmsetup sha256sum
load_dm_cbt

BS=4096
DEADLINE=120
work=$(mktemp -d /tmp/e2e-cont.XXXXXX)
at_exit "rm -rf '$work'"
must "$CBTSHIP" keygen "$work/key"
cbt_create dcv "$(make_ramdisk 16)" "$BS"
dev=/dev/mapper/dcv

cat >"$work/cbtship.conf" <<CONF
[global]
state_dir = $work/state
poll = 600s

[volume dcv]
device = $dev
store = $work/store
key = $work/key
min_interval = continuous
CONF

# writes SEED: a few MiB of random 4 KiB..64 KiB direct writes.
writes() {
	local i
	for ((i = 0; i < 16; i++)); do
		dd if=/dev/urandom of="$dev" bs=4096 count=$(( (RANDOM % 16) + 1 )) \
			seek=$(( (RANDOM * 7 + $1 * 131 + i) % 4000 )) oflag=direct \
			status=none || fail "write failed"
	done
}

state_of() {
	awk -v k="$1" '$1 == k { print $2 }' "$work/state/service/dcv.state" 2>/dev/null
}

diagnose() {
	echo "--- daemon log"; cat "$work/daemon.log"
	echo "--- status"; "$CBTSHIP" status --config "$work/cbtship.conf"
	echo "--- tracking"; "$CBTSHIP" cbt status "$dev"
}

# wait_shipped T_US: until a cycle that started after T_US has completed
# and tracking holds nothing dirty or frozen.
wait_shipped() {
	local i s st
	for ((i = 0; i < DEADLINE; i++)); do
		s=$(state_of last_start_us)
		st=$("$CBTSHIP" cbt status "$dev") || fail "cbt status failed"
		if [ -n "$s" ] && [ "$s" -gt "$1" ] && grep -qx 'dirty_blocks: 0' <<<"$st" &&
		   grep -qx 'frozen: 0' <<<"$st"; then
			return 0
		fi
		kill -0 "$daemon_pid" 2>/dev/null || { diagnose; fail "daemon died"; }
		sleep 1
	done
	diagnose
	fail "no cycle shipped the writes within ${DEADLINE}s (poll is 600s: was the event missed?)"
}

writes 1
"$CBTSHIP" daemon --config "$work/cbtship.conf" 2>>"$work/daemon.log" &
daemon_pid=$!
at_exit "kill $daemon_pid"
wait_shipped 0
info "initial replication done"

for round in 2 3 4; do
	t=$(date +%s%6N)
	writes "$round"
	wait_shipped "$t"
	info "round $round: shipped by a cycle started $(( ($(state_of last_start_us) - t) / 1000 )) ms after the writes began"
done
grep -q "not listening to dm-cbt events" "$work/daemon.log" &&
	{ diagnose; fail "the daemon did not listen to events"; }

kill -TERM "$daemon_pid"
wait "$daemon_pid" || { diagnose; fail "daemon exited with $? on SIGTERM"; }

must "$CBTSHIP" apply --store "$work/store" --key "$work/key" --volume dcv --replica "$work/replica"
src=$(sha256_of "$dev")
rep=$(sha256_of "$work/replica")
info "source $src replica $rep"
[ "$src" = "$rep" ] || fail "replica differs from source"

info "negative control: a write after the daemon stopped"
writes 5
[ "$(sha256_of "$dev")" != "$(sha256_of "$work/replica")" ] ||
	fail "an unshipped write left the replica equal: the comparison proves nothing"
exit 0
