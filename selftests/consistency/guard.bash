# SPDX-License-Identifier: GPL-2.0
# The freeze guard on the real stack (docs/CONSISTENCY.md "The freeze
# bound"), run inside fs.sh's ext4 pass (its guest boot, its mounted file
# system, stack and store): cbtship replicate --fsfreeze is held inside the
# freeze, after FIFREEZE and before the dm-cbt device's suspend
# (selftests/common/fsfreeze.bash), and killed with SIGKILL: a write to the
# file system that hung (the control) completes, the guard exits.  fs.sh's
# next cycle then repairs what the kill left (NAME-cbtso waiting with
# snapshot-origin in its inactive slot), must leave the stack as between
# cycles and take an app-consistent point, checked with the others.

. "$(dirname "${BASH_SOURCE[0]}")/../common/fsfreeze.bash"

# guard_kill_check FS NAME COW: fs.sh's store $work/FS.store, stack NAME,
# mounted at $work/mnt.
guard_kill_check() {
	local fs=$1 name=$2 cow=$3

	mkdir -p "$work/guard"
	at_exit "fsfreeze -u '$work/mnt' 2>/dev/null"	# before the umount, whatever happened
	(
		cd "$work/guard" || fail "cd $work/guard"
		fsfreeze_setup
		fsfreeze_kill_check "$work/mnt" "$CBTSHIP" -v replicate --store "$work/$fs.store" \
			--key "$work/key" --state-dir "$work/$fs.state" \
			--cow "$cow" --fsfreeze "$work/mnt" --hook "$work/guard/fill" --once \
			"/dev/mapper/$name"
	) || exit 1
	info "$fs: cbtship killed inside the freeze: the guard thawed it"
}
