#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Only CAP_SYS_ADMIN may change tracking state or read change sets over
# netlink: an unprivileged user, and root without CAP_SYS_ADMIN (but with
# CAP_NET_ADMIN, which is all GENL_ADMIN_PERM asks for), get EPERM for
# FREEZE, GET_CHANGES, COMMIT, ABORT, MARK_DIRTY, GET_RING, TAG and
# CLEAR_RESYNC, and nothing changes; LIST and GET stay readable.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
requires_cmd setpriv
load_dm_cbt

disk=$(make_ramdisk 8)
cbt_create perm "$disk" 4096
dev=/dev/mapper/perm
dd if=/dev/urandom of="$dev" bs=4096 seek=3 count=2 oflag=direct status=none ||
	fail "write failed"

nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

# Root with every capability but CAP_SYS_ADMIN.
no_sys_admin() {
	setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin -- "$@"
}

before=$(probe get "$dev") || fail "probe get failed"
nobody "$PROBE" get "$dev" >/dev/null || fail "unprivileged GET refused"
nobody "$PROBE" list | grep -q " perm 4096 " || fail "unprivileged LIST does not show the volume"

for args in "freeze $dev" "changes $dev" "commit $dev 0" "abort $dev 0" \
	"mark $dev 0 1" "ring $dev" "tag $dev 1" "clear-resync $dev"; do
	# shellcheck disable=SC2086
	expect_fail "Operation not permitted \(-1\)" nobody "$PROBE" $args
	info "ok: unprivileged $args -> EPERM"
	# shellcheck disable=SC2086
	expect_fail "Operation not permitted \(-1\)" no_sys_admin "$PROBE" $args
	info "ok: root without CAP_SYS_ADMIN $args -> EPERM"
done
[ "$(probe get "$dev")" = "$before" ] || fail "refused commands changed the volume"
[ "$(vol_field "$dev" resync_required)" = 1 ] || fail "refused CLEAR_RESYNC cleared the flag"
must probe clear-resync "$dev"
[ "$(vol_field "$dev" resync_required)" = 0 ] || fail "root's CLEAR_RESYNC did not clear the flag"

# With a frozen cycle, unprivileged COMMIT/ABORT/GET_CHANGES are refused too.
cycle=$(probe freeze "$dev") || fail "freeze failed"
expect_fail "Operation not permitted" nobody "$PROBE" changes "$dev" "$cycle"
expect_fail "Operation not permitted" nobody "$PROBE" commit "$dev" "$cycle"
expect_fail "Operation not permitted" nobody "$PROBE" abort "$dev" "$cycle"
[ "$(vol_field "$dev" frozen_blocks)" = 2 ] || fail "frozen set changed"
must probe commit "$dev" "$cycle"
exit 0
