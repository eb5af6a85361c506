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
#   ship_fails_cleanly RE      a cycle must fail saying /RE/, leave nothing
#                              frozen, keep every dirty block and add no
#                              complete cycle to the store
#   ship_all REPLICA           a cycle to completion: nothing frozen or
#                              dirty after it, and check_replica REPLICA
#   kill_after MS LOG CMD...   run CMD (output to LOG), SIGKILL it after MS
#                              ms; prints "killed", or "finished" if it
#                              ended first
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

ship_fails_cleanly() {
	local re=$1 out dirty now cycles
	dirty=$(vol_field "$vol" dirty)
	cycles=$(complete_cycles "$store" "${vol##*/}")
	if out=$(ship 2>&1); then
		fail "a cycle that should have failed succeeded:"$'\n'"$out"
	fi
	printf '%s\n' "$out" | sed 's/^/# cbtship: /'
	grep -qi "$re" <<<"$out" || fail "the failure does not say /$re/"
	[ "$(vol_field "$vol" frozen)" = 0 ] || fail "the failed cycle is left frozen"
	now=$(vol_field "$vol" dirty)
	[ "$now" -ge "$dirty" ] || fail "dirty blocks went from $dirty to $now: changes were lost"
	[ "$(complete_cycles "$store" "${vol##*/}")" = "$cycles" ] ||
		fail "the failed cycle became visible in the store"
}

ship_all() {
	must ship
	[ "$(vol_field "$vol" frozen)" = 0 ] || fail "a cycle is left frozen"
	[ "$(vol_field "$vol" dirty)" = 0 ] || fail "blocks still dirty after a good cycle"
	check_replica "$1"
}

# CMD runs as a direct child ($! is its pid, not a subshell's).
kill_after() {
	local ms=$1 log=$2 pid rc
	shift 2
	"$@" >"$log" 2>&1 &
	pid=$!
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	case $rc in
	137) echo killed ;;
	0) echo finished ;;
	*) echo "failed with exit $rc" ;;
	esac
}
