#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS packaging (dkms.conf), the way a prebuilt DKMS package is made and
# used.  On the host: the sources as a release tarball has them go through
# dkms add and dkms build for the guest's kernel (its headers are the
# host's) in a scratch DKMS tree (--dkmstree, --sourcetree: the host's own
# DKMS state is not touched), and dkms mktarball --binaries-only packs the
# build.  In the guest (vm-run --no-module, one boot): the same sources as
# /usr/src/dm-cbt-VER, dkms ldtarball loads the host's build (status
# "built", source linked to /usr/src) and dkms install installs it for the
# running kernel; modinfo then finds the module under updates/dkms,
# modprobe loads that very file (the host build's GNU build id), and a cbt
# table over a RAM disk passes data through and tracks the writes.
# Building in the guest under emulation took 3 to 10 minutes; the host
# builds the same module against the same headers in seconds.
# CBT_VM_KERNEL (selftests/run --kernel) picks the guest kernel.
# Exit 0: pass, 1: fail, 77: skip (with the reason).

. "$(dirname "$0")/../common/lib.sh"

# sources_to DIR: the module's sources as a release tarball has them.
sources_to() {
	mkdir -p "$1/kmod" || fail "cannot create $1"
	cp "$CBT_ROOT/Kbuild" "$CBT_ROOT/dkms.conf" "$1/" &&
		cp -r "$CBT_ROOT/uapi" "$1/" &&
		cp "$CBT_ROOT/kmod/Kbuild" "$CBT_ROOT"/kmod/*.[ch] "$1/kmod/" ||
		fail "copy of the sources to $1 failed"
	rm -f "$1"/kmod/*.mod.c
}

# step LOG COMMAND...: one dkms step, timed; its log on failure.
step() {
	local log=$1 start=$SECONDS
	shift
	"$@" >"$log" 2>&1 ||
		fail "$* failed:"$'\n'"$(tail -n 30 "$log")"
	info "$1 $2: $((SECONDS - start)) s"
}

# --- in the guest -----------------------------------------------------------

guest() {
	requires_vm
	local W=$1 kver src file want loaded note disk dev st data
	kver=$(uname -r)
	[ "$kver" = "$(cat "$W/kver")" ] || fail "the guest runs $kver, the host built for $(cat "$W/kver")"
	[ ! -e /sys/module/dm_cbt ] || fail "dm-cbt is already loaded: the test needs a clean guest"
	if modinfo -n dm-cbt >/dev/null 2>&1; then
		fail "a dm-cbt module is already installed ($(modinfo -n dm-cbt)): was vm-run given --no-module?"
	fi

	src=/usr/src/dm-cbt-$ver
	sources_to "$src"
	step "$W/g-ldtarball.log" dkms ldtarball "$W/dm-cbt-binaries.tar.gz"
	dkms status dm-cbt | grep -q "^dm-cbt/$ver, $kver, x86_64: built$" ||
		fail "after ldtarball dkms status does not show dm-cbt/$ver built for $kver: $(dkms status dm-cbt)"
	[ "$(readlink -f "/var/lib/dkms/dm-cbt/$ver/source")" = "$src" ] ||
		fail "ldtarball did not add the sources in $src: $(ls -l "/var/lib/dkms/dm-cbt/$ver")"
	step "$W/g-install.log" dkms install "dm-cbt/$ver" -k "$kver"
	dkms status dm-cbt | grep -q "^dm-cbt/$ver, $kver, x86_64: installed$" ||
		fail "dkms status does not show dm-cbt/$ver installed for $kver: $(dkms status dm-cbt)"

	file=$(modinfo -n dm-cbt) || fail "modinfo does not find dm-cbt after dkms install"
	case $file in
	"/lib/modules/$kver/updates/dkms/dm-cbt.ko"*) info "modinfo: $file" ;;
	*) fail "modinfo dm-cbt gives $file, not the DKMS one under /lib/modules/$kver/updates/dkms" ;;
	esac
	[ "$(modinfo -F vermagic "$file" | cut -d' ' -f1)" = "$kver" ] ||
		fail "the DKMS module's vermagic is $(modinfo -F vermagic "$file"), not $kver"

	load_dm_cbt
	at_exit "modprobe -r dm-cbt"
	# The loaded module is the installed file and the host's build: same
	# GNU build id (srcversion is not built in without
	# CONFIG_MODULE_SRCVERSION_ALL).
	want=$(cat "$W/build-id")
	note=/sys/module/dm_cbt/notes/.note.gnu.build-id
	[ -n "$want" ] && [ -r "$note" ] || fail "no build id from the host build or in $note"
	[ "$(readelf -n "$file" | sed -n 's/^ *Build ID: *//p')" = "$want" ] ||
		fail "the installed $file is not the host's build ($want)"
	loaded=$(od -An -tx1 -v "$note" | tr -d ' \n')
	[ "${loaded: -40}" = "$want" ] ||
		fail "the loaded dm-cbt (build id ${loaded: -40}) is not the DKMS-built $file ($want)"
	info "loaded module build id: $want"
	dmsetup targets | grep -q '^cbt ' || fail "no cbt target after modprobe: $(dmsetup targets)"

	disk=$(make_ramdisk 16)
	cbt_create dkms "$disk" 4096
	dev=/dev/mapper/dkms
	data=$(mktemp /tmp/dkms-data.XXXXXX) || fail "mktemp failed"
	at_exit "rm -f '$data'"
	head -c 1M /dev/urandom >"$data" || fail "cannot make test data"
	# 1 MiB at 4 MiB: blocks 1024..1279.
	dd if="$data" of="$dev" bs=64k seek=64 oflag=direct status=none ||
		fail "write to $dev failed"
	[ "$(dd if="$dev" bs=64k skip=64 count=16 iflag=direct status=none | sha256sum | cut -d' ' -f1)" = \
		"$(sha256_of "$data")" ] ||
		fail "data read back through $dev differs from what was written"
	[ "$(dd if="$disk" bs=64k skip=64 count=16 iflag=direct status=none | sha256sum | cut -d' ' -f1)" = \
		"$(sha256_of "$data")" ] ||
		fail "data on $disk differs from what was written through $dev"
	st=$(dmsetup status dkms) || fail "dmsetup status failed"
	[ "$(echo "$st" | awk '{ print $5 }')" = "256/4096" ] ||
		fail "status after writing 256 blocks of 4096: '$st' (want 256/4096 dirty)"
	info "status: $st"
}

ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$CBT_ROOT/dkms.conf")
[ -n "$ver" ] || fail "no PACKAGE_VERSION in dkms.conf"

