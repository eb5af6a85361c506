#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Full replication of a (fake-kernel) volume to Azurite over HTTPS, then a
# delta cycle, each applied back from Azurite to a page blob replica
# (apply --replica azure://...): the page blob, downloaded with a request
# signed here by openssl, hashes equal to the source after each cycle (and
# differs before the delta is applied: the check can fail).  The store's
# blobs are listed through the REST API: segments and manifests are block
# blobs.
source "$(dirname "$0")/azure-lib.bash"
azurite_setup

d=$AZ_DIR
store=azure://$AZ_ACCOUNT/cbt/site-a
"$CBTSHIP" keygen "$d/enc.key" >/dev/null
fake_volume "$d/vol.img" 24

rep() {
	must "$CBTSHIP" replicate --store "$store" "${AZ_OPTS[@]}" --streams 8 --key "$d/enc.key" \
		--once --fake-state "$d/vol.state" "$d/vol.img"
}
replica=azure://$AZ_ACCOUNT/cbt/disks/vol0
app() {
	must "$CBTSHIP" apply --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" --volume vol.img \
		--replica "$replica" --state "$d/replica-state"
	az_get cbt/disks/vol0 >"$d/replica.img" || fail "cannot download the page blob"
}

out=$(rep) || exit 1
info "$out"
grep -q "cycle 1 (initial)" <<<"$out" || fail "no initial cycle: $out"
info "$(app)"
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs from the source after cycle 1"

change_blocks "$d/vol.img" "$d/vol.state" 100 50
change_blocks "$d/vol.img" "$d/vol.state" 5000 3
[ "$(sha "$d/replica.img")" != "$(sha "$d/vol.img")" ] ||
	fail "negative control: source and replica still equal after the change"
out=$(rep) || exit 1
info "$out"
grep -q "cycle 2 (delta): 53 blocks" <<<"$out" || fail "expected a 53-block delta: $out"
info "$(app)"
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs from the source after cycle 2"

# What Azurite holds, listed with a request signed by hand.
list=$(az_get cbt "comp=list&restype=container") || fail "cannot list the container"
grep -q '<Name>site-a/cbtship-store</Name>' <<<"$list" || fail "no store marker blob: $list"
nseg=$(grep -o '<Name>site-a/volumes/vol.img/[^<]*seg[^<]*</Name>' <<<"$list" | wc -l)
nman=$(grep -o '<Name>site-a/volumes/vol.img/[^<]*manifest[^<]*</Name>' <<<"$list" | wc -l)
info "$nseg segment and $nman manifest blobs"
[ "$nseg" -ge 2 ] && [ "$nman" -eq 2 ] || fail "expected segments and 2 manifests: $list"
# Every store object a block blob; the replica (disks/vol0) the one page blob.
nblob=$(grep -o '<Blob>' <<<"$list" | wc -l)
nblock=$(grep -o '<BlobType>BlockBlob</BlobType>' <<<"$list" | wc -l)
npage=$(grep -o '<BlobType>PageBlob</BlobType>' <<<"$list" | wc -l)
info "$nblob blobs: $nblock block blobs, $npage page blob"
[ "$npage" -eq 1 ] && [ "$nblock" -eq $((nblob - 1)) ] || fail "unexpected blob types: $list"
grep -q '<Name>disks/vol0</Name>' <<<"$list" || fail "no disks/vol0 blob: $list"
info "page-blob replica = source after the initial and the delta cycle"
