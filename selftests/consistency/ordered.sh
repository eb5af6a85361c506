#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Recovery points are the volume at one instant.  An ordered writer
# (ordered-writer.c: O_DIRECT, fdatasync between writes, random slots that
# are overwritten) runs while cycles are taken; the freeze hook's "post"
# step waits until the writer has made CONS_AFTER more writes after the
# freeze, before the cycle is read.  Every point of the replica must be the
# state after some write K (ordered-writer check).  Negative control: the
# same without the snapshot (cycles read from the live device) must give at
# least one point that is not, and those points must be labelled "none".
# The device stack: between cycles the dm-cbt device ow (what users write
# to) is `cbt DISK` with no snapshot and no ow-cbtso; during each cycle
# (seen from the hook) `cbt ow-cbtso ... data_of DISK` with the snapshot
# active, and without --cow still on the disk (the control of that check).
# In the snapshot series one more run is killed (SIGKILL from its post
# hook) while its snapshot is active: that must leave ow on ow-cbtso, the
# snapshot and the frozen cycle (checked), and the next run must put ow
# back on its disk with no snapshot; all points stay consistent.  Last, the
# snapshot goes as soon as the cycle is read: with a store on a slow
# (dm-delay) file system, a poller sees the snapshot gone while the cycle's
# manifest is not written yet.  CONS_CYCLES (default 2 deltas) gives more
# points.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cons-lib.bash"
requires_vm
requires_root
requires_cmd dmsetup cc blockdev mkfs.ext4
cons_modules

SEED=4242
SLOTS=256
CYCLES=${CONS_CYCLES:-2}
AFTER=${CONS_AFTER:-40}
work=$(mktemp -d /tmp/cons.XXXXXX)
at_exit "rm -rf '$work'"
# Built on the host by make; compiling it in the guest costs ~40 s under TCG.
if [ -x "$CONS_DIR/ordered-writer" ]; then
	cp "$CONS_DIR/ordered-writer" "$work/ow" || fail "cannot copy ordered-writer"
else
	cc -O2 -Wall -o "$work/ow" "$CONS_DIR/ordered-writer.c" || fail "cannot build ordered-writer"
fi

disk=$(make_ramdisk 32)
cow=$(make_ramdisk 32)
cons_stack ow "$disk"
must "$CBTSHIP" keygen "$work/key"

cons_hook "$work/hook" "$work" "$AFTER" ow "$disk"
cat >"$work/killhook" <<'HOOK'
#!/bin/bash
[ "$1" = post ] || exit 0
kill -9 $PPID
sleep 5
HOOK
chmod +x "$work/killhook"

# killed_run NAME [replicate options]: a run killed by its post hook while
# its snapshot is active; the state it leaves is checked.
killed_run() {
	local name=$1 st
	shift
	"$CBTSHIP" replicate --store "$work/$name.store" --key "$work/key" \
		--state-dir "$work/$name.state" --volume ow --hook "$work/killhook" --once "$@" \
		/dev/mapper/ow >"$work/killed.out" 2>&1 &&
		fail "replicate was not killed: $(cat "$work/killed.out")"
	st=$(stack_state ow "$(devno "$disk")")
	[ "$st" = "so snapshot active" ] ||
		fail "the kill did not leave the cycle's state behind (found $st): the check after it proves nothing"
	"$CBTSHIP" cbt status /dev/mapper/ow | grep -qx 'frozen: 1' ||
		fail "no frozen dm-cbt cycle after the kill"
}

# series NAME [replicate options]: a writer from write 1, an initial and
# $CYCLES delta cycles, the writer stopped, the cycles applied to a replica.
series() {
	local name=$1 i writer
	shift
	dd if=/dev/zero of=/dev/mapper/ow bs=1M oflag=direct status=none 2>/dev/null
	rm -f "$work/progress" "$work/during-ow"
	"$work/ow" write /dev/mapper/ow $SEED $SLOTS 1 0 "$work/progress" &
	writer=$!
	echo "$writer" >"$work/writer.pid"
	for i in $(seq 0 "$CYCLES"); do
		[ "$i" = 1 ] && [ "$name" = snap ] && killed_run "$name" "$@"
		must "$CBTSHIP" replicate --store "$work/$name.store" --key "$work/key" \
			--state-dir "$work/$name.state" --volume ow --hook "$work/hook" --once "$@" \
			/dev/mapper/ow
		between_cycles ow "$disk"
	done
	kill -0 "$writer" || fail "the ordered writer died"
	kill "$writer"
	wait "$writer" 2>/dev/null
	must "$CBTSHIP" apply --store "$work/$name.store" --key "$work/key" --volume ow \
		--replica "$work/$name.img"
}

# check_points NAME: "POINT KIND consistent|INCONSISTENT" per point in $work/NAME.res.
check_points() {
	local name=$1 p kind out
	: >"$work/$name.res"
	while read -r p kind; do
		must "$CBTSHIP" test-failover --replica "$work/$name.img" --point "$p" \
			--output "$work/tf.img"
		out=$("$work/ow" check "$work/tf.img" $SEED $SLOTS)
		case $? in
		0) echo "$p $kind consistent" >>"$work/$name.res" ;;
		1) echo "$p $kind INCONSISTENT" >>"$work/$name.res" ;;
		*) fail "ordered-writer check failed on point $p" ;;
		esac
		info "$name point $p ($kind): $(tail -n 1 <<<"$out")"
		must "$CBTSHIP" test-failover --replica "$work/$name.img" --cleanup \
			--output "$work/tf.img"
	done < <(point_list "$work/$name.img")
}

