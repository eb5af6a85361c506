// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring block reader.  Reads are numbered in submission order and read
 * number n always uses buffer slot n % queue_depth; with at most
 * queue_depth reads in flight a slot is never reused before its read has
 * been delivered, so in-order delivery needs no extra bookkeeping: deliver
 * the oldest read once it is complete, then the next, and so on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>
#include <liburing.h>

#include "block-reader.h"
#include "log.h"

#define BR_ALIGN		4096
#define BR_DEFAULT_QD		32
#define BR_DEFAULT_READ		(1024 * 1024)
#define BR_MAX_QD		1024

struct br_slot {
	uint64_t first;		/* first block of this read */
	uint64_t nr;		/* blocks */
	uint64_t offset;	/* byte offset of the first block */
	size_t want;		/* bytes to deliver (less at the end of the device) */
	size_t done;		/* bytes read so far */
	void *dst;		/* where (a sink's buffer), or NULL: the slot's own */
	int buf_index;		/* dst's registered buffer, or -1 (pinned per read) */
	bool hole;		/* a hole of the file: nothing to read, zeros */
	bool in_flight;
};

enum br_reg { BR_REG_NONE, BR_REG_SLOTS, BR_REG_SINK };

struct block_reader {
	char *path;
	int fd;
	bool direct;
	bool regular;		/* a regular file: it may have holes (SEEK_DATA) */
	uint64_t probe_lo, probe_hi;	/* last hole/data probe: [lo, hi) is ... */
	bool probe_hole;		/* ... a hole (true) or data */
	enum br_reg reg;	/* which buffers the ring has registered */
	const struct iovec *sink_bufs;	/* with BR_REG_SINK: the sink's, indexes 0.. */
	unsigned int nr_sink_bufs;
	struct block_reader_stats stats;
	uint64_t size;
	unsigned int qd;
	size_t max_read;	/* bytes per read, as asked */
	size_t buf_bytes;	/* per buffer: max_read rounded up to BR_ALIGN */
	struct io_uring ring;
	struct iovec *iov;	/* registered buffers, one per slot */
	struct br_slot *slots;
};

static inline uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int br_size(struct block_reader *br)
{
	struct stat st;

	if (fstat(br->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(br->fd, BLKGETSIZE64, &br->size) < 0)
			return -errno;
	} else if (S_ISREG(st.st_mode)) {
		br->size = (uint64_t)st.st_size;
		br->regular = true;
	} else {
		return -EINVAL;
	}
	return 0;
}

/*
 * Some file systems (tmpfs before 6.6, some FUSE) refuse O_DIRECT at open
 * time or only at the first read: try one aligned read before trusting it.
 */
static int br_open_fd(struct block_reader *br)
{
	void *probe;
	ssize_t n;
	int fd;

	fd = open(br->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd >= 0 && posix_memalign(&probe, BR_ALIGN, BR_ALIGN) == 0) {
		n = pread(fd, probe, BR_ALIGN, 0);
		free(probe);
		if (n >= 0) {
			br->fd = fd;
			br->direct = true;
			return 0;
		}
		if (errno != EINVAL) {
			int err = -errno;

			close(fd);
			log_err("cannot read %s: %s", br->path, strerror(-err));
			return err;
		}
		close(fd);
	} else if (fd >= 0) {
		close(fd);
		return -ENOMEM;
	} else if (errno != EINVAL) {
		int err = -errno;

		log_err("cannot open %s: %s", br->path, strerror(-err));
		return err;
	}
	log_debug("%s does not support O_DIRECT; reading through the page cache", br->path);
	br->fd = open(br->path, O_RDONLY | O_CLOEXEC);
	if (br->fd < 0) {
		int err = -errno;

		log_err("cannot open %s: %s", br->path, strerror(-err));
		return err;
	}
	br->direct = false;
	return 0;
}

