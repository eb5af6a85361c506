// SPDX-License-Identifier: GPL-2.0
/*
 * Failback's state machine on the forward volume (vol_failback_step()):
 * failed-over -> reprotecting -> failback-running -> delta-replication,
 * every allowed step and, for every other pair of states, a refusal; the
 * reverse volume's name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "failback.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"
#include "vol-state.h"

static bool allowed(enum vol_state from, enum vol_state to)
{
	switch (to) {
	case VOL_REPROTECTING:
		return from == VOL_FAILED_OVER || from == VOL_REPROTECTING ||
		       from == VOL_FAILBACK_RUNNING;
	case VOL_FAILBACK_RUNNING:
		return from == VOL_REPROTECTING || from == VOL_FAILBACK_RUNNING;
	case VOL_DELTA:
		return from == VOL_FAILBACK_RUNNING;
	default:
		return false;
	}
}

int main(void)
{
	char name[VSTORE_NAME_MAX + 1], longname[VSTORE_NAME_MAX + 1];
	unsigned int wrong = 0, ok = 0;

	test_quiet_logs();
	tap_eq(vol_failback_step(VOL_FAILED_OVER, VOL_REPROTECTING), 0,
	       "failed-over -> reprotecting (reprotect --original)");
	tap_eq(vol_failback_step(VOL_REPROTECTING, VOL_REPROTECTING), 0,
	       "reprotecting -> reprotecting (each reverse cycle)");
	tap_eq(vol_failback_step(VOL_REPROTECTING, VOL_FAILBACK_RUNNING), 0,
	       "reprotecting -> failback-running (failback)");
	tap_eq(vol_failback_step(VOL_FAILBACK_RUNNING, VOL_FAILBACK_RUNNING), 0,
	       "failback-running -> failback-running (failback run again)");
	tap_eq(vol_failback_step(VOL_FAILBACK_RUNNING, VOL_REPROTECTING), 0,
	       "failback-running -> reprotecting (failback failed)");
	tap_eq(vol_failback_step(VOL_FAILBACK_RUNNING, VOL_DELTA), 0,
	       "failback-running -> delta-replication (failed back)");
	tap_eq(vol_failback_step(VOL_DELTA, VOL_REPROTECTING), -EPERM,
	       "no reprotect of a volume in delta replication");
	tap_eq(vol_failback_step(VOL_FAILED_OVER, VOL_FAILBACK_RUNNING), -EPERM,
	       "no failback straight from failed-over");
	tap_eq(vol_failback_step(VOL_REPROTECTING, VOL_DELTA), -EPERM,
	       "no delta replication without the failback's proof");
	tap_eq(vol_failback_step(VOL_MIGRATED, VOL_REPROTECTING), -EPERM,
	       "no reprotect of a migrated volume");
	for (int f = 0; f <= VOL_STATE_MAX + 1; f++)
		for (int t = 0; t <= VOL_STATE_MAX + 1; t++) {
			bool want = allowed((enum vol_state)f, (enum vol_state)t);
			int got = vol_failback_step((enum vol_state)f, (enum vol_state)t);

			if (got != (want ? 0 : -EPERM))
				wrong++;
			ok += !got;
		}
	tap_ok(!wrong && ok == 6, "every pair of states: exactly the 6 steps above are allowed");
	tap_ok(!strcmp(vol_state_name(VOL_REPROTECTING), "reprotecting") &&
	       !strcmp(vol_state_name(VOL_FAILBACK_RUNNING), "failback-running") &&
	       !vol_state_name((enum vol_state)(VOL_FAILED_OVER + 1)),
	       "state names; the gap before them is no state");

	tap_eq(failback_reverse_name("vol", name, sizeof(name)), 0, "reverse name of vol");
	tap_ok(!strcmp(name, "vol" FAILBACK_REVERSE_SUFFIX), "is vol.reverse");
	memset(longname, 'a', VSTORE_NAME_MAX - 2);
	longname[VSTORE_NAME_MAX - 2] = 0;
	tap_eq(failback_reverse_name(longname, name, sizeof(name)), -ENAMETOOLONG,
	       "a name too long for the suffix is refused");
	return tap_done();
}
