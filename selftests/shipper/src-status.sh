#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cbtship status shows the store's state of each volume next to the
# daemon's own, and the daemon honours the store's state: with the fake
# kernel (fake_state) as the source, a daemon replicates a volume (store
# state delta-replication); the target half of migrate requests the final
# cycle, which the daemon runs, and migrates the volume (replica equals
# source); the target side then stops it (cbtship stop); status
# shows "stopped" from the store at once, in the table and in --json; the
# daemon's next cycle is refused with a clear message and writes no cycle.
# Runs anywhere (no root, no dm-cbt): files only.

. "$(dirname "$0")/../common/lib.sh"
requires_cmd python3

work=$(mktemp -d /tmp/src-status.XXXXXX)
dpid=
at_exit "[ -n \"\$dpid\" ] && kill \$dpid 2>/dev/null; wait \$dpid 2>/dev/null; rm -rf '$work'"
cd "$work" || fail "cd $work"

must "$CBTSHIP" keygen key
head -c $((4 << 20)) /dev/urandom >vol.img
cat >cbtship.conf <<CONF
[global]
state_dir = $work/state
min_interval = 1s
poll = 1s

[volume sv]
device = $work/vol.img
fake_state = $work/vol.state
store = $work/store
key = $work/key
CONF

"$CBTSHIP" daemon --config cbtship.conf >daemon.log 2>&1 &
dpid=$!

# json_field FIELD: the volume's field from status --json.
json_field() {
	local out
	out=$("$CBTSHIP" status --config cbtship.conf --json 2>/dev/null) || return 0
	python3 -c "import json,sys; v=json.load(sys.stdin)['volumes']; print(v[0]['$1'] if v else '')" <<<"$out"
}

# wait_for FIELD VALUE: poll status (no timing assumption beyond a generous bound).
wait_for() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(json_field "$1")" = "$2" ] && return 0
		kill -0 $dpid 2>/dev/null || fail "the daemon exited: $(cat daemon.log)"
		sleep 1
	done
	fail "status never showed $1 = $2: $("$CBTSHIP" status --config cbtship.conf --json)"
}

wait_for store_state delta-replication
info "$("$CBTSHIP" status --config cbtship.conf)"
"$CBTSHIP" status --config cbtship.conf | grep -q "^sv .* delta-replication" ||
	fail "the status table does not show the store's state"
cycles=$(ls store/volumes/sv/cycles | wc -l)
[ "$cycles" -ge 1 ] || fail "the daemon stored no cycle"

# The target side asks for a migration; the daemon's next cycle that finds
# no change is the final one; the target half applies and proves it.
must "$CBTSHIP" migrate --store store --key key --volume sv --replica rep.img --wait 300
[ "$(sha256sum <rep.img)" = "$(sha256sum <vol.img)" ] || fail "the migrated replica differs from the source"
wait_for store_state migrated
grep -q "final cycle" daemon.log || fail "the daemon did not say it ran the final cycle: $(cat daemon.log)"

# The target side stops the volume: status reads it from the store at once.
must "$CBTSHIP" stop --store store --key key --volume sv
[ "$(json_field store_state)" = stopped ] || fail "status --json does not show the store's stopped state"
"$CBTSHIP" status --config cbtship.conf | grep -q "^sv .* stopped" ||
	fail "the status table does not show the store's stopped state"

# The daemon's next cycle (on demand) is refused, and it says why.
dd if=/dev/urandom of=vol.img bs=4096 seek=5 count=2 conv=notrunc status=none
echo "dirty 5 2" >>vol.state
touch state/service/sv.now
for ((i = 0; i < 300; i++)); do
	grep -q "store records it as stopped" daemon.log && break
	sleep 1
done
grep -q "store records it as stopped" daemon.log || fail "the daemon did not refuse the stopped volume: $(cat daemon.log)"
info "$(grep "stopped" daemon.log | tail -n2)"
[ ! -e store/volumes/sv/cycles ] || fail "the daemon wrote a cycle of a stopped volume"
"$CBTSHIP" status --config cbtship.conf --prometheus |
	grep -qx 'cbtship_volume_store_state{volume="sv",state="stopped"} 1' ||
	fail "status --prometheus does not show the store's state"
# The daemon's own copy (without --config the store is not read) says so too.
grep -q "^store_state stopped" state/service/sv.state ||
	fail "the daemon did not record the store's state: $(cat state/service/sv.state)"
kill $dpid
wait $dpid
dpid=
info "ok"
