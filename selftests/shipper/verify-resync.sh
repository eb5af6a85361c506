#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# cbtship verify and resync from the command line, on the host with the
# fake kernel source: a known set of blocks changed behind the tracker's
# back is listed exactly by verify (exit 1), equal volumes give exit 0,
# errors exit 2; resync ships only the differing blocks (bytes shipped vs
# bytes that differ printed, within 1.5x) and the replica's sha256 then
# equals the source's.  Also: detach, "reboot" (new tracking id), attach
# ships only the saved blocks.

. "$(dirname "$0")/../common/lib.sh"
requires_cmd sha256sum

BS=4096
NR=2048
work=$(mktemp -d "${TMPDIR:-/tmp}/cbt-verify.XXXXXX")
at_exit "rm -rf '$work'"
cd "$work" || fail "cd $work"
must "$CBTSHIP" keygen key
head -c $((NR * BS)) /dev/urandom >src
S=(--store store --key key --volume v)
F=(--fake-state fs --state-dir sd)

must "$CBTSHIP" replicate "${S[@]}" "${F[@]}" --once src
must "$CBTSHIP" apply "${S[@]}" --replica replica

# verify ARGS...: run cbtship verify, keep its output in $out and status in $rc
verify() {
	out=$("$CBTSHIP" verify "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
}

verify "${S[@]}" src
[ $rc = 2 ] || fail "verify without a published list: exit $rc, want 2"
echo "$out" | grep -q 'verify --publish' || fail "the error does not say how to publish a list"
verify "${S[@]}" --replica replica src
[ $rc = 0 ] || fail "verify of equal volumes: exit $rc, want 0"

# Behind the tracker's back: blocks 5, 6, 7, 1000 and the last one.
for b in 5 6 7 1000 $((NR - 1)); do
	head -c $BS /dev/urandom | dd of=src bs=$BS seek=$b conv=notrunc status=none
done
verify "${S[@]}" src
[ $rc = 1 ] || fail "verify after untracked writes: exit $rc, want 1"
got=$(echo "$out" | grep '^differ:' | tr '\n' ' ')
want="differ: blocks 5-7 (3 blocks) differ: blocks 1000-1000 (1 blocks) differ: blocks $((NR - 1))-$((NR - 1)) (1 blocks) "
[ "$got" = "$want" ] || fail "verify listed '$got', want '$want'"

info "a normal cycle does not see them (negative control)"
must "$CBTSHIP" replicate "${S[@]}" "${F[@]}" --once src
must "$CBTSHIP" apply "${S[@]}" --replica replica
[ "$(sha256_of src)" != "$(sha256_of replica)" ] || fail "replica equals the source without a resync"

info "publish on the target, resync on the source"
must "$CBTSHIP" verify "${S[@]}" --replica replica --publish
out=$(must "$CBTSHIP" resync "${S[@]}" "${F[@]}" src) || exit 1
printf '%s\n' "$out"
echo "$out" | grep -q '^resync: 5 blocks differ (20480 bytes)' || fail "resync did not find the 5 blocks"
stored=$(echo "$out" | sed -n 's/.* bytes read, \([0-9]*\) bytes stored.*/\1/p')
[ -n "$stored" ] && [ "$stored" -le $((20480 * 3 / 2)) ] ||
	fail "resync stored '$stored' bytes for 20480 differing bytes (more than 1.5x)"
must "$CBTSHIP" apply "${S[@]}" --replica replica
[ "$(sha256_of src)" = "$(sha256_of replica)" ] || fail "replica differs from the source after resync"
verify "${S[@]}" --replica replica src
[ $rc = 0 ] || fail "verify after resync: exit $rc, want 0"

verify "${S[@]}" --key /nonexistent src
[ $rc = 2 ] || fail "verify with a missing key: exit $rc, want 2"

info "detach, reboot, attach"
for b in 100 101 102 1500; do
	head -c $BS /dev/urandom | dd of=src bs=$BS seek=$b conv=notrunc status=none
	echo "dirty $b 1" >>fs
done
out=$(must "$CBTSHIP" detach "${S[@]}" "${F[@]}" src) || exit 1
echo "$out" | grep -qx 'saved 4 changed blocks' || fail "detach said '$out'"
sed -i 's/^id .*/id 00112233445566778899aabbccddeeff/; /^dirty/d' fs
out=$(must "$CBTSHIP" replicate "${S[@]}" "${F[@]}" --once src) || exit 1
printf '%s\n' "$out"
echo "$out" | grep -q '(delta): 4 blocks' || fail "attach after detach did not ship exactly the 4 saved blocks"
must "$CBTSHIP" apply "${S[@]}" --replica replica
[ "$(sha256_of src)" = "$(sha256_of replica)" ] || fail "replica differs from the source after detach and attach"
