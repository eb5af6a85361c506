#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A file system on a replica at any point is clean.  ext4 (frozen by the
# --fsfreeze hook: app-consistent points), then xfs (frozen by the suspend's
# lockfs: crash-consistent points), on a dm-cbt device (which a snapshot-
# origin is slid under for each cycle), mounted, under a file workload
# (files created, rewritten with
# fsync, renamed, removed) while cycles with a snapshot per cycle are taken.
# At every point of the replica a copy passes e2fsck -fn (ext4, before any
# journal replay), mounts, lists its files and unmounts, and then (xfs, whose
# mount replays its log) passes xfs_repair -n.  Negative control: a copy
# with its first metadata blocks zeroed fails the same check.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cons-lib.bash"
. "$(dirname "$0")/guard.bash"	# the freeze guard's check (thaw)
requires_vm
requires_root
requires_cmd dmsetup mkfs.ext4 e2fsck mkfs.xfs xfs_repair mount
cons_modules
modprobe ext4 || fail "modprobe ext4 failed"
modprobe xfs || fail "modprobe xfs failed"
modprobe loop 2>/dev/null

CYCLES=${CONS_CYCLES:-2}
work=$(mktemp -d /tmp/consfs.XXXXXX)
at_exit "rm -rf '$work'"
mkdir -p "$work/mnt" "$work/tfmnt"
at_exit "umount '$work/tfmnt' 2>/dev/null; umount '$work/mnt' 2>/dev/null"
must "$CBTSHIP" keygen "$work/key"

# workload DIR STOPFILE: rewrite, rename and remove files, each write
# fsync'ed, until STOPFILE exists.
workload() {
	local d=$1 i=0
	mkdir -p "$d/w"
	while [ ! -e "$2" ]; do
		i=$((i + 1))
		dd if=/dev/urandom of="$d/w/f$((i % 23))" bs=4k count=$((1 + i % 40)) \
			conv=fsync status=none 2>/dev/null || return
		if [ $((i % 5)) = 0 ]; then
			mv -f "$d/w/f$((i % 23))" "$d/w/r$((i % 7))" 2>/dev/null
			mkdir -p "$d/w/dir$((i % 11))"
			rm -f "$d/w/r$(((i + 3) % 7))"
		fi
	done
}

# fsck_ok FS IMAGE: the file system checker's no-modify run passes.
fsck_ok() {
	case $1 in
	ext4) e2fsck -fn "$2" >"$work/fsck.out" 2>&1 ;;
	xfs) xfs_repair -n -f "$2" >"$work/fsck.out" 2>&1 ;;
	esac
}

# one_fs FS DISK COW [fsfreeze]: with "fsfreeze", the file system is frozen by
# the --fsfreeze hook (FIFREEZE; the suspend then skips its own lockfs) and
# the points must be app-consistent; else the suspend freezes it (crash).
one_fs() {
	local fs=$1 disk=$2 cow=$3 hook=${4:-} name=fs$1 i wl p kind n=0 want=crash
	[ -n "$hook" ] && want=app
	cons_stack "$name" "$disk"
	case $fs in
	ext4) must mkfs.ext4 -q -F "/dev/mapper/$name" ;;
	# Under 300 MiB only with the fstests override.
	xfs) TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 must mkfs.xfs -q -f "/dev/mapper/$name" ;;
	esac
	must mount "/dev/mapper/$name" "$work/mnt"
	rm -f "$work/stop"
	workload "$work/mnt" "$work/stop" &
	wl=$!
	for i in $(seq 0 "$CYCLES"); do
		# The freeze guard (thaw); this cycle then repairs what the kill left.
		[ -n "$hook" ] && [ "$i" = "$CYCLES" ] && guard_kill_check "$fs" "$name" "$cow"
		must "$CBTSHIP" replicate --store "$work/$fs.store" --key "$work/key" \
			--state-dir "$work/$fs.state" --cow "$cow" \
			${hook:+--fsfreeze "$work/mnt"} --once "/dev/mapper/$name"
		between_cycles "$name" "$disk"
		sleep 1
	done
	# Stopped between two commands, so nothing of it holds the mount.
	touch "$work/stop"
	wait "$wl" 2>/dev/null
	must umount "$work/mnt"
	must "$CBTSHIP" apply --store "$work/$fs.store" --key "$work/key" --volume "$name" \
		--replica "$work/$fs.img"
	while read -r p kind; do
		n=$((n + 1))
		[ "$kind" = "$want" ] || fail "$fs point $p is labelled $kind, not $want"
		must "$CBTSHIP" test-failover --replica "$work/$fs.img" --point "$p" \
			--output "$work/tf.img"
		# ext4: checked as it is, before anything replays its journal.
		if [ "$fs" = ext4 ] && ! fsck_ok "$fs" "$work/tf.img"; then
			fail "$fs point $p: the file system check failed: $(grep -v '^  *- \|^Phase' "$work/fsck.out" | head -n 30)"
		fi
		must mount -o loop "$work/tf.img" "$work/tfmnt"
		ls -R "$work/tfmnt" >/dev/null || fail "$fs point $p: cannot list the files"
		info "$fs point $p: clean, $(find "$work/tfmnt/w" -type f | wc -l) files"
		must umount "$work/tfmnt"
		# xfs: a frozen xfs still has a (covered) log that xfs_repair -n
		# will not read; the mount above replayed it, nothing more.
		if [ "$fs" = xfs ] && ! fsck_ok "$fs" "$work/tf.img"; then
			fail "$fs point $p: the file system check failed: $(grep -v '^  *- \|^Phase' "$work/fsck.out" | head -n 30)"
		fi
		if [ "$n" = 1 ]; then
			# Control: damaged metadata is caught by the same check.
			dd if=/dev/zero of="$work/tf.img" bs=512 seek=1 count=15 conv=notrunc \
				status=none
			[ "$fs" = ext4 ] && dd if=/dev/zero of="$work/tf.img" bs=4096 seek=1 \
				count=2 conv=notrunc status=none
			! fsck_ok "$fs" "$work/tf.img" ||
				fail "$fs control: a copy with zeroed metadata passed the check"
		fi
		must "$CBTSHIP" test-failover --replica "$work/$fs.img" --cleanup \
			--output "$work/tf.img"
	done < <(point_list "$work/$fs.img")
	[ "$n" -ge $((CYCLES + 1)) ] || fail "$fs: expected $((CYCLES + 1)) points, found $n"
}

d1=$(make_ramdisk 64)
c1=$(make_ramdisk 64)
d2=$(make_ramdisk 64)
c2=$(make_ramdisk 64)
for fs in ${CONS_FS:-ext4 xfs}; do
	case $fs in
	ext4) one_fs ext4 "$d1" "$c1" fsfreeze ;;
	xfs) one_fs xfs "$d2" "$c2" ;;
	esac
done
