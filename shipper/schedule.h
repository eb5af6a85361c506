/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The replication scheduler as pure functions over plain state and a time
 * given by the caller (the daemon passes its injectable clock's time):
 *
 * - The initial replication starts as soon as a volume is configured; the
 *   first delta cycle right after it completes; each later delta
 *   max(previous cycle's duration / 2, minimum interval) after the previous
 *   one ended.  A minimum interval of 0 is the near-continuous mode: a
 *   cycle starts as soon as the previous one ended and there is change.
 * - Priorities: an on-demand (pre-migration) cycle first, then initial
 *   replication, then delta cycles; within a class, work already under way
 *   (an initial replication interrupted part way) before new work, then the
 *   longest overdue.  Running cycles are never preempted.
 * - At most `parallel` volumes replicate at once; the rest are queued.  A
 *   consistency group is one entry whose `slots` are its volumes: it starts
 *   only when all of them fit, and while the best queued entry does not
 *   fit, nothing behind it starts either (so a group is not starved by
 *   single volumes taking the slots it waits for).
 * - No new cycle starts while the volume is in a blackout window (except
 *   an on-demand one, which an operator asked for); running ones finish.
 */
#ifndef CBTSHIP_SCHEDULE_H
#define CBTSHIP_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_DEFAULT_PARALLEL		52
#define SCHED_DEFAULT_MIN_INTERVAL	(3600LL * 1000000)	/* 1 h, in us */

enum sched_kind {
	SCHED_ON_DEMAND,	/* highest priority */
	SCHED_INITIAL,
	SCHED_DELTA,
};

enum sched_state {
	SCHED_WAITING,		/* waiting for its next cycle */
	SCHED_QUEUED,		/* due, waiting for a free slot */
	SCHED_BLACKOUT,		/* due, but inside a blackout window */
	SCHED_RUNNING,
};

/* What the scheduler knows about one volume; times in us since the epoch. */
struct sched_volume {
	bool initial_done;	/* a complete cycle is in the store */
	bool in_progress;	/* an initial replication was interrupted part way */
	bool on_demand;		/* an operator asked for a cycle now */
	bool running;
	bool has_changes;	/* near-continuous mode: the source reports change */
	bool in_blackout;	/* the caller's verdict for "now" */
	int64_t min_interval;	/* us; 0 = near-continuous */
	int64_t next_due;	/* earliest start of the next delta cycle */
	int64_t retry_at;	/* after a failed cycle: no new attempt before this */
	unsigned int slots;	/* of `parallel` it takes: a group's volumes; 0 = 1 */
	/* Output of sched_pick(): */
	enum sched_state state;
	enum sched_kind kind;	/* what the next (or running) cycle is */
};

/* The kind of cycle the volume needs next. */
enum sched_kind sched_kind_of(const struct sched_volume *v);
/* Is the volume due for a cycle at now (ignoring slots and windows)? */
bool sched_due(const struct sched_volume *v, int64_t now);

/*
 * After a cycle ended at `end` having taken `duration`: when is the next
 * one due?  Right away after the initial replication, else
 * end + max(duration / 2, min_interval).
 */
int64_t sched_next_due(bool was_initial, int64_t end, int64_t duration, int64_t min_interval);

/*
 * Decide which volumes start now.  Sets every volume's state and kind;
 * writes the indexes of the volumes to start, best first, into start[]
 * (room for nr) and returns how many.  The caller marks them running.
 */
size_t sched_pick(struct sched_volume *v, size_t nr, int64_t now, unsigned int parallel,
		  size_t *start);

const char *sched_state_name(enum sched_state s);
const char *sched_kind_name(enum sched_kind k);

#endif
