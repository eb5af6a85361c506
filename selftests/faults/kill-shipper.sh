#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The shipper killed (kill -9) at random points of its cycles: after each
# kill the next run settles whatever was left (a frozen tracking cycle is
# committed if the store holds it, else merged back; a half-written store
# cycle is discarded), and in the end one more cycle ships everything and
# the replica equals the source (sha256).  CBT_FAULT_ROUNDS kills (default
# 4, for make check's time budget; 6 or more for a longer run),
# CBT_FAULT_SEED fixes the random points (printed).  Negative control:
# the replica before that last cycle differs.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/faults-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt
modprobe dm-delay 2>/dev/null || skip "no dm-delay in this kernel"

rounds=${CBT_FAULT_ROUNDS:-4}
seed=${CBT_FAULT_SEED:-$$}
RANDOM=$seed
info "seed $seed ($rounds rounds)"
faults_setup kill 64
# 2 ms on every I/O: a cycle lasts long enough to be hit in its middle.
lower_table kill-lower "0 $sectors delay $disk 0 2"

writes "$vol" 0 32
info "initial cycle to completion; the kills hit delta cycles"
must ship
landed=0
for ((round = 1; round <= rounds; round++)); do
	# Somewhere from 0 to 2.5 s into the run (a delta cycle here takes 1-3 s
	# under load, less on an idle machine): a run that finishes first took
	# less than that, so the round tries again, up to 4 times, with a kill
	# drawn from 0 to that moment.
	span=2500
	for ((try = 1; try <= 4; try++)); do
		writes "$vol" "$round$try" 4
		ms=$((RANDOM % span))
		res=$(kill_after "$ms" "$work/ship.log" "$CBTSHIP" replicate --store "$store" \
			--key "$work/key" --once "$vol")
		case $res in
		killed)
			landed=$((landed + 1))
			info "round $round: killed after $ms ms; frozen=$(vol_field "$vol" frozen)"
			break ;;
		finished)
			info "round $round: the run finished within $ms ms"
			span=$((ms > 50 ? ms : 50)) ;;
		*) fail "round $round: the run $res: $(cat "$work/ship.log")" ;;
		esac
	done
done
[ "$landed" -gt 0 ] || fail "no kill landed during a cycle: the test tested nothing"

# Writes no cycle has shipped yet, whether or not the last round finished.
writes "$vol" $((rounds + 1)) 2
info "negative control: the replica so far differs from the source"
must "$CBTSHIP" apply --store "$store" --key "$work/key" --volume kill --replica "$work/replica"
replica_differs "$work/replica"

info "a run to completion after $landed kills"
ship_all "$work/replica"
info "cycles in the store: $(complete_cycles "$store" kill); kills that landed: $landed of $rounds"
