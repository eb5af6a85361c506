/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The target's state directory (docs/TARGET.md): which cycle the replica
 * holds, the undo journal that makes applying a cycle atomic, and the
 * recovery points that the same undo data keeps.  It lives next to the
 * replica, never in the store: it describes this replica only.
 *
 *   DIR/lock            flock()ed by every process using DIR
 *   DIR/state           text: volume, cycle the replica is at, pending cycle
 *   DIR/points          text: one line per recovery point, oldest first
 *   DIR/undo-N          binary: replica contents before cycle N overwrote them
 *
 * Applying cycle N to a replica at N-1: write undo-N (old contents of every
 * block N writes) and sync it; set state pending=N; write the blocks and
 * sync; set state at=N, pending=0.  A process killed anywhere in between
 * finds pending=N on the next open and rolls back with undo-N, which leaves
 * the replica exactly at N-1.  Point P stays reachable while undo-(P+1) ..
 * undo-at exist, so keeping it costs only the blocks later cycles overwrote.
 */
#ifndef CBTSHIP_JOURNAL_H
#define CBTSHIP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica.h"

#define JOURNAL_ID_BYTES	16
#define JOURNAL_GROUP_MAX	31

/* What a point's data is: the cycle manifest's consistency (CONSISTENCY.md). */
enum point_kind {
	POINT_NONE = 0,		/* read from the live disk while written: fuzzy */
	POINT_CRASH = 1,	/* crash-consistent: what the disk held at the freeze */
	POINT_APP = 2,		/* that, with the application's freeze hooks run */
};

/* "none", "crash", "app" */
const char *journal_point_kind_name(enum point_kind k);

struct journal_point {
	uint64_t cycle;
	uint64_t created;	/* when the source froze the cycle (unix seconds) */
	uint64_t applied;	/* when it was applied here */
	enum point_kind kind;
	/* A consistency group's point: the group and its instant; else "" and 0. */
	char group[JOURNAL_GROUP_MAX + 1];
	uint64_t instant;
};

struct journal_state {
	uint8_t volume_id[JOURNAL_ID_BYTES];
	uint32_t block_size;
	uint64_t size_bytes;
	uint64_t at;		/* the replica holds exactly this cycle (when !pending) */
	uint64_t at_created;	/* that cycle's source time (unix seconds) */
	enum point_kind at_kind;	/* that cycle's consistency */
	char at_group[JOURNAL_GROUP_MAX + 1];	/* that cycle's group, or "" */
	uint64_t at_instant;		/* and the group's instant */
	uint64_t pending;	/* 0, or a cycle being written or rolled back */
	uint64_t failed_over;	/* 0, or the point the replica was failed over at */
};

struct journal {
	char *dir;
	int dirfd;
	int lockfd;
	bool created;		/* the directory had no state file */
	struct journal_state st;
	struct journal_point *points;	/* oldest first */
	size_t nr_points;
};

/* Retention: points older than max_age seconds and beyond max_count go. */
struct journal_retention {
	uint64_t max_age;	/* seconds; 0 = default (1 day) */
	uint64_t max_count;	/* 0 = no count limit */
};

#define JOURNAL_DEFAULT_AGE	(24 * 3600ull)
#define JOURNAL_MAX_AGE		(15 * 24 * 3600ull)

/* "90m", "36h", "7d", "3600" (seconds): 1s .. 15d, else -EINVAL/-ERANGE (logged). */
int journal_parse_age(const char *text, uint64_t *secs);

/*
 * Open (creating with create) the state directory dir and lock it: shared
 * for readers (exclusive false), exclusive for writers.  Waits for the
 * lock.  -ENOENT if it has no state and !create.
 */
int journal_open(const char *dir, bool create, bool exclusive, struct journal **out);
void journal_close(struct journal *j);

/* Drop the lock between cycles, take it again (re-reading nothing). */
void journal_unlock(struct journal *j);
int journal_relock(struct journal *j, bool exclusive);

/*
 * The state directory of replica spec (malloc'd): given if not NULL, else
 * SPEC.cbtship for a regular file (or one to be created).  A block device
 * or remote replica must be given one: NULL (logged).
 */
char *journal_dir_for(const char *spec, const char *given);

/* Delete everything in a journal's directory and the directory itself. */
void journal_remove(struct journal *j);

/* Replace DIR/state atomically with j->st. */
int journal_save_state(struct journal *j);

/*
 * If j->st.pending is set, restore undo-pending to the replica, sync it,
 * clear pending.  Afterwards the replica is exactly at j->st.at.
 */
int journal_recover(struct journal *j, struct replica *r);

/*
 * Record and retain: add point `cycle` (now j->st.at; it takes the group
 * of j->st), drop points by the
 * retention rules (never the newest) and delete undo files no point needs.
 */
int journal_add_point(struct journal *j, uint64_t cycle, uint64_t created, enum point_kind kind,
		      const struct journal_retention *keep, uint64_t now);

/* Forget every point and delete every undo file (after a failover). */
int journal_drop_points(struct journal *j);

/* Small files of the state directory: replaced atomically; read whole. */
int journal_put_file(struct journal *j, const char *name, const void *buf, size_t len);
/* NUL-terminated, malloc'd; -ENOENT (not logged) if absent. */
int journal_get_file(struct journal *j, const char *name, char **out);

/* Index of point `cycle` in j->points, or -ENOENT (logged). */
int journal_find_point(struct journal *j, uint64_t cycle);
/* The point of group instant `instant`: its cycle in *cycle, or -ENOENT (logged). */
int journal_find_instant(struct journal *j, uint64_t instant, uint64_t *cycle);

/* ---- undo files ---- */

struct undo_writer;

/* Start undo-cycle (any residue of an earlier attempt is replaced). */
int undo_begin(struct journal *j, uint64_t cycle, struct undo_writer **out);
/* The old contents of one block (len = block size, or less for the last). */
int undo_add(struct undo_writer *w, uint64_t block, const void *data, size_t len);
/* Sync and rename into place; frees w whatever the result. */
int undo_commit(struct undo_writer *w);
void undo_abort(struct undo_writer *w);

/*
 * Save the replica's current contents of blocks [start, start + count)
 * (as the manifest lists them) into w.  buf holds at least 1 MiB.
 */
int undo_save_range(struct undo_writer *w, struct replica *r, uint64_t start, uint64_t count,
		    uint8_t *buf, size_t buf_len);

/*
 * Write every block of undo-cycle to dst (pwrite-like callback), checking
 * each block's crc32c.  -ENOENT if the file is missing.
 */
typedef int (*undo_sink)(void *ctx, const void *buf, size_t len, uint64_t off);
int undo_replay(struct journal *j, uint64_t cycle, undo_sink sink, void *ctx);

/* Remove undo-cycle (missing is fine). */
int undo_remove(struct journal *j, uint64_t cycle);

/* Fault injection for the crash tests: _exit(99) at the N-th step (0 = off). */
extern unsigned long journal_crash_at;
void journal_step(void);

#endif
