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

#include "journal.h"
#include "remote-opts.h"
#include "replica.h"
#include "vstore.h"

/*
 * Verify cycle `cycle` completely, then write it to the replica and sync
 * it.  With a journal j (at cycle - 1), the blocks it overwrites are saved
 * in undo-cycle first and j moves to cycle only once the replica is synced,
 * so an interruption anywhere leaves a replica journal_recover() brings
 * back to cycle - 1.  On a verification failure (-EBADMSG and friends, logged naming the
 * cycle, segment and block) the replica has not been written.
 */
int apply_cycle(struct vstore *vs, uint64_t cycle, struct replica *r, struct journal *j);

/* Verify cycle `cycle` completely without writing anything. */
int apply_verify_cycle(struct vstore *vs, uint64_t cycle);

struct apply_result {
	uint64_t before;	/* cycle the replica was at */
	uint64_t first, last;	/* cycles applied now; 0, 0 if none */
	uint64_t now;		/* cycle the replica is at */
};

/*
 * Apply, in order, every complete cycle after the one the replica is at
 * (its state directory says; a replica without one starts from the store's
 * replica-applied record), keeping each as a recovery point and updating
 * the store's record as a report after each.  A missing cycle (a gap) stops
 * with -ENOENT after applying the cycles before it.
 */
int apply_pending(struct vstore *vs, const char *replica_path, struct apply_result *res);

struct apply_opts {
	const struct remote_opts *ro;	/* for a remote replica; may be NULL */
	const char *state_dir;		/* NULL: REPLICA.cbtship for a file replica */
	struct journal_retention keep;	/* recovery point retention; 0s: defaults */
};

/*
 * For the commands: load the key, open store_dir and its volume (logging
 * what is missing).  On success close *vs, then *st.
 */
int apply_open_volume(const char *store_dir, const char *key_path, const char *volume,
		      struct store **st, struct vstore **vs);
/* The same for a remote store (ro: its options, may be NULL). */
int apply_open_volume_opts(const char *store_dir, const struct remote_opts *ro,
			   const char *key_path, const char *volume,
			   struct store **st, struct vstore **vs);

/* apply_pending() with options (opts may be NULL). */
int apply_pending_opts(struct vstore *vs, const char *replica_spec, const struct apply_opts *opts,
		       struct apply_result *res);

#endif
