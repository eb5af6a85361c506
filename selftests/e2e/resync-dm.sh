#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Checksum resync and verify on a dm-cbt volume.  A known set of blocks is
# written to the disk under dm-cbt directly (behind the tracker's back): a
# normal cycle misses them (negative control), cbtship verify lists exactly
# them and exits 1; after the target publishes its hashes, cbtship resync
# ships only those (plus tracked changes), printing bytes shipped vs bytes
# that differ; after apply, verify exits 0 and the sha256 sums match.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

BS=4096
MB=32
work=$(mktemp -d /tmp/e2e.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk $MB)
cbt_create rs "$disk" $BS
vol=/dev/mapper/rs
must "$CBTSHIP" keygen "$work/key"
S=(--store "$work/store" --key "$work/key")
V=(--store "$work/store" --key "$work/key" --volume rs)

fio --name=fill --filename="$vol" --rw=write --bs=1M --direct=1 --ioengine=psync \
	--refill_buffers --output=/dev/null || fail "fio failed"
must "$CBTSHIP" replicate "${S[@]}" --state-dir "$work/state" --once "$vol"
must "$CBTSHIP" apply "${V[@]}" --replica "$work/replica"

info "write blocks 10-13 and 5000 on $disk, under dm-cbt"
for b in 10 11 12 13 5000; do
	head -c $BS /dev/urandom |
		dd of="$disk" bs=$BS seek=$b oflag=direct conv=notrunc status=none ||
		fail "write to $disk failed"
done
info "and blocks 7000-7001 through dm-cbt (tracked)"
head -c $((2 * BS)) /dev/urandom |
	dd of="$vol" bs=$BS seek=7000 oflag=direct conv=notrunc status=none || fail "write failed"

must "$CBTSHIP" replicate "${S[@]}" --state-dir "$work/state" --once "$vol"
must "$CBTSHIP" apply "${V[@]}" --replica "$work/replica"
[ "$(sha256_of "$vol")" != "$(sha256_of "$work/replica")" ] ||
	fail "negative control: the replica equals the source without a resync"

must "$CBTSHIP" verify "${V[@]}" --replica "$work/replica" --publish
out=$("$CBTSHIP" verify "${V[@]}" "$vol" 2>&1)
rc=$?
printf '%s\n' "$out"
[ $rc = 1 ] || fail "verify exit $rc, want 1"
got=$(grep '^differ:' <<<"$out" | tr '\n' ' ')
want="differ: blocks 10-13 (4 blocks) differ: blocks 5000-5000 (1 blocks) "
[ "$got" = "$want" ] || fail "verify listed '$got', want '$want'"

info "a tracked write not shipped yet, then resync"
head -c $BS /dev/urandom |
	dd of="$vol" bs=$BS seek=7100 oflag=direct conv=notrunc status=none || fail "write failed"
out=$(must "$CBTSHIP" resync "${S[@]}" --state-dir "$work/state" "$vol") || exit 1
printf '%s\n' "$out"
grep -q '^resync: 6 blocks differ (24576 bytes)' <<<"$out" ||
	fail "resync did not find the 5 untracked + 1 tracked differing blocks"
grep -q '^resync: cycle [0-9]*: 6 blocks' <<<"$out" || fail "resync did not ship exactly 6 blocks"
dmsetup status rs | grep -q ' resync$' && fail "\"resync required\" is still set after cycles"
must "$CBTSHIP" apply "${V[@]}" --replica "$work/replica"
must "$CBTSHIP" verify "${V[@]}" --replica "$work/replica" "$vol"
s=$(sha256_of "$vol")
r=$(sha256_of "$work/replica")
info "source $s replica $r"
[ "$s" = "$r" ] || fail "replica differs from the source after resync"