/*
 * Registered buffers save pinning the pages of every read (get_user_pages
 * is most of the kernel's own cost per O_DIRECT read) but count against
 * RLIMIT_MEMLOCK for unprivileged users: without them reads still work.
 * The ring has one table: the slots' buffers, or a sink's for a zero-copy
 * read; a sink's buffers are registered anew for each read (they are the
 * cycle's batches).
 */
static void br_register(struct block_reader *br, enum br_reg want, const struct block_reader_sink *sink)
{
	int err;

	if (br->reg == want && want != BR_REG_SINK)
		return;
	if (br->reg != BR_REG_NONE)
		io_uring_unregister_buffers(&br->ring);
	br->reg = BR_REG_NONE;
	br->nr_sink_bufs = 0;
	if (want == BR_REG_SLOTS)
		err = io_uring_register_buffers(&br->ring, br->iov, br->qd);
	else if (want == BR_REG_SINK && sink->nr_bufs)
		err = io_uring_register_buffers(&br->ring, sink->bufs, sink->nr_bufs);
	else
		return;
	if (err < 0) {
		log_debug("io_uring buffer registration failed (%s); using unregistered buffers",
			  strerror(-err));
		return;
	}
	br->reg = want;
	if (want == BR_REG_SINK) {
		br->sink_bufs = sink->bufs;
		br->nr_sink_bufs = sink->nr_bufs;
	}
}

/* The registered sink buffer holding [dst, dst + len), or -1. */
static int br_sink_buf(const struct block_reader *br, const void *dst, size_t len)
{
	const char *p = dst;

	for (unsigned int i = 0; i < br->nr_sink_bufs; i++) {
		const char *base = br->sink_bufs[i].iov_base;

		if (p >= base && len <= br->sink_bufs[i].iov_len &&
		    (size_t)(p - base) <= br->sink_bufs[i].iov_len - len)
			return (int)i;
	}
	return -1;
}

int block_reader_open(const char *path, const struct block_reader_opts *opts,
		      struct block_reader **out)
{
	struct block_reader *br;
	unsigned int i;
	int fd_index[1];
	int err;

	br = calloc(1, sizeof(*br));
	if (!br)
		return -ENOMEM;
	br->fd = -1;
	br->qd = opts && opts->queue_depth ? opts->queue_depth : BR_DEFAULT_QD;
	br->max_read = opts && opts->max_read_bytes ? opts->max_read_bytes : BR_DEFAULT_READ;
	if (br->qd > BR_MAX_QD || br->max_read > (1u << 30)) {
		log_err("block reader: queue depth %u or read size %zu out of range (at most %u and 1 GiB)",
			br->qd, br->max_read, BR_MAX_QD);
		err = -EINVAL;
		goto out_free;
	}
	br->buf_bytes = round_up(br->max_read, BR_ALIGN);
	br->path = strdup(path);
	br->iov = calloc(br->qd, sizeof(*br->iov));
	br->slots = calloc(br->qd, sizeof(*br->slots));
	if (!br->path || !br->iov || !br->slots) {
		err = -ENOMEM;
		goto out_free;
	}

	err = br_open_fd(br);
	if (err)
		goto out_free;
	err = br_size(br);
	if (err) {
		log_err("cannot get the size of %s (not a block device or regular file?): %s",
			path, strerror(-err));
		goto out_close;
	}

	for (i = 0; i < br->qd; i++) {
		if (posix_memalign(&br->iov[i].iov_base, BR_ALIGN, br->buf_bytes)) {
			err = -ENOMEM;
			goto out_bufs;
		}
		br->iov[i].iov_len = br->buf_bytes;
	}

