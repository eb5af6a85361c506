#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# An app-consistent freeze (--fsfreeze) never leaves a file system frozen:
# a real ext4 on a loop device, frozen by cbtship replicate (the fake kernel
# source), with cbtship held inside the freeze: its pre hook fills
# cbtship's stderr pipe, so cbtship blocks writing its next log line, the
# one after FIFREEZE (-v).  Then:
#   1. cbtship is killed with SIGKILL: a write to the file system that hung
#      (control: FIFREEZE alone holds writes) completes: the guard thawed it;
#   2. cbtship stays blocked: the guard thaws at --fsfreeze-timeout, the
#      write completes while cbtship still waits, and cbtship, let go, warns
#      that the point is only crash-consistent;
#   3. cbtship and its guard are both killed: the file system stays frozen
#      (the write hangs: the control) until the next replicate starts and
#      thaws it from the record in the state directory.
# Every write made while frozen is read back.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../common/fsfreeze.bash"
requires_root
requires_cmd mkfs.ext4 losetup fsfreeze perl cmp

work=$(mktemp -d "${TMPDIR:-/tmp}/cbt-fsfreeze.XXXXXX")
at_exit "rm -rf '$work'"
cd "$work" || fail "cd $work"
mkdir mnt
dev=$(make_loop 64)
mkfs.ext4 -q -F "$dev" >/dev/null 2>&1 || skip "cannot make ext4 on a loop device here"
mount "$dev" mnt 2>/dev/null || skip "cannot mount a loop device here"
at_exit "umount '$work/mnt'"
at_exit "wait"				# writers that hung finish after the thaw
at_exit "fsfreeze -u '$work/mnt'"	# whatever happened: never leave it frozen

must "$CBTSHIP" keygen key >/dev/null
head -c $((4 << 20)) /dev/urandom >src
fsfreeze_setup
REPL=("$CBTSHIP" -v replicate --store store --key key --volume v --fake-state fs
      --state-dir sd --once)
must "${REPL[@]}" src >/dev/null	# the initial copy, no hooks

# start_held OPTS...: replicate with --fsfreeze, held inside the freeze.
start_held() {
	echo "dirty $((RANDOM % 1024)) 4" >>fs
	start_frozen "${REPL[@]}" --hook "$work/fill" --fsfreeze "$work/mnt" "$@" src
}

info "1. cbtship killed inside the freeze"
echo "dirty $((RANDOM % 1024)) 4" >>fs
fsfreeze_kill_check "$work/mnt" "${REPL[@]}" --hook "$work/fill" --fsfreeze "$work/mnt" src
info "   the guard thawed it and exited"

info "2. cbtship held inside the freeze longer than --fsfreeze-timeout 2"
: >err.log
start_held --fsfreeze-timeout 2
start_write mnt bound
expect_done "the guard did not thaw at the maximum freeze time" mnt bound
in_pipe_write "$pid" || fail "cbtship was let go before the guard's thaw (the check proves nothing)"
drain
wait "$pid" || fail "cbtship failed after the guard's thaw: $(cat err.log)"
grep -q "stayed frozen for 2 s, the maximum.*crash-consistent only" err.log ||
	fail "no warning that the point is only crash-consistent: $(cat err.log)"
undrain
info "   thawed by the guard at the maximum time; cbtship warned"

info "3. cbtship and its guard both killed"
: >err.log
start_held
guard=$(pgrep -P "$pid")
[ -n "$guard" ] || fail "no guard process under cbtship $pid"
kill -9 "$guard" "$pid"
wait "$pid" 2>/dev/null
start_write mnt both
expect_held "control, freezer and guard killed"
ls sd/fsfreeze/freeze-* >/dev/null 2>&1 || fail "no freeze record left in sd/fsfreeze"
drain
"${REPL[@]}" src >out 2>>err.log || fail "the next replicate failed: $(cat err.log)"
expect_done "the next start did not thaw the file system" mnt both
grep -q "thawed the file system at $work/mnt: cbtship (pid $pid) froze it and was killed" err.log ||
	fail "the next start did not say what it thawed: $(cat err.log)"
! ls sd/fsfreeze/freeze-* >/dev/null 2>&1 || fail "the freeze record was not removed"
info "   the next start thawed it from the record"
exec 3>&-
