#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Failover, reprotect and failback on real dm-cbt volumes.  Disk A (under
# dm-cbt "src") replicates to disk B; A is lost with 16 blocks it never
# shipped; B is failed over at point 2, written behind tracking (8 blocks)
# and through dm-cbt "fo" (fio with verify, 512 blocks).  reprotect ships
# exactly the 536 differing blocks (not the disk) and after apply A equals
# B by sha256 (before it, they differ: negative control); a reverse delta
# follows.  Failback refuses the two disks swapped, and a block changed on
# A behind cbtship's back; then it resumes forward replication with a
# one-block cycle (no full copy) and a forward delta keeps B equal to A.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

BS=4096
MB=16
work=$(mktemp -d /tmp/e2e.XXXXXX)
at_exit "rm -rf '$work'"
diskA=$(make_ramdisk $MB)
diskB=$(make_ramdisk $MB)
must "$CBTSHIP" keygen "$work/key"
S=(--store "$work/store" --key "$work/key" --volume src)
R=(--store "$work/store" --key "$work/key" --volume src.reverse)
SD=(--state-dir "$work/sd")

# dsha DEV: sha256 of a device read with O_DIRECT (no stale page cache)
dsha() {
	dd if="$1" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1
}

# fiow DEV OFFSET_BLOCKS NR_BLOCKS: fio writes new data there and verifies it
fiow() {
	fio --name=fb --filename="$1" --rw=write --bs=$BS --offset=$(($2 * BS)) \
		--size=$(($3 * BS)) --direct=1 --ioengine=psync --verify=crc32c \
		--do_verify=1 --refill_buffers --randseed=$RANDOM --output=/dev/null ||
		fail "fio on $1 failed (or its verify)"
}

cbt_create src "$diskA" $BS
fiow /dev/mapper/src 0 $((MB * 256))
must "$CBTSHIP" replicate "${S[@]}" "${SD[@]}" --once /dev/mapper/src
fiow /dev/mapper/src 2000 64
must "$CBTSHIP" replicate "${S[@]}" "${SD[@]}" --once /dev/mapper/src
must "$CBTSHIP" apply "${S[@]}" --replica "$diskB" --state "$work/Bstate"
[ "$(dsha /dev/mapper/src)" = "$(dsha "$diskB")" ] || fail "replica differs before failover"

info "A writes blocks 100-115 that never ship, then is lost"
fiow /dev/mapper/src 100 16
dmsetup remove --retry src || fail "dmsetup remove src failed"
must "$CBTSHIP" failover --replica "$diskB" --state "$work/Bstate" --point 2 "${S[@]}"

info "B: blocks 3000-3007 behind tracking, then dm-cbt fo and 1024-1535 through it"
head -c $((8 * BS)) /dev/urandom |
	dd of="$diskB" bs=$BS seek=3000 oflag=direct conv=notrunc status=none || fail "dd failed"
cbt_create fo "$diskB" $BS
fiow /dev/mapper/fo 1024 512

must "$CBTSHIP" reprotect "${S[@]}" --original "$diskA"
out=$(must "$CBTSHIP" reprotect "${S[@]}" "${SD[@]}" /dev/mapper/fo) || exit 1
printf '%s\n' "$out"
grep -q "^reprotect: 536 blocks differ from the original disk ($((536 * BS)) bytes)" <<<"$out" ||
	fail "reprotect did not find the 536 differing blocks"
grep -q '^reprotect: reverse cycle 1: 536 blocks' <<<"$out" || fail "reverse cycle 1 is not 536 blocks"
stored=$(sed -n 's/.* bytes read, \([0-9]*\) bytes stored/\1/p' <<<"$out")
info "reverse cycle 1: $stored bytes stored for $((536 * BS)) differing bytes; the disk is $((MB << 20))"
[ -n "$stored" ] && [ "$stored" -le $((536 * BS * 3 / 2)) ] ||
	fail "reverse cycle 1 stored '$stored' bytes, more than 1.5x the differing bytes"
