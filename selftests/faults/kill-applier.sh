#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The applier killed (kill -9) at random points while it writes a replica:
# the replica-applied record only moves after a cycle is written and
# synced, so the next apply writes that cycle again and the replica ends
# equal to the source (sha256).  CBT_FAULT_ROUNDS kills (default 6),
# CBT_FAULT_SEED fixes the random points (printed).  Negative control: a
# replica killed in its first cycle and never re-applied differs.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/faults-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

rounds=${CBT_FAULT_ROUNDS:-6}
seed=${CBT_FAULT_SEED:-$$}
RANDOM=$seed
info "seed $seed ($rounds rounds)"
faults_setup kapp 64

writes "$vol" 0 48
must ship
info "the replica at cycle 1; the kills hit the delta cycles after it"
must "$CBTSHIP" apply --store "$store" --key "$work/key" --volume kapp --replica "$work/replica"
for c in 1 2 3 4; do
	writes "$vol" "$c" 6
	must ship
done

landed=0
for ((round = 1; round <= rounds; round++)); do
	# cbtship itself in the background (not a shell function: $! must be its pid).
	"$CBTSHIP" apply --store "$store" --key "$work/key" --volume kapp \
		--replica "$work/replica" >"$work/apply.log" 2>&1 &
	pid=$!
	# Somewhere from 0 to 2.5 s in (a delta cycle here takes about 1 s).
	ms=$((RANDOM % 2500))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	if [ $rc = 137 ]; then
		landed=$((landed + 1))
		info "round $round: killed after $ms ms; $(grep -c '^cbtship: applied cycle' "$work/apply.log") cycles applied in it"
	elif [ $rc = 0 ]; then
		info "round $round: apply finished within $ms ms: $(tail -n 1 "$work/apply.log")"
		break
	else
		fail "round $round: apply failed on its own (exit $rc): $(cat "$work/apply.log")"
	fi
done
[ "$landed" -gt 0 ] || fail "no kill landed during an apply: the test tested nothing"

info "negative control: a replica killed early and left alone differs"
# A copy of the store: the replica-applied record belongs to the replica above.
cp -a "$store" "$work/store2"
rm -f "$work/store2/volumes/kapp/replica-applied"
"$CBTSHIP" apply --store "$work/store2" --key "$work/key" --volume kapp \
	--replica "$work/early" >"$work/early.log" 2>&1 &
pid=$!
# Kill it once it has written something (it verifies a whole cycle first).
for ((i = 0; i < 600; i++)); do
	[ "$(stat -c %b "$work/early" 2>/dev/null || echo 0)" -gt 0 ] && break
	sleep 0.1
done
kill -9 "$pid" 2>/dev/null
wait "$pid"
[ $? = 137 ] || fail "the early apply was not killed (it ended first): no control"
replica_differs "$work/early"

info "apply to completion after $landed kills"
check_replica "$work/replica"
