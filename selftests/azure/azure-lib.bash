#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the azure tests: a private Azurite over HTTPS on 127.0.0.1 with
# a certificate made here, and the cbtship options that reach it.
# shellcheck source=../common/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"

AZ_ACCOUNT=devstoreaccount1

# azurite_setup: sets AZ_DIR, AZ_PORT, AZ_ENDPOINT, AZ_OPTS (array) and starts Azurite.
azurite_setup() {
	[ -x "$CBT_ROOT/tools/azurite/node_modules/.bin/azurite-blob" ] ||
		skip "Azurite is not installed (scripts/install-deps installs it into tools/azurite)"
	requires_cmd openssl
	requires_cmd curl
	[ -x "$CBTSHIP" ] || fail "build cbtship first (make)"
	AZ_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cbt-azure.XXXXXX")
	at_exit "rm -rf '$AZ_DIR'"
	"$CBT_ROOT/scripts/azurite" cert "$AZ_DIR" || fail "cannot make a test certificate"
	at_exit "'$CBT_ROOT/scripts/azurite' stop '$AZ_DIR'"
	AZ_PORT=$("$CBT_ROOT/scripts/azurite" start "$AZ_DIR" "$AZ_DIR/cert.pem" "$AZ_DIR/key.pem") ||
		fail "cannot start Azurite: $(tail -5 "$AZ_DIR/azurite.log" 2>/dev/null)"
	AZ_ENDPOINT=https://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT
	AZ_OPTS=(--endpoint "$AZ_ENDPOINT" --azure-key-file "$AZ_DIR/account.key"
		 --ca-file "$AZ_DIR/ca.pem")
	info "Azurite on port $AZ_PORT"
}

# azurite_restart: stop it and start it again on the same port and data.
azurite_restart() {
	"$CBT_ROOT/scripts/azurite" stop "$AZ_DIR"
	"$CBT_ROOT/scripts/azurite" start "$AZ_DIR" "$AZ_DIR/cert.pem" "$AZ_DIR/key.pem" \
		"$AZ_PORT" >/dev/null || fail "cannot restart Azurite: $(tail -5 "$AZ_DIR/azurite.log")"
}

# fake_volume FILE MIB: a volume of MIB MiB of mixed data (random, zeros, text).
fake_volume() {
	local f=$1 mib=$2
	head -c $((mib * 1048576)) /dev/urandom >"$f"
	# A zero run and a compressible run, as real volumes have.
	dd if=/dev/zero of="$f" bs=1M seek=1 count=1 conv=notrunc status=none
	yes "cbtship azure test line" | head -c 1048576 |
		dd of="$f" bs=1M seek=2 conv=notrunc status=none
}

# change_blocks FILE STATE START COUNT: overwrite 4 KiB blocks and tell the fake kernel.
change_blocks() {
	head -c $(($4 * 4096)) /dev/urandom |
		dd of="$1" bs=4096 seek="$3" conv=notrunc status=none
	echo "dirty $3 $4" >>"$2"
}

# az_get PATH [QUERY] >OUT: GET ENDPOINT/PATH[?QUERY] with a Shared Key
# signature made here with openssl, independent of cbtship's signing code.
# QUERY is "a=1&b=2" with names in sorted order and values needing no escaping.
az_get() {
	local path=$1 query=${2:-} key_hex date canon sts sig
	key_hex=$(base64 -d <"$AZ_DIR/account.key" | od -An -tx1 | tr -d ' \n')
	date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
	canon=/$AZ_ACCOUNT/$AZ_ACCOUNT/$path
	[ -z "$query" ] || canon+=$'\n'$(tr '&=' $'\n:' <<<"$query")
	sts=$(printf 'GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:2021-08-06\n%s' "$date" "$canon")
	sig=$(printf '%s' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary |
		base64 -w0)
	curl -sS --fail --cacert "$AZ_DIR/ca.pem" -H "x-ms-date: $date" \
		-H "x-ms-version: 2021-08-06" -H "Authorization: SharedKey $AZ_ACCOUNT:$sig" \
		"$AZ_ENDPOINT/$path${query:+?$query}"
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# az_account_sas FILE: write an account SAS token (blob service; container and
# object; read, write, delete, list, add, create), signed here with openssl as
# the SAS docs describe, to FILE (mode 0600); AZ_SAS_SIG is its signature as
# it appears in the token.  (Command substitution drops the trailing empty
# encryption-scope line and the final newline; they are added back when signing.)
az_account_sas() {
	local key_hex se=2099-01-01T00:00:00Z sts sig
	key_hex=$(base64 -d <"$AZ_DIR/account.key" | od -An -tx1 | tr -d " \n")
	sts=$(printf '%s\nrwdlac\nb\nco\n\n%s\n\nhttps\n2021-08-06\n\n' "$AZ_ACCOUNT" "$se")
	sig=$(printf '%s\n\n' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary |
		base64 -w0)
	AZ_SAS_SIG=$(url_enc "$sig")
	(umask 077; printf '?sv=2021-08-06&ss=b&srt=co&sp=rwdlac&se=%s&spr=https&sig=%s\n' \
		"$(url_enc "$se")" "$AZ_SAS_SIG" >"$1")
}

url_enc() {
	python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

# proxy_start [copy-pending]: start throttle-proxy.py in front of Azurite
# (stopped at exit); sets PROXY_PORT, and PROXY_COUNTS to its counts file.
proxy_start() {
	local ppid i
	PROXY_COUNTS=$AZ_DIR/proxy.counts
	python3 "$CBT_ROOT/selftests/azure/throttle-proxy.py" "$AZ_DIR/proxy.port" "$AZ_PORT" \
		"$AZ_DIR/ca.pem" "$PROXY_COUNTS" "$@" 2>"$AZ_DIR/proxy.err" &
	ppid=$!
	at_exit "kill $ppid"
	for ((i = 0; i < 300; i++)); do
		[ -s "$AZ_DIR/proxy.port" ] && break
		kill -0 $ppid 2>/dev/null || fail "the proxy exited: $(cat "$AZ_DIR/proxy.err")"
		sleep 0.1
	done
	PROXY_PORT=$(cat "$AZ_DIR/proxy.port") || fail "the proxy did not start"
}
