# SPDX-License-Identifier: GPL-2.0
# Helpers of the consistency group: a dm-cbt volume with a snapshot-origin
# stacked on it (what users write to) and a COW device for the per-cycle
# snapshot, and a check of every recovery point of a replica.

CONS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# cons_stack NAME DISK: dm-cbt NAME over DISK (4 KiB blocks), snapshot-origin
# NAME-origin over it.  Users (and the tests' writers) write to
# /dev/mapper/NAME-origin.
cons_stack() {
	local name=$1 disk=$2 sectors
	cbt_create "$name" "$disk" 4096
	sectors=$(blockdev --getsz "/dev/mapper/$name") || fail "blockdev --getsz failed"
	dmsetup create "$name-origin" --table "0 $sectors snapshot-origin /dev/mapper/$name" ||
		fail "dmsetup create $name-origin (snapshot-origin) failed"
	# Registered after cbt_create's removal, so it runs first.
	at_exit "dmsetup remove --retry '$name-origin'"
	at_exit "dmsetup remove '$name-cbtsnap' 2>/dev/null"
}

cons_modules() {
	load_dm_cbt
	modprobe dm-snapshot || fail "modprobe dm-snapshot failed"
}

# point_list REPLICA: the replica's points, one "POINT KIND" a line.
point_list() {
	"$CBTSHIP" points --replica "$1" --json | grep -o '"point":[0-9]*,[^}]*"kind":"[a-z]*"' |
		sed 's/"point":\([0-9]*\),.*"kind":"\([a-z]*\)"/\1 \2/'
}
