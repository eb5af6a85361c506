// SPDX-License-Identifier: GPL-2.0
/*
 * cbt-race: race writers against thousands of dm-cbt cycles and prove that
 * no change is lost at a cycle boundary.
 *
 * Writer threads pwrite (O_DIRECT) self-describing data to random places
 * of the volume: single blocks, runs of blocks, and 512-byte aligned
 * pieces that start inside a block and may cross into the next.  Every
 * sector written carries a header (magic, sector, writer, sequence), so a
 * mismatch can be explained.  Meanwhile the main thread runs cycles
 * through cbtship's own dm-cbt client (cbt-netlink.c): FREEZE, GET_CHANGES,
 * read the changed blocks into a shadow copy of the volume, COMMIT (or
 * ABORT now and then).  Two checks:
 *
 * - per cycle: a write that had completed before FREEZE was called, and
 *   was submitted after freeze number s had returned, must be in a cycle
 *   numbered s+1 .. this one (each of its blocks);
 * - at the end, with the writers stopped and a last cycle applied, the
 *   shadow equals the device, block for block.
 *
 * Writers pause --gap-us between writes so that writes keep arriving all
 * through every cycle (FREEZE included) instead of piling up thousands of
 * blocks per cycle; the run ends early, and says so, if a writer fills its
 * log, so every cycle counted raced live writers.
 *
 * --drop-at N is the negative control: in the first committed cycle from N
 * on that must hold a particular write, one block of that write is left
 * out, as a buggy tracker would.  The run must then fail.
 *
 * Exit status: 0 all checks passed, 1 a check failed (change lost),
 * 2 usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "cbt-source.h"
#include "log.h"

#define SECTOR		512u
#define HDR_MAGIC	0x63627472616365ull	/* "cbtrace" */
#define MAX_IO_BLOCKS	8u

/* The first bytes of every sector a writer writes. */
struct sector_hdr {
	uint64_t magic;
	uint64_t sector;
	uint64_t seq;		/* the writer's write number */
	uint32_t writer;
	uint32_t pad;
};

/* A completed write. */
struct wlog {
	uint64_t sector;
	uint32_t nr_sectors;
	uint32_t after;		/* freezes returned before it was submitted */
};

struct writer {
	pthread_t thread;
	unsigned int id;
	int fd;
	uint64_t rng;
	struct wlog *log;
	size_t cap;
	_Atomic size_t done;	/* entries of log filled (release) */
	_Atomic int finished;	/* the writer has stopped */
	size_t checked;		/* entries the checker has verified */
	int err;
};

static struct {
	const char *dev;
	unsigned int writers;
	unsigned long cycles;
	unsigned int seconds;
	unsigned int abort_every;
	unsigned long drop_at;
	size_t log_cap;
	unsigned int gap_us;
	uint64_t seed;
} opt = {
	.writers = 4, .cycles = 1000, .seconds = 600, .abort_every = 7,
	.log_cap = 1u << 19, .gap_us = 500, .seed = 1,
};

static uint32_t block_size;
static uint64_t dev_size, nr_blocks;
static _Atomic uint32_t freezes_done;
static _Atomic int stop;

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Pick a write: mostly single blocks, some runs, some unaligned pieces. */
static void pick(struct writer *w, uint64_t *sector, uint32_t *nr)
{
	uint32_t spb = block_size / SECTOR;
	uint64_t r = xorshift(&w->rng);
	uint64_t blk = (r >> 8) % nr_blocks;
	unsigned int kind = r & 7;

	*sector = blk * spb;
	if (kind < 5) {
		*nr = spb;
	} else if (kind == 5) {
		*nr = spb * (2 + (uint32_t)((r >> 4) % (MAX_IO_BLOCKS - 1)));
	} else if (spb > 1) {
		/* Starts inside the block, may end in the next one. */
		*sector += 1 + (r >> 40) % (spb - 1);
		*nr = 1 + (uint32_t)((r >> 50) % (2 * spb));
	} else {
		*nr = 1 + (uint32_t)((r >> 50) % 3);
	}
	if (*sector + *nr > dev_size / SECTOR)
		*nr = (uint32_t)(dev_size / SECTOR - *sector);
}

