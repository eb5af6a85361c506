#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS packaging (dkms.conf): the source tree installed as /usr/src/dm-cbt-VER
# goes through dkms add, build and install for the running kernel; modinfo
# then finds the module under updates/dkms, modprobe loads that very file,
# and a cbt table over a RAM disk passes data through and tracks the writes.
# Runs with vm-run --no-module (vm-run.opts): the tree's module is not
# installed, and all of this stays in the guest's throwaway root.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd dkms
kver=$(uname -r)
[ -d "/lib/modules/$kver/build" ] || skip "no kernel headers for $kver"

ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$CBT_ROOT/dkms.conf")
[ -n "$ver" ] || fail "no PACKAGE_VERSION in dkms.conf"
[ ! -e /sys/module/dm_cbt ] || fail "dm-cbt is already loaded: the test needs a clean guest"
if modinfo -n dm-cbt >/dev/null 2>&1; then
	fail "a dm-cbt module is already installed ($(modinfo -n dm-cbt)): was vm-run given --no-module?"
fi

# Only the sources, as a release tarball would have them: no build products.
src=/usr/src/dm-cbt-$ver
mkdir -p "$src/kmod" || fail "cannot create $src"
cp "$CBT_ROOT/Kbuild" "$CBT_ROOT/dkms.conf" "$src/" &&
	cp -r "$CBT_ROOT/uapi" "$src/" &&
	cp "$CBT_ROOT/kmod/Kbuild" "$CBT_ROOT"/kmod/*.[ch] "$src/kmod/" || fail "copy to $src failed"
rm -f "$src"/kmod/*.mod.c

work=$(mktemp -d /tmp/dkms.XXXXXX)
at_exit "rm -rf '$work'"
for step in add build install; do
	start=$SECONDS
	dkms "$step" "dm-cbt/$ver" -k "$kver" >"$work/$step.log" 2>&1 ||
		fail "dkms $step failed:"$'\n'"$(tail -n 30 "$work/$step.log")"$'\n'"$(cat /var/lib/dkms/dm-cbt/"$ver"/build/make.log 2>/dev/null | tail -n 30)"
	info "dkms $step: $((SECONDS - start)) s"
done
dkms status dm-cbt | grep -q "dm-cbt/$ver, $kver, x86_64: installed" ||
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
# The loaded module is that file: same GNU build id (srcversion is not
# built in without CONFIG_MODULE_SRCVERSION_ALL).
want=$(readelf -n "$file" | sed -n 's/^ *Build ID: *//p')
note=/sys/module/dm_cbt/notes/.note.gnu.build-id
[ -n "$want" ] && [ -r "$note" ] || fail "no build id in $file or in $note"
loaded=$(od -An -tx1 -v "$note" | tr -d ' \n')
[ "${loaded: -40}" = "$want" ] ||
	fail "the loaded dm-cbt (build id ${loaded: -40}) is not the DKMS-built $file ($want)"
info "loaded module build id: $want"
dmsetup targets | grep -q '^cbt ' || fail "no cbt target after modprobe: $(dmsetup targets)"

disk=$(make_ramdisk 16)
cbt_create dkms "$disk" 4096
dev=/dev/mapper/dkms
head -c 1M /dev/urandom >"$work/data" || fail "cannot make test data"
# 1 MiB at 4 MiB: blocks 1024..1279.
dd if="$work/data" of="$dev" bs=64k seek=64 oflag=direct status=none || fail "write to $dev failed"
dd if="$dev" of="$work/back" bs=64k skip=64 count=16 iflag=direct status=none ||
	fail "read from $dev failed"
[ "$(sha256_of "$work/back")" = "$(sha256_of "$work/data")" ] ||
	fail "data read back through $dev differs from what was written"
dd if="$disk" of="$work/raw" bs=64k skip=64 count=16 iflag=direct status=none ||
	fail "read from $disk failed"
[ "$(sha256_of "$work/raw")" = "$(sha256_of "$work/data")" ] ||
	fail "data on $disk differs from what was written through $dev"
st=$(dmsetup status dkms) || fail "dmsetup status failed"
[ "$(echo "$st" | awk '{ print $5 }')" = "256/4096" ] ||
	fail "status after writing 256 blocks of 4096: '$st' (want 256/4096 dirty)"
info "status: $st"
