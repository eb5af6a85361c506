/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Ordered ring of I/O records for dm-cbt (struct cbt_ring_record).
 *
 * A preallocated array used as a circular buffer: adding a record never
 * allocates or sleeps.  When full, the oldest record is overwritten and
 * counted as lost.  Records from the first unreleased sequence on are
 * "unreleased"; losing one of them sets the overflow flag, which stays
 * set until a release passes the last lost record.
 *
 * Locking: none inside; the caller serialises every call (volume lock).
 */
#ifndef DM_CBT_RING_H
#define DM_CBT_RING_H

#include <linux/types.h>
#include <linux/dm-cbt.h>

struct cbt_ring {
	struct cbt_ring_record *rec;	/* @size entries, NULL if size is 0 */
	u32 size;
	u64 first;			/* oldest sequence held */
	u64 next;			/* sequence of the next record */
	u64 released;			/* records below this may be dropped */
	u64 lost;			/* overwritten unreleased records, ever */
	u64 lost_upto;			/* newest lost sequence, 0 if none */
	bool watermark;			/* 3/4 full reported, not yet re-armed */
};

/* Events returned by cbt_ring_add(). */
#define CBT_RING_EV_WATERMARK	1U
#define CBT_RING_EV_OVERFLOW	2U

/* Allocate the array of a @size-record ring; may sleep. */
int cbt_ring_init(struct cbt_ring *ring, u32 size);
void cbt_ring_exit(struct cbt_ring *ring);

/* Append a record; returns CBT_RING_EV_* that this append caused. */
unsigned int cbt_ring_add(struct cbt_ring *ring, u8 op, u64 sector,
			  u32 nr_sectors, u32 epoch, u64 tag);

static inline u32 cbt_ring_fill(const struct cbt_ring *ring)
{
	return ring->next - ring->first;
}

static inline bool cbt_ring_overflow(const struct cbt_ring *ring)
{
	return ring->lost_upto >= ring->released && ring->lost_upto;
}

/*
 * Copy up to @max records from sequence *@seq on (or from the oldest
 * held, if *@seq is older) into @dst; advances *@seq past them and
 * returns how many were copied.
 */
u32 cbt_ring_copy(const struct cbt_ring *ring, u64 *seq,
		  struct cbt_ring_record *dst, u32 max);

/* Records with a sequence below @seq are released and dropped. */
void cbt_ring_release(struct cbt_ring *ring, u64 seq);

/*
 * Move the newest records of @old into the empty ring @new (another
 * size), keeping sequence numbers and counters; @old is left empty.
 */
void cbt_ring_move(struct cbt_ring *new, struct cbt_ring *old);

#endif /* DM_CBT_RING_H */
