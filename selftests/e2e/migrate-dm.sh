#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# On a real dm-cbt volume: the store's volume states across two "machines"
# (the source with its dm-cbt device and state directory; the target with
# a block-device replica and its own state directory; they share only the
# store).  A tampered delta is rejected by the target and the source's next
# cycle ships exactly that delta's blocks again plus the new ones; then the
# volume is migrated with the source half and the target half running as
# separate processes; the replica's SHA-256 equals the source's; the source
# then refuses to replicate the migrated volume.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

BS=4096
MB=4
work=$(mktemp -d /tmp/e2e-migrate.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk $MB)
replica=$(make_ramdisk $MB)
cbt_create mg "$disk" $BS
vol=/dev/mapper/mg
must "$CBTSHIP" keygen "$work/key"
SRC=(--store "$work/store" --key "$work/key" --state-dir "$work/src-state")
TGT=(--store "$work/store" --key "$work/key" --volume mg --replica "$replica" --state "$work/tgt-state")

# write START COUNT: new data into blocks through dm-cbt (tracked).
write() {
	head -c $(($2 * BS)) /dev/urandom |
		dd of="$vol" bs=$BS seek="$1" oflag=direct conv=notrunc status=none ||
		fail "write to $vol failed"
}
# ship: one cycle; LAST, BLOCKS.
ship() {
	local out
	out=$("$CBTSHIP" replicate "${SRC[@]}" --once "$vol" 2>&1) || fail "replicate: $out"
	info "$(grep '^cycle' <<<"$out")"
	LAST=$(sed -n 's/^cycle \([0-9]*\) .*/\1/p' <<<"$out" | tail -n1)
	BLOCKS=$(sed -n 's/^cycle [0-9]* ([a-z ]*): \([0-9]*\) blocks.*/\1/p' <<<"$out" | tail -n1)
	[ -n "$LAST" ] && [ -n "$BLOCKS" ] || fail "no cycle in: $out"
}

fio --name=fill --filename="$vol" --rw=write --bs=1M --direct=1 --ioengine=psync \
	--refill_buffers --output=/dev/null || fail "fio failed"
ship
must "$CBTSHIP" apply "${TGT[@]}"

# A tampered delta: rejected; the next cycle ships its blocks and the new ones.
write 100 20
ship
bad=$LAST
seg=$(ls "$work"/store/volumes/mg/cycles/*"$bad"/seg-* | head -n1)
printf '\xff' | dd of="$seg" bs=1 seek=300 conv=notrunc status=none
"$CBTSHIP" apply "${TGT[@]}" >/dev/null 2>&1 && fail "apply of a tampered cycle succeeded"
[ "$(sha256_of "$replica")" != "$(sha256_of "$vol")" ] ||
	fail "control: the replica equals the source without the rejected cycle"
write 900 3
ship
[ "$BLOCKS" = 23 ] || fail "after rejected cycle $bad the source shipped $BLOCKS blocks, not its 20 and the 3 new ones"
out=$("$CBTSHIP" apply "${TGT[@]}" 2>&1) || fail "apply after the repair: $out"
grep -q "applied repair cycle $LAST" <<<"$out" || fail "no repair cycle applied: $out"
[ "$(sha256_of "$replica")" = "$(sha256_of "$vol")" ] || fail "replica differs after the repair cycle"

# Migration: the target half asks and waits; the source half, quiesced, answers.
write 500 8
"$CBTSHIP" migrate "${TGT[@]}" --wait 900 >"$work/target.out" 2>&1 &
tpid=$!
out=$("$CBTSHIP" migrate --store "$work/store" --key "$work/key" --wait 900 "$vol" 2>&1) ||
	{ kill $tpid; fail "source half: $out"; }
info "source: $(tail -n1 <<<"$out")"
wait $tpid || fail "target half: $(cat "$work/target.out")"
info "target: $(tail -n1 "$work/target.out")"
s=$(sha256_of "$vol")
r=$(sha256_of "$replica")
info "source $s replica $r"
[ "$s" = "$r" ] || fail "the migrated replica differs from the source"
grep -q "$s" "$work/target.out" || fail "the target half does not print the hash it proved"
write 600 1
out=$("$CBTSHIP" replicate "${SRC[@]}" --once "$vol" 2>&1) &&
	fail "replicate of a migrated volume succeeded: $out"
grep -q "store records it as migrated" <<<"$out" || fail "no clear message: $out"
