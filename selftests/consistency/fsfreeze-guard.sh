#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The freeze guard on the real stack: ext4 on the linear origin over a
# dm-cbt volume, replicated with --origin/--cow and --fsfreeze.  cbtship is
# held inside the freeze (selftests/common/fsfreeze.bash: a full stderr
# pipe), after FIFREEZE and before the origin's suspend.
#   1. A write to the file system hangs (the control: FIFREEZE holds it);
#      cbtship is killed with SIGKILL; the write completes (the guard
#      thawed) and reads back.  The next run repairs the stack and takes an
#      app-consistent point; the stack is as between cycles.
#   2. Held past --fsfreeze-timeout: the write completes while cbtship is
#      still held; let go, cbtship finishes the cycle, labelled
#      crash-consistent (not app), with a warning that says why.
# The host test selftests/shipper/fsfreeze-guard.sh also covers a freezer
# and guard killed together (the next start thaws from the record).

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cons-lib.bash"
. "$(dirname "$0")/../common/fsfreeze.bash"
requires_vm
requires_root
requires_cmd dmsetup mkfs.ext4 fsfreeze python3 cmp
cons_modules
modprobe ext4 || fail "modprobe ext4 failed"

work=$(mktemp -d /tmp/consguard.XXXXXX)
at_exit "rm -rf '$work'"
cd "$work" || fail "cd $work"
mkdir mnt
disk=$(make_ramdisk 16)
cow=$(make_ramdisk 16)
cons_stack fg "$disk"
must mkfs.ext4 -q -F /dev/mapper/fg-origin
must mount /dev/mapper/fg-origin mnt
at_exit "umount '$work/mnt'"
at_exit "wait"				# writers that hung finish after the thaw
at_exit "fsfreeze -u '$work/mnt'"	# whatever happened: never leave it frozen
must "$CBTSHIP" keygen key >/dev/null
fsfreeze_setup
REPL=("$CBTSHIP" -v replicate --store store --key key --state-dir sd --origin fg-origin
      --cow "$cow" --once --fsfreeze "$work/mnt")

# one_cycle KIND: a cycle that is not held; its point is KIND-consistent.
one_cycle() {
	"${REPL[@]}" /dev/mapper/fg >out 2>cycle.log || fail "replicate failed: $(cat cycle.log)"
	grep -q "^  $1-consistent point" out || fail "the point is not $1-consistent: $(cat out)"
	between_cycles fg
}

one_cycle app

info "1. cbtship killed inside the freeze"
start_frozen "${REPL[@]}" --hook "$work/fill" /dev/mapper/fg
start_write mnt 1
expect_held "control, frozen by cbtship"
kill -9 "$pid"
wait "$pid" 2>/dev/null
expect_done "the file system stayed frozen after cbtship was killed" mnt 1
drain
one_cycle app
grep -q "guard: thawed the file system at $work/mnt: cbtship ended" err.log ||
	fail "the guard did not say why it thawed: $(cat err.log)"
undrain
info "   the guard thawed it; the next run took an app-consistent point"

info "2. held past --fsfreeze-timeout 2"
: >err.log
start_frozen "${REPL[@]}" --hook "$work/fill" --fsfreeze-timeout 2 /dev/mapper/fg
start_write mnt 2
expect_done "the guard did not thaw at the maximum freeze time" mnt 2
in_pipe_write "$pid" || fail "cbtship was let go before the guard's thaw (the check proves nothing)"
drain
wait "$pid" || fail "cbtship failed after the guard's thaw: $(cat err.log)"
grep -q "^  crash-consistent point" out || fail "the point is not labelled crash-consistent: $(cat out)"
grep -q "stayed frozen for 2 s, the maximum.*crash-consistent only" err.log ||
	fail "no warning that the point is only crash-consistent: $(cat err.log)"
undrain
between_cycles fg
info "   thawed by the guard; the point is crash-consistent"
exec 3>&-
