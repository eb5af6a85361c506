#!/bin/bash
# Host-side test of scripts/vm-run: boots the guest four times (one full
# run, one that leaves a kernel WARNING, one that panics, one that times
# out) and checks the working directory, environment, exit status, output,
# dm-linear on brd, modprobe dm-cbt (when built), --share, --disk, the
# kernel-log checks, --timeout, --no-pvh, --root-cache none and
# --print-kernel.
# Exit 0: pass, 1: fail, 77: skip (with the reason).

set -u
SKIP_PREFIX="vm-run"
# shellcheck source=selftests/harness/vm-lib.bash
. "$(dirname "${BASH_SOURCE[0]}")/vm-lib.bash"

require_guest_boots

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vm-run-selftest.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# --- no boot: usage errors ------------------------------------------------
"$VMRUN" --help >"$tmp/help" 2>&1
check "--help exits 0 and prints usage" test $? = 0 -a -n "$(grep -m1 '^Usage: ' "$tmp/help")"
"$VMRUN" --bogus -- true >/dev/null 2>&1
check "unknown option exits 2" test $? = 2
"$VMRUN" --mem lots -- true >/dev/null 2>&1
check "bad --mem exits 2" test $? = 2
"$VMRUN" >/dev/null 2>&1
check "missing COMMAND exits 2" test $? = 2
"$VMRUN" --root-cache sometimes -- true >/dev/null 2>&1
check "bad --root-cache exits 2" test $? = 2

# --- boot 1: cwd, env, exit status, dm-linear, --share, --disk, ignore -----
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
share=$tmp/share
mkdir -p "$share"
disk=$tmp/disk.img
# 4 MiB: first MiB a known pattern, the rest zeros; the guest checks the
# pattern and writes the token at 2 MiB.
head -c 1048576 /dev/urandom >"$tmp/pattern"
cp "$tmp/pattern" "$disk"
truncate -s 4M "$disk"
pattern_sum=$(sha256sum <"$tmp/pattern" | cut -d' ' -f1)

cat >"$share/guest.sh" <<'EOF'
set -u
echo "cwd=$PWD"
echo "env CBT_IN_VM=${CBT_IN_VM:-} DM_DISABLE_UDEV=${DM_DISABLE_UDEV:-} HOME=$HOME TERM=$TERM TOKEN=${TOKEN:-}"
echo "uid=$(id -u)"
modprobe dm-mod && modprobe brd rd_nr=1 rd_size=8192 || exit 10
dmsetup create vmrun-lin --table "0 16384 linear /dev/ram0 0" || exit 11
echo "table=$(dmsetup table vmrun-lin)"
[ -b /dev/mapper/vmrun-lin ] && echo "node=present"
dmsetup remove vmrun-lin || exit 12
echo "disk=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
printf '%s' "$TOKEN" | dd of=/dev/vda bs=4096 seek=512 conv=fsync status=none || exit 13
if [ "$EXPECT_KO" = 1 ]; then
	modprobe dm-cbt && echo "dm-cbt=$(modinfo -n dm-cbt)" && dmsetup targets | grep -q '^cbt ' && echo "target=cbt"
fi
echo "WARNING: provoked on purpose, vm-run-selftest-ignore-me" >/dev/kmsg
echo "$TOKEN" >"$SHARE/from-guest"
exit 7
EOF
# With a built kmod/dm-cbt.ko for the default kernel, "modprobe dm-cbt" must
# load the repo's module.
expect_ko=0
kver=$(printf '%s\n' /boot/vmlinuz-*-amd64 | sed 's|^/boot/vmlinuz-||' |
	grep -Ev -- '-(cloud|rt)-amd64$' | sort -V | tail -n 1)
if [[ -f $ROOT/kmod/dm-cbt.ko ]] &&
	[[ $(modinfo -F vermagic "$ROOT/kmod/dm-cbt.ko" 2>/dev/null) == "$kver "* ]]; then
	expect_ko=1
fi

check "--print-kernel prints the kernel a run boots ($kver)" test "$("$VMRUN" --print-kernel 2>&1)" = "$kver"

(cd "$ROOT/selftests/harness" &&
	"$VMRUN" --timeout 600 --env "TOKEN=$token" --env "SHARE=$share" --env "EXPECT_KO=$expect_ko" --share "$share" \
		--disk "$disk" --dmesg-ignore 'vm-run-selftest-ignore-me$' \
		--log "$tmp/boot1.log" -- bash "$share/guest.sh") >"$tmp/out1" 2>"$tmp/err1"
