// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sparse change bitmap for dm-cbt; see cbt-bitmap.h for the model.
 */

#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "cbt-bitmap.h"

/* Bits in one leaf, and leaf pointers in one directory page. */
#define CBT_LEAF_BITS		((u64)CBT_LEAF_BYTES * BITS_PER_BYTE)
#define CBT_LEAVES_PER_DIR	(PAGE_SIZE / sizeof(unsigned long *))

/* Leaves: small objects of their own cache (allocated GFP_NOWAIT). */
static struct kmem_cache *cbt_leaf_cache;

static bool fail_leaf_alloc;
module_param(fail_leaf_alloc, bool, 0644);
MODULE_PARM_DESC(fail_leaf_alloc,
		 "Testing only: act as if no bitmap page can be allocated");

struct cbt_dir {
	unsigned long *leaf[CBT_LEAVES_PER_DIR];
};

struct cbt_bitmap {
	u64 nr_bits;
	unsigned long nr_regions;	/* leaf-sized regions */
	unsigned long nr_dirs;		/* entries of @dirs */

	struct cbt_dir **dirs;		/* NULL entry: no leaf in its range */
	unsigned long *full;		/* one bit per region: all set */

	u64 count;			/* set bits */
	unsigned long nr_leaves;	/* allocated leaves */
	unsigned long nr_dir_pages;	/* allocated directory pages */
	bool degraded;			/* a region was set whole for lack of memory */
	struct cbt_bitmap_budget *budget;	/* NULL: not counted */
};

/* ---- Helpers ---- */

static u64 region_start(unsigned long r)
{
	return (u64)r * CBT_LEAF_BITS;
}

static unsigned long region_bits(const struct cbt_bitmap *bm, unsigned long r)
{
	u64 start = region_start(r);

	return min_t(u64, CBT_LEAF_BITS, bm->nr_bits - start);
}

static unsigned long region_of(u64 bit)
{
	return div64_u64(bit, CBT_LEAF_BITS);
}

static unsigned long *leaf_of(const struct cbt_bitmap *bm, unsigned long r)
{
	struct cbt_dir *dir = bm->dirs[r / CBT_LEAVES_PER_DIR];

	return dir ? dir->leaf[r % CBT_LEAVES_PER_DIR] : NULL;
}

/* May @bm allocate @size more bytes within its budget? */
static bool budget_allows(struct cbt_bitmap *bm, size_t size)
{
	struct cbt_bitmap_budget *b = bm->budget;

	if (unlikely(READ_ONCE(fail_leaf_alloc)))
		return false;
	/* Callers hold the volume lock, so this check does not race. */
	return !b || b->max_bytes < 0 ||
	       atomic_long_read(&b->bytes) + (long)size <= b->max_bytes;
}

static void budget_add(struct cbt_bitmap *bm, long size)
{
	if (bm->budget)
		atomic_long_add(size, &bm->budget->bytes);
}

/* A zeroed directory page for @bm, within its budget.  Never sleeps. */
static struct cbt_dir *alloc_dir(struct cbt_bitmap *bm)
{
	void *p;

	if (!budget_allows(bm, PAGE_SIZE))
		return NULL;
	p = (void *)get_zeroed_page(GFP_NOWAIT | __GFP_NOWARN);
	if (p)
		budget_add(bm, PAGE_SIZE);
	return p;
}

static void free_dir(struct cbt_bitmap *bm, struct cbt_dir *dir)
{
	budget_add(bm, -(long)PAGE_SIZE);
	free_page((unsigned long)dir);
}

/* A zeroed leaf for @bm, within its budget.  Never sleeps. */
static unsigned long *alloc_leaf(struct cbt_bitmap *bm)
{
	unsigned long *leaf;

	if (!budget_allows(bm, CBT_LEAF_BYTES))
		return NULL;
	leaf = kmem_cache_zalloc(cbt_leaf_cache, GFP_NOWAIT | __GFP_NOWARN);
	if (leaf)
		budget_add(bm, CBT_LEAF_BYTES);
	return leaf;
}

