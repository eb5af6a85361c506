#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Write-intent log on a metadata device (table option "metadata DEV
# region_size N"), fast checks on RAM disks; the crash itself is tested by
# selftests/harness/dm-cbt-wil-crash.sh.
# - the table reads back exactly; a new (zeroed) log: resync_required = 1;
# - the first write into a region costs one log write, later writes into
#   marked regions none (counted in /sys/block/dm-N/stat of a linear
#   device holding the log); the log's bits are those regions; data passes
#   through unchanged;
# - a COMMIT clears the regions lazily; a write after that marks again;
# - a remove with a change unshipped leaves its region in the log and it
#   is reported when created again; a clean remove (nothing unshipped)
#   writes the log clean; created again: no changes, not resync_required,
#   the same volume id; a reload keeps the marks of unshipped changes;
# - a log as left by an unclean shutdown (a copy taken while dirty,
#   written back): the regions it names are reported as changes, exactly,
#   and resync_required = 0;
# - a log of another geometry is refused with its reason; a zeroed one
#   starts a new log.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

data=$(make_ramdisk 8)
mraw=$(make_ramdisk 8)
S=$(blockdev --getsz "$data")
must dmsetup create wil-meta --table "0 $(blockdev --getsz "$mraw") linear $mraw 0"
at_exit "dmsetup remove --retry wil-meta"
meta=/dev/mapper/wil-meta
mdm=dm-$(dmsetup info -c --noheadings -o minor wil-meta | tr -d " ")
datano=$(lsblk -dno MAJ:MIN "$data" | tr -d ' ')
metano=$(dmsetup info -c --noheadings -o major,minor --separator : wil-meta | tr -d ' ')
work=$(mktemp -d)
at_exit "rm -rf '$work'"
dev=/dev/mapper/wil
TABLE="0 $S cbt $data 4096 4 metadata $meta region_size 1048576"
BPR=256		# blocks per region

# Writes seen by the device holding the log, and the log's own sequence.
meta_writes() { awk '{ print $5 }' "/sys/block/$mdm/stat"; }
sb_seq() { dd if="$meta" bs=4096 count=1 iflag=direct status=none | od -An -tu8 -j32 -N8 | tr -d ' '; }
# The log as on the device (not through the page cache).
sb_u32() { dd if="$meta" bs=4096 count=1 iflag=direct status=none | od -An -tu4 -j"$1" -N4 | tr -d ' '; }
sb_magic() { dd if="$meta" bs=4096 count=1 iflag=direct status=none | head -c 4; }
log_bits() { dd if="$meta" bs=4096 skip=1 count=1 iflag=direct status=none | od -An -tx1 -N1 | tr -d ' '; }
create() {
	dmsetup create wil --table "$TABLE" || fail "dmsetup create wil failed: $(dmesg | tail -n 3)"
	at_exit "dmsetup remove --retry wil"
}
wblocks() {	# wblocks BLOCK COUNT: write COUNT blocks of random data
	dd if=/dev/urandom of="$dev" bs=4096 seek="$1" count="$2" oflag=direct status=none ||
		fail "write of block $1 failed"
}

# A new log.
create
[ "$(dmsetup table wil)" = "0 $S cbt $datano 4096 4 metadata $metano region_size 1048576" ] ||
	fail "table reads back as '$(dmsetup table wil)'"
[ "$(vol_field "$dev" resync_required)" = 1 ] || fail "a new log must leave resync_required set"
[ "$(sb_magic)" = CBTW ] || fail "no log superblock on the metadata device"
[ "$(sb_u32 8)" = 1 ] || fail "a new log without marks must be clean, flags $(sb_u32 8)"
[ "$(log_bits)" = 00 ] || fail "a new log has bits $(log_bits)"
id=$(vol_field "$dev" id)

# Marked once per region.
w0=$(meta_writes) s0=$(sb_seq)
head -c $((4 * 4096)) /dev/urandom >"$work/pat"
dd if="$work/pat" of="$dev" bs=4096 seek=$((3 * BPR + 7)) oflag=direct status=none ||
	fail "pattern write failed"
for b in 0 1 2 $((BPR - 1)) 0 1; do wblocks "$b" 1; done
for b in 1 2 3; do wblocks $((3 * BPR + b)) 1; done
# One 8 KiB write across regions 5 and 6.
dd if=/dev/urandom of="$dev" bs=8192 count=1 seek=$(((6 * BPR - 1) * 4096)) \
	oflag=direct,seek_bytes status=none || fail "write across regions failed"
w1=$(meta_writes) s1=$(sb_seq)
info "11 writes into regions 0, 3, 5+6: $((s1 - s0)) log writes, $((w1 - w0)) writes on $mdm"
[ $((s1 - s0)) = 3 ] || fail "expected 3 log writes (one per first write into a region), got $((s1 - s0))"
# dm counts the empty flush before each log write as a write too.
[ $((w1 - w0)) -ge 3 ] && [ $((w1 - w0)) -le 6 ] ||
	fail "the device holding the log saw $((w1 - w0)) writes, expected 3 to 6"
