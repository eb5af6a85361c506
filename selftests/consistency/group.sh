#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A consistency group of two volumes is frozen at one instant.  One ordered
# writer (ordered-writer.c) spreads its writes over both volumes while
# `replicate --group` takes cycles; the freeze hook's post step waits until
# 40 more writes were made after the freeze.  At every group instant the two
# replicas' copies (test-failover --instant) together are the state after
# some write K; failover --instant X of both replicas gives that state too.
# Negative controls: the two volumes replicated separately (one after the
# other) give point pairs that are not one state, and so do copies of two
# different instants.  Between group cycles both dm-cbt devices are on their
# disks with no snapshot, during them on their snapshot-origins (NAME-cbtso,
# data_of the disk) with their snapshots active.
# CONS_CYCLES (default 1 delta) takes more.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cons-lib.bash"
requires_vm
requires_root
requires_cmd dmsetup cc blockdev sha256sum
cons_modules

SEED=777
SLOTS=256
CYCLES=${CONS_CYCLES:-1}
work=$(mktemp -d /tmp/consgrp.XXXXXX)
at_exit "rm -rf '$work'"
# Built on the host by make; compiling it in the guest costs ~40 s under TCG.
if [ -x "$CONS_DIR/ordered-writer" ]; then
	cp "$CONS_DIR/ordered-writer" "$work/ow" || fail "cannot copy ordered-writer"
else
	cc -O2 -Wall -o "$work/ow" "$CONS_DIR/ordered-writer.c" || fail "cannot build ordered-writer"
fi

d1=$(make_ramdisk 32)
d2=$(make_ramdisk 32)
c1=$(make_ramdisk 32)
c2=$(make_ramdisk 32)
cons_stack ga "$d1"
cons_stack gb "$d2"
must "$CBTSHIP" keygen "$work/key"
DEVS=/dev/mapper/ga,/dev/mapper/gb

cons_hook "$work/hook" "$work" 40 ga "$d1" gb "$d2"

start_writer() {
	dd if=/dev/zero of=/dev/mapper/ga bs=1M oflag=direct status=none 2>/dev/null
	dd if=/dev/zero of=/dev/mapper/gb bs=1M oflag=direct status=none 2>/dev/null
	rm -f "$work/progress" "$work"/during-*
	"$work/ow" write "$DEVS" $SEED $SLOTS 1 0 "$work/progress" &
	writer=$!
	echo "$writer" >"$work/writer.pid"
}

stop_writer() {
	kill -0 "$writer" || fail "the ordered writer died"
	kill "$writer"
	wait "$writer" 2>/dev/null
}

# apply_both NAME: both volumes of store NAME to NAME-ga.img, NAME-gb.img.
apply_both() {
	local v
	for v in ga gb; do
		must "$CBTSHIP" apply --store "$work/$1.store" --key "$work/key" --volume "$v" \
			--replica "$work/$1-$v.img"
	done
}

# copies NAME SELECTOR-A SELECTOR-B: test-failover copies of both replicas,
# then the check's verdict (0 one state, 1 not).
copies() {
	local name=$1 rc
	must "$CBTSHIP" test-failover --replica "$work/$name-ga.img" $2 --output "$work/tfa.img"
	must "$CBTSHIP" test-failover --replica "$work/$name-gb.img" $3 --output "$work/tfb.img"
	"$work/ow" check "$work/tfa.img,$work/tfb.img" $SEED $SLOTS >"$work/check.out"
	rc=$?
	[ $rc -le 1 ] || fail "ordered-writer check failed"
	must "$CBTSHIP" test-failover --replica "$work/$name-ga.img" --cleanup --output "$work/tfa.img"
	must "$CBTSHIP" test-failover --replica "$work/$name-gb.img" --cleanup --output "$work/tfb.img"
	return $rc
}

instants() {
	"$CBTSHIP" points --replica "$1" --json | grep -o '"instant":[0-9]*' | cut -d: -f2
}

info "the group: $((CYCLES + 1)) instants"
start_writer
for i in $(seq 0 "$CYCLES"); do
	must "$CBTSHIP" replicate --store "$work/grp.store" --key "$work/key" \
		--state-dir "$work/grp.state" --group db --hook "$work/hook" \
		--cow "$c1" --cow "$c2" --once \
		/dev/mapper/ga /dev/mapper/gb
	between_cycles ga "$d1"
	between_cycles gb "$d2"
done
stop_writer
check_during "$work/during-ga" "ga so snapshot active" $((CYCLES + 1))
check_during "$work/during-gb" "gb so snapshot active" $((CYCLES + 1))
apply_both grp
mapfile -t ia < <(instants "$work/grp-ga.img")
mapfile -t ib < <(instants "$work/grp-gb.img")
[ "${#ia[@]}" -ge $((CYCLES + 1)) ] || fail "expected $((CYCLES + 1)) group points on ga, found ${#ia[@]}"
[ "${ia[*]}" = "${ib[*]}" ] || fail "the volumes' points have different instants: ${ia[*]} / ${ib[*]}"
for x in "${ia[@]}"; do
	copies grp "--instant $x" "--instant $x" ||
		fail "group instant $x is not one state of both volumes: $(tail -n 3 "$work/check.out")"
	info "instant $x: $(tail -n 1 "$work/check.out")"
done

info "control: copies of two different instants"
! copies grp "--instant ${ia[0]}" "--instant ${ia[1]}" ||
	fail "ga at ${ia[0]} with gb at ${ia[1]} passed: the check cannot tell instants apart"

mid=${ia[1]}
info "failover of the group to instant $mid"
must "$CBTSHIP" test-failover --replica "$work/grp-ga.img" --instant "$mid" --output "$work/ref-a.img"
must "$CBTSHIP" test-failover --replica "$work/grp-gb.img" --instant "$mid" --output "$work/ref-b.img"
must "$CBTSHIP" failover --replica "$work/grp-ga.img" --instant "$mid"
must "$CBTSHIP" failover --replica "$work/grp-gb.img" --instant "$mid"
"$work/ow" check "$work/grp-ga.img,$work/grp-gb.img" $SEED $SLOTS >"$work/check.out" ||
	fail "the failed-over group is not one state: $(tail -n 3 "$work/check.out")"
[ "$(sha256_of "$work/grp-ga.img")" = "$(sha256_of "$work/ref-a.img")" ] &&
	[ "$(sha256_of "$work/grp-gb.img")" = "$(sha256_of "$work/ref-b.img")" ] ||
	fail "the failed-over replicas differ from their copies at instant $mid"
rm -f "$work"/ref-*.img "$work"/grp-*.img

info "control: the same volumes replicated separately, one after the other"
start_writer
for i in $(seq 0 $((CYCLES - 1))); do
	for v in ga gb; do
		must "$CBTSHIP" replicate --store "$work/sep.store" --key "$work/key" \
			--state-dir "$work/sep.state" --hook "$work/hook" \
			--cow "$([ $v = ga ] && echo "$c1" || echo "$c2")" --once "/dev/mapper/$v"
	done
done
stop_writer
apply_both sep
bad=0
for p in $(seq 1 "$CYCLES"); do
	copies sep "--point $p" "--point $p" || bad=$((bad + 1))
	info "separate cycle $p: $(tail -n 1 "$work/check.out")"
done
[ $bad -ge 1 ] || fail "separately frozen volumes always looked like one state: the group proves nothing"
