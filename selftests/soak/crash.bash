#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of the soak's crash run (scripts/soak --crash; not a test of
# its own, hence not *.sh).  Three dm-cbt volumes, each with a write-intent
# log (64 KiB regions), sliced out of two virtio disks (/dev/vda: data, /dev/vdb: logs) that
# outlive the guest; the store, key and state directory are in $SOAK_SHARE
# on the host.
#
#   crash.bash crash   initial cycles (first boot only), then fio writers and
#                      cycle loops on all three volumes, and at a random
#                      moment (SOAK_SEED; 2-10 s after every volume was
#                      written to) the guest crashes (sysrq c)
#   crash.bash check   after the crash: the volumes come back from their
#                      logs (not resync required), one cycle each settles
#                      whatever the crash left (a frozen cycle, a half
#                      stored one), and every replica equals its source.
#                      Negative control: the replica before that differs.
#
# Prints "figure: ..." lines for the host and, last, "divergences N".

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/soak-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

phase=${1:?crash or check}
share=${SOAK_SHARE:?}
seed=${SOAK_SEED:-1}
RANDOM=$seed
NVOL=3
MB=8
SEC=$((MB * 2048))
store=$share/store
key=$share/key

for ((i = 0; i < NVOL; i++)); do
	dmsetup create "sc$i-data" --table "0 $SEC linear /dev/vda $((i * SEC))" ||
		fail "dmsetup create sc$i-data failed"
	dmsetup create "sc$i-log" --table "0 2048 linear /dev/vdb $((i * 2048))" ||
		fail "dmsetup create sc$i-log failed"
	dmsetup create "sc$i" --table "0 $SEC cbt /dev/mapper/sc$i-data 4096 4 metadata /dev/mapper/sc$i-log region_size 65536" ||
		fail "dmsetup create sc$i (cbt with a log) failed"
done

ship() {
	"$CBTSHIP" replicate --once --store "$store" --key "$key" --state-dir "$share/state" \
		"/dev/mapper/sc$1"
}

if [ "$phase" = crash ]; then
	if [ ! -d "$store/volumes" ]; then
		info "first boot: initial cycles"
		for ((i = 0; i < NVOL; i++)); do
			fio --name=init --filename="/dev/mapper/sc$i" --rw=randwrite --bs=64k \
				--direct=1 --ioengine=psync --io_size=4M --randseed=$((seed + i)) \
				--refill_buffers --output=/dev/null || fail "fio failed"
			must ship "$i"
		done
	fi
	for ((i = 0; i < NVOL; i++)); do
		vol=/dev/mapper/sc$i
		echo "figure: before: sc$i dirty=$(vol_field "$vol" dirty) resync_required=$(vol_field "$vol" resync_required)"
	done
	# Writers until the crash; cycle loops at random moments (drawn here:
	# a subshell would draw other numbers).
	for ((i = 0; i < NVOL; i++)); do
		fio --name=w --filename="/dev/mapper/sc$i" --rw=randwrite --bsrange=4k-64k \
			--blockalign=4k --direct=1 --ioengine=psync --rate=256k --time_based \
			--runtime=3600 --randseed=$((seed * 10 + i)) --refill_buffers \
			--output=/dev/null &
		gaps=()
		for ((n = 0; n < 20; n++)); do gaps+=($((RANDOM % 1500))); done
		(
			for g in "${gaps[@]}"; do
				sleep "0.$(printf '%03d' "$g")"
				ship "$i" >>"$share/ship$i.log" 2>&1
			done
		) &
	done
	# The clock starts once every volume has been written to.
	wait_written $(seq -f "/dev/mapper/sc%.0f" 0 $((NVOL - 1))) || fail "the writers did not start"
	at=$((2000 + RANDOM % 8000))
	sleep "$((at / 1000)).$(printf '%03d' $((at % 1000)))"
	# The console may lose the last lines in the crash: the host gets it from the share.
	echo "figure: crash after $at ms of writes and cycles; cycles stored by then:" \
		"$(cat "$share"/ship*.log 2>/dev/null | grep -c '^cycle ')" | tee "$share/crash-figure"
	echo c >/proc/sysrq-trigger
	sleep 60
	fail "still alive after sysrq c"
fi

# ---- check ----
cbt_log=$(dmesg | grep -o 'sc[0-9]: unclean shutdown.*')
printf 'figure: kernel: %s\n' "$cbt_log"
for ((i = 0; i < NVOL; i++)); do
	vol=/dev/mapper/sc$i
	echo "figure: after the crash: sc$i dirty=$(vol_field "$vol" dirty) resync_required=$(vol_field "$vol" resync_required)"
done

info "negative control: the replicas from what the store held at the crash"
differ=0
for ((i = 0; i < NVOL; i++)); do
	must "$CBTSHIP" -q apply --store "$store" --key "$key" --volume "sc$i" \
		--replica "$share/replica$i" >/dev/null
	[ "$(sha256_of "$share/replica$i")" = "$(sha256_of "/dev/mapper/sc$i")" ] ||
		differ=$((differ + 1))
done
echo "figure: replicas behind their source after the crash: $differ of $NVOL"
[ $differ -gt 0 ] || fail "negative control: no replica differs, the crash left nothing to recover"

divergences=0
for ((i = 0; i < NVOL; i++)); do
	vol=/dev/mapper/sc$i
	out=$(ship "$i" 2>&1) || fail "the cycle of sc$i after the crash failed:"$'\n'"$out"
	printf '%s\n' "$out" | sed "s/^/# sc$i: /"
	[ "$(vol_field "$vol" frozen)" = 0 ] || fail "sc$i left frozen"
	[ "$(vol_field "$vol" dirty)" = 0 ] || fail "sc$i dirty after its cycle"
	[ "$(vol_field "$vol" resync_required)" = 0 ] || fail "sc$i resync required after its cycle"
	must "$CBTSHIP" -q apply --store "$store" --key "$key" --volume "sc$i" \
		--replica "$share/replica$i" >/dev/null
	src=$(sha256_of "$vol")
	rep=$(sha256_of "$share/replica$i")
	info "sc$i source $src replica $rep"
	[ "$src" = "$rep" ] || divergences=$((divergences + 1))
done
for ((i = 0; i < NVOL; i++)); do
	dmsetup remove "sc$i" && dmsetup remove "sc$i-log" "sc$i-data"
done
echo "divergences $divergences"
[ $divergences = 0 ] || fail "$divergences replicas differ from their source after the crash"
