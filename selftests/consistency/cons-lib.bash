# SPDX-License-Identifier: GPL-2.0
# Helpers of the consistency group: a dm-cbt volume users write to, a COW
# device for the per-cycle snapshot, the device stack's state, and a check
# of every recovery point of a replica.

CONS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# cons_stack NAME DISK: dm-cbt NAME over DISK (4 KiB blocks); users (and
# the tests' writers) write to /dev/mapper/NAME.  During a cycle replicate
# puts NAME on NAME-cbtso (snapshot-origin DISK) with the snapshot
# NAME-cbtsnap; the clean-up removes what a failed test leaves.
cons_stack() {
	local name=$1 disk=$2
	cbt_create "$name" "$disk" 4096
	# Run before cbt_create's removal (which then finds nothing), in
	# reverse order: snapshot, resume, NAME, then NAME-cbtso under it.
	at_exit "dmsetup remove --retry '$name'; dmsetup remove --retry '$name-cbtso'"
	at_exit "dmsetup resume '$name' 2>/dev/null"
	at_exit "dmsetup remove '$name-cbtsnap' 2>/dev/null"
}

# devno DEV: the major:minor of block device DEV.
devno() {
	lsblk -dno MAJ:MIN "$1" | tr -d ' '
}

# stack_state NAME DISKNO: "ON SNAPSHOT SUSPENDED" of the stack: "disk" if
# NAME is `cbt DISKNO 4096`, "so" if it is `cbt SO 4096 2 data_of DISKNO`
# where SO is NAME-cbtso = `snapshot-origin DISKNO`, else "other:TABLE";
# the target of NAME-cbtsnap ("-" if there is no such device); "suspended"
# or "active" for NAME.  Between cycles NAME-cbtso must not exist: "+so"
# is appended to ON when it does and NAME is on the disk.
stack_state() {
	local t so sot s a on
	t=$(dmsetup table "$1" | cut -d' ' -f3-)
	so=$(dmsetup info -c --noheadings -o major,minor --separator : "$1-cbtso" 2>/dev/null | tr -d ' ')
	sot=$(dmsetup table "$1-cbtso" 2>/dev/null | cut -d' ' -f3-)
	s=$(dmsetup table "$1-cbtsnap" 2>/dev/null | awk '{ print $3 }')
	a=active
	dmsetup info "$1" | grep -q '^State: *SUSPENDED' && a=suspended
	if [ "$t" = "cbt $2 4096" ]; then
		on=disk
		[ -n "$so" ] && on=disk+so
	elif [ -n "$so" ] && [ "$t" = "cbt $so 4096 2 data_of $2" ] &&
		[ "$sot" = "snapshot-origin $2" ]; then
		on=so
	else
		on="other:${t// /_}"
	fi
	echo "$on ${s:--} $a"
}

# between_cycles NAME DISK: fail unless the stack is as between cycles:
# NAME on the disk, no snapshot, no NAME-cbtso, not suspended.
between_cycles() {
	local st
	st=$(stack_state "$1" "$(devno "$2")")
	[ "$st" = "disk - active" ] ||
		fail "between cycles $1 must be cbt on its disk, active, with no snapshot or $1-cbtso: found $st"
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

# cons_hook FILE DIR AFTER [NAME DISK]...: write the freeze hook FILE, whose
# post step waits until the ordered writer (pid in DIR/writer.pid, progress
# in DIR/progress) has made AFTER more writes after the freeze: then every
# cycle is read while the volume changes.  It gives up (exit 1) after 120 s
# or once the writer died.  Before waiting it appends "NAME $(stack_state
# NAME DISKNO)" for each NAME over DISK to DIR/during-NAME: the stack during
# a cycle.
cons_hook() {
	local f=$1 d=$2 after=$3
	shift 3
	{
		echo '#!/bin/bash'
		echo '[ "$1" = post ] || exit 0'
		declare -f stack_state
		while [ $# -ge 2 ]; do
			echo "echo \"$1 \$(stack_state $1 $(devno "$2"))\" >>'$d/during-$1'"
			shift 2
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
