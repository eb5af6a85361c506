#!/bin/bash
# Host-side smoke test of scripts/vm-run --kernel FLAVOUR for Debian's cloud
# and PREEMPT_RT kernels, one short boot each (the full dm-cbt group per
# flavour is "selftests/run --kernel cloud dm-cbt", minutes each). For every
# flavour installed (scripts/install-deps --kernel-flavours "cloud rt"):
#  - the guest runs that kernel, over the transport its config calls for
#    (9p when CONFIG_NET_9P/CONFIG_9P_FS are set, else virtiofs);
#  - dm-cbt, built here for that kernel into a scratch copy, loads, passes
#    1 MiB through unchanged to the RAM disk below and counts exactly the
#    256 changed 4 KiB blocks.
# Exit 0: pass, 1: fail, 77: skip (no flavour installed, with the reason).

set -u
SKIP_PREFIX="vm-run flavours"
# shellcheck source=selftests/harness/vm-lib.bash
. "$(dirname "${BASH_SOURCE[0]}")/vm-lib.bash"

require_guest_boots

# newest installed version of a flavour (vmlinuz and modules), or nothing
newest() {
	local f v
	for f in /boot/vmlinuz-*-"$1"-amd64; do
		[[ -e $f ]] || continue
		v=${f#/boot/vmlinuz-}
		[[ -d /lib/modules/$v/kernel ]] && echo "$v"
	done | sort -V | tail -n 1
}

# the transport the kernel's config calls for
expected_fs() {
	local config=/boot/config-$1
	if grep -q '^CONFIG_NET_9P_VIRTIO=[ym]$' "$config" && grep -q '^CONFIG_9P_FS=[ym]$' "$config"; then
		echo 9p
	else
		echo virtiofs
	fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vm-run-flavours.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/share"
head -c 1048576 /dev/urandom >"$tmp/share/data"
data_sum=$(sha256sum <"$tmp/share/data" | cut -d' ' -f1)

cat >"$tmp/share/guest.sh" <<'EOF'
set -u
echo "uname=$(uname -r)"
echo "fs=$(findmnt -n -o FSTYPE /run/cbtvm)"
modprobe dm-mod && modprobe brd rd_nr=1 rd_size=8192 || exit 10
modprobe dm-cbt || exit 11
echo "dm-cbt=$(modinfo -F vermagic dm-cbt | cut -d' ' -f1)"
dmsetup create smoke --table "0 16384 cbt /dev/ram0 4096" || exit 12
dd if="$SHARE/data" of=/dev/mapper/smoke bs=1M seek=1 oflag=direct conv=fsync status=none || exit 13
echo "status=$(dmsetup status smoke)"
dmsetup remove smoke || exit 14
echo "ram0=$(dd if=/dev/ram0 bs=1M skip=1 count=1 status=none | sha256sum | cut -d' ' -f1)"
EOF

tested=0
for flavour in cloud rt; do
	kver=$(newest "$flavour")
	if [[ -z $kver ]]; then
		echo "# $flavour: not installed (scripts/install-deps --kernel-flavours $flavour): not tested"
		continue
	fi
	if [[ ! -d /lib/modules/$kver/build ]]; then
		echo "# $flavour: no headers for $kver (linux-headers-$flavour-amd64): not tested"
		continue
	fi
	tested=$((tested + 1))
	fs=$(expected_fs "$kver")
	build=$tmp/kmod-$flavour
	mkdir -p "$build/kmod"
	cp "$ROOT/Kbuild" "$build/" && cp -r "$ROOT/uapi" "$build/" &&
		cp "$ROOT"/kmod/Kbuild "$ROOT"/kmod/*.[ch] "$build/kmod/"
	make -C "/lib/modules/$kver/build" M="$build" -j"$(nproc)" modules >"$tmp/build-$flavour.log" 2>&1
	rc=$?
	[[ $rc == 0 ]] || tail -n 20 "$tmp/build-$flavour.log" | sed 's/^/#   /'
	check "$flavour: dm-cbt builds for $kver" test $rc = 0
	[[ $rc == 0 ]] || continue

	"$VMRUN" --kernel "$flavour" --module "$build/kmod/dm-cbt.ko" --timeout 900 \
		--share "$tmp/share" --env "SHARE=$tmp/share" -- bash "$tmp/share/guest.sh" \
		>"$tmp/out-$flavour" 2>"$tmp/err-$flavour"
	rc=$?
	echo "# $flavour: vm-run exit $rc; output:"
	sed 's/^/#   /' "$tmp/out-$flavour" "$tmp/err-$flavour"
	out=$tmp/out-$flavour
	check "$flavour: the guest run passed" test $rc = 0
	check "$flavour: the guest runs $kver" grep -qx "uname=$kver" "$out"
	check "$flavour: shares use $fs, as the kernel's config calls for" grep -qx "fs=$fs" "$out"
	check "$flavour: modprobe dm-cbt loads the build for $kver" grep -qx "dm-cbt=$kver" "$out"
	check "$flavour: 1 MiB written through cbt is tracked as 256 of 2048 blocks" \
		grep -Eq '^status=0 16384 cbt 4096 256/2048 ' "$out"
	check "$flavour: the data reached the RAM disk unchanged" grep -qx "ram0=$data_sum" "$out"
done
((tested > 0)) || skip "neither the cloud nor the rt kernel is installed with headers" \
	"(scripts/install-deps --kernel-flavours \"cloud rt\")"

finish