	err = io_uring_queue_init(br->qd, &br->ring, 0);
	if (err < 0) {
		log_err("cannot set up io_uring (queue depth %u): %s", br->qd, strerror(-err));
		goto out_bufs;
	}
	br_register(br, BR_REG_SLOTS, NULL);
	fd_index[0] = br->fd;
	err = io_uring_register_files(&br->ring, fd_index, 1);
	if (err < 0) {
		log_err("cannot register %s with io_uring: %s", path, strerror(-err));
		goto out_ring;
	}
	*out = br;
	return 0;

out_ring:
	io_uring_queue_exit(&br->ring);
out_bufs:
	for (i = 0; i < br->qd; i++)
		free(br->iov[i].iov_base);
out_close:
	close(br->fd);
out_free:
	free(br->slots);
	free(br->iov);
	free(br->path);
	free(br);
	return err;
}

uint64_t block_reader_size(const struct block_reader *br)
{
	return br->size;
}

void block_reader_close(struct block_reader *br)
{
	unsigned int i;

	if (!br)
		return;
	io_uring_queue_exit(&br->ring);
	for (i = 0; i < br->qd; i++)
		free(br->iov[i].iov_base);
	close(br->fd);
	free(br->slots);
	free(br->iov);
	free(br->path);
	free(br);
}

/* ---- reading ---- */

/* Walks the extents, cutting them into reads of at most max_blocks blocks. */
struct br_plan {
	const struct cbt_extent *ext;
	size_t nr_ext;
	size_t i;		/* current extent */
	uint64_t pos;		/* blocks of it already planned */
	uint64_t max_blocks;
};

/* Next read: adjacent extents are joined, long ones split.  false at the end. */
static bool br_plan_next(struct br_plan *p, uint64_t *first, uint64_t *nr)
{
	uint64_t n, take;

	if (p->i >= p->nr_ext)
		return false;
	*first = p->ext[p->i].start + p->pos;
	n = 0;
	while (p->i < p->nr_ext && n < p->max_blocks &&
	       p->ext[p->i].start + p->pos == *first + n) {
		take = p->ext[p->i].count - p->pos;
		if (take > p->max_blocks - n)
			take = p->max_blocks - n;
		n += take;
		p->pos += take;
		if (p->pos == p->ext[p->i].count) {
			p->i++;
			p->pos = 0;
		}
	}
	*nr = n;
	return true;
}

static int br_check_extents(const struct block_reader *br, uint32_t block_size,
			    const struct cbt_extent *ext, size_t nr_ext)
{
	uint64_t nr_blocks = br->size / block_size + (br->size % block_size != 0);
	uint64_t end = 0;
	size_t i;

	for (i = 0; i < nr_ext; i++) {
		if (!ext[i].count || ext[i].start < end || ext[i].start >= nr_blocks ||
		    ext[i].count > nr_blocks - ext[i].start) {
			log_err("read of %s: extent [%llu, +%llu) is empty, out of order or beyond the %" PRIu64 " blocks of the device",
				br->path, (unsigned long long)ext[i].start,
				(unsigned long long)ext[i].count, nr_blocks);
			return -EINVAL;
		}
		end = ext[i].start + ext[i].count;
	}
	return 0;
}

/* Queue the (rest of the) read of slot idx. */
static int br_queue(struct block_reader *br, unsigned int idx)
{
	struct br_slot *s = &br->slots[idx];
	struct io_uring_sqe *sqe;
	size_t len = s->want;

	/* O_DIRECT needs aligned lengths: the tail past EOF comes back short. */
	if (br->direct)
		len = round_up(len, BR_ALIGN);
	sqe = io_uring_get_sqe(&br->ring);
	if (!sqe) {
		io_uring_submit(&br->ring);
		sqe = io_uring_get_sqe(&br->ring);
		if (!sqe)
			return -EBUSY;
	}
	if (s->dst && s->buf_index >= 0)
		io_uring_prep_read_fixed(sqe, 0, (char *)s->dst + s->done,
					 (unsigned int)(len - s->done), s->offset + s->done,
					 s->buf_index);
	else if (s->dst)
		io_uring_prep_read(sqe, 0, (char *)s->dst + s->done,
				   (unsigned int)(len - s->done), s->offset + s->done);
	else if (br->reg == BR_REG_SLOTS)
		io_uring_prep_read_fixed(sqe, 0, (char *)br->iov[idx].iov_base + s->done,
					 (unsigned int)(len - s->done), s->offset + s->done,
					 (int)idx);
	else
		io_uring_prep_read(sqe, 0, (char *)br->iov[idx].iov_base + s->done,
				   (unsigned int)(len - s->done), s->offset + s->done);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, idx);
	br->stats.reads++;
	if ((s->dst && s->buf_index >= 0) || (!s->dst && br->reg == BR_REG_SLOTS))
		br->stats.fixed_reads++;
	s->in_flight = true;
	return 0;
}

