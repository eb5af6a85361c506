#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Soak: three dm-cbt volumes under fio (writes verified by fio's crc32c),
# cycles of all three started at random moments, two random faults a round
# on two random volumes (the victims), then a quiesced cycle of every
# volume and every replica compared with its source (sha256).  Faults:
#
#   none          a round without a fault (cycles must all succeed)
#   kill-shipper  the victim's cbtship replicate gets SIGKILL 0-0.4 s after
#                 its cycle is seen frozen (reads from its disk 50 ms slower)
#   kill-applier  the victim's cbtship apply gets SIGKILL 0-3 s in
#   suspend       dmsetup suspend/resume of the victim during the cycles
#   reload        dmsetup reload (same table) + suspend/resume, likewise
#   store-ro      the store's file system remounted read-only during the
#                 cycles, a cycle that must fail cleanly, then read-write
#   slow-disk     dm-delay (5 ms) under the victim's dm-cbt for the round
#   read-errors   dm-flakey fails reads of MiB 4-5 under the victim: a
#                 cycle must fail cleanly, then the disk heals
#
# After each round nothing may be frozen or dirty after the settling cycle,
# and each replica must equal its source; a replica that differs is a
# divergence (counted, the test fails at the end).  The last line has the
# figures: rounds, cycles, bytes, faults by kind, divergences.
#
# SOAK_SEED replays a run (the seed is printed).  By default each fault
# kind once, in a random order (4 rounds: the short run of make check);
# SOAK_MINUTES=N runs random rounds for N minutes instead (scripts/soak).

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/../faults/faults-lib.bash"
. "$(dirname "$0")/soak-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum mount
load_dm_cbt
modprobe dm-delay 2>/dev/null || skip "no dm-delay in this kernel"
modprobe dm-flakey 2>/dev/null || skip "no dm-flakey in this kernel"

seed=${SOAK_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
minutes=${SOAK_MINUTES:-0}
RANDOM=$seed
KINDS=(none kill-shipper kill-applier suspend reload store-ro slow-disk read-errors)
MB=8
NVOL=3
if [ "$minutes" -gt 0 ]; then
	info "soak: seed $seed (SOAK_SEED=$seed replays it), random rounds for $minutes min"
else
	info "soak: seed $seed (SOAK_SEED=$seed replays it), each fault kind once, two a round"
fi

work=$(mktemp -d /tmp/soak.XXXXXX)
at_exit "rm -rf '$work'"
mkdir -p "$work/mnt" "$work/state" "$work/logs"
# The store on its own file system, so that it can become unavailable.
mount -t tmpfs -o size=512m soak-store "$work/mnt" || fail "mount of the store's tmpfs failed"
at_exit "umount -l '$work/mnt'"
store=$work/mnt/store
key=$work/key
must "$CBTSHIP" keygen "$key"

declare -a disk table healthy
for ((i = 0; i < NVOL; i++)); do
	disk[i]=$(make_ramdisk $MB)
	lower_create "soak$i-lower" "${disk[i]}"
	cbt_create "soak$i" "/dev/mapper/soak$i-lower" 4096
	table[i]=$(dmsetup table "soak$i")
	sectors=$(blockdev --getsz "${disk[i]}")
	healthy[i]="0 $sectors linear ${disk[i]} 0"
done
# MiB 4-5 of a volume: where read-errors makes reads fail.
bad_start=8192 bad_len=2048

cycles=0 blocks=0 divergences=0 rounds=0
declare -A injected landed

# tally LOG: count the cycles a cbtship replicate log reports.
tally() {
	local n b
	while read -r n b; do
		cycles=$((cycles + 1))
		blocks=$((blocks + b))
	done < <(sed -n 's/^cycle \([0-9]*\) ([a-z]*): \([0-9]*\) blocks.*/\1 \2/p' "$1")
}

ship_vol() {	# ship_vol I: one cycle of soak$I
	"$CBTSHIP" replicate --store "$store" --key "$key" --state-dir "$work/state" \
		--once "/dev/mapper/soak$1"
}

ms_sleep() {
	sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
}

# kill_in_cycle DEVICE MS LOG CMD...: run CMD (a cycle of DEVICE, output to
# LOG), SIGKILL it MS ms after DEVICE's cycle is frozen; prints "killed" or
# "finished" (it ended first) and, after a kill, whether a cycle was frozen.
kill_in_cycle() {
	local dev=$1 ms=$2 log=$3 pid t rc
	shift 3
	"$@" >"$log" 2>&1 &
	pid=$!
	for ((t = 0; t < 600; t++)); do
		[ "$(vol_field "$dev" frozen)" = 1 ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	ms_sleep "$ms"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	case $rc in
	137) echo "killed (frozen=$(vol_field "$dev" frozen))" ;;
	0) echo finished ;;
	*) echo "failed $rc" ;;
	esac
}

