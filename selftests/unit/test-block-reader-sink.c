// SPDX-License-Identifier: GPL-2.0
/*
 * block_reader_read_into: reading straight into a sink's buffers.  The
 * sink here lends room for at most 3 blocks per run and a bounded number
 * of blocks not yet committed, refusing (-EAGAIN) when that is used up, so
 * runs get shortened and the reader must deliver before it reads on.  The
 * bytes committed must equal the file's, runs come in order and exactly
 * once, and the reader only asks the sink to wait when nothing is in
 * flight (else a real sink could deadlock).  Block size 512 on a file
 * opened with O_DIRECT takes the copying path; 4096 the zero-copy one.
 * A sparse file's holes (SEEK_DATA) come as hole runs, never read: the
 * test sink leaves its buffer unwritten there (a 0xee pattern), so a hole
 * taken for data, or data for a hole, shows; a sink without holes gets
 * every block read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block-reader.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

#define RUN_MAX		3	/* blocks the sink lends per reservation */
#define OUT_MAX		10	/* blocks reserved and not yet committed */

struct sink_state {
	uint32_t bs;
	uint8_t *out;		/* page-aligned image of the device, + 4096 slack */
	uint64_t next_reserve;	/* first block the next reservation may start at */
	uint64_t next_commit;	/* first block of the oldest uncommitted reservation */
	uint64_t res_first[4096], res_nr[4096];	/* FIFO of reservations */
	unsigned int res_head, res_tail;
	uint64_t outstanding;	/* blocks reserved, not committed */
	uint64_t committed;
	int bad;		/* order, overlap or contract violations */
	int waits_in_flight;	/* wait asked while reservations were outstanding */
	int eagain;		/* reservations refused */
	int shortened;
	int stop_after;		/* commit returns -ECANCELED at this commit; 0 = never */
	int commits;
	uint64_t hole_blocks;	/* committed as holes */
	int hole_mismatch;	/* hole flag differs between reserve and commit */
	uint8_t res_hole[4096];
};

static void *reserve(void *arg, uint64_t first, uint64_t *nr, size_t *bytes, bool hole,
		     bool wait, int *err)
{
	struct sink_state *s = arg;

	if (wait && s->outstanding)
		s->waits_in_flight++;
	if (first < s->next_reserve || !*nr)
		s->bad++;
	if (s->outstanding + 1 > OUT_MAX && !wait) {
		s->eagain++;
		*err = -EAGAIN;
		return NULL;
	}
	if (*nr > RUN_MAX) {
		*nr = RUN_MAX;
		*bytes = RUN_MAX * s->bs;
		s->shortened++;
	}
	s->res_first[s->res_tail % 4096] = first;
	s->res_nr[s->res_tail % 4096] = *nr;
	s->res_hole[s->res_tail % 4096] = hole;
	s->res_tail++;
	s->outstanding += *nr;
	s->next_reserve = first + *nr;
	return s->out + first * s->bs;
}

static int commit(void *arg, uint64_t first, uint64_t nr, size_t bytes, bool hole)
{
	struct sink_state *s = arg;

	(void)bytes;
	if (s->res_head == s->res_tail || s->res_first[s->res_head % 4096] != first ||
	    s->res_nr[s->res_head % 4096] != nr)
		s->bad++;
	if (s->res_head != s->res_tail && s->res_hole[s->res_head % 4096] != hole)
		s->hole_mismatch++;
	if (hole)
		s->hole_blocks += nr;
	s->res_head++;
	s->outstanding -= nr;
	s->committed += nr;
	if (s->stop_after && ++s->commits == s->stop_after)
		return -ECANCELED;
	return 0;
}

/*
 * file: the expected bytes, where holes (if holes) are left 0xee by the
 * sink and so expected as 0xee; want_holes: blocks that must come as holes.
 */
static void run_case(const char *path, const uint8_t *file, uint64_t size, uint32_t bs,
		     const struct cbt_extent *ext, size_t nr_ext, bool zero_copy, bool holes,
		     uint64_t want_holes, const char *what)
{
	const struct block_reader_opts opts = { .queue_depth = 8, .max_read_bytes = 64 * 1024 };
	struct sink_state *s = calloc(1, sizeof(*s));
	struct block_reader_stats st0, st1;
	struct iovec bufs;
	uint64_t want_blocks = 0;
	struct block_reader *br;
	int err, same = 1;

	s->bs = bs;
	if (posix_memalign((void **)&s->out, 4096, size + 2 * 4096)) {
		tap_ok(0, "%s: memory", what);
		free(s);
		return;
	}
	memset(s->out, 0xee, size + 2 * 4096);
	err = block_reader_open(path, &opts, &br);
	tap_eq(err, 0, "reader opens");
	if (err)
		goto out;
	/* The sink names its buffer: reads into it use the registered buffer. */
	bufs.iov_base = s->out;
	bufs.iov_len = size + 2 * 4096;
	err = block_reader_read_into(br, bs, ext, nr_ext,
				     &(struct block_reader_sink){ reserve, commit, s, holes, &bufs, 1 });
	tap_eq(err, 0, what);
	block_reader_get_stats(br, &st0);
	if (zero_copy)
		tap_ok(st0.reads > 0 && st0.fixed_reads == st0.reads,
		       "%s: all %llu reads into the registered sink buffer (%llu)", what,
		       (unsigned long long)st0.reads, (unsigned long long)st0.fixed_reads);
	tap_ok(s->hole_blocks == want_holes && !s->hole_mismatch,
	       "%s: %llu blocks came as holes (want %llu)", what,
	       (unsigned long long)s->hole_blocks, (unsigned long long)want_holes);
	for (size_t i = 0; i < nr_ext; i++) {
		uint64_t off = ext[i].start * bs, len = ext[i].count * bs;

		if (off + len > size)
			len = size - off;
		same &= !memcmp(s->out + off, file + off, len);
		want_blocks += ext[i].count;
	}
	tap_ok(same && s->committed == want_blocks && !s->outstanding,
	       "%s: %llu blocks committed, bytes equal the file's", what,
	       (unsigned long long)s->committed);
	tap_ok(!s->bad && !s->waits_in_flight,
	       "%s: runs reserved and committed in order, wait only with nothing in flight", what);
	if (zero_copy)
		tap_ok(s->shortened > 0 && s->eagain > 0,
		       "%s: the sink shortened runs (%d) and refused room (%d): both paths ran",
		       what, s->shortened, s->eagain);
	else
		tap_ok(s->shortened > 0 && !s->eagain,
		       "%s: runs shortened (%d); copying, the reader only asks for room it waits for",
		       what, s->shortened);

	/* A commit error stops the read; nothing is left in flight after it. */
	memset(s->res_first, 0, sizeof(s->res_first));
	s->res_head = s->res_tail = 0;
	s->outstanding = s->next_reserve = s->committed = 0;
	s->stop_after = 5;
	err = block_reader_read_into(br, bs, ext, nr_ext,
				     &(struct block_reader_sink){ reserve, commit, s, holes, NULL, 0 });
	tap_ok(err == -ECANCELED && s->commits == 5, "%s: a commit error stops the read (%d)",
	       what, err);
	block_reader_get_stats(br, &st1);
	if (zero_copy)
		tap_ok(st1.reads > st0.reads && st1.fixed_reads == st0.fixed_reads,
		       "%s: a sink that names no buffers is read into unregistered (%llu more reads, %llu fixed)",
		       what, (unsigned long long)(st1.reads - st0.reads),
		       (unsigned long long)(st1.fixed_reads - st0.fixed_reads));
	block_reader_close(br);
out:
	free(s->out);
	free(s);
}