/* Account one completion; 0 (maybe requeued) or -errno for the read. */
static int br_complete(struct block_reader *br, unsigned int idx, int res)
{
	struct br_slot *s = &br->slots[idx];

	s->in_flight = false;
	if (res == -EAGAIN || res == -EINTR)	/* transient: same read again */
		return br_queue(br, idx);
	if (res < 0) {
		log_err("read of %s at byte %" PRIu64 " failed: %s%s", br->path,
			s->offset + s->done, strerror(-res),
			res == -EIO ? " (the device reported an error: check it and the kernel log, dmesg)" : "");
		return res;
	}
	if (res == 0 && s->done < s->want) {
		log_err("read of %s at byte %" PRIu64 ": unexpected end of file (did it shrink?)",
			br->path, s->offset + s->done);
		return -EIO;
	}
	s->done += (size_t)res;
	if (s->done < s->want)
		return br_queue(br, idx);	/* short read: ask for the rest */
	return 0;
}

/* Bytes of the run [first, first + nr): less than nr blocks at the end of the device. */
static size_t run_bytes(const struct block_reader *br, uint32_t block_size, uint64_t first,
			uint64_t nr)
{
	uint64_t off = first * block_size, want = nr * block_size;

	return (size_t)(off + want > br->size ? br->size - off : want);
}

/*
 * Copy a run read into the slot's own buffer into the sink's buffers (data
 * NULL: a hole, nothing to copy).
 */
static int sink_copy(const struct block_reader_sink *sink, uint64_t first, uint64_t nr,
		     const uint8_t *data, size_t bytes)
{
	while (nr) {
		uint64_t got = nr;
		size_t gb = bytes;
		int err = 0;
		void *dst = sink->reserve(sink->arg, first, &got, &gb, !data, true, &err);

		if (!dst)
			return err ? err : -EIO;
		if (data)
			memcpy(dst, data, gb);
		err = sink->commit(sink->arg, first, got, gb, !data);
		if (err)
			return err;
		first += got;
		nr -= got;
		data = data ? data + gb : NULL;
		bytes -= gb;
	}
	return 0;
}

/*
 * Is byte off of a regular file in a hole, and up to where (at most end)?
 * SEEK_DATA/SEEK_HOLE, remembered so a run of reads asks once per extent.
 * A file system without them reports all data, which is always correct.
 */
static void br_probe(struct block_reader *br, uint64_t off, uint64_t end, bool *hole,
		     uint64_t *until)
{
	off_t d, h;

	if (off < br->probe_lo || off >= br->probe_hi) {
		d = lseek(br->fd, (off_t)off, SEEK_DATA);
		if (d < 0 && errno != ENXIO) {
			log_debug("%s: SEEK_DATA failed (%s); reading holes as data", br->path,
				  strerror(errno));
			br->regular = false;
			*hole = false;
			*until = end;
			return;
		}
		br->probe_lo = off;
		if (d < 0 || (uint64_t)d > off) {	/* ENXIO: a hole up to the end */
			br->probe_hole = true;
			br->probe_hi = d < 0 ? br->size : (uint64_t)d;
		} else {
			h = lseek(br->fd, (off_t)off, SEEK_HOLE);
			br->probe_hole = false;
			br->probe_hi = h < 0 ? br->size : (uint64_t)h;
		}
		if (br->probe_hi <= off)
			br->probe_hi = br->size;	/* the file changed under us: data */
	}
	*hole = br->probe_hole;
	*until = br->probe_hi < end ? br->probe_hi : end;
}

