#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The page-blob replica against Azurite, through its ops (page-blob-probe.c):
# written data reads back equal to the source (hashes), writes split at
# 4 MiB, Snapshot Blob keeps the old contents while the blob changes,
# the lease refuses a second opener while the first holds the blob, reopening
# (after close released the lease) finds the existing blob, and unaligned
# writes are refused.
source "$(dirname "$0")/azure-lib.bash"
azurite_setup

probe=$AZ_DIR/page-blob-probe
cc -O1 -g -std=gnu11 -D_GNU_SOURCE -I"$CBT_ROOT/shipper" -I"$CBT_ROOT/uapi" \
	-o "$probe" "$CBT_ROOT/selftests/azure/page-blob-probe.c" \
	"$CBT_ROOT/shipper/libcbtship.a" \
	$(pkg-config --libs liburing libcrypto zlib libzstd libnl-genl-3.0 libnl-3.0 libcurl) \
	-pthread || fail "cannot build the probe"

# Page blobs live in an existing container: make one through the store.
"$CBTSHIP" keygen "$AZ_DIR/enc.key" >/dev/null
fake_volume "$AZ_DIR/src.img" 12
must "$CBTSHIP" replicate --store "azure://$AZ_ACCOUNT/disks" "${AZ_OPTS[@]}" \
	--key "$AZ_DIR/enc.key" --once --fake-state "$AZ_DIR/src.state" "$AZ_DIR/src.img" >/dev/null

out=$(AZ_ENDPOINT=$AZ_ENDPOINT AZ_KEY_FILE=$AZ_DIR/account.key AZ_CA_FILE=$AZ_DIR/ca.pem \
	"$probe" "azure://$AZ_ACCOUNT/disks/replicas/vol0" "$AZ_DIR/src.img" 2>&1) ||
	fail "probe failed: $out"
info "$out"
want=$(sha "$AZ_DIR/src.img")
get() { printf '%s\n' "$out" | sed -n "s/^$1//p"; }
[ "$(get 'created=')" = "1 size=$((12 * 1048576))" ] || fail "not created with the volume's size"
[ "$(get current=)" = "$want" ] || fail "page blob differs from the source"
[ "$(get second-open=)" = "-16" ] || fail "a second open of a leased blob was not refused with -EBUSY"
[ -n "$(get snapshot=)" ] || fail "no snapshot id"
[ "$(get snapshot-data=)" = "$want" ] || fail "snapshot differs from the source"
after=$(sha "$AZ_DIR/src.img.after")
[ "$after" != "$want" ] || fail "negative control: the overwrite changed nothing"
[ "$(get after=)" = "$after" ] || fail "page blob after the overwrite differs from what was written"
[ "$(get 'reopen created=')" = "0 size=$((12 * 1048576))" ] || fail "reopen did not find the blob"
[ "$(get unaligned=)" = "-22" ] || fail "an unaligned write was not refused with -EINVAL"
info "page blob = source ($want), snapshot kept it after the overwrite"
