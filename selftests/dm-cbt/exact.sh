#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-cbt records exactly the blocks written, discarded or zeroed: single
# sectors, ranges crossing block boundaries, large bios, discards, write
# zeroes, the last (partial) block, whole bitmap regions and runs across
# them.  A frozen cycle dumps exactly that set (also across multi-part
# dumps), COMMIT drops it, ABORT merges it back into the live set, and
# the cycle protocol's errors say what went wrong.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
requires_cmd blkdiscard fio
load_dm_cbt

work=$(mktemp -d /tmp/exact.XXXXXX)
at_exit "rm -rf '$work'"

# wr SECTOR NR_SECTORS: O_DIRECT write through the dm device.
wr() {
	dd if=/dev/urandom of="$dev" bs=512 seek="$1" count="$2" oflag=direct \
		status=none || fail "write of $2 sectors at $1 failed"
}

# check_cycle EXPECTED_FILE: freeze, compare the dump, return the cycle id.
check_cycle() {
	local want=$1 cycle n st
	n=$(sort -n -u "$want" | wc -l)
	st=$(probe get "$dev") || fail "get failed"
	grep -qx "dirty=$n" <<<"$st" || fail "live set is not $n blocks:"$'\n'"$st"
	cycle=$(probe freeze "$dev") || fail "freeze failed"
	st=$(probe get "$dev") || fail "get failed"
	[ "$(grep -E '^(dirty|frozen_blocks|frozen|cycle)=' <<<"$st" | tr '\n' ' ')" = \
		"dirty=0 frozen_blocks=$n cycle=$cycle frozen=1 " ] ||
		fail "after FREEZE, expected $n frozen blocks and an empty live set:"$'\n'"$st"
	probe changes "$dev" "$cycle" >"$work/got" || fail "changes failed"
	coalesce <"$want" >"$work/want-ext"
	diff -u "$work/want-ext" "$work/got" >"$work/diff" ||
		fail "cycle $cycle extents differ (want/got):"$'\n'"$(head -40 "$work/diff")"
	echo "$cycle"
}

# ---- 4 KiB blocks over a loop device (discard and write zeroes work) ----
loop=$(make_loop 64)
cbt_create exact "$loop" 4096
dev=/dev/mapper/exact
nr=$(vol_field "$dev" nr_blocks)
[ "$nr" = 16384 ] || fail "nr_blocks is $nr, expected 16384"
[ "$(vol_field "$dev" block_size)" = 4096 ] || fail "block size wrong"

: >"$work/want"
wr 0 1;				echo 0 >>"$work/want"
wr $((8 * 5 + 7)) 1;		echo 5 >>"$work/want"
wr $((8 * 10 + 6)) 4;		printf '10\n11\n' >>"$work/want"
wr $((8 * 20 + 3)) 6;		printf '20\n21\n' >>"$work/want"
wr $((8 * 1000)) 8;		echo 1000 >>"$work/want"
wr $((8 * 16383 + 7)) 1;	echo 16383 >>"$work/want"
dd if=/dev/urandom of="$dev" bs=1M seek=1 count=2 oflag=direct status=none ||
	fail "large write failed"
seq 256 767 >>"$work/want"
blkdiscard -o $((2000 * 4096)) -l $((10 * 4096)) "$dev" || fail "blkdiscard failed"
seq 2000 2009 >>"$work/want"
blkdiscard -z -o $((3000 * 4096)) -l $((3 * 4096 + 512)) "$dev" ||
	fail "blkdiscard -z failed"
seq 3000 3003 >>"$work/want"
# Reads and empty flushes change nothing.
dd if="$dev" of=/dev/null bs=1M count=4 iflag=direct status=none
sync "$dev" 2>/dev/null || blockdev --flushbufs "$dev"
[ "$(vol_field "$dev" state)" = 0 ] || fail "state is not TRACKING"
info "$(dmsetup status exact)"

cycle=$(check_cycle "$work/want")
info "cycle $cycle: $(wc -l <"$work/got") extents as expected"

# Protocol errors, each with its message; nothing changes.
expect_fail "Device or resource busy.*already frozen" probe freeze "$dev"
expect_fail "Stale file handle.*does not name the frozen cycle" \
	probe commit "$dev" $((cycle + 1))
expect_fail "Stale file handle.*does not name the frozen cycle" \
	probe abort "$dev" $((cycle - 1))
expect_fail "Stale file handle.*does not name the frozen cycle" \
	probe changes "$dev" $((cycle + 7))
