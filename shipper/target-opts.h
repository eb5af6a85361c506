/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Options the target-side commands (apply, points, test-failover, failover,
 * migrate, stop, verify) share: -s/--store, -k/--key, -n/--volume,
 * -r/--replica and -S/--state.  Each command lists in its getopt strings
 * only those it takes and points the fields at its own variables (NULL for
 * the others).
 */
#ifndef CBTSHIP_TARGET_OPTS_H
#define CBTSHIP_TARGET_OPTS_H

struct target_args {
	const char **store;	/* -s */
	const char **key_path;	/* -k */
	const char **volume;	/* -n */
	const char **replica;	/* -r */
	const char **state_dir;	/* -S */
};

/* 1 if c is one of these options and the command takes it (its variable is set), else 0. */
int target_opt(int c, const char *arg, const struct target_args *ta);

#endif
