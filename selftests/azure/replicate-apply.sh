#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Full replication of a (fake-kernel) volume to Azurite over HTTPS, then a
# delta cycle, each applied back from Azurite to a replica file: the
# replica's hash equals the source's after each cycle (and differs from it
# before the delta is applied: the check can fail).  The store's blobs are
# listed through the REST API to see segments and manifests as block blobs.
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
app() {
	must "$CBTSHIP" apply --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" --volume vol.img \
		--replica "$d/replica.img"
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

# What Azurite holds: list the blobs with a Shared Key request made by hand
# (openssl), independent of cbtship's signing code.
key_hex=$(base64 -d <"$d/account.key" | od -An -tx1 | tr -d " \n")
date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
sts=$(printf 'GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:2021-08-06\n/%s/%s/cbt\ncomp:list\nrestype:container' \
	"$date" "$AZ_ACCOUNT" "$AZ_ACCOUNT")
sig=$(printf '%s' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | base64)
list=$(curl -sS --cacert "$d/ca.pem" -H "x-ms-date: $date" -H "x-ms-version: 2021-08-06" \
	-H "Authorization: SharedKey $AZ_ACCOUNT:$sig" \
	"$AZ_ENDPOINT/cbt?restype=container&comp=list") || fail "cannot list the container"
grep -q '<Name>site-a/cbtship-store</Name>' <<<"$list" || fail "no store marker blob: $list"
nseg=$(grep -o '<Name>site-a/volumes/vol.img/[^<]*seg[^<]*</Name>' <<<"$list" | wc -l)
nman=$(grep -o '<Name>site-a/volumes/vol.img/[^<]*manifest[^<]*</Name>' <<<"$list" | wc -l)
info "$nseg segment and $nman manifest blobs"
[ "$nseg" -ge 2 ] && [ "$nman" -eq 2 ] || fail "expected segments and 2 manifests: $list"
grep -o '<BlobType>[^<]*</BlobType>' <<<"$list" | grep -qv BlockBlob && fail "not all block blobs"
info "replica = source after the initial and the delta cycle"
