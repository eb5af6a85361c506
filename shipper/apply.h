/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Target side: bring a replica (struct replica: a file, block device, ...) up to the
 * newest complete cycle of a volume.  Each cycle is verified whole (every
 * object authenticated, segment hashes, block set equal to the manifest's
 * extents, every block's crc32c) before its first byte is written.
 */
#ifndef CBTSHIP_APPLY_H
#define CBTSHIP_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "remote-opts.h"
#include "replica.h"
#include "vstore.h"

/*
 * Verify cycle `cycle` completely, then write it to the replica and sync
 * it.  On a verification failure (-EBADMSG and friends, logged naming the
 * cycle, segment and block) the replica has not been written.
 */
int apply_cycle(struct vstore *vs, uint64_t cycle, struct replica *r);

/* Verify cycle `cycle` completely without writing anything. */
int apply_verify_cycle(struct vstore *vs, uint64_t cycle);

struct apply_result {
	uint64_t before;	/* cycle the replica was at */
	uint64_t first, last;	/* cycles applied now; 0, 0 if none */
	uint64_t now;		/* cycle the replica is at */
};

/*
 * Apply, in order, every complete cycle after the one the store records as
 * applied, updating that record after each.  A missing cycle (a gap) stops
 * with -ENOENT after applying the cycles before it.
 */
int apply_pending(struct vstore *vs, const char *replica_path, struct apply_result *res);

struct apply_opts {
	const struct remote_opts *ro;	/* for a remote replica; may be NULL */
};

/* apply_pending() with options (opts may be NULL). */
int apply_pending_opts(struct vstore *vs, const char *replica_spec, const struct apply_opts *opts,
		       struct apply_result *res);

#endif
