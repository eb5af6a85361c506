#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Clean detach and re-attach of a dm-cbt volume.  Write, replicate, write a
# known set of blocks, cbtship detach (the set goes to the state directory),
# then the "reboot" of this single-boot test: dmsetup remove, dm-cbt module
# unload and reload, dmsetup create over the same disk (the tracking state
# is recreated with a new tracking id).  More writes, one cycle: only the
# saved and the new blocks are read (count printed and asserted) and the
# replica's sha256 equals the source's.  Negative control: the same
# "reboot" without a detach makes the next cycle read every block.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum shuf
load_dm_cbt

BS=4096
MB=32
NR=$((MB * 1048576 / BS))
work=$(mktemp -d /tmp/e2e.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk $MB)
cbt_create dr "$disk" $BS
vol=/dev/mapper/dr
must "$CBTSHIP" keygen "$work/key"
C=(--store "$work/store" --key "$work/key" --state-dir "$work/state")

# reboot: what a reboot does to tracking, on the same disk.
reboot() {
	dmsetup remove dr || fail "dmsetup remove failed"
	modprobe -r dm-cbt || fail "dm-cbt did not unload"
	load_dm_cbt
	dmsetup create dr --table "0 $(blockdev --getsz "$disk") cbt $disk $BS" ||
		fail "dmsetup create after the reload failed"
}

check_replica() {
	must "$CBTSHIP" apply --store "$work/store" --key "$work/key" --volume dr \
		--replica "$work/replica" >/dev/null
	local s r
	s=$(sha256_of "$vol")
	r=$(sha256_of "$work/replica")
	info "source $s replica $r"
	[ "$s" = "$r" ] || fail "replica differs from the source ($1)"
}

fio --name=fill --filename="$vol" --rw=write --bs=1M --direct=1 --ioengine=psync \
	--refill_buffers --output=/dev/null || fail "fio failed"
must "$CBTSHIP" replicate "${C[@]}" --once "$vol"
check_replica "initial"

mapfile -t blocks < <(shuf -i 0-$((NR - 1)) -n 150)
saved=("${blocks[@]:0:100}")
after=("${blocks[@]:100}")
write_random_blocks "$vol" $BS "${saved[@]}"
out=$(must "$CBTSHIP" detach "${C[@]}" "$vol") || exit 1
printf '%s\n' "$out"
grep -qx "saved ${#saved[@]} changed blocks" <<<"$out" ||
	fail "detach did not save the ${#saved[@]} blocks written"
[ -s "$work/state/dr.changes" ] || fail "no saved change set in the state directory"

info "reboot: dmsetup remove, module reload, dmsetup create"
id_before=$("$CBTSHIP" cbt status "$vol" | sed -n 's/^tracking_id: //p')
reboot
id_after=$("$CBTSHIP" cbt status "$vol" | sed -n 's/^tracking_id: //p')
info "tracking id $id_before -> $id_after"
[ -n "$id_after" ] && [ "$id_after" != "$id_before" ] || fail "the tracking id did not change"
dmsetup status dr | grep -q ' resync$' || fail "a new tracking state is not \"resync required\""
write_random_blocks "$vol" $BS "${after[@]}"
out=$(must "$CBTSHIP" replicate "${C[@]}" --once "$vol") || exit 1
printf '%s\n' "$out"
n=$(cycle_blocks "$out")
info "blocks read after re-attach: $n of $NR (saved ${#saved[@]} + new ${#after[@]})"
[ "$n" = $(( ${#saved[@]} + ${#after[@]} )) ] ||
	fail "re-attach read $n blocks, want the ${#saved[@]} saved + ${#after[@]} new"
grep -q "${#saved[@]} blocks restored" <<<"$out" || fail "no restored blocks reported"
[ ! -e "$work/state/dr.changes" ] || fail "the saved set was not dropped after shipping"
dmsetup status dr | grep -q ' resync$' && fail "\"resync required\" was not cleared after the restore"
check_replica "after detach and re-attach"

info "negative control: the same reboot without detach"
write_random_blocks "$vol" $BS "${saved[@]:0:10}"
reboot
out=$(must "$CBTSHIP" replicate "${C[@]}" --once "$vol") || exit 1
printf '%s\n' "$out"
n=$(cycle_blocks "$out")
[ "$n" = $NR ] || fail "without a saved set the cycle read $n blocks, want all $NR"
check_replica "after the full cycle"