/*
 * A sparse copy: blocks 10-49 and 120-199 and the short last block are
 * holes (never written), block 60 is half hole (data in its first 2 KiB).
 */
static void test_sparse(uint8_t *file, uint64_t size)
{
	const struct cbt_extent all4k = { 0, 201 }, all512 = { 0, 1602 };
	const struct cbt_extent some[] = { { 5, 10 }, { 45, 20 }, { 118, 3 } };
	uint8_t *with_holes = malloc(size), *zeros = malloc(size);
	int fd = open("sparse", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bool ok = fd >= 0 && !ftruncate(fd, (off_t)size);

	memcpy(with_holes, file, size);
	memcpy(zeros, file, size);
	for (uint64_t b = 0; b < 201; b++) {
		bool hole = (b >= 10 && b < 50) || (b >= 120 && b < 200) || b == 200;
		uint64_t off = b * 4096, len = b == 200 ? 1000 : 4096;

		if (b == 60) {
			memset(with_holes + off + 2048, 0, 2048);
			memset(zeros + off + 2048, 0, 2048);
			ok = ok && pwrite(fd, file + off, 2048, (off_t)off) == 2048;
		} else if (hole) {
			memset(with_holes + off, 0xee, len);	/* the sink's pattern */
			memset(zeros + off, 0, len);
		} else {
			ok = ok && pwrite(fd, file + off, len, (off_t)off) == (ssize_t)len;
		}
	}
	ok = ok && !fsync(fd) && !close(fd);
	tap_ok(ok, "sparse file written");
	fd = open("sparse", O_RDONLY | O_CLOEXEC);
	ok = fd >= 0 && lseek(fd, 10 * 4096, SEEK_DATA) == 50 * 4096;
	if (fd >= 0)
		close(fd);
	if (!ok) {
		tap_ok(1, "# SKIP this file system does not report the holes (SEEK_DATA)");
		goto out;
	}
	/* Holes: 40 + 80 + the short last block; block 60 is data (a 4 KiB fs block). */
	run_case("sparse", with_holes, size, 4096, &all4k, 1, true, true, 121,
		 "sparse, 4 KiB blocks (zero-copy)");
	run_case("sparse", with_holes, size, 4096, some, 3, true, true, 5 + 5 + 1,
		 "sparse, extents across holes (zero-copy)");
	run_case("sparse", with_holes, size, 512, &all512, 1, false, true, 120 * 8 + 2,
		 "sparse, 512-byte blocks (copied)");
	run_case("sparse", zeros, size, 4096, &all4k, 1, true, false, 0,
		 "sparse, a sink without holes reads the zeros (the check can fail)");
out:
	free(with_holes);
	free(zeros);
}

int main(void)
{
	const uint64_t size = 200 * 4096 + 1000;	/* short last block */
	const struct cbt_extent all4k = { 0, 201 }, all512 = { 0, 1602 };
	const struct cbt_extent some4k[] = { { 0, 2 }, { 2, 9 }, { 30, 1 }, { 40, 100 }, { 199, 2 } };
	uint8_t *file = malloc(size);
	int fd;

	test_quiet_logs();
	test_dir_setup("test-block-reader-sink");
	test_fill_random(file, size, 7);
	fd = open("dev", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	tap_ok(fd >= 0 && write(fd, file, size) == (ssize_t)size && !close(fd), "test file written");

	run_case("dev", file, size, 4096, &all4k, 1, true, true, 0, "4 KiB blocks, whole file (zero-copy)");
	run_case("dev", file, size, 4096, some4k, 5, true, true, 0, "4 KiB blocks, extents (zero-copy)");
	run_case("dev", file, size, 512, &all512, 1, false, true, 0, "512-byte blocks (copied: O_DIRECT alignment)");
	test_sparse(file, size);
	free(file);
	return tap_done();
}
