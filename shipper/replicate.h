/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Source side of replication: one cycle at a time from a tracked volume
 * (struct cbt_source) into a volume in a store (vstore), following the
 * cycle protocol and restart rules of docs/DESIGN.md.
 */
#ifndef CBTSHIP_REPLICATE_H
#define CBTSHIP_REPLICATE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "block-reader.h"
#include "consistency.h"
#include "remote-opts.h"
#include "vol-state.h"
#include "vstore.h"

/*
 * Service hooks (cbtship daemon, progress bar); each optional, called from
 * the cycle's threads.
 */
struct replicate_hooks {
	void *arg;
	/* Before each object put, with its size; may sleep (upload throttling). */
	void (*before_put)(void *arg, size_t bytes);
	/* After each run of blocks read: blocks done and total in this cycle. */
	void (*progress)(void *arg, uint64_t done, uint64_t total, uint32_t block_size);
};

struct replicate_opts {
	const char *store;		/* store spec (directory or Azure URL) */
	struct remote_opts remote;	/* for remote stores */
	const char *key_path;
	const char *device;		/* dm-cbt device, or the data file with fake_state */
	const char *fake_state;		/* tests: fake kernel state file (cbt-file.c) */
	const char *volume;		/* name in the store; NULL = the source's name */
	struct cycle_writer_opts writer;
	struct block_reader_opts reader;
	/* Tests: called before each object put; a non-zero -errno fails that put. */
	int (*put_fault)(const char *name);
	/*
	 * Where a cleanly detached volume's change set is kept (statedir.h);
	 * NULL: none is saved or restored.
	 */
	const char *state_dir;
	bool force;			/* detach: even if the device is in use */
	/* Set (by a signal handler) to stop: the running cycle is merged back. */
	const volatile sig_atomic_t *stop;
	const struct replicate_hooks *hooks;	/* NULL = none */
	/*
	 * Consistent cycles (docs/CONSISTENCY.md): a snapshot per cycle when
	 * cons->origin is set, hooks around the freeze; NULL = read live.
	 */
	const struct cons_config *cons;
	const struct cons_hooks *cons_hooks;
	/*
	 * A member of consistency group `group` (its hooks are the group's):
	 * replicator_cycle() then takes its freeze together with the other
	 * members' threads, and every instant stores a cycle of every member.
	 */
	struct cons_group *group;
	size_t group_index;
};

enum replicate_result {
	REPLICATE_NOTHING,		/* failed or stopped before a cycle was stored */
	REPLICATE_SHIPPED,		/* a cycle was written and committed */
	REPLICATE_NO_CHANGES,		/* frozen set empty: committed, nothing written */
};

struct replicate_summary {
	enum replicate_result result;
	uint64_t cycle;			/* store cycle number written */
	uint64_t tracking_cycle;	/* the source's cycle id */
	enum cycle_kind kind;
	enum cons_level consistency;	/* what the stored cycle's data is */
	uint64_t group_instant;		/* a group member's: the instant's id */
	bool full;			/* every block sent (initial, or tracking restarted) */
	uint64_t blocks;
	uint64_t bytes_read;
	uint64_t bytes_stored;		/* bytes put to the store for this cycle */
	double seconds;
	uint64_t restored_blocks;	/* blocks of a saved change set marked dirty again */
	bool resync;			/* checksum resync: differing blocks added */
	uint64_t diff_blocks;		/* resync: blocks whose hashes differ */
	uint64_t diff_bytes;
	uint64_t hashed_bytes;		/* resync: source bytes hashed */
	uint64_t hash_list_bytes;	/* resync: hash-list bytes read from the store */
	uint64_t repair_blocks;		/* blocks of rejected cycles shipped again */
	bool migration_final;		/* this cycle was a migration's final one */
	enum vol_state store_state;	/* the store's volume state after it; 0 unknown */
};

struct replicator;

/* Load the key, open (create) the store, open the source and the volume if present. */
int replicator_open(const struct replicate_opts *opts, struct replicator **out);
/*
 * Run one cycle: settle a frozen cycle left by an earlier run, then the
 * initial replication if the store has no complete cycle yet, else a delta
 * (or a full cycle if the source's tracking was restarted).  On failure the
 * kernel cycle is aborted (merged back) and nothing becomes visible in the
 * store.  -EINTR if *opts->stop was set while the cycle ran.
 */
int replicator_cycle(struct replicator *r, struct replicate_summary *sum);
/*
 * The same, as a checksum resync: the blocks whose hashes differ from the
 * list the target published for the store's newest cycle are shipped
 * along with the tracked changes, whether tracking can be trusted or not.
 */
int replicator_resync(struct replicator *r, struct replicate_summary *sum);
/*
 * Reprotect (reverse replication after a failover): the volume exists and
 * has the original disk's hash list as cycle 0's.  Its first cycle ships,
 * as cycle 1 (a delta over that disk), the tracked changes and the blocks
 * whose hashes differ (at least one block, so the cycle exists); once it
 * is stored, the same as replicator_cycle.  -ENOENT if there is no volume.
 */
int replicator_reprotect(struct replicator *r, struct replicate_summary *sum);
/*
 * Clean detach: save the volume's unshipped change set (dirty and frozen)
 * in opts->state_dir so that the next attach (a new tracking id) ships only
 * those blocks.  A block device must not be in use (mounted): -EBUSY unless
 * opts->force.  The kernel keeps its set too (merged back).
 */
int replicator_detach(struct replicator *r, uint64_t *saved_blocks);
/*
 * A service about to queue the volume: if the store holds no complete
 * cycle yet, create the volume there and record initial-replication-queued
 * (unless the store's state says otherwise).  -ECANCELED as for a cycle.
 */
int replicator_mark_queued(struct replicator *r);
const char *replicator_volume(const struct replicator *r);
/* Blocks changed since the last cycle (the source's dirty count), without starting one. */
int replicator_pending(struct replicator *r, uint64_t *dirty_blocks);
void replicator_close(struct replicator *r);

#endif