# shipper_job I DELAY_MS KILL_MS: a background job: after DELAY_MS, one
# cycle of volume I (killed KILL_MS after its freeze unless that is empty); its log in
# logs/shipI, its outcome (ok, killed, finished, failed N) in logs/shipI.rc,
# which appears when the cycle is over (logs/shipI.started when it began).
shipper_job() {
	local i=$1 delay=$2 kill_ms=$3 res
	ms_sleep "$delay"
	: >"$work/logs/ship$i.started"
	if [ -n "$kill_ms" ]; then
		res=$(kill_in_cycle "/dev/mapper/soak$i" "$kill_ms" "$work/logs/ship$i" \
			"$CBTSHIP" replicate --store "$store" --key "$key" --state-dir "$work/state" \
			--once "/dev/mapper/soak$i")
	elif ship_vol "$i" >"$work/logs/ship$i" 2>&1; then
		res=ok
	else
		res="failed $?"
	fi
	echo "$res" >"$work/logs/ship$i.rc"
}

# cycles_running: how many cycles of the round are running now.
cycles_running() {
	local i n=0
	for ((i = 0; i < NVOL; i++)); do
		[ -e "$work/logs/ship$i.started" ] && [ ! -e "$work/logs/ship$i.rc" ] && n=$((n + 1))
	done
	echo $n
}

fio_job() {	# fio_job I SEED MB: verified random writes at 2 MiB/s
	fio --name="soak$1" --filename="/dev/mapper/soak$1" --rw=randwrite --bsrange=4k-64k \
		--blockalign=4k --direct=1 --ioengine=psync --size=${MB}M --io_size="$3M" \
		--randseed="$2" --refill_buffers --rate=2m --verify=crc32c --verify_fatal=1 \
		--output="$work/logs/fio$1" >/dev/null 2>&1
}

# fails_cleanly I RE: a cycle of volume I must fail saying /RE/, leave
# nothing frozen, keep the dirty blocks and add no complete cycle.
fails_cleanly() {
	local i=$1 re=$2 out dirty before
	dirty=$(vol_field "/dev/mapper/soak$i" dirty)
	before=$(complete_cycles "$store" "soak$i")
	if out=$(ship_vol "$i" 2>&1); then
		fail "a cycle of soak$i succeeded under $kind:"$'\n'"$out"
	fi
	grep -qi -- "$re" <<<"$out" || fail "the failed cycle does not say /$re/:"$'\n'"$out"
	info "  failed as it should: $(grep -i -m1 -- "$re" <<<"$out")"
	[ "$(vol_field "/dev/mapper/soak$i" frozen)" = 0 ] || fail "the failed cycle is left frozen"
	[ "$(vol_field "/dev/mapper/soak$i" dirty)" -ge "$dirty" ] ||
		fail "dirty blocks of soak$i fell from $dirty: changes were lost"
	[ "$(complete_cycles "$store" "soak$i")" = "$before" ] ||
		fail "the failed cycle of soak$i became visible in the store"
}

# has KIND: is KIND one of this round's faults?
has() {
	[[ " ${now[*]} " == *" $1 "* ]]
}
landed_one() {
	landed[$1]=$((${landed[$1]:-0} + 1))
}

# check_all [KILL_APPLY_VICTIM KILL_MS]: settle and compare every volume.
check_all() {
	local i src rep res
	for ((i = 0; i < NVOL; i++)); do
		ship_vol "$i" >"$work/logs/settle$i" 2>&1 ||
			fail "settling cycle of soak$i failed after $kind: $(cat "$work/logs/settle$i")"
		tally "$work/logs/settle$i"
		[ "$(vol_field "/dev/mapper/soak$i" frozen)" = 0 ] || fail "soak$i left frozen"
		[ "$(vol_field "/dev/mapper/soak$i" dirty)" = 0 ] ||
			fail "soak$i still dirty after a quiesced cycle:"$'\n'"$(probe get "/dev/mapper/soak$i")"$'\n'"$(cat "$work/logs/settle$i")"
		if [ "${1:-x}" = "$i" ]; then
			res=$(kill_after "$2" "$work/logs/apply$i" "$CBTSHIP" apply --store "$store" \
				--key "$key" --volume "soak$i" --replica "$work/replica$i")
			info "  apply of soak$i killed after $2 ms: $res"
			[ "$res" = killed ] && landed_one kill-applier
			case $res in killed|finished) ;; *) fail "apply $res: $(cat "$work/logs/apply$i")" ;; esac
		fi
		must "$CBTSHIP" -q apply --store "$store" --key "$key" --volume "soak$i" \
			--replica "$work/replica$i" >/dev/null
		src=$(sha256_of "/dev/mapper/soak$i")
		rep=$(sha256_of "$work/replica$i")
		if [ "$src" != "$rep" ]; then
			divergences=$((divergences + 1))
			echo "# DIVERGENCE: round $round ($kind): soak$i $src, replica $rep"
		fi
	done
}

