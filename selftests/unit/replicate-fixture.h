/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the unit tests that replicate end to end on the host with
 * the fake dm-cbt (test-replicate, test-resync, test-src-state,
 * test-initial-resume, test-pipeline): one replicator run (open with the
 * test's options, a cycle, a resync or a detach, close), and the target
 * side's apply of a volume's pending cycles to a replica.
 */
#ifndef CBTSHIP_TEST_REPLICATE_FIXTURE_H
#define CBTSHIP_TEST_REPLICATE_FIXTURE_H

#include <errno.h>
#include <string.h>

#include "apply.h"
#include "replicate.h"
#include "store.h"
#include "vstore.h"

enum test_run {
	TEST_RUN_CYCLE,		/* replicator_cycle(), fills *sum */
	TEST_RUN_RESYNC,	/* replicator_resync(), fills *sum */
	TEST_RUN_DETACH,	/* replicator_detach(), fills *saved */
};

/* Open a replicator with o, do what, close it; 0 or the first -errno. */
__attribute__((unused))
static int test_replicate(const struct replicate_opts *o, enum test_run what,
			  struct replicate_summary *sum, uint64_t *saved)
{
	struct replicator *r;
	int err;

	err = replicator_open(o, &r);
	if (err)
		return err;
	switch (what) {
	case TEST_RUN_CYCLE:
		err = replicator_cycle(r, sum);
		break;
	case TEST_RUN_RESYNC:
		err = replicator_resync(r, sum);
		break;
	case TEST_RUN_DETACH:
		err = replicator_detach(r, saved);
		break;
	default:
		err = -EINVAL;
	}
	replicator_close(r);
	return err;
}

/* Apply volume's pending cycles from the store to the replica file. */
__attribute__((unused))
static int test_apply(const char *store_path, const char *keyfile, const char *volume,
		      const char *replica, struct apply_result *res)
{
	struct vstore *vs;
	struct store *st;
	int err;

	memset(res, 0, sizeof(*res));
	err = apply_open_volume(store_path, keyfile, volume, &st, &vs);
	if (err)
		return err;
	err = apply_pending(vs, replica, res);
	vstore_close(vs);
	store_close(st);
	return err;
}

#endif