static void free_leaf_mem(struct cbt_bitmap *bm, unsigned long *leaf)
{
	budget_add(bm, -CBT_LEAF_BYTES);
	kmem_cache_free(cbt_leaf_cache, leaf);
}

static void free_leaf(struct cbt_bitmap *bm, unsigned long r)
{
	struct cbt_dir *dir = bm->dirs[r / CBT_LEAVES_PER_DIR];
	unsigned long **slot;

	if (!dir)
		return;
	slot = &dir->leaf[r % CBT_LEAVES_PER_DIR];
	if (!*slot)
		return;
	bm->count -= bitmap_weight(*slot, region_bits(bm, r));
	free_leaf_mem(bm, *slot);
	*slot = NULL;
	bm->nr_leaves--;
}

/* Returns the leaf of region @r, allocating it; NULL if out of memory. */
static unsigned long *get_leaf(struct cbt_bitmap *bm, unsigned long r)
{
	struct cbt_dir **dirp = &bm->dirs[r / CBT_LEAVES_PER_DIR];
	unsigned long **slot;

	if (!*dirp) {
		*dirp = alloc_dir(bm);
		if (!*dirp)
			return NULL;
		bm->nr_dir_pages++;
	}
	slot = &(*dirp)->leaf[r % CBT_LEAVES_PER_DIR];
	if (!*slot) {
		*slot = alloc_leaf(bm);
		if (!*slot)
			return NULL;
		bm->nr_leaves++;
	}
	return *slot;
}

/* Mark region @r entirely set; its leaf, if any, is no longer needed. */
static void set_full(struct cbt_bitmap *bm, unsigned long r)
{
	if (test_bit(r, bm->full))
		return;
	free_leaf(bm, r);
	__set_bit(r, bm->full);
	bm->count += region_bits(bm, r);
}

/* Set bits [lo, hi] of @leaf; returns how many were clear before. */
static unsigned long leaf_set(unsigned long *leaf, unsigned long lo,
			      unsigned long hi)
{
	unsigned long w, first = BIT_WORD(lo), last = BIT_WORD(hi);
	unsigned long added = 0;

	for (w = first; w <= last; w++) {
		unsigned long mask = ~0UL;

		if (w == first)
			mask &= BITMAP_FIRST_WORD_MASK(lo);
		if (w == last)
			mask &= BITMAP_LAST_WORD_MASK(hi + 1);
		added += hweight_long(mask & ~leaf[w]);
		leaf[w] |= mask;
	}
	return added;
}

/* ---- Lifetime ---- */

int cbt_bitmap_init(void)
{
	cbt_leaf_cache = kmem_cache_create("dm_cbt_leaf", CBT_LEAF_BYTES, 0, 0,
					   NULL);
	return cbt_leaf_cache ? 0 : -ENOMEM;
}

void cbt_bitmap_exit(void)
{
	kmem_cache_destroy(cbt_leaf_cache);
}

struct cbt_bitmap *cbt_bitmap_create(u64 nr_bits)
{
	struct cbt_bitmap *bm;
	u64 nr_regions;

	if (!nr_bits)
		return NULL;
	nr_regions = div64_u64(nr_bits + CBT_LEAF_BITS - 1, CBT_LEAF_BITS);
	if (nr_regions > INT_MAX)
		return NULL;

	bm = kzalloc(sizeof(*bm), GFP_KERNEL);
	if (!bm)
		return NULL;
	bm->nr_bits = nr_bits;
	bm->nr_regions = nr_regions;
	bm->nr_dirs = DIV_ROUND_UP(bm->nr_regions, CBT_LEAVES_PER_DIR);

	bm->dirs = kvcalloc(bm->nr_dirs, sizeof(*bm->dirs), GFP_KERNEL);
	if (!bm->dirs)
		goto bad_dirs;
	bm->full = kvcalloc(BITS_TO_LONGS(bm->nr_regions), sizeof(unsigned long),
			    GFP_KERNEL);
	if (!bm->full)
		goto bad_full;
	return bm;

bad_full:
	kvfree(bm->dirs);
bad_dirs:
	kfree(bm);
	return NULL;
}

