#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-cbt table parsing: every bad table is refused with its own error
# message (as logged by device-mapper) and leaves nothing behind; good
# tables read back exactly from `dmsetup table`.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
load_dm_cbt

disk=$(make_ramdisk 8)
sectors=$(blockdev --getsz "$disk")
devno=$(lsblk -dno MAJ:MIN "$disk" | tr -d ' ')
[ -n "$devno" ] || fail "cannot find the device number of $disk"
M=$(make_ramdisk 8)	# a metadata device
mdevno=$(lsblk -dno MAJ:MIN "$M" | tr -d ' ')
module_refs() {
	awk '$1 == "dm_cbt" { print $3 }' /proc/modules
}
refs_before=$(module_refs)

# expect_bad "TABLE" "MESSAGE": loading TABLE fails and the kernel log says
# "cbt: MESSAGE" (or, for dm core checks, MESSAGE) for that load.
expect_bad() {
	local table=$1 msg=$2 before new
	before=$(dmesg | wc -l)
	if dmsetup create cbt-bad --table "$table" 2>/dev/null; then
		dmsetup remove cbt-bad
		fail "table accepted but should fail: '$table'"
	fi
	new=$(dmesg | tail -n +"$((before + 1))")
	grep -qF -- "$msg" <<<"$new" ||
		fail "table '$table': expected kernel message '$msg', got:"$'\n'"$new"
	dmsetup info cbt-bad >/dev/null 2>&1 && fail "failed load left device cbt-bad behind"
	info "ok: '$table' -> $msg"
}

D=$disk S=$sectors
expect_bad "0 $S cbt" "cbt: Not enough arguments: need <dev_path> <block_size>"
expect_bad "0 $S cbt $D" "cbt: Not enough arguments: need <dev_path> <block_size>"
expect_bad "0 $S cbt $D abc" "cbt: Invalid block size: not a decimal number"
expect_bad "0 $S cbt $D 4096k" "cbt: Invalid block size: not a decimal number"
expect_bad "0 $S cbt $D -4096" "cbt: Invalid block size: not a decimal number"
expect_bad "0 $S cbt $D +4096" "cbt: Invalid block size: not a decimal number"
expect_bad "0 $S cbt $D 04096" "cbt: Invalid block size: not a decimal number"
expect_bad "0 $S cbt $D 99999999999" "cbt: Invalid block size: not a decimal number"
expect_bad "0 $S cbt $D 4095" "cbt: Invalid block size: not a power of two"
expect_bad "0 $S cbt $D 0" "cbt: Invalid block size: must be 512 to 1048576 bytes"
expect_bad "0 $S cbt $D 3000" "cbt: Invalid block size: not a power of two"
expect_bad "0 $S cbt $D 256" "cbt: Invalid block size: must be 512 to 1048576 bytes"
expect_bad "0 $S cbt $D 2097152" "cbt: Invalid block size: must be 512 to 1048576 bytes"
expect_bad "0 $S cbt $D 1000000" "cbt: Invalid block size: not a power of two"
expect_bad "0 $S cbt /dev/cbt-no-such-device 4096" "cbt: Error opening device"
expect_bad "0 $((S + 8)) cbt $D 4096" "cbt: Device is smaller than the target"
expect_bad "0 $S cbt $D 4096 1" "cbt: Invalid number of optional arguments"
expect_bad "0 $S cbt $D 4096 x" "cbt: Invalid number of optional arguments"
expect_bad "0 $S cbt $D 4096 12 a b c d e f g h i j k l" "cbt: Invalid number of optional arguments"
expect_bad "0 $S cbt $D 4096 1 no_such_option" "cbt: Unknown optional argument"
expect_bad "0 $S cbt $D 4096 0 extra" "cbt: Too many arguments after the optional arguments"
expect_bad "0 $S cbt $D 4096 6 ring_size 1 memory_cap 1 no_discard_passdown x" "cbt: Unknown optional argument"
expect_bad "0 $S cbt $D 4096 1 ring_size" "cbt: Invalid ring_size: need a number of records from 0 to 16777216"
expect_bad "0 $S cbt $D 4096 2 ring_size x" "cbt: Invalid ring_size: need a number of records from 0 to 16777216"
expect_bad "0 $S cbt $D 4096 2 ring_size 016" "cbt: Invalid ring_size: need a number of records from 0 to 16777216"
expect_bad "0 $S cbt $D 4096 2 ring_size 16777217" "cbt: Invalid ring_size: need a number of records from 0 to 16777216"
expect_bad "0 $S cbt $D 4096 2 memory_cap -1" "cbt: Invalid memory_cap: need a number of MiB from 0 to 1073741824"
expect_bad "0 $S cbt $D 4096 1 memory_cap" "cbt: Invalid memory_cap: need a number of MiB from 0 to 1073741824"
expect_bad "0 $S cbt $D 4096 4 ring_size 8 ring_size 8" "cbt: Optional argument given twice"
expect_bad "0 $S cbt $D 4096 2 no_discard_passdown no_discard_passdown" "cbt: Optional argument given twice"
expect_bad "0 $S cbt $D 4096 2 no_discard_passdown 1" "cbt: Unknown optional argument"
expect_bad "0 $S cbt $D 4096 2 ring_size 8 extra" "cbt: Too many arguments after the optional arguments"
expect_bad "0 8 linear $D 0
8 $((S - 8)) cbt $D 4096" "singleton target type must appear alone in table"
expect_bad "0 $S cbt $D 4096 1 metadata" "cbt: Invalid metadata: need a device"
expect_bad "0 $S cbt $D 4096 4 metadata $M metadata $M" "cbt: Optional argument given twice"
expect_bad "0 $S cbt $D 4096 2 region_size 1048576" "cbt: Invalid region_size: only with metadata <dev>"
expect_bad "0 $S cbt $D 4096 4 metadata $M region_size 1000" "cbt: Invalid region_size: need a power of two of bytes, at most 2^40"
expect_bad "0 $S cbt $D 4096 4 metadata $M region_size 01024" "cbt: Invalid region_size: need a power of two of bytes, at most 2^40"
expect_bad "0 $S cbt $D 4096 4 metadata $M region_size 2199023255552" "cbt: Invalid region_size: need a power of two of bytes, at most 2^40"
expect_bad "0 $S cbt $D 4096 3 metadata $M region_size" "cbt: Invalid region_size: need a power of two of bytes, at most 2^40"
expect_bad "0 $S cbt $D 4096 4 metadata $M region_size 2048" "cbt: Invalid region_size: smaller than the block size"
expect_bad "0 $S cbt $D 4096 2 metadata /dev/cbt-no-such-device" "cbt: Error opening metadata device"
expect_bad "0 $S cbt $D 4096 2 metadata $D" "cbt: Metadata device is the data device"
expect_bad "0 $S cbt $D 4096 1 data_of" "cbt: Invalid data_of: need a device"
expect_bad "0 $S cbt $D 4096 2 data_of /dev/cbt-no-such-device" "cbt: Invalid data_of: not a block device or major:minor"
expect_bad "0 $S cbt $D 4096 2 data_of 1:x" "cbt: Invalid data_of: not a block device or major:minor"
expect_bad "0 $S cbt $D 4096 4 data_of $M data_of $M" "cbt: Optional argument given twice"
expect_bad "0 $S cbt $D 4096 4 metadata $M data_of $M" "cbt: Metadata device is the data device"
must dmsetup create cbt-tiny --table "0 8 linear $M 0"
at_exit "dmsetup remove --retry cbt-tiny"
expect_bad "0 $S cbt $D 4096 2 metadata /dev/mapper/cbt-tiny" "cbt: Metadata device too small for the write-intent log"
must dmsetup create cbt-zero --table "0 4194304 error"	# never read
at_exit "dmsetup remove --retry cbt-zero"
expect_bad "0 4194304 cbt /dev/mapper/cbt-zero 512 4 metadata $M region_size 512" \
	"cbt: Invalid region_size: more than 1048576 regions for this length"
