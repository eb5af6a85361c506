#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Test failover of a page-blob replica: three cycles of a (fake-kernel)
# volume replicated to Azurite over HTTPS and applied to a page blob with a
# state directory; test-failover at point 1 makes a new page blob from a
# Snapshot Blob of the replica, rolled back with the undo data: downloaded
# here (a request signed by openssl), it hashes equal to the source as it
# was at cycle 1 and differs from the newest.  A fourth cycle applied while
# the copy exists leaves the copy unchanged; --cleanup deletes the copy and
# the snapshot (listed with include=snapshots).  Then once more at point 2
# with a copy the service reports pending for a while, and with a SAS
# token instead of the account key.  The replica is leased by
# someone else meanwhile, as by an apply that keeps it open: snapshot and
# cleanup work without its lease.
source "$(dirname "$0")/azure-lib.bash"
azurite_setup

# az_lease BLOB ACTION LEASE_ID: Lease Blob (acquire 60 s, or release), signed here with openssl.
az_lease() {
	local path=$1 action=$2 id=$3 key_hex date canon sts sig hdrs
	key_hex=$(base64 -d <"$AZ_DIR/account.key" | od -An -tx1 | tr -d ' \n')
	date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
	canon=/$AZ_ACCOUNT/$AZ_ACCOUNT/$path$'\n'comp:lease
	if [ "$action" = acquire ]; then
		hdrs=$(printf 'x-ms-date:%s\nx-ms-lease-action:acquire\nx-ms-lease-duration:60\nx-ms-proposed-lease-id:%s\nx-ms-version:2021-08-06' "$date" "$id")
	else
		hdrs=$(printf 'x-ms-date:%s\nx-ms-lease-action:%s\nx-ms-lease-id:%s\nx-ms-version:2021-08-06' "$date" "$action" "$id")
	fi
	sts=$(printf 'PUT\n\n\n\n\n\n\n\n\n\n\n\n%s\n%s' "$hdrs" "$canon")
	sig=$(printf '%s' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary |
		base64 -w0)
	local args=()
	while IFS= read -r h; do args+=(-H "${h%%:*}: ${h#*:}"); done <<<"$hdrs"
	curl -sS --fail --cacert "$AZ_DIR/ca.pem" -X PUT -H "Content-Length: 0" "${args[@]}" \
		-H "Authorization: SharedKey $AZ_ACCOUNT:$sig" "$AZ_ENDPOINT/$path?comp=lease"
}

d=$AZ_DIR
store=azure://$AZ_ACCOUNT/cbt/site-a
replica=azure://$AZ_ACCOUNT/cbt/disks/vol0
"$CBTSHIP" keygen "$d/enc.key" >/dev/null
fake_volume "$d/vol.img" 16

cycle() {
	must "$CBTSHIP" replicate --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" \
		--once --fake-state "$d/vol.state" "$d/vol.img" >/dev/null
	must "$CBTSHIP" apply --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" --volume vol.img \
		--replica "$replica" --state "$d/replica-state" >/dev/null
}
snapshots() {
	az_get cbt "comp=list&include=snapshots&restype=container" |
		grep -o '<Snapshot>[^<]*</Snapshot>' | wc -l
}

cycle
cp "$d/vol.img" "$d/vol-1.img"
change_blocks "$d/vol.img" "$d/vol.state" 10 40
change_blocks "$d/vol.img" "$d/vol.state" 3000 5
cycle
cp "$d/vol.img" "$d/vol-2.img"
change_blocks "$d/vol.img" "$d/vol.state" 20 10
change_blocks "$d/vol.img" "$d/vol.state" 4000 2
cycle
az_get cbt/disks/vol0 >"$d/replica.img" || fail "cannot download the replica"
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs from the source after cycle 3"
[ "$(sha "$d/vol-1.img")" != "$(sha "$d/vol.img")" ] || fail "negative control: cycle 1 equals cycle 3"
[ "$(snapshots)" -eq 0 ] || fail "snapshots exist before the test failover"

lease=6f0e8c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b
az_lease cbt/disks/vol0 acquire $lease || fail "cannot lease the replica"
az_lease cbt/disks/vol0 acquire 11111111-2222-4333-8444-555555555555 2>/dev/null &&
	fail "negative control: a second lease was granted"
out=$(must "$CBTSHIP" test-failover --replica "$replica" --state "$d/replica-state" --point 1 \
	"${AZ_OPTS[@]}") || exit 1