void cbt_bitmap_reset(struct cbt_bitmap *bm)
{
	unsigned long d, i;

	for (d = 0; d < bm->nr_dirs; d++) {
		struct cbt_dir *dir = bm->dirs[d];

		if (!dir)
			continue;
		for (i = 0; i < CBT_LEAVES_PER_DIR; i++)
			if (dir->leaf[i])
				free_leaf_mem(bm, dir->leaf[i]);
		free_dir(bm, dir);
		bm->dirs[d] = NULL;
	}
	bitmap_zero(bm->full, bm->nr_regions);
	bm->count = 0;
	bm->nr_leaves = 0;
	bm->nr_dir_pages = 0;
	bm->degraded = false;
}

void cbt_bitmap_destroy(struct cbt_bitmap *bm)
{
	if (!bm)
		return;
	cbt_bitmap_reset(bm);
	kvfree(bm->full);
	kvfree(bm->dirs);
	kfree(bm);
}

void cbt_bitmap_set_budget(struct cbt_bitmap *bm,
			   struct cbt_bitmap_budget *budget)
{
	bm->budget = budget;
}

/* ---- Queries ---- */

u64 cbt_bitmap_nr_bits(const struct cbt_bitmap *bm)
{
	return bm->nr_bits;
}

u64 cbt_bitmap_count(const struct cbt_bitmap *bm)
{
	return bm->count;
}

bool cbt_bitmap_degraded(const struct cbt_bitmap *bm)
{
	return bm->degraded;
}

size_t cbt_bitmap_mem_bytes(const struct cbt_bitmap *bm)
{
	return sizeof(*bm) + bm->nr_dirs * sizeof(*bm->dirs) +
	       BITS_TO_LONGS(bm->nr_regions) * sizeof(unsigned long) +
	       bm->nr_leaves * CBT_LEAF_BYTES + bm->nr_dir_pages * PAGE_SIZE;
}

bool cbt_bitmap_test(const struct cbt_bitmap *bm, u64 bit)
{
	unsigned long r, *leaf;

	if (bit >= bm->nr_bits)
		return false;
	r = region_of(bit);
	if (test_bit(r, bm->full))
		return true;
	leaf = leaf_of(bm, r);
	return leaf && test_bit(bit - region_start(r), leaf);
}

/* First set bit at or after @pos, or nr_bits. */
static u64 first_set(const struct cbt_bitmap *bm, u64 pos)
{
	while (pos < bm->nr_bits) {
		unsigned long r = region_of(pos);
		unsigned long d = r / CBT_LEAVES_PER_DIR;
		unsigned long rbits = region_bits(bm, r);
		unsigned long *leaf, b;

		if (test_bit(r, bm->full))
			return pos;
		if (!bm->dirs[d]) {
			/* Nothing in this directory page but full regions. */
			unsigned long next = min(find_next_bit(bm->full, bm->nr_regions, r),
						 (d + 1) * CBT_LEAVES_PER_DIR);

			if (next >= bm->nr_regions)
				break;
			pos = region_start(next);
			continue;
		}
		leaf = bm->dirs[d]->leaf[r % CBT_LEAVES_PER_DIR];
		if (leaf) {
			b = find_next_bit(leaf, rbits, pos - region_start(r));
			if (b < rbits)
				return region_start(r) + b;
		}
		pos = region_start(r) + rbits;
	}
	return bm->nr_bits;
}

/* First clear bit at or after @pos, or nr_bits. */
static u64 first_clear(const struct cbt_bitmap *bm, u64 pos)
{
	while (pos < bm->nr_bits) {
		unsigned long r = region_of(pos);
		unsigned long rbits = region_bits(bm, r);
		unsigned long *leaf, b;

		if (!test_bit(r, bm->full)) {
			leaf = leaf_of(bm, r);
			if (!leaf)
				return pos;
			b = find_next_zero_bit(leaf, rbits, pos - region_start(r));
			if (b < rbits)
				return region_start(r) + b;
		}
		pos = region_start(r) + rbits;
	}
	return bm->nr_bits;
}

