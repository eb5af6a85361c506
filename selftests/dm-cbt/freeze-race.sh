#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Freezes and commits in a loop while writers run at queue depth 16.
# Every block is written exactly once (random order), so it must appear in
# exactly one cycle: the cycles together are the whole written range, with
# no block missing or repeated.  When FREEZE returns, the data of every
# frozen block must already be on the device (written blocks are non-zero
# on a zeroed device).

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
requires_cmd fio python3
load_dm_cbt

work=$(mktemp -d /tmp/race.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 32)
cbt_create race "$disk" 4096
dev=/dev/mapper/race
# 16 MiB written, in 4 KiB blocks, over ~14 s: a cycle (freeze, dump, a
# python check, commit) takes 1-3 s under emulation, so several overlap it.
nblocks=4096

# check_on_disk CYCLE_FILE: every frozen block reads back non-zero from the
# raw device (O_DIRECT, bypassing any cache).
check_on_disk() {
	python3 - "$disk" "$1" <<'EOF' || fail "frozen block not on the device yet"
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
zero = bytes(4096)
for line in open(sys.argv[2]):
    start, count = map(int, line.split())
    for b in range(start, start + count):
        os.preadv(fd, [buf], b * 4096)
        if buf[:] == zero:
            print("block %d is in a frozen cycle but reads as zeros" % b)
            sys.exit(1)
EOF
}

fio --name=race --filename="$dev" --rw=randwrite --bs=4k --size=$((nblocks * 4))k \
	--direct=1 --ioengine=libaio --iodepth=16 --rate_iops=300 \
	--randrepeat=0 --norandommap=0 --refill_buffers \
	>"$work/fio.log" 2>&1 &
fio_pid=$!
at_exit "kill $fio_pid"

cycles=0
: >"$work/all"
while kill -0 "$fio_pid" 2>/dev/null; do
	cycle=$(probe freeze "$dev") || fail "freeze failed"
	probe changes "$dev" "$cycle" >"$work/c$cycle" || fail "changes failed"
	check_on_disk "$work/c$cycle"
	if [ $((cycles % 3)) = 2 ]; then
		# Abort now and then: those blocks must come back next cycle.
		must probe abort "$dev" "$cycle"
	else
		must probe commit "$dev" "$cycle"
		expand <"$work/c$cycle" >>"$work/all"
	fi
	cycles=$((cycles + 1))
	sleep 0.2
done
wait "$fio_pid" || fail "fio failed: $(tail -5 "$work/fio.log")"

cycle=$(probe freeze "$dev") || fail "final freeze failed"
probe changes "$dev" "$cycle" >"$work/c$cycle" || fail "changes failed"
check_on_disk "$work/c$cycle"
expand <"$work/c$cycle" >>"$work/all"
must probe commit "$dev" "$cycle"
info "$cycles cycles during the writes"
[ "$cycles" -ge 3 ] || fail "only $cycles cycles ran during the writes; the test did not race"

dups=$(sort -n "$work/all" | uniq -d | head -5)
[ -z "$dups" ] || fail "blocks in more than one committed cycle: $dups"
sort -n "$work/all" >"$work/sorted"
seq 0 $((nblocks - 1)) >"$work/want"
diff -q "$work/want" "$work/sorted" >/dev/null ||
	fail "committed cycles miss or add blocks: $(diff "$work/want" "$work/sorted" | head -10)"
exit 0
