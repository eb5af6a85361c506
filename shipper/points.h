/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Recovery points of a replica (journal.h): a writable copy at a point for
 * a test failover, and failover itself (roll the replica back to a point
 * and hand it over as a live disk).
 */
#ifndef CBTSHIP_POINTS_H
#define CBTSHIP_POINTS_H

#include <stdbool.h>
#include <stdint.h>

#include "journal.h"
#include "replica.h"

/* Open the state directory of replica (or state_dir if given), locked. */
int points_open(const char *replica, const char *state_dir, bool exclusive, struct journal **out);

/*
 * Write a copy of local replica replica_path at point `point` to out_path
 * (a new file; a reflink where the file system can, else a sparse copy),
 * then roll the copy back with the undo files.  A page-blob replica (a URL;
 * ro gives its options) is copied with Snapshot Blob and Copy Blob to the
 * new page blob out_path, which is rolled back the same way.  The caller holds j locked
 * (shared is enough: apply waits, and continues after).  The copy is
 * recorded in the state directory so points_cleanup() can remove it.
 */
int points_test_failover(struct journal *j, const char *replica_path, uint64_t point,
			 const char *out_path, const struct remote_opts *ro);

/*
 * Remove the test-failover copies recorded in j (only out_path if not
 * NULL) and their record; for a page-blob replica (ro: its options) the
 * copy blobs and their snapshots of it.  *removed counts the copies removed.
 */
int points_cleanup(struct journal *j, const char *replica, const char *out_path,
		   const struct remote_opts *ro, unsigned int *removed);

/*
 * Roll replica r back to point `point` (journaled: an interruption is
 * finished by the next open), then mark it failed over: apply will not
 * write it again, and its points and undo files are dropped (the disk is
 * now written by its users).  j must be locked exclusively.
 */
int points_failover(struct journal *j, struct replica *r, uint64_t point);

#endif
