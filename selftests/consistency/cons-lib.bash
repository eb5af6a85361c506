# SPDX-License-Identifier: GPL-2.0
# Helpers of the consistency group: a dm-cbt volume with a snapshot-origin
# stacked on it (what users write to) and a COW device for the per-cycle
# snapshot, and a check of every recovery point of a replica.

CONS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# cons_stack NAME DISK: dm-cbt NAME over DISK (4 KiB blocks), snapshot-origin
# NAME-origin over it.  Users (and the tests' writers) write to
# /dev/mapper/NAME-origin.
cons_stack() {
	local name=$1 disk=$2 sectors
	cbt_create "$name" "$disk" 4096
	sectors=$(blockdev --getsz "/dev/mapper/$name") || fail "blockdev --getsz failed"
	dmsetup create "$name-origin" --table "0 $sectors snapshot-origin /dev/mapper/$name" ||
		fail "dmsetup create $name-origin (snapshot-origin) failed"
	# Registered after cbt_create's removal, so it runs first.
	at_exit "dmsetup remove --retry '$name-origin'"
	at_exit "dmsetup remove '$name-cbtsnap' 2>/dev/null"
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

# cons_hook FILE DIR AFTER: write the freeze hook FILE, whose post step waits
# until the ordered writer (pid in DIR/writer.pid, progress in DIR/progress)
# has made AFTER more writes after the freeze: then every cycle is read while
# the volume changes.  It gives up (exit 1) after 120 s or once the writer died.
cons_hook() {
	cat >"$1" <<HOOK
#!/bin/bash
[ "\$1" = post ] || exit 0
start=\$(od -An -t u8 "$2/progress" 2>/dev/null | tr -d ' ')
end=\$((\$(date +%s) + 120))
while [ \$(date +%s) -lt \$end ] && kill -0 "\$(cat "$2/writer.pid")" 2>/dev/null; do
	now=\$(od -An -t u8 "$2/progress" 2>/dev/null | tr -d ' ')
	[ "\${now:-0}" -ge \$(( \${start:-0} + $3 )) ] && exit 0
	sleep 0.2
done
echo "hook: the writer made no progress" >&2
exit 1
HOOK
	chmod +x "$1"
}
