/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reprotect and failback (TARGET.md "Reprotect and failback"): after a
 * failover, replicate from the failed-over disk back to the original disk
 * through a reverse volume NAME.reverse in the same store, shipping only
 * the blocks that differ, then hand the volume back to the original disk
 * with forward replication resumed from equal disks.
 */
#ifndef CBTSHIP_FAILBACK_H
#define CBTSHIP_FAILBACK_H

#include <stddef.h>
#include <stdint.h>

#include "blockhash.h"
#include "replicate.h"

#define FAILBACK_REVERSE_SUFFIX	".reverse"

/* out = NAME.reverse; -ENAMETOOLONG (logged) if that is not a volume name. */
int failback_reverse_name(const char *volume, char *out, size_t len);

/*
 * Original side, once it is back: the forward volume (store, key, volume
 * from o, o->device unused) must be failed-over (or reprotecting, before
 * any reverse cycle).  Creates the reverse volume if needed, publishes the
 * hashes of `original` (the original disk, not written from now on except
 * by cbtship apply) as its cycle 0's list and records both volumes as
 * reprotecting.
 */
int reprotect_prepare(const struct replicate_opts *o, const char *original,
		      struct blockhash_stats *hs);

/*
 * Failed-over side: one cycle of reverse replication from o->device (dm-cbt
 * over the failed-over disk) into the reverse volume of o->volume: the
 * first ships only the blocks that differ from the original disk's hashes
 * (replicator_reprotect), later ones are deltas.  Records the forward
 * volume as reprotecting at that cycle.
 */
int reprotect_cycle(const struct replicate_opts *o, struct replicate_summary *sum);

struct failback_opts {
	struct replicate_opts reverse;	/* failed-over disk's dm-cbt device, forward volume name */
	struct replicate_opts forward;	/* original disk's dm-cbt device, forward volume name */
	const char *original;		/* the original disk: the reverse replica */
	const char *original_state;	/* its state directory (NULL: ORIGINAL.cbtship) */
	const char *replica;		/* the failed-over disk: the forward replica again */
	const char *replica_state;	/* its state directory (NULL: REPLICA.cbtship) */
};

struct failback_result {
	uint64_t reverse_cycle;		/* the reverse cycle the original disk ended at */
	uint8_t sha256[32];		/* of both disks at that cycle */
	struct replicate_summary forward;	/* the forward resync cycle */
	uint64_t forward_cycle;		/* the forward cycle the replica is at now */
};

/*
 * With the applications on the failed-over disk stopped: the final
 * reverse cycle (a second one must find no change, else -EBUSY), applied
 * to the original disk; SHA-256 of both disks must be equal (else -EIO).
 * Then forward replication resumes from the equal disks: the failed-over
 * disk becomes the forward replica at the store's newest forward cycle
 * (its hash list published), a checksum resync from the original's dm-cbt
 * device ships only what differs (nothing but a block recording its
 * tracking), it is applied, the volume is recorded as delta-replication
 * and the reverse volume is stopped.  A failure before the proof puts the
 * volume back to reprotecting; after it, run failback again to finish.
 */
int failback_run(const struct failback_opts *o, struct failback_result *res);

#endif
