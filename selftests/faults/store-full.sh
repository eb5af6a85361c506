#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The store's file system fills up during a cycle: the cycle must fail
# with an error that says so, leave no complete cycle behind, leave no
# cycle frozen and keep every dirty block (merged back).  With room made,
# the next cycle ships everything (its residue discarded) and the replica
# equals the source (sha256); negative control: before it, the replica
# differs.

. "$(dirname "$0")/../common/lib.sh"
. "$(dirname "$0")/../dm-cbt/cbt-lib.bash"
. "$(dirname "$0")/faults-lib.bash"
requires_vm
requires_root
requires_cmd fio dmsetup sha256sum
load_dm_cbt

faults_setup full 32
# The store on its own small file system.
mkdir "$work/fs"
mount -t tmpfs -o size=48m cbt-store-full "$work/fs" || fail "cannot mount a tmpfs"
at_exit "umount '$work/fs'"
store=$work/fs/store

writes "$vol" 1 8
must ship
[ "$(complete_cycles "$store" full)" = 1 ] || fail "no initial cycle"

info "fill the store's file system to 1 MiB short of full"
free_kb=$(df -k --output=avail "$work/fs" | tail -n 1)
fallocate -l $(((free_kb - 1024) * 1024)) "$work/fs/filler" || fail "fallocate failed"
writes "$vol" 2 8
ship_fails_cleanly "no space left"

info "negative control: the replica so far differs from the source"
must "$CBTSHIP" apply --store "$store" --key "$work/key" --volume full --replica "$work/replica"
replica_differs "$work/replica"

info "room again: the next cycle ships everything"
rm -f "$work/fs/filler"
ship_all "$work/replica"
[ "$(complete_cycles "$store" full)" = 2 ] || fail "no second complete cycle"
