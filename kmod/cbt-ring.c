// SPDX-License-Identifier: GPL-2.0-only
/*
 * Ordered ring of I/O records for dm-cbt; see cbt-ring.h.
 */

#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cbt-ring.h"

int cbt_ring_init(struct cbt_ring *ring, u32 size)
{
	memset(ring, 0, sizeof(*ring));
	ring->first = 1;
	ring->next = 1;
	ring->released = 1;
	if (!size)
		return 0;
	ring->rec = kvcalloc(size, sizeof(*ring->rec), GFP_KERNEL);
	if (!ring->rec)
		return -ENOMEM;
	ring->size = size;
	return 0;
}

void cbt_ring_exit(struct cbt_ring *ring)
{
	kvfree(ring->rec);
	ring->rec = NULL;
	ring->size = 0;
}

static struct cbt_ring_record *slot(const struct cbt_ring *ring, u64 seq)
{
	u32 rem;

	div_u64_rem(seq, ring->size, &rem);
	return &ring->rec[rem];
}

unsigned int cbt_ring_add(struct cbt_ring *ring, u8 op, u64 sector,
			  u32 nr_sectors, u32 epoch, u64 tag)
{
	struct cbt_ring_record *r;
	unsigned int ev = 0;

	if (!ring->size)
		return 0;
	if (cbt_ring_fill(ring) == ring->size) {
		if (ring->first >= ring->released) {
			if (!cbt_ring_overflow(ring))
				ev |= CBT_RING_EV_OVERFLOW;
			ring->lost++;
			ring->lost_upto = ring->first;
		}
		ring->first++;
	}
	r = slot(ring, ring->next);
	r->seq = ring->next++;
	r->sector = sector;
	r->tag = tag;
	r->nr_sectors = nr_sectors;
	r->epoch = epoch;
	r->op = op;
	memset(r->pad, 0, sizeof(r->pad));

	if (!ring->watermark &&
	    (u64)cbt_ring_fill(ring) * 4 >= (u64)ring->size * 3) {
		ring->watermark = true;
		ev |= CBT_RING_EV_WATERMARK;
	}
	return ev;
}

u32 cbt_ring_copy(const struct cbt_ring *ring, u64 *seq,
		  struct cbt_ring_record *dst, u32 max)
{
	u64 s = max(*seq, ring->first);
	u32 n = 0;

	if (s >= ring->next)
		return 0;
	n = min_t(u64, max, ring->next - s);
	if (n) {
		/* At most two runs: up to the end of the array, then from 0. */
		u32 rem, run;

		div_u64_rem(s, ring->size, &rem);
		run = min(n, ring->size - rem);
		memcpy(dst, &ring->rec[rem], run * sizeof(*dst));
		memcpy(dst + run, ring->rec, (n - run) * sizeof(*dst));
	}
	*seq = s + n;
	return n;
}

void cbt_ring_release(struct cbt_ring *ring, u64 seq)
{
	if (seq <= ring->released)
		return;
	ring->released = min(seq, ring->next);
	ring->first = max(ring->first, ring->released);
	/* Re-arm the watermark event once the ring is half empty again. */
	if ((u64)cbt_ring_fill(ring) * 2 < ring->size)
		ring->watermark = false;
}

void cbt_ring_move(struct cbt_ring *new, struct cbt_ring *old)
{
	u32 keep = min(cbt_ring_fill(old), new->size);
	u64 seq = old->next - keep;	/* oldest record kept */
	u64 s;

	for (s = seq; s < old->next; s++)
		*slot(new, s) = *slot(old, s);
	new->first = seq;
	new->next = old->next;
	new->released = old->released;
	new->lost = old->lost;
	new->lost_upto = old->lost_upto;
	/* Unreleased records that do not fit are lost like overwritten ones. */
	if (seq > old->released) {
		new->lost += seq - max(old->first, old->released);
		new->lost_upto = seq - 1;
	}
	new->watermark = new->size &&
			 (u64)cbt_ring_fill(new) * 4 >= (u64)new->size * 3;
	old->first = old->next;
}