/* Plan again from save: the same run, at most max blocks. */
static void br_replan(struct br_plan *plan, const struct br_plan *save, uint64_t max,
		      uint64_t *first, uint64_t *nr)
{
	uint64_t keep = save->max_blocks;

	*plan = *save;
	plan->max_blocks = max;
	br_plan_next(plan, first, nr);
	plan->max_blocks = keep;
}

/*
 * How many of the run's blocks are all hole (*hole) or hold data: a block
 * only partly in a hole is data; the volume's short last block is a hole
 * if the hole reaches the end of the file.
 */
static uint64_t br_hole_blocks(struct block_reader *br, uint32_t block_size, uint64_t first,
			       uint64_t nr, bool *hole)
{
	uint64_t off = first * block_size, end = off + nr * block_size, until, n;

	if (end > br->size)
		end = br->size;
	br_probe(br, off, end, hole, &until);
	if (*hole) {
		n = until >= end ? nr : (until - off) / block_size;
		if (n)
			return n;
		/* Less than a block of hole: read it; the next probe starts after it. */
		*hole = false;
		br_probe(br, until, end, hole, &until);
		*hole = false;
		return 1 + (until > off + block_size ? (until - off - block_size) / block_size : 0);
	}
	n = (until - off + block_size - 1) / block_size;
	return n < nr ? n : nr;
}

/*
 * Plan the next read into a free slot: with a zero-copy sink, into room it
 * reserves (maybe fewer blocks); a run in a hole of the file (sinks that
 * take holes) is not read at all.  1 planned, 0 nothing to read or (no
 * room in the sink now) deliver what is pending first, or -errno.
 */
static int br_plan_slot(struct block_reader *br, struct br_plan *plan, uint32_t block_size,
			const struct block_reader_sink *sink, bool zero_copy, bool wait,
			struct br_slot *slot)
{
	struct br_plan save = *plan;
	uint64_t first, nr, got, n;
	bool hole = false;
	size_t bytes, gb;
	void *dst = NULL;
	int err = 0;

	if (!br_plan_next(plan, &first, &nr))
		return 0;
	if (sink && sink->holes && br->regular) {
		n = br_hole_blocks(br, block_size, first, nr, &hole);
		if (n < nr)
			br_replan(plan, &save, n, &first, &nr);
	}
	bytes = run_bytes(br, block_size, first, nr);
	if (zero_copy) {
		got = nr;
		gb = bytes;
		dst = sink->reserve(sink->arg, first, &got, &gb, hole, wait, &err);
		if (!dst) {
			*plan = save;
			return err == -EAGAIN ? 0 : (err ? err : -EIO);
		}
		if (got < nr) {
			br_replan(plan, &save, got, &first, &nr);
			bytes = gb;
		}
	}
	*slot = (struct br_slot){
		.first = first,
		.nr = nr,
		.offset = first * block_size,
		.want = bytes,
		.dst = hole ? NULL : dst,
		.buf_index = hole || !dst ? -1 :
			     br_sink_buf(br, dst, br->direct ? round_up(bytes, BR_ALIGN) : bytes),
		.hole = hole,
	};
	return 1;
}

