#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The source side and the store's volume state, through the CLI with the
# fake kernel (--fake-state) as the source:
# - a rejected cycle is answered with exactly its blocks (plus the new
#   changes), not every block, and the replica then equals the source;
# - a migration across "machines": the source half and the target half run
#   as two processes with their own state (fake kernel state, replica state
#   directory), talking only through the store; the replica ends equal to
#   the source, and the source then refuses to replicate a migrated volume;
# - a source refuses to replicate a volume the target side stopped.
# Runs anywhere (no root, no dm-cbt): files only.

. "$(dirname "$0")/../common/lib.sh"
requires_cmd sha256sum dd

work=$(mktemp -d /tmp/src-states.XXXXXX)
at_exit "rm -rf '$work'"
cd "$work" || fail "cd $work"
MB=16

must "$CBTSHIP" keygen key
head -c $((MB << 20)) /dev/urandom >vol.img
mkdir src dst
sha() { sha256sum "$1" | cut -d' ' -f1; }

# dirty START COUNT: one run of blocks gets new data, told to the fake kernel.
dirty() {
	dd if=/dev/urandom of=vol.img bs=4096 seek="$1" count="$2" conv=notrunc status=none ||
		fail "dd blocks $1+$2"
	echo "dirty $1 $2" >>src/vol.state
}

# ship: one source cycle; LAST = its number, BLOCKS = the blocks it shipped.
ship() {
	local out
	out=$("$CBTSHIP" replicate --store store --key key --volume v --once \
		--fake-state src/vol.state vol.img 2>&1) || fail "replicate: $out"
	info "$(grep '^cycle' <<<"$out")"
	LAST=$(sed -n 's/^cycle \([0-9]*\) .*/\1/p' <<<"$out" | tail -n1)
	BLOCKS=$(sed -n 's/^cycle [0-9]* ([a-z ]*): \([0-9]*\) blocks.*/\1/p' <<<"$out" | tail -n1)
	[ -n "$LAST" ] && [ -n "$BLOCKS" ] || fail "no cycle in: $out"
	LAST_OUT=$out
}
apply() { "$CBTSHIP" apply --store store --key key --volume v --replica dst/rep.img --state dst/rep.state "$@"; }

