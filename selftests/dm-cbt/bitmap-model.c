// SPDX-License-Identifier: GPL-2.0
/*
 * Model test of kmod/cbt-bitmap.c, built as a user program over
 * shim/kshim.h (64-byte "pages": 512-bit leaves, 8 leaves per directory
 * page).  Random set_range/move_into/reset on two bitmaps are mirrored on
 * plain bool arrays; after every step the extents, count and test() must
 * agree with the model: exactly equal while every allocation succeeded,
 * and a superset made only of whole regions once some failed.
 *
 * usage: bitmap-model SEED STEPS
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbt-bitmap.h"

int shim_fail_percent;
long shim_bytes;

#define LEAF_BITS	(CBT_LEAF_BYTES * 8)

static u64 nbits;

static void die(const char *what, u64 a, u64 b)
{
	fprintf(stderr, "bitmap-model: %s (%" PRIu64 ", %" PRIu64 ")\n", what, a, b);
	exit(1);
}

/* Compare @bm with @ref; @seen is scratch of nbits bools. */
static void check(struct cbt_bitmap *bm, const bool *ref, bool *seen)
{
	u64 pos = 0, start, len, prev_end = 0, total = 0, i, r;
	bool first = true;

	memset(seen, 0, nbits);
	while (cbt_bitmap_next_extent(bm, &pos, &start, &len)) {
		if (!len || start + len > nbits)
			die("extent out of range", start, len);
		if (!first && start <= prev_end)
			die("extents not sorted, disjoint and maximal", start, prev_end);
		for (i = start; i < start + len; i++)
			seen[i] = true;
		prev_end = start + len;
		total += len;
		first = false;
	}
	if (total != cbt_bitmap_count(bm))
		die("count differs from the extents", total, cbt_bitmap_count(bm));

	for (i = 0; i < nbits; i++) {
		if (cbt_bitmap_test(bm, i) != seen[i])
			die("test() differs from the extents", i, seen[i]);
		if (ref[i] && !seen[i])
			die("a set bit was lost", i, 0);
		if (seen[i] && !ref[i]) {
			u64 rs = i / LEAF_BITS * LEAF_BITS;

			if (!cbt_bitmap_degraded(bm))
				die("extra bit while not degraded", i, 0);
			for (r = rs; r < rs + LEAF_BITS && r < nbits; r++)
				if (!seen[r])
					die("extra bit outside a whole region", i, r);
		}
	}
}

static void ref_set(bool *ref, u64 first, u64 last)
{
	u64 i;

	for (i = first; i <= last && i < nbits; i++)
		ref[i] = true;
}

static u64 rnd(u64 n)
{
	return ((u64)rand() << 31 ^ (u64)rand()) % n;
}

/*
 * Grow (a reload with a larger length): move @bm into a larger bitmap.
 * Its partial last region, set whole here, must stay partial there.
 */
static void grow_check(struct cbt_bitmap *bm, const bool *ref,
		       struct cbt_bitmap_budget *budget, bool **seen)
{
	u64 old = nbits, last_region = old / LEAF_BITS * LEAF_BITS;
	struct cbt_bitmap *big;
	bool *bref;

	shim_fail_percent = 0;
	budget->max_bytes = -1;
	cbt_bitmap_set_range(bm, last_region, old - 1);
	nbits = old + 3 * LEAF_BITS + 5;
	big = cbt_bitmap_create(nbits);
	bref = calloc(nbits, 1);
	*seen = realloc(*seen, nbits);
	if (!big || !bref || !*seen)
		die("out of memory", 0, 0);
	cbt_bitmap_set_budget(big, budget);
	memcpy(bref, ref, old);
	ref_set(bref, last_region, old - 1);
	cbt_bitmap_move_into(big, bm);
	if (cbt_bitmap_count(bm))
		die("grow left bits in the old bitmap", cbt_bitmap_count(bm), 0);
	check(big, bref, *seen);
	if (cbt_bitmap_test(big, old))
		die("grow set a bit past the old end", old, 0);
	cbt_bitmap_set_range(big, nbits - 1, nbits - 1);
	ref_set(bref, nbits - 1, nbits - 1);
	check(big, bref, *seen);
	cbt_bitmap_destroy(big);
	free(bref);
	nbits = old;
}