info "$out"
az_get cbt/disks/vol0.test-failover-1 >"$d/copy.img" || fail "cannot download the copy"
[ "$(sha "$d/copy.img")" = "$(sha "$d/vol-1.img")" ] || fail "the copy is not the source at cycle 1"
[ "$(sha "$d/copy.img")" != "$(sha "$d/vol.img")" ] || fail "the copy equals the newest cycle"
[ "$(snapshots)" -eq 1 ] || fail "expected one snapshot of the replica"
# A second copy under the same name is refused, and leaves no snapshot behind.
"$CBTSHIP" test-failover --replica "$replica" --state "$d/replica-state" --point 2 \
	--output "$replica.test-failover-1" "${AZ_OPTS[@]}" 2>/dev/null &&
	fail "test-failover over an existing copy succeeded"
[ "$(snapshots)" -eq 1 ] || fail "a refused test failover left a snapshot"
az_lease cbt/disks/vol0 release $lease || fail "cannot release the lease"

# Replication goes on; the copy stays as it was.
change_blocks "$d/vol.img" "$d/vol.state" 30 8
cycle
az_get cbt/disks/vol0 >"$d/replica.img" || fail "cannot download the replica"
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs from the source after cycle 4"
az_get cbt/disks/vol0.test-failover-1 >"$d/copy.img" || fail "cannot download the copy"
[ "$(sha "$d/copy.img")" = "$(sha "$d/vol-1.img")" ] || fail "cycle 4 changed the copy"

az_lease cbt/disks/vol0 acquire $lease || fail "cannot lease the replica"
out=$(must "$CBTSHIP" test-failover --replica "$replica" --state "$d/replica-state" --cleanup \
	"${AZ_OPTS[@]}") || exit 1
az_lease cbt/disks/vol0 release $lease || fail "cannot release the lease"
info "$out"
grep -q "removed 1 test failover copy" <<<"$out" || fail "cleanup removed no copy: $out"
list=$(az_get cbt "comp=list&include=snapshots&restype=container") || fail "cannot list the container"
! grep -q 'test-failover' <<<"$list" || fail "the copy is still there: $list"
! grep -q '<Snapshot>' <<<"$list" || fail "a snapshot is still there: $list"
grep -q '<Name>disks/vol0</Name>' <<<"$list" || fail "cleanup removed the replica: $list"
az_get cbt/disks/vol0 >"$d/replica.img" || fail "cannot download the replica"
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "cleanup changed the replica"

# A service that copies in the background: through a proxy that answers
# the Copy Blob and the next two Get Blob Properties "pending", test-failover
# waits for the copy before it rolls it back.
proxy_start copy-pending
pport=$PROXY_PORT
via=(--endpoint "http://127.0.0.1:$pport/$AZ_ACCOUNT" --allow-http --azure-key-file "$d/account.key")
must "$CBTSHIP" test-failover --replica "$replica" --state "$d/replica-state" --point 2 \
	--output "$replica-tfp" "${via[@]}" >/dev/null || exit 1
info "proxy: $(cat "$PROXY_COUNTS")"
grep -q "pending=3" "$PROXY_COUNTS" || fail "the copy was not seen pending three times"
az_get cbt/disks/vol0-tfp >"$d/copy.img" || fail "cannot download the copy"
[ "$(sha "$d/copy.img")" = "$(sha "$d/vol-2.img")" ] || fail "the waited-for copy is not the source at cycle 2"
must "$CBTSHIP" test-failover --replica "$replica" --state "$d/replica-state" --cleanup \
	"${via[@]}" >/dev/null || exit 1

# The same with a SAS token (an account SAS made with openssl, as in
# auth-tls): the Copy Blob source carries the token too, and Azurite checks
# it by a request of its own to that URL, so it must trust the test CA.
NODE_EXTRA_CA_CERTS=$AZ_DIR/ca.pem azurite_restart
az_get cbt/disks/vol0 >"$d/replica.img" || fail "cannot download the replica"
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs after the restart"
az_account_sas "$d/sas"
sas_opts=(--endpoint "$AZ_ENDPOINT" --ca-file "$d/ca.pem" --azure-sas-file "$d/sas")
out=$(must "$CBTSHIP" test-failover --replica "$replica" --state "$d/replica-state" --point 2 \
	--output "$replica-tf2" "${sas_opts[@]}") || exit 1
! grep -q "sig=" <<<"$out" || fail "the SAS shows in the output: $out"
az_get cbt/disks/vol0-tf2 >"$d/copy.img" || fail "cannot download the SAS copy"
[ "$(sha "$d/copy.img")" = "$(sha "$d/vol-2.img")" ] || fail "the SAS copy is not the source at cycle 2"
must "$CBTSHIP" test-failover --replica "$replica" --state "$d/replica-state" --cleanup \
	--output "$replica-tf2" "${sas_opts[@]}" >/dev/null || exit 1
list=$(az_get cbt "comp=list&include=snapshots&restype=container") || fail "cannot list the container"
! grep -q 'tf2\|<Snapshot>' <<<"$list" || fail "the SAS copy or its snapshot is still there: $list"
info "page-blob test failover at points 1 (Shared Key) and 2 (SAS) = source then; cleanup left no trace"
