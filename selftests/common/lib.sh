#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for cbtship selftests.  A test is a bash script that sources
# this file; it exits 0 to pass, 77 to skip (with a reason) and anything else
# to fail.  VM tests run inside the guest started by scripts/vm-run, as root,
# with the repository as the current directory.

set -o pipefail

CBT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CBTSHIP=${CBTSHIP:-$CBT_ROOT/shipper/cbtship}
export DM_DISABLE_UDEV=1
TEST_NAME=$(basename "$0" .sh)

# --- results ------------------------------------------------------------

skip() {
	echo "SKIP: $TEST_NAME: $*"
	exit 77
}

fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

info() {
	echo "# $*"
}

# Run a command; fail the test with its output if it does not succeed.
must() {
	local out
	if ! out=$("$@" 2>&1); then
		fail "command failed: $*"$'\n'"$out"
	fi
	[ -z "$out" ] || printf '%s\n' "$out"
}

# --- cleanup: a stack of commands run in reverse order at exit ------------
#
# Kept in a file so that helpers called in command substitutions (which run
# in subshells; $$ is still the test's pid there) can register cleanups too.

_AT_EXIT_FILE=${TMPDIR:-/tmp}/cbt-selftest-at-exit.$$
: >"$_AT_EXIT_FILE"

at_exit() {
	printf '%s\n' "$*" >>"$_AT_EXIT_FILE"
}

_run_at_exit() {
	local status=$? cmds i
	trap - EXIT
	if [ -f "$_AT_EXIT_FILE" ]; then
		mapfile -t cmds <"$_AT_EXIT_FILE"
		for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do
			eval "${cmds[i]}" >/dev/null 2>&1 || true
		done
		rm -f "$_AT_EXIT_FILE"
	fi
	exit "$status"
}
trap _run_at_exit EXIT

# --- requirements -------------------------------------------------------

requires_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

requires_vm() {
	[ "${CBT_IN_VM:-0}" = 1 ] || skip "runs inside the test guest (scripts/vm-run)"
}

requires_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "needs $c (scripts/install-deps installs it)"
	done
}

# --- kernel log marks -----------------------------------------------------

kmsg_mark() {
	[ -w /dev/kmsg ] && echo "cbtship-selftest: $TEST_NAME: $*" >/dev/kmsg
	return 0
}

# --- devices --------------------------------------------------------------

load_dm_cbt() {
	modprobe dm-mod 2>/dev/null || true
	modprobe dm-cbt || fail "modprobe dm-cbt failed (is kmod/dm-cbt.ko built for $(uname -r)?)"
}

# make_ramdisk MB: print the path of a new RAM disk of MB MiB (at most 4 per
# test, all of the size asked for first: brd makes its disks at load time).
make_ramdisk() {
	local mb=$1 n
	if [ ! -f "$_AT_EXIT_FILE.ram" ]; then
		modprobe -r brd 2>/dev/null
		modprobe brd rd_nr=4 rd_size=$((mb * 1024)) max_part=0 ||
			fail "modprobe brd failed"
		at_exit "modprobe -r brd"
		at_exit "rm -f '$_AT_EXIT_FILE.ram'"
		echo 0 >"$_AT_EXIT_FILE.ram"
	fi
	n=$(cat "$_AT_EXIT_FILE.ram")
	[ "$n" -lt 4 ] || fail "make_ramdisk: at most 4 RAM disks per test"
	# A brd left loaded by someone else keeps its own size: never test on that.
	[ "$(blockdev --getsize64 "/dev/ram$n")" = $((mb * 1048576)) ] ||
		fail "/dev/ram$n is not $mb MiB: brd was already loaded and busy (a leftover device?)"
	echo $((n + 1)) >"$_AT_EXIT_FILE.ram"
	echo "/dev/ram$n"
}

# make_loop MB: print the path of a new loop device over a sparse tmpfs file.
make_loop() {
	local mb=$1 dir file dev
	modprobe loop 2>/dev/null || true
	dir=${CBT_SCRATCH:-/tmp}
	file=$(mktemp "$dir/cbt-loop.XXXXXX") || fail "mktemp failed"
	truncate -s "${mb}M" "$file" || fail "truncate failed"
	dev=$(losetup --find --show "$file") || fail "losetup failed for $file"
	at_exit "rm -f '$file'"
	at_exit "losetup -d '$dev'"
	echo "$dev"
}

# cbt_create NAME DEVICE BLOCK_SIZE [OPTS...]: a dm-cbt device over all of DEVICE.
cbt_create() {
	local name=$1 dev=$2 bs=$3 sectors
	shift 3
	sectors=$(blockdev --getsz "$dev") || fail "blockdev --getsz $dev failed"
	dmsetup create "$name" --table "0 $sectors cbt $dev $bs${*:+ $*}" ||
		fail "dmsetup create $name (cbt over $dev, block size $bs) failed"
	at_exit "dmsetup remove --retry '$name'"
	[ -b "/dev/mapper/$name" ] || fail "/dev/mapper/$name was not created"
}

# write_random_blocks DEVICE BLOCK_SIZE BLOCK...: random data at each block, O_DIRECT.
write_random_blocks() {
	local dev=$1 bs=$2 b
	shift 2
	for b in "$@"; do
		head -c "$bs" /dev/urandom |
			dd of="$dev" bs="$bs" seek="$b" oflag=direct conv=notrunc status=none ||
			fail "write of block $b to $dev failed"
	done
}

# cycle_blocks OUTPUT: the block count of cbtship's "cycle N (...): B blocks" line.
cycle_blocks() {
	sed -n 's/^cycle [0-9]* ([a-z ]*): \([0-9]*\) blocks.*/\1/p' <<<"$1"
}

sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}
