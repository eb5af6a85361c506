#!/bin/bash
# Host-side test of the crash-and-boot-again pattern (scripts/vm-run
# --expect-crash, docs/VM-TESTING.md): a guest writes and syncs data on a
# --disk, starts more writes, crashes through sysrq mid-workload; a second
# boot with the same disk file finds the synced data intact.
#  boot 1: the crash is reported as expected (exit 0);
#  boot 2: reads the disk back; it ends without crashing, so --expect-crash
#          makes it exit 4 (the negative control of boot 1's verdict).
# Exit 0: pass, 1: fail, 77: skip (with the reason).

set -u
SKIP_PREFIX="vm-run crash"
# shellcheck source=selftests/harness/vm-lib.bash
. "$(dirname "${BASH_SOURCE[0]}")/vm-lib.bash"

require_guest_boots

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vm-run-crash.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/share"
head -c 2097152 /dev/urandom >"$tmp/share/synced"
synced_sum=$(sha256sum <"$tmp/share/synced" | cut -d' ' -f1)
disk=$tmp/disk.img
truncate -s 16M "$disk"

# Boot 1: 2 MiB synced at offset 0, then a writer keeps overwriting 8-16 MiB
# (unsynced) while the guest crashes.
cat >"$tmp/share/crash.sh" <<'EOF'
set -u
dd if="$SHARE/synced" of=/dev/vda bs=1M conv=fsync status=none || exit 10
( while :; do dd if=/dev/urandom of=/dev/vda bs=1M seek=8 count=8 status=none; done ) &
sleep 1
# The share (uncached 9p) has the marker on the host before the crash; the
# serial output may still be in flight when the guest dies.
echo "crashing" | tee "$SHARE/reached"
echo c >/proc/sysrq-trigger
sleep 60
echo "still alive" | tee "$SHARE/alive"
EOF
"$VMRUN" --expect-crash --no-module --timeout 600 --disk "$disk" --share "$tmp/share" \
	--env "SHARE=$tmp/share" -- bash "$tmp/share/crash.sh" >"$tmp/out1" 2>"$tmp/err1"
rc=$?
echo "# boot 1: vm-run exit $rc; output:"
sed 's/^/#   /' "$tmp/out1" "$tmp/err1"
check "boot 1: the sysrq crash is the expected end (exit 0)" test $rc = 0
check "boot 1: COMMAND got as far as the crash" grep -qx "crashing" "$tmp/share/reached"
check "boot 1: ... and no further" test -z "$(grep -x 'still alive' "$tmp/out1" "$tmp/share/alive" 2>/dev/null)"
check "boot 1: vm-run says it crashed as expected" grep -q "crashed through sysrq as expected" "$tmp/err1"

# Boot 2: the same disk file, as after a power cut.
cat >"$tmp/share/check.sh" <<'EOF'
echo "synced=$(head -c 2097152 /dev/vda | sha256sum | cut -d' ' -f1)"
EOF
"$VMRUN" --expect-crash --no-module --timeout 600 --disk "$disk" --share "$tmp/share" \
	-- bash "$tmp/share/check.sh" >"$tmp/out2" 2>"$tmp/err2"
rc=$?
echo "# boot 2: vm-run exit $rc; output:"
sed 's/^/#   /' "$tmp/out2" "$tmp/err2"
check "boot 2: data synced before the crash is on the disk in the next boot" \
	grep -qx "synced=$synced_sum" "$tmp/out2"
check "boot 2: --expect-crash without a crash exits 4" test $rc = 4
check "boot 2: ... and says so" grep -q "without crashing the guest" "$tmp/err2"
log2=$(sed -n 's/.*without crashing the guest; log: \(.*\), kernel log: .*$/\1/p' "$tmp/err2")
[[ -n $log2 ]] && rm -f "$log2" "${log2%.log}.dmesg"

finish