bool cbt_bitmap_next_extent(const struct cbt_bitmap *bm, u64 *pos,
			    u64 *start, u64 *len)
{
	u64 s = first_set(bm, *pos);
	u64 e;

	if (s >= bm->nr_bits) {
		*pos = bm->nr_bits;
		return false;
	}
	e = first_clear(bm, s);
	*start = s;
	*len = e - s;
	*pos = e;
	return true;
}

/* ---- Updates ---- */

void cbt_bitmap_set_range(struct cbt_bitmap *bm, u64 first, u64 last)
{
	unsigned long r, r_last;

	if (last >= bm->nr_bits)
		last = bm->nr_bits - 1;
	if (first > last)
		return;

	r_last = region_of(last);
	for (r = region_of(first); r <= r_last; r++) {
		u64 rs = region_start(r);
		unsigned long rbits = region_bits(bm, r);
		unsigned long lo = max(first, rs) - rs;
		unsigned long hi = min(last, rs + rbits - 1) - rs;
		unsigned long *leaf;

		if (test_bit(r, bm->full))
			continue;
		if (lo == 0 && hi == rbits - 1) {
			set_full(bm, r);
			continue;
		}
		leaf = get_leaf(bm, r);
		if (!leaf) {
			bm->degraded = true;
			set_full(bm, r);
			continue;
		}
		bm->count += leaf_set(leaf, lo, hi);
	}
}

/*
 * Move the leaves of directory page @d of @src into @dst.  @src's counters
 * are left stale: the caller resets @src afterwards.
 */
static void move_dir(struct cbt_bitmap *dst, struct cbt_bitmap *src,
		     unsigned long d)
{
	struct cbt_dir *sdir = src->dirs[d];
	bool give_page = !dst->dirs[d];
	unsigned long i, w;

	for (i = 0; i < CBT_LEAVES_PER_DIR; i++) {
		unsigned long r = d * CBT_LEAVES_PER_DIR + i;
		unsigned long *sleaf = sdir->leaf[i], *dleaf;
		unsigned long rbits;

		if (!sleaf)
			continue;
		rbits = region_bits(src, r);
		if (test_bit(r, dst->full)) {
			free_leaf_mem(src, sleaf);
			sdir->leaf[i] = NULL;
			continue;
		}
		if (give_page) {
			/* Stays in @sdir, which @dst takes over below. */
			dst->nr_leaves++;
			dst->count += bitmap_weight(sleaf, rbits);
			continue;
		}
		sdir->leaf[i] = NULL;
		dleaf = dst->dirs[d]->leaf[i];
		if (!dleaf) {
			dst->dirs[d]->leaf[i] = sleaf;
			dst->nr_leaves++;
			dst->count += bitmap_weight(sleaf, rbits);
			continue;
		}
		for (w = 0; w < BITS_TO_LONGS(rbits); w++) {
			dst->count += hweight_long(sleaf[w] & ~dleaf[w]);
			dleaf[w] |= sleaf[w];
		}
		free_leaf_mem(src, sleaf);
	}

	if (give_page) {
		dst->dirs[d] = sdir;
		dst->nr_dir_pages++;
		src->dirs[d] = NULL;
	}
}

void cbt_bitmap_move_into(struct cbt_bitmap *dst, struct cbt_bitmap *src)
{
	unsigned long r, d;

	/* A partial last region of @src is only partly set in a larger @dst. */
	for_each_set_bit(r, src->full, src->nr_regions)
		cbt_bitmap_set_range(dst, region_start(r),
				     region_start(r) + region_bits(src, r) - 1);

	for (d = 0; d < src->nr_dirs; d++)
		if (src->dirs[d])
			move_dir(dst, src, d);

	dst->degraded |= src->degraded;
	cbt_bitmap_reset(src);
}