info "initial cycles"
for ((i = 0; i < NVOL; i++)); do
	writes "/dev/mapper/soak$i" "$((seed + i))" 4
done
kind=initial round=0
check_all

start=$(date +%s)
# Two faults a round, on two different volumes, the kinds taken in turn
# from a shuffled list (shuffled again when used up), so that a run sees
# every kind equally often.  (RANDOM is drawn here, in the test's shell: a
# subshell would draw other numbers and break the replay of a seed.)
shuffle() {
	local keyed=() k
	for k in "${KINDS[@]}"; do keyed+=("$RANDOM $k"); done
	mapfile -t order < <(printf '%s\n' "${keyed[@]}" | sort -n | cut -d' ' -f2)
}
while :; do
	if [ "$minutes" -gt 0 ]; then
		[ $(($(date +%s) - start)) -lt $((minutes * 60)) ] || break
	else
		# Each kind once: the short run.
		[ $((rounds * 2)) -lt ${#KINDS[@]} ] || break
	fi
	idx=$((rounds * 2 % ${#KINDS[@]}))
	[ $idx = 0 ] && shuffle
	now=("${order[idx]}" "${order[idx + 1]}")
	rounds=$((rounds + 1))
	round=$rounds
	kind="${now[0]}+${now[1]}"
	declare -A victim=()
	v=$((RANDOM % NVOL))
	victim[${now[0]}]=$v
	victim[${now[1]}]=$(((v + 1 + RANDOM % (NVOL - 1)) % NVOL))
	for k in "${now[@]}"; do injected[$k]=$((${injected[$k]:-0} + 1)); done
	info "round $round: ${now[0]} on soak${victim[${now[0]}]}, ${now[1]} on soak${victim[${now[1]}]}"
	kmsg_mark "round $round: $kind"

	if has slow-disk; then
		v=${victim[slow-disk]}
		lower_table "soak$v-lower" "0 $(blockdev --getsz "${disk[v]}") delay ${disk[v]} 0 5"
	fi
	if has kill-shipper; then
		# 50 ms a read (writes as fast as ever): the frozen part of the
		# cycle, reading the changed blocks, lasts long enough to be hit.
		v=${victim[kill-shipper]}
		lower_table "soak$v-lower" "0 $(blockdev --getsz "${disk[v]}") delay ${disk[v]} 0 50 ${disk[v]} 0 0"
	fi
	fio_pids=()
	for ((i = 0; i < NVOL; i++)); do
		fio_job "$i" "$((seed * 100 + round * NVOL + i))" $((1 + RANDOM % 3)) &
		fio_pids+=($!)
	done
	# The cycles start once every volume is being written to.
	wait_written $(seq -f "/dev/mapper/soak%.0f" 0 $((NVOL - 1))) || fail "round $round: the writers did not start"
	rm -f "$work"/logs/ship*.rc "$work"/logs/ship*.started
	ship_pids=()
	for ((i = 0; i < NVOL; i++)); do
		kill_ms=
		has kill-shipper && [ $i = "${victim[kill-shipper]}" ] && kill_ms=$((RANDOM % 400))
		shipper_job "$i" $((RANDOM % 1500)) "$kill_ms" &
		ship_pids+=($!)
	done
	# The faults that hit while the cycles run, one after the other.
	for k in "${now[@]}"; do
		v=${victim[$k]}
		at=$((RANDOM % 1500))
		case $k in
		suspend|reload)
			ms_sleep "$at"
			[ "$k" = reload ] && must dmsetup reload "soak$v" --table "${table[v]}"
			must dmsetup suspend "soak$v"
			during=$(cycles_running)
			ms_sleep $((100 + RANDOM % 900))
			must dmsetup resume "soak$v"
			;;
		store-ro)
			ms_sleep "$at"
			# A file open for writing makes remount,ro fail (EBUSY): retry.
			for ((t = 0; t < 600; t++)); do
				mount -o remount,ro "$work/mnt" 2>/dev/null && break
				sleep 0.05
			done
			[ $t -lt 600 ] || fail "the store's file system never became read-only"
			during=$(cycles_running)
			at="$at (+$((t * 50)))"
			;;
		*) continue ;;
		esac
		info "  $k at $at ms; cycles running: $during"
		[ "$during" -gt 0 ] && landed_one "$k"
	done
	for p in "${fio_pids[@]}"; do
		wait "$p" || fail "fio failed in round $round (verification?): $(cat "$work"/logs/fio*)"
	done
	for p in "${ship_pids[@]}"; do wait "$p"; done
	for ((i = 0; i < NVOL; i++)); do
		res=$(cat "$work/logs/ship$i.rc")
		tally "$work/logs/ship$i"
		case $res in
		ok|finished) ;;
		killed*)
			has kill-shipper && [ $i = "${victim[kill-shipper]}" ] ||
				fail "round $round: soak$i's cycle killed, but not by the test"
			landed_one kill-shipper
			info "  soak$i's cycle $res" ;;
		failed*)
			has store-ro && grep -qi 'read-only' "$work/logs/ship$i" ||
				fail "round $round ($kind): soak$i's cycle $res: $(cat "$work/logs/ship$i")"
			info "  soak$i's cycle failed on the read-only store: $(grep -m1 -i 'read-only' "$work/logs/ship$i")"
			[ "$(vol_field "/dev/mapper/soak$i" frozen)" = 0 ] || fail "soak$i left frozen" ;;
		*) fail "round $round ($kind): soak$i's cycle $res: $(cat "$work/logs/ship$i")" ;;
		esac
	done
	if has store-ro; then
		# Something to ship, whatever the round's cycles left.
		dd if=/dev/urandom of="/dev/mapper/soak${victim[store-ro]}" bs=64k count=2 \
			oflag=direct status=none || fail "dd failed"
		fails_cleanly "${victim[store-ro]}" "read-only file system"
		mount -o remount,rw "$work/mnt" || fail "remount,rw of the store failed"
	fi
	if has kill-shipper; then
		v=${victim[kill-shipper]}
		lower_table "soak$v-lower" "${healthy[v]}"
	fi
	if has slow-disk; then
		# In place for the whole round: it slowed every cycle of the victim.
		v=${victim[slow-disk]}
		lower_table "soak$v-lower" "${healthy[v]}"
		landed_one slow-disk
	fi
	if has read-errors; then
		v=${victim[read-errors]}
		dd if=/dev/urandom of="/dev/mapper/soak$v" bs=64k count=2 \
			seek=$((bad_start * 512 / 65536)) oflag=direct status=none || fail "dd failed"
		s=$(blockdev --getsz "${disk[v]}")
		lower_table "soak$v-lower" "0 $bad_start linear ${disk[v]} 0
