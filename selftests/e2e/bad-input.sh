#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Bad input gets a clear message and a non-zero exit, never a crash: missing,
# short and unsafe key files, a wrong key, a device that is not a dm-cbt
# volume, a directory that is not a store.

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
load_dm_cbt

work=$(mktemp -d /tmp/bad.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 8)
plain=$(make_ramdisk 8)
cbt_create bad "$disk" 4096
must "$CBTSHIP" keygen "$work/key"
must "$CBTSHIP" keygen "$work/other-key"

# expect_error REGEX COMMAND...: the command must fail (not crash) and say REGEX.
expect_error() {
	local re=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	[ $rc -ne 0 ] || fail "succeeded but should have failed: $*"
	[ $rc -lt 128 ] || fail "crashed (exit $rc): $*"$'\n'"$out"
	grep -qiE "$re" <<<"$out" || fail "message for '$*' does not say /$re/:"$'\n'"$out"
	info "ok: $* -> $(head -n1 <<<"$out")"
}

expect_error "exist|no such" "$CBTSHIP" replicate --store "$work/s" --key "$work/nokey" --once /dev/mapper/bad
head -c 20 "$work/key" >"$work/short" && chmod 600 "$work/short"
expect_error "64 hex" "$CBTSHIP" replicate --store "$work/s" --key "$work/short" --once /dev/mapper/bad
cp "$work/key" "$work/loose" && chmod 644 "$work/loose"
expect_error "chmod 600|readable" "$CBTSHIP" replicate --store "$work/s" --key "$work/loose" --once /dev/mapper/bad
expect_error "not a dm-cbt" "$CBTSHIP" replicate --store "$work/s" --key "$work/key" --once "$plain"
mkdir "$work/notastore" && echo hello >"$work/notastore/file"
expect_error "not a cbtship store" "$CBTSHIP" replicate --store "$work/notastore" --key "$work/key" --once /dev/mapper/bad

# A real store, then the wrong key for it on both sides.
must "$CBTSHIP" replicate --store "$work/s" --key "$work/key" --once /dev/mapper/bad
expect_error "key" "$CBTSHIP" apply --store "$work/s" --key "$work/other-key" --volume bad --replica "$work/r"
[ ! -s "$work/r" ] || fail "apply with a wrong key wrote to the replica"
expect_error "key" "$CBTSHIP" replicate --store "$work/s" --key "$work/other-key" --once /dev/mapper/bad
expect_error "not a cbtship store" "$CBTSHIP" apply --store "$work/notastore" --key "$work/key" --volume bad --replica "$work/r"
# The good key still works after all that.
must "$CBTSHIP" apply --store "$work/s" --key "$work/key" --volume bad --replica "$work/r"
[ "$(sha256_of /dev/mapper/bad)" = "$(sha256_of "$work/r")" ] || fail "replica differs from source"
