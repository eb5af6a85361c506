#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Clean detach across a real reboot: two guest boots (scripts/vm-run) with
# the same virtio disk and a shared directory holding the store, the key,
# the replica and the state directory.  Boot 1: dm-cbt over /dev/vda,
# initial copy, apply, write a known set of blocks, cbtship detach,
# dmsetup remove, power off.  Boot 2: dm-cbt over the same disk (a new
# tracking state, "resync required"), more writes, one cycle: exactly the
# saved and new blocks are read (printed and asserted), "resync required"
# is cleared, and the replica's sha256 equals the source's.  Negative
# control in boot 2: without a detach a reload makes the next cycle read
# every block.  Run from the host; skips without root or qemu.

. "$(dirname "$0")/../common/lib.sh"

BS=4096
MB=32
NR=$((MB * 1048576 / BS))
SAVED=100
AFTER=40

# --- inside the guest ---------------------------------------------------

guest_setup() {
	requires_vm
	load_dm_cbt
	dmsetup create rb --table "0 $(blockdev --getsz /dev/vda) cbt /dev/vda $BS" ||
		fail "dmsetup create rb failed"
	vol=/dev/mapper/rb
	C=(--store "$W/store" --key "$W/key" --state-dir "$W/state")
}

apply_and_compare() {
	must "$CBTSHIP" apply --store "$W/store" --key "$W/key" --volume rb \
		--replica "$W/replica" >/dev/null
	local s r
	s=$(sha256_of "$vol")
	r=$(sha256_of "$W/replica")
	info "source $s replica $r"
	[ "$s" = "$r" ] || fail "replica differs from the source ($1)"
}

boot1() {
	guest_setup
	fio --name=fill --filename="$vol" --rw=write --bs=1M --direct=1 --ioengine=psync \
		--refill_buffers --output=/dev/null || fail "fio failed"
	must "$CBTSHIP" replicate "${C[@]}" --once "$vol"
	apply_and_compare "initial"
	mapfile -t blocks < <(shuf -i 0-$((NR - 1)) -n $((SAVED + AFTER)))
	printf '%s\n' "${blocks[@]:SAVED}" >"$W/after-blocks"
	write_random_blocks "$vol" $BS "${blocks[@]:0:SAVED}"
	out=$(must "$CBTSHIP" detach "${C[@]}" "$vol") || exit 1
	printf '%s\n' "$out"
	grep -qx "saved $SAVED changed blocks" <<<"$out" || fail "detach did not save $SAVED blocks"
	cat /proc/sys/kernel/random/boot_id >"$W/boot1"
	dmsetup remove rb || fail "dmsetup remove failed"
	sync
}

boot2() {
	guest_setup
	[ "$(cat /proc/sys/kernel/random/boot_id)" != "$(cat "$W/boot1")" ] ||
		fail "this is not a new boot"
	dmsetup status rb | grep -q ' resync$' || fail "the new tracking state is not \"resync required\""
	mapfile -t after <"$W/after-blocks"
	write_random_blocks "$vol" $BS "${after[@]}"
	out=$(must "$CBTSHIP" replicate "${C[@]}" --once "$vol") || exit 1
	printf '%s\n' "$out"
	n=$(cycle_blocks "$out")
	info "blocks read after the reboot: $n of $NR (saved $SAVED + new $AFTER)"
	[ "$n" = $((SAVED + AFTER)) ] || fail "read $n blocks, want $((SAVED + AFTER))"
	dmsetup status rb | grep -q ' resync$' && fail "\"resync required\" not cleared"
	apply_and_compare "after the reboot"

	info "negative control: reload without detach"
	write_random_blocks "$vol" $BS 1 2 3
	dmsetup remove rb || fail "dmsetup remove failed"
	dmsetup create rb --table "0 $(blockdev --getsz /dev/vda) cbt /dev/vda $BS" ||
		fail "dmsetup create failed"
	out=$(must "$CBTSHIP" replicate "${C[@]}" --once "$vol") || exit 1
	printf '%s\n' "$out"
	n=$(cycle_blocks "$out")
	[ "$n" = $NR ] || fail "without a detach the cycle read $n blocks, want all $NR"
	apply_and_compare "after the full cycle"
	dmsetup remove rb
}

if [ "${1:-}" = --guest ]; then
	W=$3
	cd "$CBT_ROOT" || exit 1
	"$2"
	exit $?
fi

# --- on the host ----------------------------------------------------------

[ "${CBT_NO_VM:-0}" = 1 ] && skip "guest boots not wanted (selftests/run --no-vm)"
requires_root
requires_cmd qemu-system-x86_64 sha256sum
compgen -G '/boot/vmlinuz-*-amd64' >/dev/null || skip "no Debian kernel in /boot"
[ -f "$CBT_ROOT/kmod/dm-cbt.ko" ] || skip "kmod/dm-cbt.ko not built (make)"

W=$(mktemp -d "${TMPDIR:-/tmp}/cbt-reboot.XXXXXX")
at_exit "rm -rf '$W'"
truncate -s ${MB}M "$W/disk.img"
must "$CBTSHIP" keygen "$W/key" >/dev/null
for phase in boot1 boot2; do
	info "$phase"
	"$CBT_ROOT/scripts/vm-run" --disk "$W/disk.img" --share "$W" -- \
		bash "$CBT_ROOT/selftests/shipper/reboot-detach.sh" --guest $phase "$W" ||
		fail "$phase failed"
done