static void fill(char *buf, const struct writer *w, uint64_t seq, uint64_t sector,
		 uint32_t nr)
{
	uint32_t i, j;

	for (i = 0; i < nr; i++) {
		struct sector_hdr h = {
			.magic = HDR_MAGIC, .sector = sector + i, .seq = seq, .writer = w->id,
		};
		uint64_t x = seq * 0x9E3779B97F4A7C15ull + sector + i + 1;
		char *s = buf + (size_t)i * SECTOR;

		memcpy(s, &h, sizeof(h));
		for (j = sizeof(h); j < SECTOR; j += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(s + j, &x, 8);
		}
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t n = 0, len = (size_t)MAX_IO_BLOCKS * block_size * 2;
	char *buf;
	uint64_t sector;
	uint32_t nr;
	ssize_t got;

	if (posix_memalign((void **)&buf, 4096, len)) {
		w->err = -ENOMEM;
		return NULL;
	}
	while (!atomic_load(&stop) && n < w->cap) {
		pick(w, &sector, &nr);
		fill(buf, w, n, sector, nr);
		/* Read before submitting: the write is mapped after that freeze. */
		w->log[n].after = atomic_load(&freezes_done);
		got = pwrite(w->fd, buf, (size_t)nr * SECTOR, (off_t)(sector * SECTOR));
		if (got != (ssize_t)nr * SECTOR) {
			fprintf(stderr, "cbt-race: writer %u: pwrite of %u sectors at %" PRIu64 ": %s\n",
				w->id, nr, sector, got < 0 ? strerror(errno) : "short write");
			w->err = -EIO;
			break;
		}
		w->log[n].sector = sector;
		w->log[n].nr_sectors = nr;
		n++;
		atomic_store_explicit(&w->done, n, memory_order_release);
		if (opt.gap_us)
			usleep(opt.gap_us);
	}
	atomic_store(&w->finished, 1);
	free(buf);
	return NULL;
}

/* ---- the checker ---- */

struct checker {
	struct cbt_source *src;
	int fd;
	char *shadow;		/* the volume as the shipped cycles build it */
	uint32_t *last;		/* per block: last committed cycle holding it */
	char *buf;		/* one block, aligned */
	unsigned long cycles, aborts, failures;
	uint64_t blocks_read;
	bool dropped;
};

/* Bytes of block @b (the last one may be partial). */
static size_t block_len(uint64_t b)
{
	uint64_t off = b * block_size;

	return off + block_size > dev_size ? (size_t)(dev_size - off) : block_size;
}

static int read_block(struct checker *c, uint64_t b, char *dst)
{
	uint64_t off = b * block_size;
	size_t len = block_len(b);
	ssize_t got = pread(c->fd, c->buf, len, (off_t)off);

	if (got != (ssize_t)len) {
		fprintf(stderr, "cbt-race: read of block %" PRIu64 ": %s\n", b,
			got < 0 ? strerror(errno) : "short read");
		return -EIO;
	}
	memcpy(dst, c->buf, len);
	return 0;
}

/* Verify every write completed before this cycle's FREEZE call. */
static void check_writes(struct checker *c, struct writer *ws, const size_t *snap,
			 uint32_t k)
{
	uint32_t spb = block_size / SECTOR;
	unsigned int i;

	for (i = 0; i < opt.writers; i++) {
		struct writer *w = &ws[i];

		for (; w->checked < snap[i]; w->checked++) {
			const struct wlog *e = &w->log[w->checked];
			uint64_t b, first = e->sector / spb;
			uint64_t last = (e->sector + e->nr_sectors - 1) / spb;

			for (b = first; b <= last; b++) {
				if (c->last[b] > e->after)
					continue;
				if (c->failures++ < 10)
					fprintf(stderr, "cbt-race: LOST: writer %u write %zu (sectors %" PRIu64 "+%u, block %" PRIu64 ") completed before freeze %u, submitted after freeze %u, but block %" PRIu64 " is in no cycle since (last in %u)\n",
						w->id, w->checked, e->sector, e->nr_sectors, b,
						k, e->after, b, c->last[b]);
			}
		}
	}
}

/* Negative control: a block of a write that must be in cycle k. */
static bool pick_drop(struct writer *ws, const size_t *snap, uint32_t k, uint64_t *blk)
{
	uint32_t spb = block_size / SECTOR;
	unsigned int i;
	size_t j;

	for (i = 0; i < opt.writers; i++)
		for (j = ws[i].checked; j < snap[i]; j++)
			if (ws[i].log[j].after == k - 1) {
				*blk = ws[i].log[j].sector / spb;
				return true;
			}
	return false;
}

/* One cycle; final: writers have stopped, never abort. */
static int run_cycle(struct checker *c, struct writer *ws, bool final)
{
	struct cbt_extent_list l = { 0 };
	size_t snap[64];
	uint64_t cycle, b, drop = UINT64_MAX;
	uint32_t k = (uint32_t)c->cycles + 1;
	bool abort_it;
	unsigned int i;
	size_t e;
	int err;

	for (i = 0; i < opt.writers; i++)
		snap[i] = atomic_load_explicit(&ws[i].done, memory_order_acquire);
	err = c->src->ops->freeze(c->src, &cycle);
	if (err)
		return err;
	atomic_store(&freezes_done, k);
	c->cycles++;
	err = c->src->ops->changes(c->src, cycle, &l);
	if (err)
		goto out;

	abort_it = !final && opt.abort_every && k % opt.abort_every == 0;
	if (abort_it) {
		/* Merged back: the next cycle must hold these writes. */
		c->aborts++;
		err = c->src->ops->abort(c->src, cycle);
		goto out;
	}
	if (opt.drop_at && !c->dropped && k >= opt.drop_at && pick_drop(ws, snap, k, &drop)) {
		c->dropped = true;
		fprintf(stderr, "cbt-race: negative control: leaving block %" PRIu64 " out of cycle %u\n",
			drop, k);
	}
	for (e = 0; e < l.nr; e++) {
		for (b = l.ext[e].start; b < l.ext[e].start + l.ext[e].count; b++) {
			if (b == drop)
				continue;
			err = read_block(c, b, c->shadow + b * block_size);
			if (err)
				goto out;
			c->last[b] = k;
			c->blocks_read++;
		}
	}
	err = c->src->ops->commit(c->src, cycle);
	if (err)
		goto out;
	check_writes(c, ws, snap, k);
out:
	cbt_extent_list_free(&l);
	return err;
}

/* The shadow must now equal the device. */
static void compare_all(struct checker *c)
{
	struct sector_hdr hd, hs;
	uint64_t b, mism = 0;
	char *blk = malloc(block_size);

	if (!blk) {
		c->failures++;
		return;
	}
	for (b = 0; b < nr_blocks; b++) {
		const char *sh = c->shadow + b * block_size;
		uint32_t s;

		if (read_block(c, b, blk)) {
			c->failures++;
			break;
		}
		if (!memcmp(blk, sh, block_len(b)))
			continue;
		if (mism++ < 10) {
			for (s = 0; s < block_len(b) / SECTOR; s++)
				if (memcmp(blk + s * SECTOR, sh + s * SECTOR, SECTOR))
					break;
			memcpy(&hd, blk + s * SECTOR, sizeof(hd));
			memcpy(&hs, sh + s * SECTOR, sizeof(hs));
			fprintf(stderr, "cbt-race: DIFFERS: block %" PRIu64 " sector %u: device has writer %u write %" PRIu64 ", shadow has writer %u write %" PRIu64 "%s\n",
				b, s, hd.writer, hd.seq, hs.writer, hs.seq,
				hs.magic == HDR_MAGIC ? "" : " (shadow: never shipped)");
		}
	}
	if (mism) {
		fprintf(stderr, "cbt-race: %" PRIu64 " blocks of the shadow differ from the device\n",
			mism);
		c->failures += mism;
	}
	free(blk);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: cbt-race [--writers N] [--cycles N] [--seconds S] [--abort-every N]\n"
		"                [--drop-at N] [--log-cap N] [--gap-us N] [--seed N] /dev/mapper/NAME\n"
		"Writers race FREEZE/GET_CHANGES/read/COMMIT cycles; at least --cycles\n"
		"cycles run (the writers stop after --seconds at the latest).  Prints\n"
		"\"cycles=N ...\"; exit 0: nothing lost, 1: a change was lost, 2: error.\n");
	return 2;
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "writers", required_argument, NULL, 'w' },
		{ "cycles", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "abort-every", required_argument, NULL, 'a' },
		{ "drop-at", required_argument, NULL, 'd' },
		{ "log-cap", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 'S' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned long v;
		char *end;

		if (!optarg)
			return -EINVAL;
		errno = 0;
		v = strtoul(optarg, &end, 10);
		if (errno || *end || end == optarg)
			return -EINVAL;
		switch (ch) {
		case 'w': opt.writers = (unsigned int)v; break;
		case 'c': opt.cycles = v; break;
		case 's': opt.seconds = (unsigned int)v; break;
		case 'a': opt.abort_every = (unsigned int)v; break;
		case 'd': opt.drop_at = v; break;
		case 'l': opt.log_cap = v; break;
		case 'S': opt.seed = v; break;
		case 'g': opt.gap_us = (unsigned int)v; break;
		default: return -EINVAL;
		}
	}
	if (optind != argc - 1 || !opt.writers || opt.writers > 64 || !opt.log_cap)
		return -EINVAL;
	opt.dev = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct checker c = { .fd = -1 };
	struct cbt_volume_info info;
	struct writer *ws = NULL;
	unsigned int i, started = 0;
	double t0, deadline;
	uint64_t b;
	int err, ret = 2;

	log_init("cbt-race", false);
	if (parse_args(argc, argv))
		return usage();

	err = cbt_source_open_dm(opt.dev, &c.src);
	if (err)
		return 2;
	err = c.src->ops->info(c.src, &info);
	if (err)
		goto out;
	if (info.frozen) {
		fprintf(stderr, "cbt-race: %s has a frozen cycle; commit or abort it first\n", opt.dev);
		goto out;
	}
	block_size = info.block_size;
	dev_size = info.size_bytes;
	nr_blocks = info.nr_blocks;
	if (dev_size % SECTOR) {
		fprintf(stderr, "cbt-race: %s is not a whole number of sectors\n", opt.dev);
		goto out;
	}
	c.fd = open(opt.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	c.shadow = malloc(nr_blocks * block_size);
	c.last = calloc(nr_blocks, sizeof(*c.last));
	ws = calloc(opt.writers, sizeof(*ws));
	if (c.fd < 0 || !c.shadow || !c.last || !ws ||
	    posix_memalign((void **)&c.buf, 4096, block_size)) {
		fprintf(stderr, "cbt-race: cannot open %s or allocate the shadow: %s\n", opt.dev,
			strerror(errno));
		goto out;
	}
	t0 = now();
	/* The starting point: the device as it is, nothing writing yet. */
	for (b = 0; b < nr_blocks; b++)
		if (read_block(&c, b, c.shadow + b * block_size))
			goto out;

	for (i = 0; i < opt.writers; i++) {
		ws[i].id = i;
		ws[i].fd = c.fd;
		ws[i].rng = opt.seed * 0x2545F4914F6CDD1Dull + i + 1;
		ws[i].cap = opt.log_cap;
		ws[i].log = calloc(opt.log_cap, sizeof(*ws[i].log));
		if (!ws[i].log) {
			fprintf(stderr, "cbt-race: out of memory for the write logs\n");
			goto out_stop;
		}
		if (pthread_create(&ws[i].thread, NULL, writer_main, &ws[i])) {
			fprintf(stderr, "cbt-race: cannot start writer %u\n", i);
			goto out_stop;
		}
		started++;
	}

	deadline = now() + opt.seconds;
	while (c.cycles < opt.cycles && now() < deadline) {
		err = run_cycle(&c, ws, false);
		if (err)
			goto out_stop;
		for (i = 0; i < opt.writers; i++)
			if (atomic_load(&ws[i].finished))
				break;
		if (i < opt.writers) {
			/* Later cycles would not race: stop counting here. */
			fprintf(stderr, "cbt-race: writer %u stopped (log full or error) after %lu cycles\n",
				i, c.cycles);
			break;
		}
	}
	ret = 0;
out_stop:
	atomic_store(&stop, 1);
	for (i = 0; i < started; i++) {
		pthread_join(ws[i].thread, NULL);
		if (ws[i].err)
			ret = 2;
	}
	if (ret)
		goto out;
	/* Everything written is complete now: one last cycle, then compare. */
	err = run_cycle(&c, ws, true);
	if (err) {
		ret = 2;
		goto out;
	}
	compare_all(&c);
	{
		uint64_t writes = 0;

		for (i = 0; i < opt.writers; i++)
			writes += ws[i].checked;
		printf("cycles=%lu aborted=%lu writes=%" PRIu64 " blocks_read=%" PRIu64 " seconds=%.1f failures=%lu%s\n",
		       c.cycles, c.aborts, writes, c.blocks_read, now() - t0, c.failures,
		       opt.drop_at && !c.dropped ? " drop=not-applied" : "");
	}
	if (opt.drop_at && !c.dropped) {
		fprintf(stderr, "cbt-race: the negative control found no write to drop\n");
		ret = 2;
	} else {
		ret = c.failures ? 1 : 0;
	}
out:
	if (ws)
		for (i = 0; i < opt.writers; i++)
			free(ws[i].log);
	free(ws);
	free(c.buf);
	free(c.last);
	free(c.shadow);
	if (c.fd >= 0)
		close(c.fd);
	cbt_source_close(c.src);
	return ret;
}
