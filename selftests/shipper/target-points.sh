#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The target side through the CLI, with the fake kernel (--fake-state) as
# the source: every applied cycle is a recovery point; a test failover copy
# at each point hashes like the source did at that cycle; cleanup leaves no
# trace; a tampered cycle is rejected (replica stays at its last good cycle),
# the source then ships that cycle's blocks again and the replica catches up; apply killed
# with SIGKILL mid-cycle restarts at a cycle boundary; failover rolls the
# replica back to a point and apply stops writing it; migrate proves replica
# equals source and hands it over; stop removes the store's cycles.
# Runs anywhere (no root, no dm-cbt): files only.

. "$(dirname "$0")/../common/lib.sh"
requires_cmd sha256sum dd

work=$(mktemp -d /tmp/target-points.XXXXXX)
at_exit "rm -rf '$work'"
cd "$work" || fail "cd $work"
MB=16
BLOCKS=$((MB * 256))
declare -a H	# H[c]: sha256 of the source after cycle c

must "$CBTSHIP" keygen key
head -c $((MB << 20)) /dev/urandom >vol.img

sha() { sha256sum "$1" | cut -d' ' -f1; }

# change N: N random 4 KiB blocks get new data, told to the fake kernel.
change() {
	local i b
	for ((i = 0; i < $1; i++)); do
		b=$(( (RANDOM * 32768 + RANDOM) % BLOCKS ))
		dd if=/dev/urandom of=vol.img bs=4096 seek=$b count=1 conv=notrunc status=none ||
			fail "dd block $b"
		echo "dirty $b 1" >>vol.state
	done
}

# change_range START COUNT: one run of blocks gets new data (one dd: quick
# in an emulated guest too).
change_range() {
	dd if=/dev/urandom of=vol.img bs=4096 seek="$1" count="$2" conv=notrunc status=none ||
		fail "dd blocks $1+$2"
	echo "dirty $1 $2" >>vol.state
}

# ship: one source cycle; prints its line; records the source hash.
ship() {
	local out c
	out=$("$CBTSHIP" replicate --store store --key key --volume v --once \
		--fake-state vol.state vol.img 2>&1) || fail "replicate: $out"
	info "$out"
	c=$(sed -n 's/^cycle \([0-9]*\) .*/\1/p' <<<"$out" | tail -n1)
	[ -n "$c" ] || fail "no cycle in: $out"
	H[c]=$(sha vol.img)
	LAST_LINE=$out
	LAST=$c
}

apply() { "$CBTSHIP" apply --store store --key key --volume v --replica rep.img "$@"; }
json_at() { "$CBTSHIP" points --replica rep.img --json | sed -n 's/.*"at":\([0-9]*\).*/\1/p'; }

ship
for i in 1 2 3; do change 40; ship; done
must apply
[ "$(sha rep.img)" = "${H[4]}" ] || fail "replica after cycle 4 differs from the source"
pts=$("$CBTSHIP" points --replica rep.img --json)
info "$pts"
[ "$(grep -o '"point":' <<<"$pts" | wc -l)" = 4 ] || fail "expected 4 points: $pts"
# The fake kernel has no snapshot: cycles read live are not consistent.
grep -q '"kind":"none"' <<<"$pts" && ! grep -q '"kind":"crash"' <<<"$pts" ||
	fail "cycles read from the live volume must be labelled none: $pts"

# Test failover at every point, while the replica stays at cycle 4.
for p in 1 2 3 4; do
	must "$CBTSHIP" test-failover --replica rep.img --point $p --output tf-$p.img
	[ "$(sha tf-$p.img)" = "${H[p]}" ] || fail "test failover copy at point $p differs from the source at cycle $p"
done
[ "$(sha tf-1.img)" != "${H[4]}" ] || fail "control: point 1 should differ from cycle 4"
[ "$(sha rep.img)" = "${H[4]}" ] || fail "the replica changed during test failovers"
echo scribble | dd of=tf-2.img conv=notrunc status=none
[ "$(sha rep.img)" = "${H[4]}" ] || fail "writing a test failover copy changed the replica"
must "$CBTSHIP" test-failover --replica rep.img --cleanup
for p in 1 2 3 4; do [ ! -e tf-$p.img ] || fail "cleanup left tf-$p.img"; done
[ ! -e rep.img.cbtship/test-failovers ] || fail "cleanup left its record"