info "with a snapshot per cycle"
series snap --cow "$cow"
check_points snap
n=$(wc -l <"$work/snap.res")
[ "$n" -ge $((CYCLES + 1)) ] || fail "expected $((CYCLES + 1)) points, found $n"
! grep -q INCONSISTENT "$work/snap.res" ||
	fail "a snapshot point is not the volume at one instant: $(tr '\n' ';' <"$work/snap.res")"
[ "$(grep -c ' app consistent$' "$work/snap.res")" = "$n" ] ||
	fail "snapshot points with hooks must be labelled app: $(tr '\n' ';' <"$work/snap.res")"
check_during "$work/during-ow" "ow so snapshot active" $((CYCLES + 1))

info "negative control: the same read from the live device"
series live
check_points live
grep -q INCONSISTENT "$work/live.res" ||
	fail "no live-read point was inconsistent: the check cannot tell ($(tr '\n' ';' <"$work/live.res"))"
! grep -v ' none ' "$work/live.res" | grep -q . ||
	fail "live-read points must be labelled none: $(tr '\n' ';' <"$work/live.res")"
check_during "$work/during-ow" "ow disk - active" $((CYCLES + 1))
info "snapshot points: $(tr '\n' ';' <"$work/snap.res")"
info "live points:     $(tr '\n' ';' <"$work/live.res")"

info "the snapshot lives only until the cycle's last block is read"
# The store on ext4 over dm-delay (writes 250 ms late): the cycle's last
# uploads, its manifest (written last) and the commit outlast the reads.
# A poller samples whether the snapshot exists, then whether the cycle's
# manifest does, while replicate runs: it must see the snapshot active (the control: it
# can see it), and after that the snapshot gone while the manifest is not
# there yet.
modprobe dm-delay || fail "modprobe dm-delay failed"
modprobe ext4 || fail "modprobe ext4 failed"
sdisk=$(make_ramdisk 32)
mkfs.ext4 -q "$sdisk" || fail "mkfs.ext4 $sdisk failed"
dmsetup create ow-slow --table "0 $(blockdev --getsz "$sdisk") delay $sdisk 0 0 $sdisk 0 250" ||
	fail "dmsetup create ow-slow (dm-delay) failed"
at_exit "dmsetup remove --retry ow-slow"
mkdir "$work/slow"
mount /dev/mapper/ow-slow "$work/slow" || fail "mount of the delayed store file system failed"
at_exit "umount '$work/slow'"
# The snapshot options and the snapshot's dm name, as in the series above.
snapopts=(--cow "$cow")
snapname=ow-cbtsnap
"$CBTSHIP" -v replicate --store "$work/slow/store" --key "$work/key" \
	--state-dir "$work/slow.state" --volume ow "${snapopts[@]}" --once \
	/dev/mapper/ow >"$work/slow.out" 2>&1 &
rp=$!
# Shell builtins only, so that a sample takes milliseconds even under TCG:
# "snapshot" or "none" (is a dm device of that name there?), then 1 or 0
# (is the cycle's manifest there?); a line at each change.
: >"$work/samples"
last=
while kill -0 "$rp" 2>/dev/null; do
	s=none
	for f in /sys/block/dm-*/dm/name; do
		{ read -r n <"$f"; } 2>/dev/null && [ "$n" = "$snapname" ] && s=snapshot
	done
	m=0
	compgen -G "$work/slow/store/volumes/ow/cycles/*/manifest" >/dev/null && m=1
	[ "$s $m" = "$last" ] || echo "$s $m" >>"$work/samples"
	last="$s $m"
done
wait "$rp" || fail "replicate to the delayed store failed: $(cat "$work/slow.out")"
info "samples (snapshot, manifest): $(tr '\n' ';' <"$work/samples")"
compgen -G "$work/slow/store/volumes/ow/cycles/*/manifest" >/dev/null ||
	fail "the cycle to the delayed store has no manifest"
between_cycles ow "$disk"
grep -qx 'snapshot 0' "$work/samples" ||
	fail "the poller never saw the cycle's snapshot: it cannot tell when it goes"
# After the snapshot was seen (before the freeze there is none either).
awk '$0 == "snapshot 0" { s = 1 } s && $0 == "none 0" { f = 1 } END { exit !f }' \
	"$work/samples" ||
	fail "the snapshot was never seen gone before the cycle's manifest was written: it lived until the cycle was stored"
life=$(sed -n 's/.*the snapshot of tracking cycle [0-9]* lived \([0-9.]*\) s; the cycle went on \([0-9.]*\) s after the freeze.*/\1 \2/p' "$work/slow.out")
[ -n "$life" ] || fail "no debug line with the snapshot's life: $(cat "$work/slow.out")"
awk '{ exit !($1 < $2) }' <<<"$life" ||
	fail "the snapshot lived as long as the cycle ($life s)"
info "snapshot life / cycle after the freeze (s): $life"
