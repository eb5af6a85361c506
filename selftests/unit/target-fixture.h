/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fixture for the target-side tests: a volume of NBLK blocks (a short last
 * one) whose source image after each of NCYC cycles is kept in img[c], and
 * those cycles written to a store.  Cycle 1 holds every block; later cycles
 * a scattered set, some blocks becoming zero.
 */
#ifndef CBTSHIP_TEST_TARGET_FIXTURE_H
#define CBTSHIP_TEST_TARGET_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "tmpdir.h"
#include "vstore.h"

#define BS	4096u
#ifndef NBLK
#define NBLK	300u
#endif
#define SIZE	((uint64_t)(NBLK - 1) * BS + 512)	/* a short last block */
#ifndef NCYC
#define NCYC	6u
#endif

static uint8_t *img[NCYC + 1] __attribute__((unused));	/* img[c]: the source after cycle c */
static const uint8_t tid[16] = { 7 };

static size_t blen(uint64_t b)
{
	return b == NBLK - 1 ? SIZE - b * BS : BS;
}

/* Cycle c changes a scattered set of blocks (every block in cycle 1). */
static int changed(uint64_t c, uint64_t b)
{
	return c == 1 || (b * 7 + c * 13) % (3 + c) == 0 || b == NBLK - 1;
}

__attribute__((unused))
static int write_cycle(struct vstore *vs, uint64_t c)
{
	struct cycle_writer_opts opts = { .codec = CODEC_ZSTD, .segment_bytes = 16 * BS };
	struct cbt_extent ext[NBLK];
	struct cycle_writer *w;
	size_t n = 0;
	int ret;

	ret = cycle_writer_begin(vs, c, c == 1 ? CYCLE_INITIAL : CYCLE_DELTA, &opts, &w);
	if (ret)
		return ret;
	for (uint64_t b = 0; b < NBLK; b++) {
		if (!changed(c, b))
			continue;
		ret = cycle_writer_add(w, b, img[c] + b * BS, blen(b));
		if (ret) {
			cycle_writer_abort(w);
			return ret;
		}
		if (n && ext[n - 1].start + ext[n - 1].count == b) {
			ext[n - 1].count++;
		} else {
			ext[n].start = b;
			ext[n].count = 1;
			n++;
		}
	}
	/* Cycles 1, 2, 3, 4, ... are labelled crash, app, none, crash, ... */
	cycle_writer_set_consistency(w, (uint32_t)(c % 3));
	/* ... and the even ones belong to group "g", instant 1000 + c. */
	if (c % 2 == 0)
		cycle_writer_set_group(w, "g", 1000 + c);
	return cycle_writer_commit(w, ext, n, c, tid);
}

static void make_images(void)
{
	for (uint64_t c = 1; c <= NCYC; c++) {
		img[c] = calloc(1, SIZE);
		if (c > 1)
			memcpy(img[c], img[c - 1], SIZE);
		for (uint64_t b = 0; b < NBLK; b++) {
			if (!changed(c, b))
				continue;
			if ((b + c) % 5 == 0)
				memset(img[c] + b * BS, 0, blen(b));	/* zero blocks too */
			else
				test_fill_random(img[c] + b * BS, blen(b), c * 1000 + b);
		}
	}
}

/* Whether the file at path holds exactly the source image of cycle. */
__attribute__((unused))
static int file_is(const char *path, uint64_t cycle)
{
	size_t len;
	uint8_t *buf = test_read_file(path, &len);
	int ok = buf && len == SIZE && !memcmp(buf, img[cycle], SIZE);

	free(buf);
	return ok;
}

/* Copy a whole file (store objects, for tampering); 0 or -1. */
__attribute__((unused))
static int copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *buf = test_read_file(from, &len);
	int ret = buf ? test_write_file(to, buf, len, 0600) : -1;

	free(buf);
	return ret;
}

/* Images of every cycle, and cycles 1..last written to vs. */
__attribute__((unused))
static int fixture_setup(struct vstore *vs, uint64_t last)
{
	if (!img[1])
		make_images();
	for (uint64_t c = 1; c <= last; c++)
		if (write_cycle(vs, c))
			return -1;
	return 0;
}

#endif
