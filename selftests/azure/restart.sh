#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Azurite killed (SIGKILL) in the middle of a cycle's uploads and started
# again on the same data: the running replicate retries (backoff) or fails
# the cycle and runs it again, a later delta goes through too, and apply
# gives a replica equal to the source: nothing lost, nothing duplicated.
source "$(dirname "$0")/azure-lib.bash"
azurite_setup

d=$AZ_DIR
store=azure://$AZ_ACCOUNT/cbt
"$CBTSHIP" keygen "$d/enc.key" >/dev/null
fake_volume "$d/vol.img" 96

"$CBTSHIP" replicate --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" --codec none \
	--interval 1 --fake-state "$d/vol.state" "$d/vol.img" >"$d/rep.out" 2>"$d/rep.err" &
rpid=$!
at_exit "kill $rpid"

# wait_cycle N: until replicate printed cycle N (at most ~2 minutes).
wait_cycle() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -q "^cycle $1 " "$d/rep.out" && return 0
		kill -0 $rpid 2>/dev/null || fail "replicate exited: $(tail -20 "$d/rep.err")"
		sleep 0.2
	done
	fail "no cycle $1: $(tail -20 "$d/rep.err")"
}

wait_cycle 1
# Azurite writes its metadata to disk every 5 s, so a SIGKILL loses what it
# acknowledged in the last 5 s (an emulator's shortcut; the service
# acknowledges durably).  Let cycle 1 settle before killing it.
sleep 6

# A large delta (64 MiB), killed while its segments are arriving (Azurite's
# extent files grow) and before it completes.
data_bytes() { du -sb "$d/data" 2>/dev/null | cut -f1; }
base=$(data_bytes)
change_blocks "$d/vol.img" "$d/vol.state" 4096 16384
for ((i = 0; i < 1200; i++)); do
	[ "$(data_bytes)" -gt $((base + 8 * 1048576)) ] && break
	sleep 0.05
done
grep -q "^cycle 2 " "$d/rep.out" && skip "cycle 2 finished before Azurite could be killed mid-cycle"
kill -9 "$(cat "$d/azurite.pid")"
info "killed Azurite with $(( ($(data_bytes) - base) / 1048576 )) MiB of cycle 2 uploaded"
sleep 2
grep -q "^cycle 2 " "$d/rep.out" && fail "a cycle completed while Azurite was down"
azurite_restart

wait_cycle 2
grep -q "^cycle 2 (delta): 16384 blocks" "$d/rep.out" || fail "cycle 2 is not the whole delta: $(cat "$d/rep.out")"
grep -q "retry\|cycle failed" "$d/rep.err" || fail "replicate saw no failure: was Azurite really down?"
info "$(grep -c retry "$d/rep.err") retries; $(grep -c 'cycle failed' "$d/rep.err") failed cycles"

# And replication goes on after the restart.
change_blocks "$d/vol.img" "$d/vol.state" 7 9
wait_cycle 3
grep -q "^cycle 3 (delta): 9 blocks" "$d/rep.out" || fail "no delta after the restart: $(cat "$d/rep.out")"
kill $rpid
wait $rpid
info "$(cat "$d/rep.out")"

must "$CBTSHIP" apply --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" --volume vol.img \
	--replica "$d/replica.img" >/dev/null
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs from the source"
info "replica = source after the restart"
