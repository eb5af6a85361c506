#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Azurite killed (SIGKILL) in the middle of a cycle's uploads: the running
# replicate retries with backoff, gives up, merges the kernel cycle back and
# exits with an error, and nothing of the cycle becomes visible.  Azurite
# started again on the same data: the next replicate ships the whole cycle
# (nothing lost), a later delta follows, and apply gives a replica equal to
# the source.  (Changes are made only while no replicate runs: the fake
# kernel's state file is not safe against concurrent writers.)
source "$(dirname "$0")/azure-lib.bash"
azurite_setup

d=$AZ_DIR
store=azure://$AZ_ACCOUNT/cbt
"$CBTSHIP" keygen "$d/enc.key" >/dev/null
fake_volume "$d/vol.img" 96
rep=("$CBTSHIP" replicate --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" --codec none
     --once --fake-state "$d/vol.state" "$d/vol.img")
azlog() { echo "Azurite: $(tail -5 "$d/azurite.log")"; }

out=$("${rep[@]}" 2>&1) || fail "cycle 1 failed: $out"
grep -q "^cycle 1 (initial)" <<<"$out" || fail "no cycle 1: $out"
# Azurite writes its metadata to disk every 5 s, so a SIGKILL loses what it
# acknowledged in the last 5 s (an emulator's shortcut; the service
# acknowledges durably).  Let cycle 1 settle before killing it.
sleep 6

# A large delta (64 MiB), killed while its segments are arriving (Azurite's
# extent files grow) and before it completes.
data_bytes() { du -sb "$d/data" 2>/dev/null | cut -f1; }
base=$(data_bytes)
change_blocks "$d/vol.img" "$d/vol.state" 4096 16384
"${rep[@]}" >"$d/rep.out" 2>"$d/rep.err" &
rpid=$!
at_exit "kill $rpid"
for ((i = 0; i < 1200; i++)); do
	[ "$(data_bytes)" -gt $((base + 8 * 1048576)) ] && break
	kill -0 $rpid 2>/dev/null || break
	sleep 0.05
done
kill -0 $rpid 2>/dev/null || skip "cycle 2 ended before Azurite could be killed mid-cycle: $(cat "$d/rep.out" "$d/rep.err")"
kill -9 "$(cat "$d/azurite.pid")"
info "killed Azurite with $(( ($(data_bytes) - base) / 1048576 )) MiB of cycle 2 uploaded"
wait $rpid && fail "replicate succeeded with Azurite down: $(cat "$d/rep.out")"
grep -q "retry" "$d/rep.err" || fail "no retries: $(tail -5 "$d/rep.err")"
grep -q "merged back" "$d/rep.err" || fail "the kernel cycle was not merged back: $(tail -5 "$d/rep.err")"
info "$(grep -c retry "$d/rep.err") retries, then: $(grep -m1 'merged back' "$d/rep.err")"

azurite_restart
list=$(az_get cbt "comp=list&restype=container") || fail "cannot list the store: $(azlog)"
grep -q "cycles/00000000000000000002/manifest" <<<"$list" && fail "the failed cycle 2 has a manifest"
info "after the restart: no manifest of cycle 2, $(grep -o 'cycles/00000000000000000002/seg-' <<<"$list" | wc -l) leftover segments"
out=$("${rep[@]}" 2>&1) || fail "replicate after the restart failed: $out"$'\n'"$(azlog)"
info "$out"
grep -q "^cycle 2 (delta): 16384 blocks" <<<"$out" || fail "cycle 2 is not the whole delta: $out"

change_blocks "$d/vol.img" "$d/vol.state" 7 9
out=$("${rep[@]}" 2>&1) || fail "cycle 3 failed: $out"
grep -q "^cycle 3 (delta): 9 blocks" <<<"$out" || fail "no delta after the restart: $out"

must "$CBTSHIP" apply --store "$store" "${AZ_OPTS[@]}" --key "$d/enc.key" --volume vol.img \
	--replica "$d/replica.img" >/dev/null
[ "$(sha "$d/replica.img")" = "$(sha "$d/vol.img")" ] || fail "replica differs from the source"
info "replica = source after the restart"
