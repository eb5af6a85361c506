#!/bin/bash
# dm-cbt write-intent log across a crash (issue 4), on real virtio disks:
#  boot 1: a cbt volume over /dev/vda with its log on /dev/vdb (region
#          size 1 MiB) is replicated once (the initial copy, to a store on
#          the host), gets a known pattern synced into regions 3, 10+11
#          and 40, then a writer keeps writing regions 50-53 and the guest
#          crashes through sysrq;
#  boot 2: the same disk files: the volume created again reports a change
#          set that covers every region synced in boot 1 and lies within
#          the regions written in boot 1 (the figure: bytes to re-read
#          versus the disk size), resync_required = 0, the pattern is
#          intact; one delta cycle ships no more than those regions, and
#          the replica (applied on the host) equals the source.  Negative
#          control in the same boot: with the log zeroed the volume reports
#          nothing and is resync_required.
# Exit 0: pass, 1: fail, 77: skip (with the reason).

set -u
SKIP_PREFIX="dm-cbt wil crash"
# shellcheck source=selftests/harness/vm-lib.bash
. "$(dirname "${BASH_SOURCE[0]}")/vm-lib.bash"

require_guest_boots
[ -f "$ROOT/kmod/dm-cbt.ko" ] || skip "kmod/dm-cbt.ko not built (make)"
[ -x "$ROOT/selftests/dm-cbt/cbt-nl-probe" ] || skip "cbt-nl-probe not built (make)"
[ -x "$ROOT/shipper/cbtship" ] || skip "shipper/cbtship not built (make)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dm-cbt-wil-crash.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/share"
head -c $((3 * 4096)) /dev/urandom >"$tmp/share/pat"
pat_sum=$(sha256sum <"$tmp/share/pat" | cut -d' ' -f1)
truncate -s 64M "$tmp/data.img"
truncate -s 1M "$tmp/meta.img"
"$ROOT/shipper/cbtship" -q keygen "$tmp/share/key" || exit 1
BPR=256			# 4 KiB blocks per 1 MiB region
SYNCED="3 10 11 40"	# regions written and synced in boot 1
WRITTEN="$SYNCED 50 51 52 53"

cat >"$tmp/share/common.sh" <<EOF
set -u
PROBE=$ROOT/selftests/dm-cbt/cbt-nl-probe
CBTSHIP=$ROOT/shipper/cbtship
SHIP="\$CBTSHIP replicate --once --store $tmp/share/store --key $tmp/share/key --state-dir /tmp/cbt-state /dev/mapper/wc"
BPR=$BPR
modprobe dm-cbt || exit 10
S=\$(blockdev --getsz /dev/vda)
TABLE="0 \$S cbt /dev/vda 4096 4 metadata /dev/vdb region_size 1048576"
pat() { # pat BLOCK: the pattern (3 blocks) at BLOCK
	dd if=$tmp/share/pat of=/dev/mapper/wc bs=4096 seek=\$1 oflag=direct conv=fsync status=none
}
EOF
cat >"$tmp/share/crash.sh" <<'EOF'
. "$SHARE/common.sh"
dmsetup create wc --table "$TABLE" || exit 11
$SHIP || exit 17
pat $((3 * BPR + 9)) || exit 12
pat $((11 * BPR - 1)) || exit 12	# regions 10 and 11
pat $((40 * BPR)) || exit 12
sync
echo "boot1: $("$PROBE" get /dev/mapper/wc | grep -E '^(dirty|resync_required)=' | tr '\n' ' ')"
( while :; do
	dd if=/dev/urandom of=/dev/mapper/wc bs=64k seek=$((50 * 16)) count=64 oflag=direct status=none
  done ) &
sleep 2
echo "crashing"
echo c >/proc/sysrq-trigger
sleep 60
echo "still alive"
EOF
cat >"$tmp/share/check.sh" <<'EOF'
. "$SHARE/common.sh"
dmsetup create wc --table "$TABLE" || exit 11
"$PROBE" get /dev/mapper/wc | grep -E '^(dirty|resync_required|nr_blocks)='
cycle=$("$PROBE" freeze /dev/mapper/wc) || exit 13
"$PROBE" changes /dev/mapper/wc "$cycle" | sed 's/^/extent=/'
echo "pattern=$(dd if=/dev/mapper/wc bs=4096 skip=$((3 * BPR + 9)) count=3 status=none | sha256sum | cut -d' ' -f1)"
dmesg | grep -o 'wc: unclean shutdown.*' | sed 's/^/kmsg=/'
# Give the set back and let cbtship ship it as the next cycle.
"$PROBE" abort /dev/mapper/wc "$cycle" || exit 14
$SHIP | sed 's/^/replicate: /'
[ "${PIPESTATUS[0]}" = 0 ] || exit 18
echo "source=$(sha256sum </dev/mapper/wc | cut -d' ' -f1)"
dmsetup remove wc || exit 15
# Negative control: the same data disk, the log zeroed.
dd if=/dev/zero of=/dev/vdb bs=4096 count=1 oflag=direct status=none
dmsetup create wc --table "$TABLE" || exit 16
"$PROBE" get /dev/mapper/wc | grep -E '^(dirty|resync_required)=' | sed 's/^/zeroed_/'
dmsetup remove wc
EOF

