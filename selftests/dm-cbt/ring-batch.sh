#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# GET_RING returns many records per message (one binary array each) and
# every record exactly once, in order, across message boundaries.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

work=$(mktemp -d /tmp/ringb.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 16)
cbt_create rb "$disk" 4096 2 ring_size 4096
dev=/dev/mapper/rb
n=3000

# One 4 KiB write bio per block, blocks 0..n-1 in order.
dd if=/dev/zero of="$dev" bs=4096 count=$n oflag=direct status=none || fail "write failed"
CBT_PROBE_MSGS=1 "$PROBE" ring "$dev" >"$work/ring" 2>"$work/err" ||
	fail "ring dump failed: $(cat "$work/err")"
awk -v n=$n '
	{ i = NR - 1
	  if ($1 != NR || $2 != "write" || $3 != i * 8 || $4 != 8 || $5 != 0 || $6 != 0) {
		print "record " NR ": " $0; exit 1 } }
	END { if (NR != n) { print NR " records, want " n; exit 1 } }' "$work/ring" ||
	fail "ring records are not the $n writes in order"
msgs=$(sed -n 's/^messages=//p' "$work/err")
[ -n "$msgs" ] && [ "$msgs" -ge 2 ] && [ "$msgs" -le $((n / 50)) ] ||
	fail "$n records came in '$msgs' messages; want several records per message"
info "$n records in $msgs messages"

# From the middle, across a message boundary.
[ "$("$PROBE" ring "$dev" 2990 | head -n 1)" = "2990 write $((2989 * 8)) 8 0 0" ] ||
	fail "ring from 2990 starts elsewhere"
[ "$("$PROBE" ring "$dev" 2990 | wc -l)" = 11 ] || fail "ring from 2990 is not 11 records"
exit 0
