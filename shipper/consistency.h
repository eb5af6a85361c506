/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Consistent cycles (docs/CONSISTENCY.md).  Users write to an origin
 * device stacked on the dm-cbt device; between cycles its table is
 * `linear` (no cost), during a cycle `snapshot-origin`.  One freeze instant
 * is: (pre hooks), load snapshot-origin into each origin's inactive slot,
 * suspend the origins, freeze every dm-cbt volume, activate a dm-snapshot
 * of each dm-cbt device, resume the origins (swapping in snapshot-origin),
 * (post hooks).  The cycle's blocks are then read from the snapshot, so
 * they are the volume exactly as it was at the freeze however it is
 * written meanwhile; cons_release removes the snapshot and swaps `linear`
 * back.  A snapshot is only ever active while its origin's live table is
 * snapshot-origin or the origin is suspended.  Several volumes passed
 * together (a consistency group) share the instant.
 */
#ifndef CBTSHIP_CONSISTENCY_H
#define CBTSHIP_CONSISTENCY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cbt-source.h"
#include "dm-snap.h"
#include "format.h"

/* What a cycle's data is; recorded in its manifest (docs/FORMAT.md). */
enum cons_level {
	CONS_NONE = FMT_CONSISTENCY_NONE,	/* read from the live device: fuzzy */
	CONS_CRASH = FMT_CONSISTENCY_CRASH,	/* the volume at one instant */
	CONS_APP = FMT_CONSISTENCY_APP,		/* that, with the application's hooks run */
};

/* "none", "crash", "app"; cons_point_name: "none", "crash-consistent", ... */
const char *cons_level_name(enum cons_level l);
const char *cons_point_name(enum cons_level l);

/* Hooks around the freeze; all optional. */
struct cons_hooks {
	/* Run as `CMD pre` before the freeze and `CMD post` after; post always runs. */
	const char *command;
	/* fsfreeze this mount point (FIFREEZE) before and thaw it (FITHAW) after. */
	const char *fsfreeze;
	unsigned int timeout;		/* seconds per hook run; 0 = 60 */
	unsigned int interval;		/* seconds between app points; 0 = every cycle */
	/* At most this long frozen, then its guard thaws it (fs-guard.h); 0 = 15 s. */
	unsigned int fsfreeze_timeout;
	const char *state_dir;		/* where the freeze is recorded; NULL: not */
};

/* Configuration of one volume's consistent cycles (a snapshot per cycle). */
struct cons_config {
	const char *origin;		/* dm name of the users' device over the cbt device */
	const char *cow;		/* block device for the snapshot's copies */
	uint32_t chunk_sectors;		/* 0 = 8 (4 KiB) */
};

/* One volume of a freeze instant. */
struct cons_volume {
	/* set by the caller */
	struct cbt_source *src;
	const struct cons_config *cfg;	/* NULL: plain freeze, data read live */
	char snap[DMSNAP_NAME_BUF];	/* cons_volume_init() names it */
	const char *origin;		/* cfg->origin (kept while cfg is lent out) */
	dev_t cbt_dev;
	uint64_t sectors;
	/* results */
	uint64_t tcycle;
	bool frozen;			/* the kernel cycle is frozen */
	bool snapped;			/* snap exists; read from read_path */
	char read_path[64];
	/* the origin's state, kept by cons_freeze and cons_release */
	bool so_live;			/* its live table is snapshot-origin */
	bool loaded;			/* snapshot-origin waits in its inactive slot */
	bool suspended;
};

/*
 * Check that cfg->origin is a `linear` or `snapshot-origin` table over the
 * whole dm-cbt device `device` (info: its tracking), name the volume's
 * snapshot, and repair what an interrupted run left: its snapshot removed
 * (first), the origin's inactive table cleared, the origin resumed on
 * `linear`.
 */
int cons_volume_init(struct cons_volume *v, struct cbt_source *src, const char *device,
		     const struct cbt_volume_info *info, const struct cons_config *cfg);

/*
 * Take one instant of the n volumes: every volume frozen (and
 * snapshotted where configured).  *level: what the instant is (NONE if
 * any volume has no snapshot).  app: run the hooks (the caller's
 * interval decision).  On failure nothing is left frozen or snapshotted.
 */
int cons_freeze(struct cons_volume **v, size_t n, const struct cons_hooks *hooks, bool app,
		enum cons_level *level);

/*
 * A consistency group: n volumes, each replicated by its own thread, frozen
 * together.  Per round every member either arrives at the freeze
 * (cons_group_freeze, which waits for the others; the last to arrive takes
 * the instant for all) or leaves (cons_group_leave: it will not take part,
 * so the instant is not taken and the arrived members get -EAGAIN).
 */
struct cons_group {
	char name[FMT_GROUP_NAME_MAX + 1];
	const struct cons_hooks *hooks;
	size_t n;
	struct cons_volume **vols;	/* members' volumes, registered by index */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t arrived, left;
	bool done;
	int result;
	enum cons_level level;
	uint64_t instant;		/* us since the epoch, unique per instant */
	double last_app;
	/* Commit vote (cons_group_commit_vote), reset each round. */
	size_t voted;
	bool vote_failed;
};

/* name must be a valid volume-style name of at most FMT_GROUP_NAME_MAX bytes. */
int cons_group_init(struct cons_group *g, const char *name, size_t n,
		    const struct cons_hooks *hooks);
void cons_group_destroy(struct cons_group *g);
/* Before each round, with no member inside. */
void cons_group_round(struct cons_group *g);
int cons_group_freeze(struct cons_group *g, enum cons_level *level, uint64_t *instant);
void cons_group_leave(struct cons_group *g);
/*
 * After an instant every member votes once: ok when its cycle is written
 * and about to be committed, not ok when it failed after the freeze.  Waits
 * for all n votes; 0 if every member is ready, else -EAGAIN (the member
 * aborts its cycle, so no member commits a cycle of an instant that
 * another member cannot store).
 */
int cons_group_commit_vote(struct cons_group *g, bool ok);

/* Is v's snapshot still valid (its COW device did not fill up)? */
int cons_snapshot_valid(struct cons_volume *v, bool *valid);

/*
 * Once the cycle is stored (or given up): remove v's snapshot, then put
 * the origin back on `linear`.  An error only if the snapshot could not be
 * torn down (the origin then stays on snapshot-origin, which is safe; the
 * next cons_freeze tries again).  An origin that cannot be put back on
 * linear is logged and stays on snapshot-origin: slower, never wrong.
 */
int cons_release(struct cons_volume *v);

#endif