int main(int argc, char **argv)
{
	struct cbt_bitmap_budget budget = { .max_bytes = -1 };
	struct cbt_bitmap *bm[2];
	bool *ref[2], *seen;
	long step, steps;
	int i;

	if (argc != 3)
		return fprintf(stderr, "usage: bitmap-model SEED STEPS\n"), 2;
	srand(atoi(argv[1]));
	if (cbt_bitmap_init())
		return fprintf(stderr, "cannot create the leaf cache\n"), 1;
	steps = atol(argv[2]);
	nbits = LEAF_BITS * (8 * 3 + 1) + 77;	/* 4 directory pages, partial tail */

	seen = calloc(nbits, 1);
	for (i = 0; i < 2; i++) {
		bm[i] = cbt_bitmap_create(nbits);
		ref[i] = calloc(nbits, 1);
		if (!bm[i] || !ref[i] || !seen)
			return fprintf(stderr, "out of memory\n"), 1;
		cbt_bitmap_set_budget(bm[i], &budget);
	}

	for (step = 0; step < steps; step++) {
		long bytes_before = shim_bytes;
		int a = rand() % 2, op = rand() % 100;
		u64 first, len;

		/* Phases: no failures, then some, then none again. */
		shim_fail_percent = (step / 500) % 3 == 1 ? 20 : 0;
		/* And a phase with a memory cap: a few pages and leaves. */
		budget.max_bytes = (step / 700) % 2 == 1 ? (long)(2 * PAGE_SIZE + 5 * CBT_LEAF_BYTES) : -1;

		if (op < 70) {
			switch (rand() % 4) {
			case 0:	len = 1 + rnd(8); break;		/* small */
			case 1:	len = 1 + rnd(3 * LEAF_BITS); break;	/* across leaves */
			case 2:	len = LEAF_BITS; break;			/* maybe a region */
			default: len = 1 + rnd(nbits); break;		/* huge */
			}
			first = rand() % 4 ? rnd(nbits) : rnd(nbits / LEAF_BITS + 1) * LEAF_BITS;
			cbt_bitmap_set_range(bm[a], first, first + len - 1);
			ref_set(ref[a], first, first + len - 1);
		} else if (op < 90) {
			cbt_bitmap_move_into(bm[a], bm[!a]);
			for (first = 0; first < nbits; first++)
				ref[a][first] |= ref[!a][first];
			memset(ref[!a], 0, nbits);
			if (cbt_bitmap_count(bm[!a]) || cbt_bitmap_degraded(bm[!a]))
				die("move_into left the source non-empty", step, 0);
		} else if (op < 95) {
			cbt_bitmap_reset(bm[a]);
			memset(ref[a], 0, nbits);
		} else {
			continue;
		}
		for (i = 0; i < 2; i++)
			check(bm[i], ref[i], seen);
		if (atomic_long_read(&budget.bytes) != shim_bytes)
			die("budget does not count the bytes", step,
			    atomic_long_read(&budget.bytes));
		if (budget.max_bytes >= 0 && op < 70 &&
		    atomic_long_read(&budget.bytes) > budget.max_bytes &&
		    atomic_long_read(&budget.bytes) > bytes_before)
			die("allocated past the memory cap", step,
			    atomic_long_read(&budget.bytes));
		/* A degraded bitmap's extras become part of what it must keep. */
		for (i = 0; i < 2; i++)
			for (first = 0; first < nbits; first++)
				if (cbt_bitmap_test(bm[i], first))
					ref[i][first] = true;
	}

	grow_check(bm[0], ref[0], &budget, &seen);
	for (i = 0; i < 2; i++) {
		cbt_bitmap_destroy(bm[i]);
		free(ref[i]);
	}
	free(seen);
	if (shim_bytes)
		die("memory leaked", shim_bytes, 0);
	cbt_bitmap_exit();
	printf("bitmap-model: %ld steps ok\n", steps);
	return 0;
}
