#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kill -9 safety of cbtship replicate on a real dm-cbt volume: a writer
# runs throughout while replicate is started and SIGKILLed at random
# moments (0 to 1.5x a measured cycle) for CBT_KILL9_ROUNDS rounds (default
# 8, for make check's time budget; 15 or more for a longer run); then the writer
# stops, one clean cycle runs, and the applied replica's sha256 equals the
# source's.  Kills that landed mid-cycle are counted and required; the
# replica differs before the final cycle (negative control).

. "$(dirname "$0")/../common/lib.sh"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

BS=4096
MB=32
ROUNDS=${CBT_KILL9_ROUNDS:-8}
work=$(mktemp -d /tmp/e2e.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk $MB)
cbt_create k9 "$disk" $BS
vol=/dev/mapper/k9
must "$CBTSHIP" keygen "$work/key"
REPL=("$CBTSHIP" -q replicate --store "$work/store" --key "$work/key"
      --state-dir "$work/state" --once "$vol")

fio --name=fill --filename="$vol" --rw=write --bs=1M --direct=1 --ioengine=psync \
	--refill_buffers --output=/dev/null || fail "fio failed"
must "${REPL[@]}"

# A writer throughout: random 4-64 KiB writes, rate-limited so cycles stay short.
fio --name=w --filename="$vol" --rw=randwrite --bsrange=4k-64k --direct=1 \
	--ioengine=psync --rate=2m --time_based --runtime=3600 --refill_buffers \
	--norandommap --output=/dev/null &
writer=$!
at_exit "kill $writer"

now_ms() {
	date +%s%3N
}
sleep 1
t0=$(now_ms)
must "${REPL[@]}"
cycle_ms=$(( $(now_ms) - t0 ))
info "one cycle with the writer running: $cycle_ms ms"

hits=0
for ((r = 1; r <= ROUNDS; r++)); do
	delay_ms=$(( (RANDOM * 32768 + RANDOM) % (cycle_ms * 3 / 2 + 1) ))
	"${REPL[@]}" >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	if "$CBTSHIP" cbt status "$vol" 2>/dev/null | grep -qx 'frozen: 1'; then
		hits=$((hits + 1))
	else
		for c in "$work"/store/volumes/k9/cycles/*/; do
			[ -e "$c/manifest" ] || { hits=$((hits + 1)); break; }
		done
	fi
done
info "$ROUNDS rounds; $hits kills left a frozen cycle or a cycle without manifest"
[ $hits -gt 0 ] || fail "no kill landed inside a cycle"

kill $writer
wait $writer 2>/dev/null
# pending for sure, even if the last round was not killed
head -c $BS /dev/urandom | dd of="$vol" bs=$BS seek=3 oflag=direct conv=notrunc status=none ||
	fail "write failed"
must "$CBTSHIP" -q apply --store "$work/store" --key "$work/key" --volume k9 --replica "$work/replica"
[ "$(sha256_of "$vol")" != "$(sha256_of "$work/replica")" ] ||
	fail "negative control: the replica equals the source before the final cycle"
must "${REPL[@]}"
must "$CBTSHIP" -q apply --store "$work/store" --key "$work/key" --volume k9 --replica "$work/replica"
s=$(sha256_of "$vol")
r=$(sha256_of "$work/replica")
info "source $s replica $r"
[ "$s" = "$r" ] || fail "replica differs from the source after $ROUNDS kill -9 rounds"
