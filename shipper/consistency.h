/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Consistent cycles (docs/CONSISTENCY.md).  Users write to the dm-cbt
 * device NAME itself, whose table between cycles is `cbt DISK ...`.  One
 * freeze instant is: create NAME-cbtso (`snapshot-origin DISK`, inactive),
 * (pre hooks), suspend every NAME, freeze every dm-cbt volume, activate a
 * dm-snapshot of each DISK, resume each NAME-cbtso, load `cbt NAME-cbtso
 * ... data_of DISK` into each NAME (the kernel keeps the tracking state),
 * resume each NAME (swapping it in), (post hooks).  From then on every
 * write to DISK passes the snapshot-origin, so the cycle's blocks read
 * from the snapshot are the volume exactly as it was at the freeze;
 * cons_release removes the snapshot, puts `cbt DISK` back and removes
 * NAME-cbtso.  A snapshot is only ever active while NAME is suspended or
 * on NAME-cbtso.  Several volumes passed together (a consistency group)
 * share the instant.
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
	const char *cow;		/* block device for the snapshot's copies */
	uint32_t chunk_sectors;		/* 0 = 8 (4 KiB) */
};

#define CONS_TABLE_MAX	512

/* One volume of a freeze instant. */
struct cons_volume {
	/* set by the caller */
	struct cbt_source *src;
	const struct cons_config *cfg;	/* NULL: plain freeze, data read live */
	/* cons_volume_init() sets these */
	char name[DMSNAP_NAME_BUF];	/* the dm-cbt device users write to */
	char so[DMSNAP_NAME_BUF];	/* NAME-cbtso: snapshot-origin of the disk */
	char snap[DMSNAP_NAME_BUF];	/* NAME-cbtsnap: snapshot of the disk */
	dev_t disk;			/* the disk under dm-cbt */
	char cbt_bs[16];		/* NAME's `cbt` block size, */
	unsigned int cbt_nopt;		/* number of optional words */
	char cbt_opts[CONS_TABLE_MAX];	/* and those words but data_of's */
	uint64_t sectors;
	/* results */
	uint64_t tcycle;
	bool frozen;			/* the kernel cycle is frozen */
	bool snapped;			/* snap exists; read from read_path */
	char read_path[64];
	/* the stack's state, kept by cons_freeze and cons_release */
	bool on_so;			/* NAME's live table is on NAME-cbtso */
	bool so_made;			/* NAME-cbtso exists */
	dev_t so_dev;
	bool suspended;			/* NAME is suspended by us */
};

/*
 * Check that `device` is the dm-cbt device of `info` (a single `cbt`
 * table over the whole disk), name the volume's snapshot-origin and
 * snapshot, and repair what an interrupted run left: its snapshot removed
 * (first), NAME's inactive table cleared, NAME put back on the disk and
 * resumed, NAME-cbtso removed.
 */
int cons_volume_init(struct cons_volume *v, struct cbt_source *src, const char *device,
		     const struct cbt_volume_info *info, const struct cons_config *cfg);

/*
 * Parse the dm-cbt device's `cbt` table parameters, "DEV BS [N WORD...]":
 * *dev, *data_of (0: none), and into v the block size and optional words
 * but data_of's.  -EINVAL if they are not such a table.
 */
int cons_table_parse(struct cons_volume *v, const char *params, dev_t *dev, dev_t *data_of);
/*
 * The `cbt` parameters of the parsed table on v->disk (between cycles), or
 * (during) on v->so_dev with `data_of DISK`; -ENAMETOOLONG if len is short.
 */
int cons_table_params(const struct cons_volume *v, bool during, char *buf, size_t len);

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
 * Once the cycle's blocks are read (or it is given up): remove v's
 * snapshot, then put NAME back on the disk and remove NAME-cbtso.  An error if the snapshot
 * could not be torn down (NAME then stays on NAME-cbtso, which is safe;
 * the next cons_freeze tries again) or NAME could not be put back (logged;
 * it stays on NAME-cbtso: slower, never wrong; the next cycle retries).
 */
int cons_release(struct cons_volume *v);

#endif
