/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Migration (cbtship migrate) and stopping replication (cbtship stop):
 * the end of a volume's replication, recorded in its state record.
 */
#ifndef CBTSHIP_MIGRATE_H
#define CBTSHIP_MIGRATE_H

#include <stdint.h>

#include "apply.h"
#include "replicate.h"

struct migrate_result {
	uint64_t cycle;			/* the cycle the replica ended at */
	uint8_t sha256[32];		/* of the source and (equal) the replica */
};

/*
 * Both parts on one machine (source and replica here): migrate_source()
 * without waiting, then migrate_target().
 */
int migrate_run(const struct replicate_opts *src, const char *replica,
		const struct apply_opts *aopts, struct migrate_result *res);

/*
 * Across machines, coordinated only through the store's state record.
 *
 * The source part, on the source machine with the source quiesced: record
 * migration-queued, run cycles until one finds no change (at most two,
 * else -EBUSY: something still writes), which records the final cycle and
 * the source's SHA-256 (src-state.h) and migration-running; then wait up
 * to timeout seconds (0: do not wait) for the target part to record the
 * volume as migrated (0) or put it back to delta replication (-EIO).
 */
int migrate_source(const struct replicate_opts *src, unsigned int timeout,
		   struct migrate_result *res);
/*
 * The target part: ask for the final cycle (migration-queued) unless it is
 * there, wait up to timeout seconds for migration-running, apply up to the
 * final cycle, compare the replica's SHA-256 with the source's, hand the
 * replica over and record migrated.  On failure the volume goes back to
 * delta replication, with why in the note.
 */
int migrate_target(struct vstore *vs, const char *replica, const struct apply_opts *aopts,
		   unsigned int timeout, struct migrate_result *res);

/*
 * Stop replicating vs: record it as stopped (a source checking the state
 * finishes its running cycle and exits), then remove its cycles and the
 * replica-applied and rejected records.  The volume header and the state
 * record stay, so status still shows the volume.
 */
int migrate_stop(struct vstore *vs, unsigned int *cycles_removed);

/* SHA-256 of the first size bytes of a local file or block device. */
int migrate_hash_file(const char *path, uint64_t size, uint8_t out[32]);

#endif
