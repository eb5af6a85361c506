#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the fault-injection tests; source after ../common/lib.sh and
# ../dm-cbt/cbt-lib.bash.  The source volume is dm-cbt over a "lower" dm
# device whose table a test swaps (linear, flakey, delay) to inject faults
# under the tracking target, the way a failing or slow disk would.
#
#   faults_setup NAME MB       a MB MiB RAM disk, NAME-lower over it, dm-cbt
#                              NAME over that, a key; sets work, disk,
#                              sectors, vol, store
#   ship                       one cycle: cbtship replicate --once
#   check_replica REPLICA      apply the store to REPLICA; its sha256 must
#                              be the source's
#   replica_differs FILE       negative control: FILE exists and its sha256
#                              is not the source's
#   lower_create NAME DISK     a linear dm device over all of DISK
#   lower_table NAME TABLE     load TABLE into NAME and make it live
#   writes DEVICE SEED MB      random O_DIRECT writes (fio) over DEVICE
#   complete_cycles STORE VOL  number of cycles with a manifest

lower_create() {
	local name=$1 disk=$2 sectors
	sectors=$(blockdev --getsz "$disk") || fail "blockdev --getsz $disk failed"
	dmsetup create "$name" --table "0 $sectors linear $disk 0" ||
		fail "dmsetup create $name over $disk failed"
	at_exit "dmsetup remove --retry '$name'"
}

lower_table() {
	local name=$1 table=$2
	dmsetup load "$name" --table "$table" || fail "dmsetup load $name failed: $table"
	dmsetup suspend "$name" || fail "dmsetup suspend $name failed"
	dmsetup resume "$name" || fail "dmsetup resume $name failed"
}

writes() {
	fio --name=w --filename="$1" --rw=randwrite --bsrange=4k-128k --blockalign=4k \
		--direct=1 --ioengine=psync --io_size="$3M" --randseed="$2" \
		--refill_buffers --norandommap --output=/dev/null || fail "fio on $1 failed"
}

complete_cycles() {
	ls "$1"/volumes/"$2"/cycles/*/manifest 2>/dev/null | wc -l
}

faults_setup() {
	local name=$1 mb=$2
	work=$(mktemp -d /tmp/faults.XXXXXX)
	at_exit "rm -rf '$work'"
	disk=$(make_ramdisk "$mb")
	sectors=$(blockdev --getsz "$disk")
	lower_create "$name-lower" "$disk"
	cbt_create "$name" "/dev/mapper/$name-lower" 4096
	vol=/dev/mapper/$name
	store=$work/store
	must "$CBTSHIP" keygen "$work/key"
}

ship() {
	"$CBTSHIP" replicate --store "$store" --key "$work/key" --once "$vol"
}

check_replica() {
	local src rep
	must "$CBTSHIP" apply --store "$store" --key "$work/key" --volume "${vol##*/}" \
		--replica "$1"
	src=$(sha256_of "$vol")
	rep=$(sha256_of "$1")
	info "source  $src"
	info "replica $rep"
	[ "$rep" = "$src" ] || fail "replica differs from source"
}

replica_differs() {
	[ -f "$1" ] || fail "negative control: $1 does not exist"
	[ "$(sha256_of "$1")" != "$(sha256_of "$vol")" ] ||
		fail "negative control: $1 already equals the source: the final check proves nothing"
}