# boot N SCRIPT [VM-RUN OPTION]...: run SCRIPT in a guest with both disks;
# its output in out$N/err$N, printed; vm-run's status in rc.
boot() {
	local nr=$1 script=$2
	shift 2
	"$VMRUN" "$@" --timeout 900 --disk "$tmp/data.img" --disk "$tmp/meta.img" \
		--share "$tmp/share" --env "SHARE=$tmp/share" -- bash "$tmp/share/$script" \
		>"$tmp/out$nr" 2>"$tmp/err$nr"
	rc=$?
	echo "# boot $nr: vm-run exit $rc; output:"
	sed 's/^/#   /' "$tmp/out$nr" "$tmp/err$nr"
}

boot 1 crash.sh --expect-crash
check "boot 1: crashed through sysrq as expected" test $rc = 0
check "boot 1: initial copy done, the pattern written and synced (resync cleared by the initial copy)" \
	grep -qx "boot1: dirty=9 resync_required=0 " "$tmp/out1"

boot 2 check.sh
check "boot 2: ran clean (no WARNING/BUG)" test $rc = 0

# Regions of the reported extents.
got=$(sed -n 's/^extent=//p' "$tmp/out2" | awk -v bpr=$BPR '{
	for (r = int($1 / bpr); r <= int(($1 + $2 - 1) / bpr); r++) print r }' | sort -n -u | tr '\n' ' ')
echo "# regions reported after the crash: $got"
covers() { local r; for r in $SYNCED; do [[ " $got " == *" $r "* ]] || return 1; done; }
within() { local r; [ -n "$got" ] || return 1; for r in $got; do [[ " $WRITTEN " == *" $r "* ]] || return 1; done; }
check "boot 2: the change set covers every region synced before the crash ($SYNCED)" covers
check "boot 2: ... and lies within the regions written in boot 1 ($WRITTEN)" within
dirty=$(sed -n 's/^dirty=//p' "$tmp/out2")
nr=$(sed -n 's/^nr_blocks=//p' "$tmp/out2")
echo "# figure: bytes to re-read after the crash $((${dirty:-0} * 4096)) of $((${nr:-0} * 4096)) ($(awk -v a="${dirty:-0}" -v b="${nr:-1}" 'BEGIN { printf "%.1f%%", 100 * a / b }'))"
check "boot 2: not resync_required" grep -qx "resync_required=0" "$tmp/out2"
check "boot 2: the synced pattern is intact" grep -qx "pattern=$pat_sum" "$tmp/out2"
check "boot 2: the kernel logged the regions taken from the log" grep -q "^kmsg=wc: unclean shutdown: [0-9]* log regions" "$tmp/out2"
shipped=$(sed -n 's/^replicate: cycle [0-9]* (delta): \([0-9]*\) blocks.*/\1/p' "$tmp/out2")
echo "# figure: blocks shipped by the cycle after the crash: ${shipped:-none} (dirty after the crash: ${dirty:-?})"
check "boot 2: the cycle after the crash shipped the logged regions' blocks, no more" \
	test -n "$shipped" -a "${shipped:-0}" -gt 0 -a "${shipped:-0}" -le "${dirty:-0}"
"$ROOT/shipper/cbtship" -q apply --store "$tmp/share/store" --key "$tmp/share/key" --volume wc \
	--replica "$tmp/replica.img" >/dev/null
src=$(sed -n 's/^source=//p' "$tmp/out2")
check "replica (applied on the host) equals the source after that cycle" \
	test -n "$src" -a "$(sha256sum <"$tmp/replica.img" | cut -d' ' -f1)" = "$src"
check "negative control: a zeroed log reports nothing ..." grep -qx "zeroed_dirty=0" "$tmp/out2"
check "negative control: ... and is resync_required" grep -qx "zeroed_resync_required=1" "$tmp/out2"
finish