expect_fail "Invalid argument.*CBT_A_CYCLE is required" probe commit "$dev"
expect_fail "No such device.*no active dm-cbt volume" probe get "$loop"
expect_fail "No such device.*no active dm-cbt volume" probe freeze 1:250
[ "$(vol_field "$dev" frozen_blocks)" = "$(sort -n -u "$work/want" | wc -l)" ] ||
	fail "a rejected command changed the frozen set"

must probe commit "$dev" "$cycle"
[ "$(vol_field "$dev" frozen)" = 0 ] || fail "still frozen after COMMIT"
[ "$(vol_field "$dev" frozen_blocks)" = 0 ] || fail "frozen blocks left after COMMIT"
[ "$(vol_field "$dev" cycle)" = "$cycle" ] || fail "cycle id changed by COMMIT"
expect_fail "No such file or directory.*no cycle is frozen" probe commit "$dev" "$cycle"
expect_fail "No such file or directory.*no cycle is frozen" probe changes "$dev"

# ABORT: the frozen set goes back into the live set, merged with new writes.
wr $((8 * 40)) 16;		printf '40\n41\n' >"$work/a"
wr $((8 * 9000 + 4)) 8;		printf '9000\n9001\n' >>"$work/a"
c2=$(probe freeze "$dev") || fail "freeze failed"
[ "$c2" = $((cycle + 1)) ] || fail "cycle ids do not increase by one"
wr $((8 * 41)) 16;		printf '41\n42\n' >"$work/b"
wr $((8 * 12000)) 1;		echo 12000 >>"$work/b"
must probe abort "$dev" "$c2"
[ "$(vol_field "$dev" frozen)" = 0 ] || fail "still frozen after ABORT"
cat "$work/a" "$work/b" >"$work/want"
c3=$(check_cycle "$work/want")
must probe commit "$dev" "$c3"

# MARK_DIRTY adds exactly its extents; bad extents are refused whole.
must probe mark "$dev" 50 3 16380 4
expect_fail "Numerical result out of range.*past the end" probe mark "$dev" 16380 5
expect_fail "Numerical result out of range.*past the end" probe mark "$dev" 7 0
expect_fail "Numerical result out of range.*past the end" probe mark "$dev" 1 1 16384 1
expect_fail "Invalid argument.*one or more struct cbt_extent" probe mark "$dev" 12
expect_fail "Invalid argument.*CBT_A_EXTENTS is required" probe mark "$dev"
printf '50\n51\n52\n16380\n16381\n16382\n16383\n' >"$work/want"
c4=$(check_cycle "$work/want")
must probe commit "$dev" "$c4"

# Multi-part dump: 2048 separate extents (every other block).
fio --name=stripes --filename="$dev" --rw=write:4k --bs=4k --size=16M \
	--direct=1 --ioengine=psync --randrepeat=0 >"$work/fio.log" 2>&1 ||
	fail "fio failed: $(tail -5 "$work/fio.log")"
seq 0 2 4095 >"$work/want"
c5=$(check_cycle "$work/want")
[ "$(wc -l <"$work/got")" = 2048 ] || fail "expected 2048 extents"
must probe commit "$dev" "$c5"
dmsetup remove exact || fail "cannot remove exact"

# ---- 512-byte blocks: 32 bitmap regions of 4096 blocks each ----
loop2=$(make_loop 64)
cbt_create exact512 "$loop2" 512
dev=/dev/mapper/exact512
[ "$(vol_field "$dev" nr_blocks)" = 131072 ] || fail "nr_blocks wrong for 512"
: >"$work/want"
# A whole region (stored without a leaf), a run across two regions, the
# last block, and a block inside an already-full region.
dd if=/dev/urandom of="$dev" bs=1M seek=16 count=16 oflag=direct status=none ||
	fail "region write failed"
seq 32768 65535 >>"$work/want"
wr 98300 10;		seq 98300 98309 >>"$work/want"
wr 131071 1;		echo 131071 >>"$work/want"
wr 40000 1;		echo 40000 >>"$work/want"
wr 65535 2;		printf '65535\n65536\n' >>"$work/want"
c=$(check_cycle "$work/want")
must probe commit "$dev" "$c"

# ABORT with full regions and leaves on both sides.
wr 0 3;		seq 0 2 >"$work/want"
dd if=/dev/urandom of="$dev" bs=1M seek=48 count=16 oflag=direct status=none
seq 98304 131071 >>"$work/want"
c=$(probe freeze "$dev") || fail "freeze failed"
wr 2 4;		seq 2 5 >>"$work/want"
wr 98310 1
dd if=/dev/urandom of="$dev" bs=1M seek=16 count=1 oflag=direct status=none
seq 32768 34815 >>"$work/want"
must probe abort "$dev" "$c"
c=$(check_cycle "$work/want")
must probe commit "$dev" "$c"
exit 0
