#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Retries against a misbehaving service: a proxy in front of Azurite
# (throttle-proxy.py) answers every 2nd distinct request 503 ServerBusy the first
# time, and drops the connection of, or answers 500 to, some of those the
# second time.  Replication and apply still give a page-blob replica equal
# to the source, the failures were injected (and so retried), and the store
# holds exactly the two cycles written.
source "$(dirname "$0")/azure-lib.bash"
requires_cmd python3
azurite_setup

d=$AZ_DIR
proxy_start
pport=$PROXY_PORT
via=(--endpoint "http://127.0.0.1:$pport/$AZ_ACCOUNT" --allow-http
     --azure-key-file "$d/account.key")

store=azure://$AZ_ACCOUNT/flaky
"$CBTSHIP" keygen "$d/enc.key" >/dev/null
fake_volume "$d/vol.img" 40
out=$("$CBTSHIP" replicate --store "$store" "${via[@]}" --key "$d/enc.key" --once \
	--fake-state "$d/vol.state" "$d/vol.img" 2>&1) || fail "replicate failed: $out"
grep -q "^cycle 1 (initial)" <<<"$out" || fail "no cycle: $out"
change_blocks "$d/vol.img" "$d/vol.state" 1000 300
out=$("$CBTSHIP" replicate --store "$store" "${via[@]}" --key "$d/enc.key" --once \
	--fake-state "$d/vol.state" "$d/vol.img" 2>&1) || fail "replicate failed: $out"
grep -q "^cycle 2 (delta): 300 blocks" <<<"$out" || fail "no delta: $out"
out=$("$CBTSHIP" apply --store "$store" "${via[@]}" --key "$d/enc.key" --volume vol.img \
	--replica "azure://$AZ_ACCOUNT/flaky/disk" --state "$d/disk-state" 2>&1) || fail "apply failed: $out"
info "proxy: $(cat "$d/proxy.counts")"
read -r -a c <"$d/proxy.counts"
for kv in "${c[@]}"; do declare "n_${kv%%=*}=${kv#*=}"; done
[ "${n_503:-0}" -gt 0 ] && [ "${n_500:-0}" -gt 0 ] && [ "${n_dropped:-0}" -gt 0 ] ||
	fail "the proxy injected no failures: was it used?"

# The replica, read straight from Azurite (not through the proxy).
az_get flaky/disk >"$d/replica.img" || fail "cannot download the page blob"
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs from the source"
list=$(az_get flaky "comp=list&restype=container") || fail "cannot list"
nman=$(grep -o '<Name>volumes/vol.img/cycles/[0-9]*/manifest</Name>' <<<"$list" | wc -l)
[ "$nman" -eq 2 ] || fail "expected exactly 2 manifests: $list"
info "replica = source through $n_503 throttled, $n_500 failed and $n_dropped dropped requests"
