#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Refusals, each with a clear message, and the SAS path:
#  - a wrong account key: the service's 403 is reported as an authentication
#    failure, and the key never shows in the output;
#  - a key file readable by others: refused before any request;
#  - no --ca-file: the test certificate does not verify, refused (no retry);
#  - http:// without --allow-http: refused (and with it, accepted);
#  - a SAS token from a file (made here with openssl) works, and a tampered
#    one is refused; the signature never shows in the output.
source "$(dirname "$0")/azure-lib.bash"
azurite_setup

d=$AZ_DIR
store=azure://$AZ_ACCOUNT/auth
"$CBTSHIP" keygen "$d/enc.key" >/dev/null
fake_volume "$d/vol.img" 4
rep() {	# replicate once with the given Azure options; output in $out
	out=$("$CBTSHIP" replicate --store "$store" --key "$d/enc.key" --once \
		--fake-state "$d/vol.state" "$d/vol.img" "$@" 2>&1)
}

# Wrong key: another valid base64 key of the same length.
(umask 077; head -c 64 /dev/urandom | base64 -w0 >"$d/wrong.key")
rep --endpoint "$AZ_ENDPOINT" --ca-file "$d/ca.pem" --azure-key-file "$d/wrong.key" &&
	fail "replicate with a wrong key succeeded: $out"
info "wrong key: $(grep -m1 error <<<"$out")"
grep -q "refused the credentials" <<<"$out" || fail "no clear authentication error: $out"
grep -qF "$(cat "$d/wrong.key")" <<<"$out" && fail "the key shows in the output"

chmod 644 "$d/wrong.key"
rep --endpoint "$AZ_ENDPOINT" --ca-file "$d/ca.pem" --azure-key-file "$d/wrong.key" &&
	fail "a key file readable by others was accepted"
grep -q "chmod 600" <<<"$out" || fail "no permission message: $out"

# No CA: the self-signed chain does not verify.
rep --endpoint "$AZ_ENDPOINT" --azure-key-file "$d/account.key" &&
	fail "an unverifiable certificate was accepted: $out"
info "no CA: $(grep -m1 error <<<"$out")"
grep -q "certificate does not verify" <<<"$out" || fail "no clear certificate error: $out"
grep -q retry <<<"$out" && fail "a certificate failure was retried"

# Plain http, refused before connecting.
rep --endpoint "http://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT" --azure-key-file "$d/account.key" &&
	fail "plain http was accepted"
grep -q "plain http is refused" <<<"$out" || fail "no clear http refusal: $out"

# The right key works (the positive control for the refusals above).
rep "${AZ_OPTS[@]}" || fail "replicate with the right key failed: $out"

# --allow-http does reach a plain-http endpoint (a second Azurite, no TLS).
at_exit "'$CBT_ROOT/scripts/azurite' stop '$d/plain'"
plain_port=$("$CBT_ROOT/scripts/azurite" start "$d/plain" - -) || fail "cannot start plain Azurite"
out=$("$CBTSHIP" replicate --store "$store" --key "$d/enc.key" --once --fake-state "$d/plain.state" \
	--endpoint "http://127.0.0.1:$plain_port/$AZ_ACCOUNT" --azure-key-file "$d/account.key" \
	--allow-http "$d/vol.img" 2>&1) || fail "--allow-http did not reach a plain-http endpoint: $out"
grep -q "cycle 1 (initial)" <<<"$out" || fail "no cycle over plain http: $out"
"$CBT_ROOT/scripts/azurite" stop "$d/plain"

az_account_sas "$d/good.sas"
change_blocks "$d/vol.img" "$d/vol.state" 3 2
rep --endpoint "$AZ_ENDPOINT" --ca-file "$d/ca.pem" --azure-sas-file "$d/good.sas" ||
	fail "replicate with a SAS token failed: $out"
grep -q "cycle 2 (delta): 2 blocks" <<<"$out" || fail "no delta through the SAS: $out"
grep -qF "$AZ_SAS_SIG" <<<"$out" && fail "the SAS signature shows in the output"

(umask 077; sed 's/sp=rwdlac/sp=rwdlacx/' "$d/good.sas" >"$d/bad.sas")
change_blocks "$d/vol.img" "$d/vol.state" 9 1
rep --endpoint "$AZ_ENDPOINT" --ca-file "$d/ca.pem" --azure-sas-file "$d/bad.sas" &&
	fail "a tampered SAS token was accepted: $out"
grep -q "refused the credentials" <<<"$out" || fail "no clear SAS error: $out"
grep -q "sig=" <<<"$out" && fail "the SAS shows in the output"
info "wrong key, unsafe key file, unverified certificate, plain http and bad SAS refused"