static int br_run(struct block_reader *br, uint32_t block_size,
		  const struct cbt_extent *ext, size_t nr_ext,
		  block_reader_fn fn, void *arg, const struct block_reader_sink *sink)
{
	struct br_plan plan = { .ext = ext, .nr_ext = nr_ext };
	uint64_t submitted = 0, delivered = 0;
	unsigned int in_flight = 0, idx, head;
	bool zero_copy = false;
	struct io_uring_cqe *cqe;
	bool more = true;
	int err = 0, ret;

	if (!block_size || block_size > br->max_read) {
		log_err("block size %u does not fit the reader's %zu-byte reads", block_size,
			br->max_read);
		return -EINVAL;
	}
	err = br_check_extents(br, block_size, ext, nr_ext);
	if (err)
		return err;
	plan.max_blocks = br->max_read / block_size;
	/* Straight into the sink's buffers when they suit O_DIRECT's alignment. */
	zero_copy = sink && (!br->direct || block_size % BR_ALIGN == 0);
	br_register(br, zero_copy ? BR_REG_SINK : BR_REG_SLOTS, sink);
	br->probe_lo = br->probe_hi = 0;

	for (;;) {
		/*
		 * Fill free slots, unless stopping.  The sink may make us wait
		 * for room only when nothing is pending: pending runs hold room.
		 */
		while (!err && more && submitted - delivered < br->qd) {
			idx = (unsigned int)(submitted % br->qd);
			ret = br_plan_slot(br, &plan, block_size, sink, zero_copy,
					   submitted == delivered, &br->slots[idx]);
			if (ret < 0)
				err = ret;
			if (ret <= 0) {
				/* Nothing left, or no room in the sink until runs are delivered. */
				more = ret == 0 && (plan.i < plan.nr_ext);
				break;
			}
			if (!br->slots[idx].hole) {
				err = br_queue(br, idx);
				if (err)
					break;
				in_flight++;
			}
			submitted++;
		}
		if (!in_flight && (err || delivered == submitted)) {
			if (err || !more)
				break;
			continue;	/* all delivered: room again */
		}
		if (!in_flight)
			goto deliver;	/* only holes pending */

		ret = io_uring_submit_and_wait(&br->ring, 1);
		if (ret < 0 && ret != -EINTR) {
			log_err("io_uring submit on %s failed: %s", br->path, strerror(-ret));
			if (!err)
				err = ret;
			/* Reads already submitted still complete: wait for them below. */
		}
		while (io_uring_peek_cqe(&br->ring, &cqe) == 0) {
			idx = (unsigned int)io_uring_cqe_get_data64(cqe);
			ret = cqe->res;
			io_uring_cqe_seen(&br->ring, cqe);
			if (idx >= br->qd || !br->slots[idx].in_flight) {
				log_err("io_uring returned an unknown completion (%u)", idx);
				if (!err)
					err = -EIO;
				continue;
			}
			ret = br_complete(br, idx, ret);
			if (ret && !err)
				err = ret;
			if (!br->slots[idx].in_flight)
				in_flight--;
		}
deliver:
		/* Deliver completed reads in order. */
		while (!err && delivered < submitted) {
			struct br_slot *s;

			head = (unsigned int)(delivered % br->qd);
			s = &br->slots[head];
			if (s->in_flight)
				break;
			if (s->dst || (s->hole && zero_copy))
				ret = sink->commit(sink->arg, s->first, s->nr, s->want, s->hole);
			else if (sink)
				ret = sink_copy(sink, s->first, s->nr,
						s->hole ? NULL : br->iov[head].iov_base, s->want);
			else
				ret = fn(arg, s->first, s->nr, br->iov[head].iov_base, s->want);
			if (ret)
				err = ret;
			delivered++;
		}
	}
	return err;
}

void block_reader_get_stats(const struct block_reader *br, struct block_reader_stats *st)
{
	*st = br->stats;
}

int block_reader_read(struct block_reader *br, uint32_t block_size,
		      const struct cbt_extent *ext, size_t nr_ext,
		      block_reader_fn fn, void *arg)
{
	return br_run(br, block_size, ext, nr_ext, fn, arg, NULL);
}

int block_reader_read_into(struct block_reader *br, uint32_t block_size,
			   const struct cbt_extent *ext, size_t nr_ext,
			   const struct block_reader_sink *sink)
{
	return br_run(br, block_size, ext, nr_ext, NULL, NULL, sink);
}
