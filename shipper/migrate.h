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
 * With the source quiesced: run the final cycle, check a second one finds
 * no change (else -EBUSY: something still writes), apply everything to the
 * replica, compare the whole source with the whole replica (SHA-256), hand
 * the replica over as the live disk and record the volume as migrated.
 * On failure the volume goes back to delta replication.
 */
int migrate_run(const struct replicate_opts *src, const char *replica,
		const struct apply_opts *aopts, struct migrate_result *res);

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
