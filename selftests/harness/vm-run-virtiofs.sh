#!/bin/bash
# Host-side test of scripts/vm-run's virtiofs transport (what kernels without
# 9p, like Debian's cloud flavour, get), forced with --fs virtiofs on the
# generic kernel so it runs wherever vm-run.sh does. Two boots:
#  1. the host root is read-only even to a guest that remounts it rw (and
#     the same write into a --share does land: the negative control), the
#     run share, --share, --disk and the exit status work, and every
#     virtiofsd is gone afterwards;
#  2. vm-run killed with SIGTERM mid-run leaves no qemu, no virtiofsd and no
#     temporary directory behind.
# Exit 0: pass, 1: fail, 77: skip (with the reason).

set -u
SKIP_PREFIX="vm-run virtiofs"
# shellcheck source=selftests/harness/vm-lib.bash
. "$(dirname "${BASH_SOURCE[0]}")/vm-lib.bash"
VIRTIOFSD=${CBT_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}

require_guest_boots
[[ -x $VIRTIOFSD ]] || skip "$VIRTIOFSD missing (scripts/install-deps)"
kver=$(printf '%s\n' /boot/vmlinuz-*-amd64 | sed 's|^/boot/vmlinuz-||' |
	grep -Ev -- '-(cloud|rt)-amd64$' | sort -V | tail -n 1)
[[ -n $kver && -e /boot/vmlinuz-$kver ]] || skip "no generic Debian kernel in /boot (scripts/install-deps)"

# vm-run's temporary files (run directory, virtiofsd sockets) go under $tmp,
# so what is left behind can be found by path.
tmp=$(mktemp -d /var/tmp/vm-run-virtiofs-test.XXXXXX) || exit 1
probe=/var/tmp/vm-run-virtiofs-probe.$$.$RANDOM
trap 'rm -rf "$tmp" "$probe"' EXIT
mkdir -p "$tmp/t" "$tmp/share"

# processes_under DIR: PIDs of processes whose command line mentions DIR
# (qemu, timeout and virtiofsd name their sockets and logs there).
processes_under() {
	pgrep -f -- "$1/"
}

# --- boot 1 -----------------------------------------------------------------
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
head -c 1048576 /dev/urandom >"$tmp/disk.img"
disk_sum=$(sha256sum <"$tmp/disk.img" | cut -d' ' -f1)
truncate -s 2M "$tmp/disk.img"

cat >"$tmp/share/guest.sh" <<'EOF'
set -u
echo "fs=$(sed -n 's/.*cbtvm\.fs=\([a-z0-9]*\).*/\1/p' /proc/cmdline)"
echo "rootfs=$(findmnt -n -o FSTYPE /run/cbtvm)"
# The guest's own mount of the host root, made writable on the guest side:
# only the host can still refuse the write.
mkdir /tmp/hr && mount -t virtiofs hostroot /tmp/hr && mount -o remount,rw /tmp/hr || exit 10
echo "$TOKEN" >"/tmp/hr$PROBE" 2>/dev/null && echo "root-write=accepted" || echo "root-write=refused"
# The same write through the guest's mount of a --share must work.
echo "$TOKEN" >"/tmp/hr$SHARE/via-root" 2>/dev/null && echo "share-via-root=accepted"
umount /tmp/hr
echo "$TOKEN" >"$SHARE/from-guest"
echo "disk=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
printf '%s' "$TOKEN" | dd of=/dev/vda bs=4096 seek=256 conv=fsync status=none || exit 11
exit 5
EOF

# The --share dir reaches the guest twice here: as its own share, and inside
# the read-only root. The write "via the root" goes to the read-only export,
# so it must be refused too; it is the guest's view that is writable.
TMPDIR=$tmp/t "$VMRUN" --fs virtiofs --kernel "$kver" --no-module --timeout 600 \
	--env "TOKEN=$token" --env "PROBE=$probe" --env "SHARE=$tmp/share" \
	--share "$tmp/share" --disk "$tmp/disk.img" --log "$tmp/boot1.log" \
	-- bash "$tmp/share/guest.sh" >"$tmp/out1" 2>"$tmp/err1"
rc=$?
echo "# boot 1: vm-run exit $rc; output:"
sed 's/^/#   /' "$tmp/out1" "$tmp/err1"
check "exit status of COMMAND propagates (exit 5)" test $rc = 5
check "the guest was told to use virtiofs" grep -qx "fs=virtiofs" "$tmp/out1"
check "the run share is a virtiofs mount" grep -qx "rootfs=virtiofs" "$tmp/out1"
check "vm-run names the transport" grep -qF "$kver (virtiofs)" "$tmp/err1"
check "a write into the host root is refused by the host" grep -qx "root-write=refused" "$tmp/out1"
check "... and the host file does not exist" test ! -e "$probe"
check "... nor does a write into a share through the read-only root" test ! -e "$tmp/share/via-root"
check "negative control: the same write through the --share lands on the host" \
	test "$(cat "$tmp/share/from-guest" 2>/dev/null)" = "$token"
check "--disk is /dev/vda with the host file's data" grep -qx "disk=$disk_sum" "$tmp/out1"
check "a write to /dev/vda reaches the host file" \
	test "$(dd if="$tmp/disk.img" bs=4096 skip=256 count=1 status=none | head -c ${#token})" = "$token"
left=$(processes_under "$tmp/t")
check "no virtiofsd or qemu left after the run" test -z "$left"
check "the run directory was removed" test -z "$(ls -A "$tmp/t")"

# --- boot 2: SIGTERM mid-run -----------------------------------------------
rm -f "$tmp/share/started"
TMPDIR=$tmp/t "$VMRUN" --fs virtiofs --kernel "$kver" --no-module --timeout 600 \
	--share "$tmp/share" -- sh -c "touch '$tmp/share/started'; sleep 600" \
	>"$tmp/out2" 2>"$tmp/err2" &
vmrun=$!
for _ in $(seq 600); do
	[[ -e $tmp/share/started ]] && break
	kill -0 "$vmrun" 2>/dev/null || break
	sleep 0.5
done
check "the guest started (marker file in the share)" test -e "$tmp/share/started"
running=$(processes_under "$tmp/t" | wc -l)
echo "# boot 2: $running processes under $tmp/t while the guest runs"
check "... with qemu and three virtiofsd running (at least 4 processes)" test "$running" -ge 4
kill -TERM "$vmrun"
wait "$vmrun"
rc=$?
echo "# boot 2: vm-run exit $rc after SIGTERM"
sed 's/^/#   /' "$tmp/err2" | head -n 5
check "vm-run exits 143 on SIGTERM" test $rc = 143
# qemu may take a moment to go after its signal.
for _ in $(seq 100); do
	[[ -z $(processes_under "$tmp/t") ]] && break
	sleep 0.2
done
left=$(processes_under "$tmp/t")
[[ -n $left ]] && ps -o pid,args -p "${left//$'\n'/,}" | sed 's/^/#   /'
check "no virtiofsd or qemu left after SIGTERM" test -z "$left"
check "the run directory was removed" test -z "$(find "$tmp/t" -mindepth 1 -name 'vm-run.*' -type d)"
# Leftover temporary logs of the killed run are fine; remove them with $tmp.

finish
