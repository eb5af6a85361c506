#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kmod/cbt-bitmap.c against a plain model (bitmap-model.c): random ranges,
# merges and resets, with and without failing page allocations.  Needs no
# kernel; runs on the host too (there under ASan/UBSan).

. "$(dirname "$0")/../common/lib.sh"
requires_cmd cc

work=$(mktemp -d "${TMPDIR:-/tmp}/bmodel.XXXXXX")
at_exit "rm -rf '$work'"
dir=$CBT_ROOT/selftests/dm-cbt
# Emulated guests are slow: a short run there, the thorough one on the host.
san=() steps=300 seeds=1
if [ "${CBT_IN_VM:-0}" != 1 ]; then
	san=(-fsanitize=address,undefined -fno-sanitize-recover=all)
	steps=5000 seeds="1 2 3"
fi
# Leaves of 16 bytes in 64-byte shim pages: 8 leaves per directory page.
cc -O2 -g -Wall -Wextra -Werror "${san[@]}" -DCBT_LEAF_BYTES=16 -I"$dir/shim" -I"$CBT_ROOT/kmod" \
	-o "$work/bitmap-model" "$dir/bitmap-model.c" "$CBT_ROOT/kmod/cbt-bitmap.c" ||
	fail "cannot build the bitmap model test"
for seed in $seeds; do
	"$work/bitmap-model" "$seed" "$steps" || fail "model test failed with seed $seed"
done
exit 0