rc=$?
echo "# boot 1: vm-run exit $rc; output:"
sed 's/^/#   /' "$tmp/out1" "$tmp/err1"
check "exit status of COMMAND propagates (exit 7)" test $rc = 7
check "COMMAND runs in the caller's cwd" grep -qx "cwd=$ROOT/selftests/harness" "$tmp/out1"
check "COMMAND runs as root" grep -qx "uid=0" "$tmp/out1"
check "environment: CBT_IN_VM, DM_DISABLE_UDEV, HOME, TERM, --env" \
	grep -qx "env CBT_IN_VM=1 DM_DISABLE_UDEV=1 HOME=/root TERM=dumb TOKEN=$token" "$tmp/out1"
check "dm-linear on /dev/ram0 reads back its table" grep -qx "table=0 16384 linear 1:0 0" "$tmp/out1"
check "dmsetup made the /dev/mapper node without udev" grep -qx "node=present" "$tmp/out1"
check "--disk is /dev/vda with the host file's data" grep -qx "disk=$pattern_sum" "$tmp/out1"
check "a write to /dev/vda reaches the host file" \
	test "$(dd if="$disk" bs=4096 skip=512 count=1 status=none | head -c ${#token})" = "$token"
check "--share: a file written in the guest appears on the host" \
	test "$(cat "$share/from-guest" 2>/dev/null)" = "$token"
if ((expect_ko)); then
	check "modprobe dm-cbt loads the repo's module" \
		grep -qx "dm-cbt=/lib/modules/$kver/updates/cbtship/dm-cbt.ko" "$tmp/out1"
	check "... and registers the cbt target" grep -qx "target=cbt" "$tmp/out1"
else
	echo "# kmod/dm-cbt.ko not built for $kver: modprobe dm-cbt not checked"
fi
check "no carriage returns in COMMAND's output" test -z "$(tr -cd '\r' <"$tmp/out1")"
check "the console log was kept with --log" grep -q "COMMAND ended with status 7" "$tmp/boot1.log"
check "the guest's dmesg was saved next to the log" test -s "$tmp/boot1.dmesg"
check "--dmesg-ignore let a WARNING: line pass (it is in the saved dmesg)" \
	grep -q "WARNING: provoked on purpose, vm-run-selftest-ignore-me" "$tmp/boot1.dmesg"

# --- boot 2: a kernel WARNING fails the run (booting the bzImage, root
# read through 9p without the guest's cache) ----------------------------------
"$VMRUN" --timeout 600 --no-module --no-pvh --root-cache none -- \
	sh -c 'echo "WARNING: CPU: 0 PID: 1 at vm-run selftest" >/dev/kmsg; echo done' \
	>"$tmp/out2" 2>"$tmp/err2"
rc=$?
echo "# boot 2: vm-run exit $rc; output:"
sed 's/^/#   /' "$tmp/out2" "$tmp/err2"
check "COMMAND itself passed" grep -qx "done" "$tmp/out2"
check "a WARNING: in dmesg makes vm-run exit 3" test $rc = 3
check "vm-run prints the offending line" grep -q "WARNING: CPU: 0 PID: 1 at vm-run selftest" "$tmp/err2"
log2=$(sed -n 's/.*console log: \(.*\)$/\1/p' "$tmp/err2")
check "the log path is printed on failure and the log exists" test -n "$log2" -a -s "$log2"
[[ -n $log2 ]] && rm -f "$log2" "${log2%.log}.dmesg"

# --- boot 3: a kernel panic fails the run -----------------------------------
"$VMRUN" --timeout 600 --no-module -- sh -c 'echo c >/proc/sysrq-trigger; sleep 60' \
	>"$tmp/out3" 2>"$tmp/err3"
rc=$?
echo "# boot 3: vm-run exit $rc"
sed 's/^/#   /' "$tmp/err3" | head -n 3
check "a kernel panic makes vm-run exit 3" test $rc = 3
check "vm-run prints the panic line" grep -q "Kernel panic - not syncing: sysrq triggered crash" "$tmp/err3"
log3=$(sed -n 's/^vm-run: console log: \(.*\)$/\1/p' "$tmp/err3")
[[ -n $log3 ]] && rm -f "$log3"

# --- boot 4: --timeout kills the guest ---------------------------------------
start=$SECONDS
"$VMRUN" --timeout 3 --no-module -- sleep 600 >"$tmp/out4" 2>"$tmp/err4"
rc=$?
elapsed=$((SECONDS - start))
echo "# boot 4: vm-run exit $rc after ${elapsed}s"
sed 's/^/#   /' "$tmp/err4" | head -n 2
check "--timeout 3 ends the run with exit 124" test $rc = 124
check "... within 30 s" test $elapsed -lt 30
log4=$(sed -n 's/.*timed out after .*; log: \(.*\)$/\1/p' "$tmp/err4")
[[ -n $log4 ]] && rm -f "$log4"

finish
