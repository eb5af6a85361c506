#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The applier killed (kill -9) at random points while it writes a replica:
# the replica-applied record only moves after a cycle is written and
# synced, so the next apply writes that cycle again and the replica ends
# equal to the source (sha256).  CBT_FAULT_ROUNDS rounds (default 4, for
# make check's time budget; 6 or more for a longer run; a round whose
# apply finishes first ships two more cycles for the next),
# CBT_FAULT_SEED fixes the random points (printed).  Negative control: a
# replica killed in its first cycle and never re-applied differs.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/faults-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

rounds=${CBT_FAULT_ROUNDS:-4}
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
	# Somewhere from 0 to 3 s in (applying one delta cycle here takes 0.3-3 s).
	ms=$((RANDOM % 3000))
	res=$(kill_after "$ms" "$work/apply.log" "$CBTSHIP" apply --store "$store" \
		--key "$work/key" --volume kapp --replica "$work/replica")
	case $res in
	killed)
		landed=$((landed + 1))
		info "round $round: killed after $ms ms;" \
			"$(grep -c '^cbtship: applied cycle' "$work/apply.log") cycles applied in it" ;;
	finished)
		# Caught up: two more cycles, so the next round has work to be killed in.
		info "round $round: apply finished within $ms ms; two more cycles"
		for c in 1 2; do
			writes "$vol" $((round * 10 + c)) 6
			must ship
		done ;;
	*) fail "round $round: apply $res: $(cat "$work/apply.log")" ;;
	esac
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
