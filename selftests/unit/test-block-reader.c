// SPDX-License-Identifier: GPL-2.0
/*
 * block_reader against a temporary file of random bytes: every delivered
 * byte must equal what pread() returns, runs must come in ascending order
 * and cover exactly the extents asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block-reader.h"
#include "log.h"
#include "tap.h"

struct check {
	int fd;
	uint32_t bs;
	uint64_t size;
	uint64_t next_min;	/* first block the next run may start at */
	uint64_t blocks;	/* blocks delivered */
	unsigned int runs;
	int mismatches;		/* bytes differing from pread, wrong lengths */
	int disorder;
	uint8_t *expect;
	const struct cbt_extent *ext;	/* to check runs lie inside the extents */
	size_t nr_ext;
	int outside;
	int stop_after;		/* return -ECANCELED after this many runs; 0 = never */
};

static int in_extents(const struct check *c, uint64_t first, uint64_t nr)
{
	size_t i;

	for (i = 0; i < c->nr_ext; i++)
		if (first >= c->ext[i].start && first < c->ext[i].start + c->ext[i].count)
			return first + nr <= c->ext[i].start + c->ext[i].count ||
			       in_extents(c, c->ext[i].start + c->ext[i].count,
					  first + nr - c->ext[i].start - c->ext[i].count);
	return 0;
}

static int on_run(void *arg, uint64_t first, uint64_t nr, const void *data, size_t bytes)
{
	struct check *c = arg;
	uint64_t off = first * c->bs;
	size_t want = nr * c->bs;

	if (off + want > c->size)
		want = c->size - off;
	if (first < c->next_min)
		c->disorder++;
	c->next_min = first + nr;
	if (bytes != want || pread(c->fd, c->expect, want, (off_t)off) != (ssize_t)want ||
	    memcmp(c->expect, data, want))
		c->mismatches++;
	if (!in_extents(c, first, nr))
		c->outside++;
	c->blocks += nr;
	c->runs++;
	if (c->stop_after && c->runs == (unsigned int)c->stop_after)
		return -ECANCELED;
	return 0;
}

static uint64_t rnd(uint64_t n)
{
	return ((uint64_t)random() << 31 ^ (uint64_t)random()) % n;
}

/* Random sorted, disjoint extents; adjacent ones on purpose too. */
static size_t random_extents(struct cbt_extent *ext, size_t max, uint64_t nr_blocks,
			     uint64_t max_len, uint64_t *total)
{
	uint64_t pos = rnd(8);
	size_t n = 0;

	*total = 0;
	while (n < max && pos < nr_blocks) {
		ext[n].start = pos;
		ext[n].count = 1 + rnd(max_len);
		if (ext[n].count > nr_blocks - pos)
			ext[n].count = nr_blocks - pos;
		*total += ext[n].count;
		pos += ext[n].count + (rnd(3) == 0 ? 0 : rnd(40));
		n++;
	}
	return n;
}

static int run_case(const char *name, const char *path, int fd, uint64_t size, uint32_t bs,
		    unsigned int qd, size_t max_read, const struct cbt_extent *ext, size_t n,
		    uint64_t total, int stop_after)
{
	struct block_reader_opts o = { .queue_depth = qd, .max_read_bytes = max_read };
	struct check c = { .fd = fd, .bs = bs, .size = size, .ext = ext, .nr_ext = n,
			   .stop_after = stop_after };
	struct block_reader *br;
	int err;

	c.expect = malloc(max_read ? max_read : 1 << 20);
	err = block_reader_open(path, &o, &br);
	tap_ok(err == 0, "%s: open", name);
	if (err) {
		free(c.expect);
		return err;
	}
	tap_eq(block_reader_size(br), size, "size matches the file");
	err = block_reader_read(br, bs, ext, n, on_run, &c);
	if (stop_after) {
		tap_eq(err, -ECANCELED, "callback's error stops the read and is returned");
		tap_eq(c.runs, (unsigned int)stop_after, "no run delivered after the stop");
	} else {
		tap_eq(err, 0, "read returns 0");
		tap_eq(c.blocks, total, "every requested block delivered once");
	}
	tap_eq(c.mismatches, 0, "delivered bytes equal pread's");
	tap_eq(c.disorder, 0, "runs in ascending order");
	tap_eq(c.outside, 0, "runs lie inside the requested extents");
	block_reader_close(br);
	free(c.expect);
	return 0;
}

int main(void)
{
	char path[] = "/var/tmp/cbt-br-XXXXXX";
	struct cbt_extent ext[2000], bad[2];
	struct block_reader *br;
	uint64_t size, total, nr_blocks;
	const uint32_t bs = 4096;
	uint8_t *buf;
	size_t n, i;
	int fd, ret;

	log_init("test-block-reader", false);
	srandom(12345);
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	/* A partial last block: the device size is not a block multiple. */
	size = 40ull * 1024 * 1024 + 3 * 512;
	buf = malloc(1 << 20);
	for (i = 0; i < size; i += 1 << 20) {
		size_t len = size - i < (1 << 20) ? size - i : (1 << 20);
		size_t j;

		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)random();
		if (pwrite(fd, buf, len, (off_t)i) != (ssize_t)len) {
			perror("pwrite");
			return 1;
		}
	}
	free(buf);
	nr_blocks = size / bs + 1;

	n = random_extents(ext, 2000, nr_blocks, 64, &total);
	ext[n - 1].count = nr_blocks - ext[n - 1].start;	/* include the partial block */
	for (total = 0, i = 0; i < n; i++)
		total += ext[i].count;
	run_case("random extents, qd 32, 1 MiB reads", path, fd, size, bs, 32, 0, ext, n,
		 total, 0);
	run_case("random extents, qd 1, 64 KiB reads", path, fd, size, bs, 1, 64 * 1024, ext,
		 n, total, 0);
	run_case("random extents, qd 3, one-block reads", path, fd, size, bs, 3, bs, ext, n,
		 total, 0);

	ext[0].start = 0;
	ext[0].count = nr_blocks;
	run_case("one extent over the whole file", path, fd, size, bs, 8, 4 << 20, ext, 1,
		 nr_blocks, 0);
	run_case("stop from the callback", path, fd, size, bs, 4, 64 * 1024, ext, 1,
		 nr_blocks, 5);

	if (block_reader_open(path, NULL, &br) == 0) {
		bad[0] = (struct cbt_extent){ .start = nr_blocks - 1, .count = 2 };
		ret = block_reader_read(br, bs, bad, 1, on_run, NULL);
		tap_eq(ret, -EINVAL, "extent past the end is refused");
		bad[0] = (struct cbt_extent){ .start = 10, .count = 5 };
		bad[1] = (struct cbt_extent){ .start = 12, .count = 1 };
		ret = block_reader_read(br, bs, bad, 2, on_run, NULL);
		tap_eq(ret, -EINVAL, "overlapping extents are refused");
		ret = block_reader_read(br, bs, NULL, 0, on_run, NULL);
		tap_eq(ret, 0, "empty extent list reads nothing");
		block_reader_close(br);
	}
	close(fd);
	unlink(path);
	return tap_done();
}