# --- a rejected cycle: only its blocks again ---
ship
[ "$BLOCKS" = $((MB * 256)) ] || fail "initial cycle shipped $BLOCKS blocks"
dirty 100 30
ship
must apply
[ "$(sha dst/rep.img)" = "$(sha vol.img)" ] || fail "replica differs after cycle $LAST"
dirty 2000 17
dirty 3000 13
ship
bad=$LAST
seg=$(ls store/volumes/v/cycles/*$bad/seg-* | head -n1)
printf '\xff' | dd of="$seg" bs=1 seek=300 conv=notrunc status=none
out=$(apply 2>&1) && fail "apply of a tampered cycle succeeded: $out"
[ -e store/volumes/v/rejected ] || fail "no rejected record in the store"
[ "$(sha dst/rep.img)" != "$(sha vol.img)" ] || fail "control: the replica equals the source without the rejected cycle"
dirty 3500 5
ship
info "after the rejection: $BLOCKS blocks"
[ "$BLOCKS" = 35 ] || fail "the source shipped $BLOCKS blocks after rejected cycle $bad, not its 30 plus the 5 new ones"
grep -q "ships the 30 blocks of cycles $bad-$bad again" <<<"$LAST_OUT" ||
	fail "the source does not say which blocks it ships again: $LAST_OUT"
# The repair cycle is damaged too: rejected in turn, and answered again.
rep1=$LAST
seg=$(ls store/volumes/v/cycles/*$rep1/seg-* | head -n1)
printf '\xff' | dd of="$seg" bs=1 seek=300 conv=notrunc status=none
out=$(apply 2>&1) && fail "apply of a tampered repair cycle succeeded: $out"
grep -q "repair cycle $rep1 failed verification" <<<"$out" ||
	fail "the damaged repair cycle is not reported: $out"
dirty 3600 2
ship
[ "$BLOCKS" = 37 ] || fail "after rejected repair cycle $rep1 the source shipped $BLOCKS blocks, not the 35 of cycles $bad-$rep1 and 2 new ones"
out=$(apply 2>&1) || fail "apply after the repair cycle: $out"
grep -q "applied repair cycle $LAST" <<<"$out" || fail "apply did not apply repair cycle $LAST: $out"
[ "$(sha dst/rep.img)" = "$(sha vol.img)" ] || fail "replica differs from the source after the repair cycle"
[ ! -e store/volumes/v/rejected ] && [ ! -e store/volumes/v/repair ] ||
	fail "the rejected or repair record was not cleared"
# And the history goes on from there.
dirty 10 3
ship
[ "$BLOCKS" = 3 ] || fail "the cycle after the repair shipped $BLOCKS blocks, not 3"
must apply
[ "$(sha dst/rep.img)" = "$(sha vol.img)" ] || fail "replica differs after cycle $LAST"

# --- migration across two machines, through the store only ---
dirty 500 8
# The target half first: it requests the final cycle and waits for it.
"$CBTSHIP" migrate --store store --key key --volume v --replica dst/rep.img \
	--state dst/rep.state --wait 120 >dst/migrate.out 2>&1 &
tpid=$!
# The source half, quiesced after the 8 blocks: final cycle, then waits.
out=$("$CBTSHIP" migrate --store store --key key --volume v --fake-state src/vol.state \
	--wait 120 vol.img 2>&1) || { kill $tpid; fail "source half: $out"; }
info "source: $(tail -n1 <<<"$out")"
wait $tpid || fail "target half failed: $(cat dst/migrate.out)"
info "target: $(tail -n1 dst/migrate.out)"
[ "$(sha dst/rep.img)" = "$(sha vol.img)" ] || fail "migrated replica differs from the source"
grep -q "$(sha vol.img)" dst/migrate.out || fail "the target half does not print the hash it proved"
grep -q "$(sha vol.img)" <<<"$out" || fail "the source half does not print the hash"
# Migrated: the source ships nothing more, and says why.
dirty 600 1
out=$("$CBTSHIP" replicate --store store --key key --volume v --once \
	--fake-state src/vol.state vol.img 2>&1) && fail "replicate of a migrated volume succeeded: $out"
grep -q "migrated" <<<"$out" || fail "no clear message for a migrated volume: $out"

# A failed proof: the target half puts the volume back to delta replication.
head -c $((4 << 20)) /dev/urandom >w.img
"$CBTSHIP" replicate --store store --key key --volume w --once --fake-state src/w.state w.img \
	>/dev/null 2>&1 || fail "replicate w"
"$CBTSHIP" apply --store store --key key --volume w --replica dst/w.img >/dev/null 2>&1 ||
	fail "apply w"
# The replica is damaged behind apply's back: its hash cannot match.
printf 'x' | dd of=dst/w.img bs=1 seek=4096 conv=notrunc status=none
out=$("$CBTSHIP" migrate --store store --key key --volume w --fake-state src/w.state \
	--wait 0 w.img 2>&1) || fail "source half of w: $out"
out=$("$CBTSHIP" migrate --store store --key key --volume w --replica dst/w.img --wait 10 2>&1) &&
	fail "the target half migrated a replica that differs: $out"
grep -q "1 blocks of replica dst/w.img differ from the source's hash list.*first at block 1)" <<<"$out" ||
	fail "the target half does not name the block that differs: $out"
# Not handed over: apply still writes the replica.
out=$("$CBTSHIP" apply --store store --key key --volume w --replica dst/w.img 2>&1) ||
	fail "the failed migration handed the replica over: $out"
# Back to delta replication: the source replicates again.
echo "dirty 1 1" >>src/w.state
out=$("$CBTSHIP" replicate --store store --key key --volume w --once \
	--fake-state src/w.state w.img 2>&1) || fail "replicate after a failed migration: $out"

# --- stopped: the source refuses ---
must "$CBTSHIP" stop --store store --key key --volume w
out=$("$CBTSHIP" replicate --store store --key key --volume w --once \
	--fake-state src/w.state w.img 2>&1) && fail "replicate of a stopped volume succeeded: $out"
grep -q "stopped" <<<"$out" || fail "no clear message for a stopped volume: $out"
[ ! -e store/volumes/w/cycles ] || fail "the refused source wrote a cycle"
info "ok"