# A tampered cycle: rejected, the replica stays; the source ships its blocks again.
change 30
ship
seg=$(ls store/volumes/v/cycles/*$LAST/seg-* | head -n1)
printf '\xff' | dd of="$seg" bs=1 seek=300 conv=notrunc status=none
out=$(apply 2>&1) && fail "apply of a tampered cycle succeeded: $out"
info "$(tail -n1 <<<"$out")"
# Manifest format 2 binds a segment by its GCM tag (format 1: SHA-256).
grep -qE "failed authentication|tag in the manifest|SHA-256" <<<"$out" ||
	fail "no clear message for the tampered segment: $out"
[ "$(sha rep.img)" = "${H[4]}" ] || fail "the replica is not at cycle 4 after a rejected cycle"
[ -e store/volumes/v/rejected ] || fail "no rejected record in the store"
change 5
ship
grep -q "full delta" <<<"$LAST_LINE" && fail "the source shipped every block after the rejection, not only the rejected cycle's: $LAST_LINE"
must apply
[ "$(sha rep.img)" = "${H[LAST]}" ] || fail "replica differs after the full cycle $LAST"
[ ! -e store/volumes/v/rejected ] || fail "the rejected record was not cleared"

# SIGKILL mid-cycle: a big cycle, killed after a random delay, then restarted.
change_range 200 3000
change 10
ship
big=$LAST
killed=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	# Not the apply function: $! must be cbtship itself, not a subshell.
	"$CBTSHIP" apply --store store --key key --volume v --replica rep.img >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf 0.%03d $((RANDOM % 300)))"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	[ $? = 137 ] && killed=$((killed + 1))
	at=$(json_at)
	pending=$("$CBTSHIP" points --replica rep.img --json | sed -n 's/.*"pending":\([0-9]*\).*/\1/p')
	if [ "$pending" = 0 ]; then
		[ "$(sha rep.img)" = "${H[at]}" ] || fail "after kill $i the replica is not cycle $at"
	fi
	info "kill $i: at $at, pending $pending"
	[ "$at" = "$big" ] && break
done
must apply
[ "$(sha rep.img)" = "${H[big]}" ] || fail "after the kills the replica differs from cycle $big"
info "$killed runs killed mid-apply"

# Failover to the point before the last.
change 20
ship
must apply
p=$((LAST - 1))
must "$CBTSHIP" failover --replica rep.img --point $p --store store --key key --volume v
[ -e store/volumes/v/state ] || fail "failover did not record the volume's state in the store"
[ "$(sha rep.img)" = "${H[p]}" ] || fail "after failover to point $p the replica differs from cycle $p"
out=$(apply 2>&1) && fail "apply wrote a failed-over replica"
grep -q "failed over" <<<"$out" || fail "no clear message: $out"
[ "$(sha rep.img)" = "${H[p]}" ] || fail "apply changed a failed-over replica"

# Migrate a second volume, then stop it.
head -c $((4 << 20)) /dev/urandom >m.img
must "$CBTSHIP" replicate --store store --key key --volume m --once --fake-state m.state m.img
dd if=/dev/urandom of=m.img bs=4096 seek=7 count=3 conv=notrunc status=none
echo "dirty 7 3" >>m.state
out=$("$CBTSHIP" migrate --store store --key key --volume m --replica m-rep.img \
	--fake-state m.state m.img 2>&1) || fail "migrate: $out"
info "$out"
[ "$(sha m-rep.img)" = "$(sha m.img)" ] || fail "migrated replica differs from the source"
grep -q "$(sha m.img)" <<<"$out" || fail "migrate does not print the hash it proved"
out=$("$CBTSHIP" apply --store store --key key --volume m --replica m-rep.img 2>&1) &&
	fail "apply wrote a migrated replica"
must "$CBTSHIP" stop --store store --key key --volume m
[ ! -e store/volumes/m/cycles ] || fail "stop left cycles in the store"
[ -e store/volumes/m/state ] && [ -e store/volumes/m/volume ] ||
	fail "stop removed the volume header or its state"
[ "$(sha m-rep.img)" = "$(sha m.img)" ] || fail "stop touched the replica"
info "ok"