$bad_start $bad_len flakey ${disk[v]} $bad_start 0 3600
$((bad_start + bad_len)) $((s - bad_start - bad_len)) linear ${disk[v]} $((bad_start + bad_len))"
		fails_cleanly "$v" "read of .* failed"
		landed_one read-errors
		lower_table "soak$v-lower" "${healthy[v]}"
	fi
	if has kill-applier; then
		check_all "${victim[kill-applier]}" $((RANDOM % 3000))
	else
		check_all
	fi
	has none && landed_one none
	info "  round $round done at $(($(date +%s) - start)) s: $cycles cycles so far, divergences $divergences"
done

info "negative control: a write not yet shipped makes the replica differ"
for ((i = 0; i < NVOL; i++)); do
	dd if=/dev/urandom of="/dev/mapper/soak$i" bs=4k count=1 seek=$((RANDOM % (MB * 256))) \
		oflag=direct status=none || fail "dd failed"
	[ "$(sha256_of "$work/replica$i")" != "$(sha256_of "/dev/mapper/soak$i")" ] ||
		fail "negative control: replica$i equals its source with a write unshipped"
done
info "final quiesced cycle"
kind=final round=final
check_all

summary=
for k in "${KINDS[@]}"; do
	summary+=" $k=${injected[$k]:-0}/${landed[$k]:-0}"
done
info "faults injected/landed during cycles:$summary"
info "soak: seed $seed, $rounds rounds, $cycles cycles, $((blocks * 4096)) bytes" \
	"($((blocks * 4096 / 1048576)) MiB) shipped, $(($(date +%s) - start)) s, divergences $divergences"
[ "$divergences" = 0 ] || fail "$divergences divergences (seed $seed)"
