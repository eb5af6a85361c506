#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Tracking memory for scattered writes: random 4 KiB writes over a 4 TiB
# volume (over dm-zero) touch a different bitmap region nearly every time.
# Each touched region costs one 512-byte leaf and each touched group of 512
# regions one 4 KiB directory page: CBT_A_MEM_BYTES must be exactly that
# (counted from the frozen change set) above the fixed cost of the two
# bitmaps (one while nothing is frozen: the empty volume's figure; both
# while a cycle is frozen).
# Prints the cost per dirty GiB next to what one-page leaves (the layout
# before 512-byte leaves) would have cost for the same change set.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
requires_cmd fio
load_dm_cbt

[ "$(getconf PAGESIZE)" = 4096 ] || skip "expects 4 KiB pages"
work=$(mktemp -d /tmp/scat.XXXXXX)
at_exit "rm -rf '$work'"
gib=4096
sectors=$((gib * 2 * 1024 * 1024))
modprobe dm-zero || skip "no dm-zero module"
dmsetup create cbt-scz --table "0 $sectors zero" || fail "cannot create a dm-zero device"
at_exit "dmsetup remove --retry cbt-scz"
cbt_create scat /dev/mapper/cbt-scz 4096
dev=/dev/mapper/scat
empty=$(vol_field "$dev" mem_bytes)
[ -n "$empty" ] && [ "$empty" -lt $((1024 * 1024)) ] ||
	fail "an empty $gib GiB volume holds ${empty:-?} bytes"

nios=16384
fio --name=scat --filename="$dev" --rw=randwrite --bs=4k --iodepth=16 --ioengine=libaio \
	--direct=1 --number_ios=$nios --norandommap --randrepeat=1 --size=${gib}g \
	--output-format=terse >"$work/fio.log" 2>&1 || fail "fio failed: $(tail -5 "$work/fio.log")"
dirty=$(vol_field "$dev" dirty)
[ "$dirty" -gt $((nios * 9 / 10)) ] || fail "only $dirty dirty blocks after $nios writes"

cycle=$(probe freeze "$dev") || fail "freeze failed"
probe changes "$dev" "$cycle" >"$work/changes" || fail "changes failed"
# While frozen both bitmaps are counted: twice the fixed cost.
mem=$(($(vol_field "$dev" mem_bytes) - empty))
must probe commit "$dev" "$cycle"
[ "$(vol_field "$dev" mem_bytes)" = "$empty" ] || fail "commit did not free the leaves"

# Regions (4096 blocks) and directory pages (512 regions) the set touches,
# and the same for one-page leaves (32768 blocks, 512 leaves per page).
read -r regions dirs oregions odirs < <(expand <"$work/changes" | awk '
	!(int($1 / 4096) in r) { r[int($1 / 4096)]; nr++ }
	!(int($1 / 2097152) in d) { d[int($1 / 2097152)]; nd++ }
	!(int($1 / 32768) in o) { o[int($1 / 32768)]; no++ }
	!(int($1 / 16777216) in od) { od[int($1 / 16777216)]; nod++ }
	END { printf "%d %d %d %d\n", nr, nd, no, nod }')
want=$((regions * 512 + dirs * 4096))
info "$nios random 4 KiB writes over $gib GiB: $dirty dirty blocks in $regions regions, $dirs directory pages"
info "tracking memory: $((mem - empty)) bytes above the fixed $empty per bitmap"
awk -v m=$((mem - empty)) -v o=$((oregions * 4096 + odirs * 4096)) -v d="$dirty" 'BEGIN {
	g = d * 4096 / 1073741824
	printf "dm-cbt scattered-write memory: %.1f MB per dirty GiB (512-byte leaves, measured); one-page leaves would hold %.1f MB per dirty GiB for this set (%.1fx)\n", m / g / 1e6, o / g / 1e6, o / m }'
[ "$((mem - empty))" = "$want" ] ||
	fail "mem_bytes above the fixed cost is $((mem - empty)), want $regions leaves x 512 + $dirs pages x 4096 = $want"
exit 0