if [ "${1:-}" = --guest ]; then
	guest "$2"
	exit $?
fi

# --- on the host --------------------------------------------------------------

[ "${CBT_NO_VM:-0}" = 1 ] && skip "guest boots not wanted (selftests/run --no-vm)"
requires_root
requires_cmd dkms qemu-system-x86_64 readelf
kopt=()
[ -n "${CBT_VM_KERNEL:-}" ] && kopt=(--kernel "$CBT_VM_KERNEL")
kver=$("$CBT_ROOT/scripts/vm-run" "${kopt[@]}" --print-kernel 2>&1) || skip "no guest kernel: $kver"
[ -d "/lib/modules/$kver/build" ] || skip "no kernel headers for $kver"

W=$(mktemp -d "${TMPDIR:-/tmp}/cbt-dkms.XXXXXX") || fail "mktemp failed"
at_exit "rm -rf '$W'"
echo "$kver" >"$W/kver"
sources_to "$W/src/dm-cbt-$ver"
mkdir -p "$W/tree" "$W/install"
D=(--dkmstree "$W/tree" --sourcetree "$W/src" --installtree "$W/install")
step "$W/add.log" dkms add "dm-cbt/$ver" -k "$kver" "${D[@]}"
step "$W/build.log" dkms build "dm-cbt/$ver" -k "$kver" "${D[@]}"
ko=$W/tree/dm-cbt/$ver/$kver/x86_64/module/dm-cbt.ko
[ -f "$ko" ] || fail "dkms build left no $ko: $(cat "$W/tree/dm-cbt/$ver/build/make.log" 2>/dev/null | tail -n 30)"
[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$kver" ] ||
	fail "the DKMS build's vermagic is $(modinfo -F vermagic "$ko"), not $kver"
readelf -n "$ko" | sed -n 's/^ *Build ID: *//p' >"$W/build-id"
step "$W/mktarball.log" dkms mktarball "dm-cbt/$ver" -k "$kver" --binaries-only \
	--archive "$W/dm-cbt-binaries.tar.gz" "${D[@]}"
[ -s "$W/dm-cbt-binaries.tar.gz" ] || fail "dkms mktarball wrote no $W/dm-cbt-binaries.tar.gz"

"$CBT_ROOT/scripts/vm-run" "${kopt[@]}" --no-module --timeout 900 --share "$W" -- \
	bash "$CBT_ROOT/selftests/dkms/install.sh" --guest "$W" || fail "the guest part failed"
