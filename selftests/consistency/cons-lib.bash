# SPDX-License-Identifier: GPL-2.0
# Helpers of the consistency group: a dm-cbt volume with a snapshot-origin
# stacked on it (what users write to) and a COW device for the per-cycle
# snapshot, and a check of every recovery point of a replica.

CONS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# cons_stack NAME DISK [TABLE]: dm-cbt NAME over DISK (4 KiB blocks), the
# users' device NAME-origin over it, created as TABLE: linear (default, as
# docs/CONSISTENCY.md says) or snapshot-origin (also accepted; replicate
# puts it on linear).  Users (and the tests' writers) write to
# /dev/mapper/NAME-origin.
cons_stack() {
	local name=$1 disk=$2 table=${3:-linear} sectors params
	cbt_create "$name" "$disk" 4096
	sectors=$(blockdev --getsz "/dev/mapper/$name") || fail "blockdev --getsz failed"
	params=/dev/mapper/$name
	[ "$table" = linear ] && params="$params 0"
	dmsetup create "$name-origin" --table "0 $sectors $table $params" ||
		fail "dmsetup create $name-origin ($table) failed"
	# Registered after cbt_create's removal, so it runs first.
	at_exit "dmsetup remove --retry '$name-origin'"
	at_exit "dmsetup resume '$name-origin' 2>/dev/null"
	at_exit "dmsetup remove '$name-cbtsnap' 2>/dev/null"
}

# origin_state NAME: "TABLE SNAPSHOT SUSPENDED" of the stack: the target of
# NAME-origin's live table, the target of NAME-cbtsnap's table ("-" if there
# is no such device), and "suspended" or "active".
origin_state() {
	local t s a
	t=$(dmsetup table "$1-origin" | awk '{ print $3 }')
	s=$(dmsetup table "$1-cbtsnap" 2>/dev/null | awk '{ print $3 }')
	a=active
	dmsetup info "$1-origin" | grep -q '^State: *SUSPENDED' && a=suspended
	echo "${t:-none} ${s:--} $a"
}

# between_cycles NAME: fail unless the stack is as between cycles: origin
# on linear, no snapshot, not suspended.
between_cycles() {
	local st
	st=$(origin_state "$1")
	[ "$st" = "linear - active" ] ||
		fail "between cycles $1-origin must be linear, active, with no snapshot: found $st"
}

cons_modules() {
	load_dm_cbt
	modprobe dm-snapshot || fail "modprobe dm-snapshot failed"
}

# point_list REPLICA: the replica's points, one "POINT KIND" a line.
point_list() {
	"$CBTSHIP" points --replica "$1" --json | grep -o '"point":[0-9]*,[^}]*"kind":"[a-z]*"' |
		sed 's/"point":\([0-9]*\),.*"kind":"\([a-z]*\)"/\1 \2/'
}

# check_during FILE "NAME STATE" MIN: every line the hook wrote to FILE is
# "NAME STATE", and there are at least MIN.
check_during() {
	local n bad
	n=$(wc -l <"$1" 2>/dev/null) || n=0
	bad=$(grep -cvxF "$2" "$1" 2>/dev/null)
	[ "${n:-0}" -ge "$3" ] && [ "${bad:-0}" = 0 ] ||
		fail "during each cycle the stack must be \"$2\" ($3 cycles at least): found $(tr '\n' ';' <"$1" 2>/dev/null)"
}

# cons_hook FILE DIR AFTER [NAME...]: write the freeze hook FILE, whose post
# step waits until the ordered writer (pid in DIR/writer.pid, progress in
# DIR/progress) has made AFTER more writes after the freeze: then every cycle
# is read while the volume changes.  It gives up (exit 1) after 120 s or once
# the writer died.  Before waiting it appends "NAME $(origin_state NAME)"
# for each NAME to DIR/during-NAME: the stack during a cycle.
cons_hook() {
	local f=$1 d=$2 after=$3 n
	shift 3
	{
		echo '#!/bin/bash'
		echo '[ "$1" = post ] || exit 0'
		declare -f origin_state
		for n in "$@"; do
			echo "echo \"$n \$(origin_state $n)\" >>'$d/during-$n'"
		done
	} >"$f"
	cat >>"$f" <<HOOK
start=\$(od -An -t u8 "$d/progress" 2>/dev/null | tr -d ' ')
end=\$((\$(date +%s) + 120))
while [ \$(date +%s) -lt \$end ] && kill -0 "\$(cat "$d/writer.pid")" 2>/dev/null; do
	now=\$(od -An -t u8 "$d/progress" 2>/dev/null | tr -d ' ')
	[ "\${now:-0}" -ge \$(( \${start:-0} + $after )) ] && exit 0
	sleep 0.2
done
echo "hook: the writer made no progress" >&2
exit 1
HOOK
	chmod +x "$f"
}