[ "$(log_bits)" = 69 ] || fail "log bits $(log_bits), expected 69 (regions 0 3 5 6)"
[ "$(sb_u32 8)" = 0 ] || fail "a log with marks must be dirty, flags $(sb_u32 8)"
[ "$(dd if="$dev" bs=4096 skip=$((3 * BPR + 7)) count=4 iflag=direct status=none | sha256sum)" = \
  "$(sha256sum <"$work/pat")" ] || fail "data written through the log reads back different"
[ "$(vol_field "$dev" dirty)" = 13 ] || fail "dirty blocks $(vol_field "$dev" dirty), expected 13"

# The log as an unclean shutdown would leave it.
dd if="$meta" of="$work/dirty.img" bs=4096 count=2 iflag=direct status=none || fail "cannot copy the log"

# Lazy clear after a commit; then marked again.
cycle=$(probe freeze "$dev") || fail "freeze failed"
must probe commit "$dev" "$cycle"
for _ in $(seq 300); do
	[ "$(log_bits)" = 00 ] && break
	sleep 0.1
done
[ "$(log_bits)" = 00 ] || fail "regions not cleared after the commit: bits $(log_bits)"
s2=$(sb_seq)
wblocks $((3 * BPR)) 1
[ $(($(sb_seq) - s2)) = 1 ] || fail "a write into a cleared region was not marked again"
[ "$(log_bits)" = 08 ] || fail "log bits $(log_bits) after marking region 3 again"

# A reload shares the volume: the new table's log marks its change again.
must dmsetup reload wil --table "$TABLE"
must dmsetup resume wil
[ "$(sb_u32 8)" = 0 ] || fail "after a reload with a change unshipped, the log is clean"
[ "$(log_bits)" = 08 ] || fail "after a reload, log bits $(log_bits), expected 08"
[ "$(vol_field "$dev" dirty)" = 1 ] || fail "after a reload, $(vol_field "$dev" dirty) dirty blocks"
s3=$(sb_seq)
wblocks $((3 * BPR + 1)) 1
[ "$(sb_seq)" = "$s3" ] || fail "a write into a region marked by the reload wrote the log"

# Removed with a change unshipped (block 768): the log keeps its region.
must dmsetup remove wil
[ "$(sb_u32 8)" = 0 ] || fail "removed with a change unshipped, the log is clean"
[ "$(log_bits)" = 08 ] || fail "removed with a change unshipped, log bits $(log_bits)"
create
[ "$(vol_field "$dev" resync_required)" = 0 ] || fail "kept change: resync_required is set"
[ "$(vol_field "$dev" id)" = "$id" ] || fail "volume id $(vol_field "$dev" id) differs from $id"
cycle=$(probe freeze "$dev") || fail "freeze failed"
[ "$(probe changes "$dev" "$cycle")" = "$((3 * BPR)) $BPR" ] ||
	fail "kept change: reported $(probe changes "$dev" "$cycle")"
must probe commit "$dev" "$cycle"

# Clean remove (nothing unshipped), create again: nothing reported, no resync.
must dmsetup remove wil
[ "$(sb_u32 8)" = 1 ] || fail "remove did not write the log clean, flags $(sb_u32 8)"
kmsg=$(dmesg | wc -l)
create
[ "$(vol_field "$dev" resync_required)" = 0 ] || fail "clean log: resync_required is set"
[ "$(vol_field "$dev" dirty)" = 0 ] || fail "clean log: $(vol_field "$dev" dirty) blocks reported"
[ "$(vol_field "$dev" id)" = "$id" ] || fail "volume id $(vol_field "$dev" id) differs from $id"
dmesg | tail -n +$((kmsg + 1)) | grep -q "clean write-intent log" || fail "no log line for the clean log"

# Unclean: the copy taken while dirty names regions 0, 3, 5 and 6.
must dmsetup remove wil
dd if="$work/dirty.img" of="$meta" bs=4096 oflag=direct status=none || fail "cannot write the log back"
kmsg=$(dmesg | wc -l)
create
[ "$(vol_field "$dev" resync_required)" = 0 ] || fail "dirty log: resync_required is set"
cycle=$(probe freeze "$dev") || fail "freeze failed"
got=$(probe changes "$dev" "$cycle")
want="0 $BPR
$((3 * BPR)) $BPR
$((5 * BPR)) $((2 * BPR))"
[ "$got" = "$want" ] || fail "dirty log reported"$'\n'"$got"$'\n'"expected"$'\n'"$want"
dmesg | tail -n +$((kmsg + 1)) | grep -q "wil: unclean shutdown: 4 log regions of 1048576 bytes reported as changed" ||
	fail "no log line for the dirty log: $(dmesg | tail -n 3)"
must probe commit "$dev" "$cycle"
must dmsetup remove wil

# Another geometry is refused; a zeroed device starts a new log.
kmsg=$(dmesg | wc -l)
dmsetup create wil --table "0 $S cbt $data 512 4 metadata $meta region_size 1048576" 2>/dev/null &&
	fail "a log of another block size was accepted"
dmesg | tail -n +$((kmsg + 1)) | grep -q "log of another block/region size" ||
	fail "refusal without its reason: $(dmesg | tail -n 3)"
dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
create
[ "$(vol_field "$dev" resync_required)" = 1 ] || fail "a zeroed log must leave resync_required set"
[ "$(vol_field "$dev" id)" != "$id" ] || fail "a zeroed log kept the old volume id"
exit 0