dmsetup status fo | grep -q ' resync$' && fail "\"resync required\" still set on fo after reverse cycle 1"

[ "$(dsha "$diskA")" != "$(dsha /dev/mapper/fo)" ] || fail "negative control: A equals B before apply"
must "$CBTSHIP" apply "${R[@]}" --replica "$diskA" --state "$work/Astate"
[ "$(dsha "$diskA")" = "$(dsha /dev/mapper/fo)" ] || fail "A differs from B after reverse cycle 1"

info "reverse delta: 64 blocks at 2600 on fo"
fiow /dev/mapper/fo 2600 64
out=$(must "$CBTSHIP" reprotect "${S[@]}" "${SD[@]}" /dev/mapper/fo) || exit 1
grep -q '^reprotect: reverse cycle 2: 64 blocks' <<<"$out" || fail "reverse cycle 2: $out"
must "$CBTSHIP" apply "${R[@]}" --replica "$diskA" --state "$work/Astate"
[ "$(dsha "$diskA")" = "$(dsha /dev/mapper/fo)" ] || fail "A differs from B after reverse cycle 2"

info "the original side is back: dm-cbt src over A (new tracking)"
cbt_create src "$diskA" $BS
F=(--original "$diskA" --original-state "$work/Astate" --replica "$diskB" --state "$work/Bstate"
   --source /dev/mapper/src "${SD[@]}" /dev/mapper/fo)
out=$("$CBTSHIP" failback "${S[@]}" --original "$diskB" --original-state "$work/Astate" \
	--replica "$diskA" --state "$work/Bstate" --source /dev/mapper/src "${SD[@]}" \
	/dev/mapper/fo 2>&1) && fail "failback with the disks swapped succeeded: $out"
grep -q 'is not the disk under /dev/mapper/fo' <<<"$out" || fail "failback did not refuse the swapped disks: $out"
info "negative control: block 3500 of A written behind cbtship's back"
head -c $BS /dev/urandom |
	dd of="$diskA" bs=$BS seek=3500 oflag=direct conv=notrunc status=none || fail "dd failed"
out=$("$CBTSHIP" failback "${S[@]}" "${F[@]}" 2>&1) && fail "failback with differing disks succeeded: $out"
grep -q 'differs from /dev/mapper/fo' <<<"$out" || fail "failback did not say the disks differ: $out"
must "$CBTSHIP" verify "${R[@]}" --replica "$diskA" --publish
must "$CBTSHIP" resync "${R[@]}" "${SD[@]}" /dev/mapper/fo
must "$CBTSHIP" apply "${R[@]}" --replica "$diskA" --state "$work/Astate"

out=$(must "$CBTSHIP" failback "${S[@]}" "${F[@]}") || exit 1
printf '%s\n' "$out"
grep -q '^failback: .* equals /dev/mapper/fo at reverse cycle 3' <<<"$out" || fail "failback did not prove A == B"
grep -q '^failback: forward cycle 3: 0 blocks differ, 1 blocks shipped' <<<"$out" ||
	fail "forward replication did not resume with a one-block cycle"
dmsetup status src | grep -q ' resync$' && fail "\"resync required\" still set on src after failback"
dmsetup remove --retry fo || fail "dmsetup remove fo failed"

info "forward delta: 32 blocks at 3800 on src"
fiow /dev/mapper/src 3800 32
out=$(must "$CBTSHIP" replicate "${S[@]}" "${SD[@]}" --once /dev/mapper/src) || exit 1
grep -q '(delta): 32 blocks' <<<"$out" || fail "forward delta after failback: $out"
must "$CBTSHIP" apply "${S[@]}" --replica "$diskB" --state "$work/Bstate"
s=$(dsha /dev/mapper/src)
r=$(dsha "$diskB")
info "source $s replica $r"
[ "$s" = "$r" ] || fail "replica differs from the source after failback and a forward delta"