must dmsetup remove cbt-tiny

# Good tables: dmsetup table prints the arguments back as given.
expect_good() {
	local table=$1 got
	dmsetup create cbt-good --table "$table" ||
		fail "good table refused: '$table'"
	got=$(dmsetup table cbt-good)
	dmsetup remove cbt-good || fail "cannot remove cbt-good"
	[ "$got" = "$table" ] || fail "table '$table' reads back as '$got'"
	info "ok: '$table' round-trips"
}

for bs in 512 4096 65536 1048576; do
	expect_good "0 $S cbt $devno $bs"
done
expect_good "0 $S cbt $devno 4096 0"
expect_good "0 $((S - 24)) cbt $devno 8192"
expect_good "0 $S cbt $devno 4096 2 ring_size 0"
expect_good "0 $S cbt $devno 4096 2 ring_size 65536"
expect_good "0 $S cbt $devno 4096 2 memory_cap 0"
expect_good "0 $S cbt $devno 4096 1 no_discard_passdown"
expect_good "0 $S cbt $devno 4096 5 ring_size 1024 memory_cap 64 no_discard_passdown"
expect_good "0 $S cbt $devno 4096 2 metadata $mdevno"
# A log of another region size is refused; a zeroed device starts anew.
expect_bad "0 $S cbt $D 4096 4 metadata $M region_size 1048576" \
	"cbt: Metadata device: log of another block/region size (zero 4 KiB)"
dd if=/dev/zero of="$M" bs=4096 count=1 oflag=direct status=none
expect_good "0 $S cbt $devno 4096 4 metadata $mdevno region_size 1048576"
dd if=/dev/zero of="$M" bs=4096 count=1 oflag=direct status=none
expect_good "0 $S cbt $devno 4096 9 ring_size 1024 memory_cap 64 no_discard_passdown metadata $mdevno region_size 65536"
expect_good "0 $S cbt $devno 4096 2 data_of $mdevno"
dd if=/dev/zero of="$M" bs=4096 count=1 oflag=direct status=none
expect_good "0 $S cbt $devno 4096 11 ring_size 1024 memory_cap 64 no_discard_passdown metadata $mdevno region_size 65536 data_of 7:99"

# Options in another order read back in the canonical order.
dmsetup create cbt-good --table "0 $S cbt $D 4096 5 no_discard_passdown memory_cap 2 ring_size 4" ||
	fail "options in another order refused"
got=$(dmsetup table cbt-good)
dmsetup remove cbt-good
[ "$got" = "0 $S cbt $devno 4096 5 ring_size 4 memory_cap 2 no_discard_passdown" ] ||
	fail "options do not read back in canonical order: '$got'"

# A path is printed back as the device number, like every dm target does.
dmsetup create cbt-good --table "0 $S cbt $D 4096" || fail "good table with a path refused"
got=$(dmsetup table cbt-good)
dmsetup remove cbt-good
[ "$got" = "0 $S cbt $devno 4096" ] || fail "path table reads back as '$got'"

# Failed and removed tables leave no module reference behind.
[ "$(module_refs)" = "$refs_before" ] ||
	fail "dm_cbt has $(module_refs) references, $refs_before before the test"
exit 0
