/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Target side: bring a replica (regular file or block device) up to the
 * newest complete cycle of a volume.  Each cycle is verified whole (every
 * object authenticated, segment hashes, block set equal to the manifest's
 * extents, every block's crc32c) before its first byte is written.
 */
#ifndef CBTSHIP_APPLY_H
#define CBTSHIP_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "vstore.h"

struct apply_replica {
	int fd;
	const char *path;
	bool is_blockdev;
	bool created;		/* did not exist before apply_replica_open() */
	bool fresh;		/* created and nothing written yet: reads as zeros */
	uint64_t size;		/* current size in bytes */
};

/*
 * Open (creating a regular file if absent) and lock a replica for a volume
 * of size_bytes.  A block device must be at least that big (-ENOSPC); a
 * regular file is extended when the first cycle is written.
 */
int apply_replica_open(const char *path, uint64_t size_bytes, struct apply_replica *r);
void apply_replica_close(struct apply_replica *r);

/*
 * Verify cycle `cycle` completely, then write it to the replica and sync
 * it.  On a verification failure (-EBADMSG and friends, logged naming the
 * cycle, segment and block) the replica has not been written.
 */
int apply_cycle(struct vstore *vs, uint64_t cycle, struct apply_replica *r);

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

#endif
