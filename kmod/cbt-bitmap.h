/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Sparse change bitmap for dm-cbt.
 *
 * One bit per tracking block.  The bits live in leaves of CBT_LEAF_BYTES
 * (a region of 4096 blocks), allocated from a kmem_cache on the first
 * write into their region; a two-level directory of page-sized tables
 * points at the leaves, so an untouched volume costs a few KiB whatever
 * its size.  A preallocated "full" bitmap holds one bit per leaf region:
 * a set full bit means every block of the region is set.  It is used
 * when a whole region is written (no leaf needed) and, as an
 * over-approximation, when a leaf cannot be allocated.  Bits are never
 * lost.
 *
 * Locking: none inside.  Every function that changes a bitmap and
 * cbt_bitmap_next_extent() must be serialised by the caller.  Nothing
 * here sleeps except cbt_bitmap_create() and cbt_bitmap_destroy().
 */
#ifndef DM_CBT_BITMAP_H
#define DM_CBT_BITMAP_H

#include <linux/atomic.h>
#include <linux/types.h>

struct cbt_bitmap;

/*
 * Bytes of one leaf: small, so that scattered writes cost little (each
 * first write into a region costs one leaf), and large enough that the
 * preallocated one-bit-per-region "full" bitmap stays small.
 */
#ifndef CBT_LEAF_BYTES
#define CBT_LEAF_BYTES	512
#endif

/*
 * Bytes of leaves and directory pages that the bitmaps sharing a budget
 * may allocate together (the table's memory_cap).  Past it, regions are
 * set whole instead, exactly as when an allocation fails.  max_bytes < 0:
 * no cap.
 */
struct cbt_bitmap_budget {
	atomic_long_t bytes;
	long max_bytes;
};

/* The leaf cache: create at module load, destroy at unload. */
int cbt_bitmap_init(void);
void cbt_bitmap_exit(void);

/* Allocate an empty bitmap of @nr_bits bits; may sleep. NULL on failure. */
struct cbt_bitmap *cbt_bitmap_create(u64 nr_bits);
void cbt_bitmap_destroy(struct cbt_bitmap *bm);

/* Count @bm's memory against @budget from now on; @bm must be empty. */
void cbt_bitmap_set_budget(struct cbt_bitmap *bm,
			   struct cbt_bitmap_budget *budget);

u64 cbt_bitmap_nr_bits(const struct cbt_bitmap *bm);

/* Number of set bits. */
u64 cbt_bitmap_count(const struct cbt_bitmap *bm);

/* True once a leaf allocation failed and a region was set whole instead. */
bool cbt_bitmap_degraded(const struct cbt_bitmap *bm);

/*
 * Set bits [first, last] (inclusive, clamped to the bitmap).  Never
 * sleeps, never fails: allocations use GFP_NOWAIT and fall back to
 * setting whole regions.
 */
void cbt_bitmap_set_range(struct cbt_bitmap *bm, u64 first, u64 last);

bool cbt_bitmap_test(const struct cbt_bitmap *bm, u64 bit);

/*
 * Find the first run of set bits starting at or after *@pos.  On success
 * stores it in @start/@len, advances *@pos past it and returns true.
 * Returns false when no set bit is left.
 */
bool cbt_bitmap_next_extent(const struct cbt_bitmap *bm, u64 *pos,
			    u64 *start, u64 *len);

/*
 * OR @src into @dst (as large or larger) and leave @src empty.  Leaves
 * and directory pages are moved, not copied, so this allocates at most a
 * leaf for a partial last region of @src (GFP_NOWAIT, else the region
 * is set whole).
 */
void cbt_bitmap_move_into(struct cbt_bitmap *dst, struct cbt_bitmap *src);

/* Clear every bit and free the leaves.  Never sleeps. */
void cbt_bitmap_reset(struct cbt_bitmap *bm);

/* Bytes currently allocated for this bitmap (for status). */
size_t cbt_bitmap_mem_bytes(const struct cbt_bitmap *bm);

#endif /* DM_CBT_BITMAP_H */
