#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Successful FREEZE, COMMIT, MARK_DIRTY and ABORT are multicast to the
# "events" group with the volume's new state; refused commands are not.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/cbt-lib.bash"
requires_vm
requires_root
load_dm_cbt

work=$(mktemp -d /tmp/events.XXXXXX)
at_exit "rm -rf '$work'"
disk=$(make_ramdisk 8)
cbt_create ev "$disk" 4096
dev=/dev/mapper/ev
devno=$(dmsetup info -c --noheadings -o major,minor --separator : ev | tr -d ' ')

# Unprivileged listeners may subscribe: events carry no data.
monitor_start 5 "$work/events" setpriv --reuid=65534 --regid=65534 --clear-groups --

c1=$(probe freeze "$dev") || fail "freeze failed"
probe freeze "$dev" 2>/dev/null && fail "second freeze succeeded"
must probe commit "$dev" "$c1"
probe commit "$dev" "$c1" 2>/dev/null && fail "second commit succeeded"
must probe mark "$dev" 10 3
c2=$(probe freeze "$dev") || fail "freeze failed"
must probe abort "$dev" "$c2"
wait "$MON" || fail "monitor failed: $(cat "$work/events")"

cat >"$work/want" <<EOF
ready
freeze $devno cycle=$c1 frozen=1 dirty=0
commit $devno cycle=$c1 frozen=0 dirty=0
mark $devno cycle=$c1 frozen=0 dirty=3
freeze $devno cycle=$c2 frozen=1 dirty=0
abort $devno cycle=$c2 frozen=0 dirty=3
EOF
diff -u "$work/want" "$work/events" || fail "events differ from the commands run"
exit 0
