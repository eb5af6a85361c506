#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-cbt passes data through unchanged: writes of several shapes (direct
# and buffered, sector-sized to 1 MiB, fio random writes with verification,
# discards, write zeroes) read back identically through the dm device and
# from the raw device underneath.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd fio blkdiscard
load_dm_cbt

work=$(mktemp -d /tmp/pass.XXXXXX)
at_exit "rm -rf '$work'"
loop=$(make_loop 48)
cbt_create pass "$loop" 4096
dev=/dev/mapper/pass

head -c 8M /dev/urandom >"$work/data" || fail "cannot make test data"

# 8 MiB at 1 MiB, direct, in 1 MiB bios.
dd if="$work/data" of="$dev" bs=1M seek=1 oflag=direct status=none || fail "dd 1M failed"
# 1 MiB at 12 MiB + 512, direct, sector-sized bios (unaligned to blocks).
dd if="$work/data" of="$dev" bs=512 seek=$((12 * 2048 + 1)) count=2048 oflag=direct \
	status=none || fail "dd 512 failed"
# 4 MiB buffered at 24 MiB, flushed by fsync.
dd if="$work/data" of="$dev" bs=64k seek=$((24 * 16)) count=64 conv=fsync \
	status=none || fail "buffered dd failed"
# fio random writes of mixed sizes with verification, 8 MiB at 32 MiB.
fio --name=pass --filename="$dev" --offset=32M --size=8M --rw=randwrite \
	--bsrange=512-128k --direct=1 --ioengine=libaio --iodepth=8 \
	--verify=crc32c --verify_fatal=1 --do_verify=1 >"$work/fio.log" 2>&1 ||
	fail "fio verify failed: $(tail -5 "$work/fio.log")"
# Discard and write zeroes over parts of the data written above.
blkdiscard -o $((2 * 1024 * 1024)) -l $((1024 * 1024)) "$dev" || fail "blkdiscard failed"
blkdiscard -z -o $((5 * 1024 * 1024 + 4096)) -l 8192 "$dev" || fail "blkdiscard -z failed"

# Through the dm device and from the raw device: identical, no cache.
dd if="$dev" of="$work/via-dm" bs=1M iflag=direct status=none || fail "read via dm failed"
dd if="$loop" of="$work/raw" bs=1M iflag=direct status=none || fail "read raw failed"
[ "$(sha256_of "$work/via-dm")" = "$(sha256_of "$work/raw")" ] ||
	fail "dm device and raw device differ"

# And the content is what was written.
range_sha() {	# FILE OFFSET LENGTH (bytes)
	tail -c +$(($2 + 1)) "$1" | head -c "$3" | sha256sum | cut -d' ' -f1
}
zeros_sha=$(head -c 1M /dev/zero | sha256sum | cut -d' ' -f1)
M=$((1024 * 1024))
[ "$(range_sha "$work/raw" $M $M)" = "$(range_sha "$work/data" 0 $M)" ] ||
	fail "first MiB of the 1 MiB-bio write differs"
[ "$(range_sha "$work/raw" $((2 * M)) $M)" = "$zeros_sha" ] ||
	fail "discarded range does not read as zeros"
[ "$(range_sha "$work/raw" $((3 * M)) $((2 * M)))" = "$(range_sha "$work/data" $((2 * M)) $((2 * M)))" ] ||
	fail "data after the discarded range differs"
[ "$(range_sha "$work/raw" $((5 * M + 4096)) 8192)" = \
	"$(head -c 8192 /dev/zero | sha256sum | cut -d' ' -f1)" ] ||
	fail "write-zeroes range does not read as zeros"
[ "$(range_sha "$work/raw" $((12 * M + 512)) $M)" = "$(range_sha "$work/data" 0 $M)" ] ||
	fail "sector-bio write differs"
[ "$(range_sha "$work/raw" $((24 * M)) $((4 * M)))" = "$(range_sha "$work/data" 0 $((4 * M)))" ] ||
	fail "buffered write differs"
exit 0
