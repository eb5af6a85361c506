#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hostile generic netlink: nl-malformed sends dm-cbt messages with wrong
# attribute types and lengths, missing attributes, huge values, unknown
# commands (and the event-only ones) and truncated headers, CLEAR_RESYNC
# malformed, and as nobody the mutating commands; each
# must be refused with its errno (and dm-cbt's extack message), the volume
# must keep its state, and the kernel must stay quiet (the harness fails
# the test on any WARNING/BUG in dmesg).

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

NLM=$CBT_ROOT/selftests/dm-cbt/nl-malformed
if [ ! -x "$NLM" ] || [ "$NLM.c" -nt "$NLM" ]; then
	fail "$NLM is missing or older than its source: run make"
fi

disk=$(make_ramdisk 8)
cbt_create nlbad "$disk" 4096
dev=/dev/mapper/nlbad
dd if=/dev/urandom of="$dev" bs=4096 seek=5 count=3 oflag=direct status=none ||
	fail "write failed"
before=$(probe get "$dev") || fail "probe get failed"

"$NLM" "$dev" || fail "nl-malformed reported failures (lines 'not ok' above)"

# The only accepted mutations were MARK_DIRTY of block 0, a CLEAR_RESYNC
# and a FREEZE that was aborted: blocks 0 and 5-7 dirty, nothing frozen,
# one cycle later, no resync required.
[ "$(vol_field "$dev" dirty)" = 4 ] || fail "dirty blocks: $(probe get "$dev")"
[ "$(vol_field "$dev" frozen)" = 0 ] || fail "a cycle is left frozen"
[ "$(vol_field "$dev" resync_required)" = 0 ] || fail "resync_required set again"
info "before: $(tr '\n' ' ' <<<"$before")"
info "after:  $(probe get "$dev" | tr '\n' ' ')"
exit 0
