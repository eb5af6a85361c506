# SPDX-License-Identifier: GPL-2.0
# Helpers of the freeze guard tests (selftests/shipper/fsfreeze-guard.sh on
# the host, selftests/consistency/fsfreeze-guard.sh in the guest): hold
# cbtship inside an --fsfreeze freeze, and watch writes to the frozen file
# system.  Call fsfreeze_setup in the test's work directory first.
#
# How cbtship is held: its pre hook ($work/fill) fills cbtship's stderr, a
# FIFO nobody reads, to the brim; cbtship -v then blocks writing its next
# log line, the one after FIFREEZE, until the test drains the FIFO.

# fsfreeze_setup: the hook, the FIFO (./err, open read-write on fd 3 so a
# writer can always open it) and the data a write puts (./payload).
fsfreeze_setup() {
	cat >fill <<'EOF'
#!/bin/bash
[ "$1" = pre ] || exit 0
exec perl -e '
use Fcntl;
my $fl = fcntl(STDOUT, F_GETFL, 0) or die "F_GETFL: $!";
fcntl(STDOUT, F_SETFL, $fl | O_NONBLOCK) or die "F_SETFL: $!";
for my $size (4096, 1) { while (defined(syswrite(STDOUT, "x" x $size))) {} }
fcntl(STDOUT, F_SETFL, $fl) or die "F_SETFL: $!";
'
EOF
	chmod +x fill || fail "cannot write the hook"
	mkfifo err || fail "mkfifo failed"
	exec 3<>err
	head -c 65536 /dev/urandom >payload
}

# wait_for SECONDS CMD...: until CMD succeeds, at most SECONDS.
wait_for() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" && return 0
		sleep 0.1
	done
	return 1
}

# in_pipe_write PID: a thread of PID is blocked writing to a pipe.
in_pipe_write() {
	grep -qs pipe_write /proc/"$1"/task/*/wchan
}

# start_frozen CMD...: run CMD (cbtship -v replicate ... --hook "$PWD/fill"
# --fsfreeze MNT ...) in the background, stdout in ./out, until it is held
# inside the freeze; its pid in $pid.
start_frozen() {
	"$@" >out 2>err &
	pid=$!
	at_exit "kill -9 $pid"
	wait_for 120 in_pipe_write "$pid" ||
		fail "cbtship did not block inside the freeze: $(cat out)"
}

# start_write MNT N: copy payload to MNT/probe.N in the background ($writer).
start_write() {
	cp payload "$1/probe.$2" &
	writer=$!
}

# expect_held WHAT: the write is held (for 1 s; the file system frozen, it stays held).
expect_held() {
	sleep 1
	kill -0 "$writer" 2>/dev/null || fail "$1: a write went through: the file system was not frozen"
}

writer_gone() {
	! kill -0 "$writer" 2>/dev/null
}

# expect_done WHAT MNT N: the write completes within 30 s and reads back.
expect_done() {
	wait_for 30 writer_gone || fail "$1"
	wait "$writer" || fail "$1: the write failed"
	cmp -s payload "$2/probe.$3" || fail "$1: $2/probe.$3 differs from what was written"
}

# drain: read the FIFO (what cbtship and its guard wrote) into ./err.log in
# the background until undrain.
drain() {
	cat err >>err.log &
	drainer=$!
	at_exit "kill $drainer"
}

undrain() {
	kill "$drainer"
	wait "$drainer" 2>/dev/null
	return 0
}

# fsfreeze_kill_check MNT CMD...: start CMD (cbtship -v replicate ... --hook
# "$PWD/fill" --fsfreeze MNT ...) held inside the freeze; a write to MNT
# hangs (the control: FIFREEZE holds writes); the guard runs in its own
# session; cbtship is killed with SIGKILL; the write completes and reads
# back, and the guard says why it thawed and exits.
fsfreeze_kill_check() {
	local mnt=$1 guard
	shift
	start_frozen "$@"
	start_write "$mnt" killed
	expect_held "control, frozen by cbtship"
	guard=$(pgrep -P "$pid")
	[ -n "$guard" ] || fail "no guard process under cbtship $pid"
	[ "$(ps -o sid= -p "$guard" | tr -d ' ')" = "$guard" ] ||
		fail "the guard is not in its own session"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	expect_done "the file system stayed frozen after cbtship was killed" "$mnt" killed
	drain
	wait_for 30 eval "! kill -0 $guard 2>/dev/null" || fail "the guard did not exit"
	grep -q "guard: thawed the file system at $mnt: cbtship ended" err.log ||
		fail "the guard did not say why it thawed: $(cat err.log)"
	undrain
}
