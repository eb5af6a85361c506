# shellcheck shell=bash
# Shared by the host tests of scripts/vm-run (selftests/harness/vm-run*.sh):
# TAP-style checks, skipping, and the preconditions every guest boot has.
# Source it after setting SKIP_PREFIX (e.g. "vm-run virtiofs").

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VMRUN=$ROOT/scripts/vm-run

n=0
failed=0
check() { # DESCRIPTION CONDITION...
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		failed=$((failed + 1))
	fi
}
skip() {
	echo "SKIP: ${SKIP_PREFIX:-vm-run}: $*"
	exit 77
}

# Prints the summary line; the test's exit status is its status.
finish() {
	echo "$((n - failed)) passed, $failed failed"
	((failed == 0))
}

# Skips unless guests can boot here (what every vm-run test needs).
require_guest_boots() {
	[ "${CBT_NO_VM:-0}" = 1 ] && skip "guest boots not wanted (selftests/run --no-vm)"
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (scripts/install-deps)"
	((EUID == 0)) || skip "needs root (the guest kernel in /boot is readable by root only)"
	compgen -G '/boot/vmlinuz-*-amd64' >/dev/null || skip "no Debian kernel in /boot (scripts/install-deps)"
}
