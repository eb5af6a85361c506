#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Reprotect and failback from the command line, on the host with the fake
# kernel source (the VM version is selftests/e2e/failback.sh).  Source A
# replicates to replica B; B is failed over and written (untracked, then
# under tracking) while A keeps a tail it never shipped.  reprotect ships
# exactly the blocks where A and B differ (not the disk), apply makes A
# equal to B by sha256; failback refuses A and B swapped, and a block
# changed on A behind cbtship's back (negative controls) until a checksum
# resync of the reverse volume repairs it; failback then resumes forward
# replication with a one-block cycle, and a forward delta keeps B equal
# to A.

. "$(dirname "$0")/../common/lib.sh"
requires_cmd sha256sum

BS=4096
NR=2048
work=$(mktemp -d "${TMPDIR:-/tmp}/cbt-failback.XXXXXX")
at_exit "rm -rf '$work'"
cd "$work" || fail "cd $work"
must "$CBTSHIP" keygen key
head -c $((NR * BS)) /dev/urandom >A
S=(--store store --key key --volume v)
R=(--store store --key key --volume v.reverse)

# put FILE BLOCK [FAKE_STATE]: new random data in BLOCK of FILE, tracked if FAKE_STATE
put() {
	head -c $BS /dev/urandom | dd of="$1" bs=$BS seek="$2" conv=notrunc status=none ||
		fail "write block $2 of $1"
	[ -z "${3:-}" ] || echo "dirty $2 1" >>"$3"
}

# new_tracking FILE: a fake kernel state of a new dm-cbt volume ("resync required")
new_tracking() {
	printf 'block_size %d\ncycle 0\nfrozen 0\nid %s\nresync 1\n' $BS \
		"$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$1"
}

must "$CBTSHIP" replicate "${S[@]}" --fake-state fa --state-dir sd --once A
put A 10 fa
must "$CBTSHIP" replicate "${S[@]}" --fake-state fa --state-dir sd --once A
must "$CBTSHIP" apply "${S[@]}" --replica B
[ "$(sha256_of A)" = "$(sha256_of B)" ] || fail "replica differs from the source before failover"

out=$("$CBTSHIP" reprotect "${S[@]}" --original A 2>&1) && fail "reprotect before failover succeeded: $out"
must "$CBTSHIP" failover --replica B --point 2 "${S[@]}"

info "A's unshipped tail: blocks 50-51; B, untracked: 300-303; under tracking: 700-701"
put A 50 fa
put A 51 fa
for b in 300 301 302 303; do put B $b; done
new_tracking fb
put B 700 fb
put B 701 fb

out=$("$CBTSHIP" reprotect "${S[@]}" --fake-state fb --state-dir sd B 2>&1) &&
	fail "reprotect on the failed-over side before the original's hashes succeeded: $out"
must "$CBTSHIP" reprotect "${S[@]}" --original A
out=$(must "$CBTSHIP" reprotect "${S[@]}" --fake-state fb --state-dir sd B) || exit 1
printf '%s\n' "$out"
grep -q '^reprotect: 8 blocks differ from the original disk (32768 bytes)' <<<"$out" ||
	fail "reprotect did not find the 8 differing blocks"
grep -q '^reprotect: reverse cycle 1: 8 blocks' <<<"$out" || fail "reverse cycle 1 is not exactly 8 blocks"
stored=$(sed -n 's/.* bytes read, \([0-9]*\) bytes stored/\1/p' <<<"$out")
[ -n "$stored" ] && [ "$stored" -le $((32768 * 3 / 2)) ] ||
	fail "reverse cycle 1 stored '$stored' bytes for 32768 differing bytes (more than 1.5x)"
out=$("$CBTSHIP" reprotect "${S[@]}" --original A 2>&1) &&
	fail "publishing the original's hashes again after a reverse cycle succeeded: $out"

must "$CBTSHIP" apply "${R[@]}" --replica A --state Astate
[ "$(sha256_of A)" = "$(sha256_of B)" ] || fail "A differs from B after reverse cycle 1"

info "a delta: block 900 on B"
put B 900 fb
out=$(must "$CBTSHIP" reprotect "${S[@]}" --fake-state fb --state-dir sd B) || exit 1
grep -q '^reprotect: reverse cycle 2: 1 blocks' <<<"$out" || fail "reverse cycle 2: $out"
must "$CBTSHIP" apply "${R[@]}" --replica A --state Astate
[ "$(sha256_of A)" = "$(sha256_of B)" ] || fail "A differs from B after reverse cycle 2"

info "negative control: block 1200 of A changed behind cbtship's back"
put A 1200
F=(--original A --original-state Astate --replica B --source A
   --source-fake-state fa2 --state-dir sd --fake-state fb B)
out=$("$CBTSHIP" failback "${S[@]}" --original B --original-state Astate --replica A --source A \
	--source-fake-state fa2 --state-dir sd --fake-state fb B 2>&1) &&
	fail "failback with --original and --replica swapped succeeded: $out"
grep -q 'is not the disk under' <<<"$out" || fail "failback did not refuse the swapped disks: $out"
out=$("$CBTSHIP" failback "${S[@]}" "${F[@]}" 2>&1) && fail "failback with differing disks succeeded: $out"
grep -q 'differs from B' <<<"$out" || fail "failback did not say the disks differ: $out"
info "repair: the original side publishes its hashes, the failed-over side resyncs"
must "$CBTSHIP" verify "${R[@]}" --replica A --publish
out=$(must "$CBTSHIP" resync "${R[@]}" --fake-state fb --state-dir sd B) || exit 1
grep -q '^resync: 1 blocks differ' <<<"$out" || fail "resync of the reverse volume: $out"
must "$CBTSHIP" apply "${R[@]}" --replica A --state Astate

info "failback: dm-cbt over A again (new tracking fa2)"
new_tracking fa2
out=$(must "$CBTSHIP" failback "${S[@]}" "${F[@]}") || exit 1
printf '%s\n' "$out"
grep -q '^failback: A equals B at reverse cycle 3' <<<"$out" || fail "failback did not prove A == B"
grep -q '^failback: forward cycle 3: 0 blocks differ, 1 blocks shipped' <<<"$out" ||
	fail "forward resync was not a one-block cycle"
[ ! -e store/volumes/v.reverse/cycles ] || fail "the reverse volume's cycles are still in the store"
[ ! -e Astate ] || fail "A's reverse state directory is still there"
out=$("$CBTSHIP" failback "${S[@]}" "${F[@]}" 2>&1) && fail "a second failback succeeded: $out"

info "forward replication again: block 1500 on A"
put A 1500 fa2
out=$(must "$CBTSHIP" replicate "${S[@]}" --fake-state fa2 --state-dir sd --once A) || exit 1
grep -q '(delta): 1 blocks' <<<"$out" || fail "forward delta after failback: $out"
must "$CBTSHIP" apply "${S[@]}" --replica B
[ "$(sha256_of A)" = "$(sha256_of B)" ] || fail "replica differs from the source after failback"
