// SPDX-License-Identifier: GPL-2.0
/*
 * Segment pipeline: reader -> workers -> store thread.  One mutex guards
 * the batch states; batches move FREE -> FILLING (reader) -> QUEUED ->
 * SEALING (a worker) -> SEALED -> STORING (store thread) -> FREE.  The
 * workers are the process's seal pool (seal-pool.c), shared with every
 * other pipeline running; each queued batch is one kick of the pool.  Each
 * batch's segment index is given when the reader cuts it, so sealing in
 * any order still stores segment n with exactly the blocks the serial
 * writer would have put there, and the store thread puts them in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "seal-pool.h"
#include "seg-pipeline.h"
#include "segment-seal.h"
#include "vstore-priv.h"

#define SP_ALIGN	4096

enum sp_state { SP_FREE, SP_FILLING, SP_QUEUED, SP_SEALING, SP_SEALED, SP_STORING };

struct sp_batch {
	enum sp_state state;
	uint32_t index;			/* segment index, fixed when cut */
	uint8_t *raw;			/* the blocks' raw bytes, back to back */
	size_t raw_len;			/* bytes of the records added (delivered) */
	size_t res_len;			/* bytes reserved by seg_pipeline_reserve */
	uint32_t res_nr;		/* blocks reserved */
	uint64_t fill_seq;		/* order in which FILLING batches were taken */
	uint64_t *blocks;		/* per record: block number and raw length */
	uint32_t *lens;
	uint8_t *hole;			/* per record: known zeros, no bytes in raw */
	size_t cut_len;			/* raw bytes reserved, holes included: the cut */
	uint32_t nr;
	uint8_t *obj;			/* sealed object (header, ciphertext, tag) */
	size_t obj_len;
	/* The payload as sealed: runs built in obj, raw blocks left in raw. */
	struct env_piece *pieces;	/* 2 x rec_cap + 1 */
	struct fmt_manifest_seg seg;	/* manifest entry, once sealed */
};

struct seg_pipeline {
	struct vstore *vs;
	uint64_t cycle;
	const struct codec_ops *codec;
	int level;
	size_t segment_bytes;		/* raw bytes per segment */
	uint32_t flush_every;		/* make stored segments durable every N; 0 = at finish */
	size_t raw_cap;			/* per batch: max(segment_bytes, block size) */
	uint32_t rec_cap;
	size_t obj_cap;
	uint32_t zero_crc;		/* crc32c of a whole block of zeros */

	pthread_mutex_t lock;
	pthread_cond_t store_cv;	/* a batch was sealed, or stopping */
	pthread_cond_t free_cv;		/* a batch was freed, or an error */
	int err;			/* first error; stops everything */
	bool closing;			/* no more batches will be queued */
	uint32_t cut;			/* batches queued so far (next index) */
	uint64_t fill_seq;		/* batches taken for filling so far */
	uint32_t stored;		/* batches stored (in index order) */

	struct sp_batch *cur;		/* being filled by the reader */
	struct sp_batch *batches;
	unsigned int nr_batches;
	struct seal_pool *pool;
	struct seal_client client;	/* this pipeline, as the pool sees it */
	/* Per pool worker, made on its first batch of ours: a reused codec context. */
	void *cctx[SEG_PIPELINE_MAX_WORKERS];
	unsigned int nr_workers;	/* the pool's, when we started */
	pthread_t store_thread;
	bool store_started;

	struct fmt_manifest_seg *segs;	/* store thread only until joined */
	uint32_t segs_alloc;

	/* Where the time went (ns), logged at finish: tuning without a profiler. */
	uint64_t t_start;
	uint64_t reader_wait_ns;	/* reader blocked for a free batch */
	uint64_t seal_ns;		/* workers' sealing time, summed (under lock) */
	uint64_t seal_cpu_ns;		/* the same in CPU time */
	uint64_t store_ns;		/* store thread putting objects */
	uint64_t raw_bytes, obj_bytes;
};

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* This thread's CPU time: what a stage costs even when other load preempts it. */
static uint64_t cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

unsigned int seg_pipeline_default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > SEG_PIPELINE_MAX_WORKERS ? SEG_PIPELINE_MAX_WORKERS : (unsigned int)n;
}

static void set_err(struct seg_pipeline *p, int err)
{
	if (!p->err)
		__atomic_store_n(&p->err, err, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&p->store_cv);
	pthread_cond_broadcast(&p->free_cv);
}

/* Seal a batch into its object: segment-seal.c does the work. */
static int seal_batch(struct seg_pipeline *p, void *cctx, struct sp_batch *b)
{
	struct vstore *vs = p->vs;
	struct env_meta meta = {
		.type = ENV_SEGMENT,
		.codec = (uint8_t)p->codec->id,
		.cycle = p->cycle,
		.segment = b->index,
	};
	const struct seg_sealer sealer = {
		.codec = p->codec,
		.cctx = cctx,
		.block_size = vs->info.block_size,
		.zero_crc = p->zero_crc,
	};
	const struct seg_blocks in = {
		.raw = b->raw,
		.blocks = b->blocks,
		.lens = b->lens,
		.hole = b->hole,
		.nr = b->nr,
	};
	int ret;

	memcpy(meta.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	ret = segment_seal(&vs->key, &meta, &sealer, &in, b->obj, b->pieces, &b->obj_len);
	if (ret)
		return ret;
	b->seg.index = b->index;
	b->seg.records = b->nr;
	b->seg.object_bytes = b->obj_len;
	/* The manifest records the tag: it authenticates this very object. */
	memcpy(b->seg.tag, b->obj + b->obj_len - ENV_TAG_BYTES, ENV_TAG_BYTES);
	return 0;
}

/* The queued batch with the lowest index, so the store thread waits least. */
static struct sp_batch *next_queued(struct seg_pipeline *p)
{
	struct sp_batch *best = NULL;

	for (unsigned int i = 0; i < p->nr_batches; i++) {
		struct sp_batch *b = &p->batches[i];

		if (b->state == SP_QUEUED && (!best || b->index < best->index))
			best = b;
	}
	return best;
}

/* One kick of the pool: seal our queued batch with the lowest index. */
static void seal_one(struct seal_client *c, unsigned int worker)
{
	struct seg_pipeline *p = (struct seg_pipeline *)((char *)c - offsetof(struct seg_pipeline, client));
	struct sp_batch *b;
	uint64_t t0, c0;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	b = p->err ? NULL : next_queued(p);
	if (b)
		b->state = SP_SEALING;
	pthread_mutex_unlock(&p->lock);
	if (!b)
		return;
	/* Only this worker touches its slot; made outside the lock. */
	if (!p->cctx[worker])
		ret = p->codec->create(p->level, &p->cctx[worker]);
	t0 = now_ns();
	c0 = cpu_ns();
	if (!ret)
		ret = seal_batch(p, p->cctx[worker], b);
	c0 = cpu_ns() - c0;
	t0 = now_ns() - t0;
	pthread_mutex_lock(&p->lock);
	p->seal_ns += t0;
	p->seal_cpu_ns += c0;
	p->raw_bytes += b->cut_len;	/* holes included: the volume's bytes */
	p->obj_bytes += b->obj_len;
	if (ret) {
		set_err(p, ret);
	} else {
		b->state = SP_SEALED;
		pthread_cond_broadcast(&p->store_cv);
	}
	pthread_mutex_unlock(&p->lock);
}

static struct sp_batch *sealed_next(struct seg_pipeline *p)
{
	for (unsigned int i = 0; i < p->nr_batches; i++)
		if (p->batches[i].state == SP_SEALED && p->batches[i].index == p->stored)
			return &p->batches[i];
	return NULL;
}

static int note_segment(struct seg_pipeline *p, const struct fmt_manifest_seg *s)
{
	if (p->stored == p->segs_alloc) {
		uint32_t n = p->segs_alloc ? 2 * p->segs_alloc : 16;
		struct fmt_manifest_seg *segs = realloc(p->segs, n * sizeof(*segs));

		if (!segs)
			return -ENOMEM;
		p->segs = segs;
		p->segs_alloc = n;
	}
	p->segs[p->stored] = *s;
	return 0;
}

static void *store_main(void *arg)
{
	struct seg_pipeline *p = arg;
	char path[VSTORE_PATH_MAX];
	struct sp_batch *b = NULL;
	uint64_t t0;
	int ret;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->err && !(b = sealed_next(p)) &&
		       !(p->closing && p->stored == p->cut))
			pthread_cond_wait(&p->store_cv, &p->lock);
		if (p->err || !b)
			break;
		b->state = SP_STORING;
		pthread_mutex_unlock(&p->lock);
		t0 = now_ns();
		vstore_path_segment(p->vs, p->cycle, b->index, path);
		/* Remote stores keep several uploads in flight; finish() waits for them. */
		ret = store_put_async(p->vs->st, path, b->obj, b->obj_len);
		if (!ret)
			ret = note_segment(p, &b->seg);
		/* A checkpoint: these segments survive a crash (initial cycles). */
		if (!ret && p->flush_every && (b->index + 1) % p->flush_every == 0)
			ret = store_flush(p->vs->st);
		t0 = now_ns() - t0;
		pthread_mutex_lock(&p->lock);
		p->store_ns += t0;
		if (ret) {
			set_err(p, ret);
			break;
		}
		p->stored++;
		b->state = SP_FREE;
		pthread_cond_broadcast(&p->free_cv);
		pthread_cond_broadcast(&p->store_cv);	/* finish waits on stored == cut */
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void stop_threads(struct seg_pipeline *p)
{
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->store_cv);
	pthread_mutex_unlock(&p->lock);
	if (p->store_started)
		pthread_join(p->store_thread, NULL);
	p->store_started = false;
	/* No pool worker is in (or will enter) our batches after this. */
	if (p->client.attached)
		seal_pool_detach(p->pool, &p->client);
}

static void pipeline_free(struct seg_pipeline *p)
{
	for (unsigned int i = 0; i < SEG_PIPELINE_MAX_WORKERS; i++)
		if (p->cctx[i])
			p->codec->destroy(p->cctx[i]);
	for (unsigned int i = 0; i < p->nr_batches; i++) {
		free(p->batches[i].raw);
		free(p->batches[i].blocks);
		free(p->batches[i].lens);
		free(p->batches[i].hole);
		free(p->batches[i].obj);
		free(p->batches[i].pieces);
	}
	free(p->batches);
	free(p->segs);
	seal_pool_put(p->pool);
	pthread_cond_destroy(&p->free_cv);
	pthread_cond_destroy(&p->store_cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int alloc_batches(struct seg_pipeline *p)
{
	p->batches = calloc(p->nr_batches, sizeof(*p->batches));
	if (!p->batches)
		return -ENOMEM;
	for (unsigned int i = 0; i < p->nr_batches; i++) {
		struct sp_batch *b = &p->batches[i];

		/* Page-aligned: the local store writes such objects with O_DIRECT. */
		/* SP_ALIGN of slack: an O_DIRECT read of a short last block is rounded up. */
		if (posix_memalign((void **)&b->raw, SP_ALIGN, p->raw_cap + SP_ALIGN) ||
		    posix_memalign((void **)&b->obj, SP_ALIGN, p->obj_cap))
			return -ENOMEM;
		b->blocks = malloc(p->rec_cap * sizeof(*b->blocks));
		b->lens = malloc(p->rec_cap * sizeof(*b->lens));
		b->hole = malloc(p->rec_cap);
		b->pieces = malloc((2 * (size_t)p->rec_cap + 1) * sizeof(*b->pieces));
		if (!b->blocks || !b->lens || !b->hole || !b->pieces)
			return -ENOMEM;
	}
	return 0;
}

int seg_pipeline_start(struct vstore *vs, uint64_t cycle, const struct codec_ops *codec,
		       int level, unsigned int workers, size_t segment_bytes,
		       struct seg_pipeline **out)
{
	uint32_t bs = vs->info.block_size;
	struct seg_pipeline *p;
	sigset_t all, old;
	unsigned int share;
	int ret;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ret = seal_pool_get(workers, &p->pool);
	if (ret) {
		free(p);
		return ret;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->store_cv, NULL);
	pthread_cond_init(&p->free_cv, NULL);
	p->vs = vs;
	p->cycle = cycle;
	p->codec = codec;
	p->level = level;
	p->segment_bytes = segment_bytes;
	p->raw_cap = segment_bytes > bs ? segment_bytes : bs;
	p->rec_cap = (uint32_t)(p->raw_cap / bs + 1);
	p->obj_cap = segment_obj_cap(p->rec_cap, p->raw_cap);
	p->nr_workers = seal_pool_workers(p->pool);
	p->t_start = now_ns();
	p->zero_crc = segment_zero_crc(bs);
	/*
	 * One batch filling, one storing, and one per worker this pipeline can
	 * expect: all of them alone, its share when others run.  Memory is
	 * about (workers + 2 x pipelines) x 2 x segment size for the process.
	 */
	share = p->nr_workers / (seal_pool_clients(p->pool) + 1);
	p->nr_batches = (share ? share : 1) + 2;

	ret = alloc_batches(p);
	if (ret)
		goto out_free;
	p->client.work = seal_one;
	seal_pool_attach(p->pool, &p->client);
	/* Signals (SIGINT, SIGTERM) stay with the caller's thread, which checks the stop flag. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&p->store_thread, NULL, store_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto out_stop;
	p->store_started = true;
	*out = p;
	return 0;

out_stop:
	log_err("cannot start the segment store thread: %s", strerror(-ret));
	stop_threads(p);
out_free:
	pipeline_free(p);
	return ret;
}

void seg_pipeline_flush_every(struct seg_pipeline *p, uint32_t n)
{
	pthread_mutex_lock(&p->lock);
	p->flush_every = n;
	pthread_mutex_unlock(&p->lock);
}

int seg_pipeline_keep(struct seg_pipeline *p, const struct fmt_manifest_seg *prior, uint32_t nr)
{
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	if (p->cut || p->cur) {
		ret = -EINVAL;
		goto out;
	}
	for (uint32_t i = 0; i < nr && !ret; i++) {
		ret = note_segment(p, &prior[i]);
		if (!ret)
			p->stored++;
	}
	p->cut = p->stored;
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Hand a filled batch to the workers.  Called with the lock held. */
static void queue_batch(struct seg_pipeline *p, struct sp_batch *b)
{
	b->index = p->cut++;
	b->state = SP_QUEUED;
	seal_pool_kick(p->pool, &p->client);
}

/*
 * Stop filling the current batch: queue it now, or (reads still landing in
 * it) when seg_pipeline_commit() has delivered all it reserved.
 */
static void queue_cur(struct seg_pipeline *p)
{
	struct sp_batch *b = p->cur;

	if (!b || !b->res_nr)
		return;
	p->cur = NULL;
	if (b->nr == b->res_nr)
		queue_batch(p, b);
}

/* A free batch becomes p->cur; without wait, -EAGAIN if there is none. */
static int take_free(struct seg_pipeline *p, bool wait)
{
	uint64_t t0 = 0;

	for (;;) {
		if (p->err)
			return p->err;
		for (unsigned int i = 0; i < p->nr_batches; i++) {
			struct sp_batch *b = &p->batches[i];

			if (b->state == SP_FREE) {
				b->state = SP_FILLING;
				b->nr = 0;
				b->raw_len = 0;
				b->res_nr = 0;
				b->res_len = 0;
				b->cut_len = 0;
				b->fill_seq = p->fill_seq++;
				p->cur = b;
				if (t0)
					p->reader_wait_ns += now_ns() - t0;
				return 0;
			}
		}
		if (!wait)
			return -EAGAIN;
		if (!t0)
			t0 = now_ns();
		pthread_cond_wait(&p->free_cv, &p->lock);	/* backpressure */
	}
}

int seg_pipeline_add(struct seg_pipeline *p, uint64_t block, const void *data, size_t len)
{
	struct sp_batch *b = p->cur;
	int ret = 0;

	/* Same cut as a serial writer: close before the raw bytes exceed segment_bytes. */
	if (!b || (b->nr && b->cut_len + len > p->segment_bytes) || b->nr == p->rec_cap) {
		pthread_mutex_lock(&p->lock);
		queue_cur(p);
		ret = take_free(p, true);
		pthread_mutex_unlock(&p->lock);
		if (ret)
			return ret;
		b = p->cur;
	} else {
		ret = __atomic_load_n(&p->err, __ATOMIC_RELAXED);
		if (ret)
			return ret;	/* a worker or the store failed: stop reading */
	}
	memcpy(b->raw + b->raw_len, data, len);
	b->raw_len += len;
	b->res_len += len;
	b->cut_len += len;
	b->blocks[b->nr] = block;
	b->lens[b->nr] = (uint32_t)len;
	b->hole[b->nr] = 0;
	b->nr++;
	b->res_nr++;
	return 0;
}

/*
 * How many of the run's nr blocks (bytes in all; only the last may be
 * short) fit in b under the serial writer's cut: a segment closes before
 * its raw bytes would exceed segment_bytes, and holds at least one block.
 */
unsigned int seg_pipeline_buffers(const struct seg_pipeline *p, struct iovec *iov,
				  unsigned int max)
{
	unsigned int n = p->nr_batches < max ? p->nr_batches : max;

	for (unsigned int i = 0; i < n; i++) {
		iov[i].iov_base = p->batches[i].raw;
		iov[i].iov_len = p->raw_cap + SP_ALIGN;	/* reserve's 4096 bytes of slack */
	}
	return n;
}

static uint64_t run_fits(const struct seg_pipeline *p, const struct sp_batch *b, uint64_t nr,
			 size_t bytes)
{
	size_t bs = p->vs->info.block_size;
	size_t room = b->cut_len < p->segment_bytes ? p->segment_bytes - b->cut_len : 0;
	uint64_t k = room / bs;

	if (k >= nr - 1 && bytes - (nr - 1) * bs <= room - (nr - 1) * bs)
		k = nr;		/* all of it (the last block may be short) */
	else if (k >= nr)
		k = nr - 1;
	if (k > p->rec_cap - b->res_nr)
		k = p->rec_cap - b->res_nr;
	if (!k && !b->res_nr)
		k = 1;		/* a block larger than the segment size still goes in */
	return k;
}

void *seg_pipeline_reserve(struct seg_pipeline *p, uint64_t *nr, size_t *bytes, bool hole,
			   bool wait, int *err)
{
	size_t bs = p->vs->info.block_size;
	struct sp_batch *b;
	uint64_t k = 0;
	void *dst = NULL;

	*err = __atomic_load_n(&p->err, __ATOMIC_RELAXED);
	if (*err || !*nr)
		return NULL;
	pthread_mutex_lock(&p->lock);
	b = p->cur;
	if (b)
		k = run_fits(p, b, *nr, *bytes);
	if (!k) {
		queue_cur(p);
		*err = take_free(p, wait);
		if (*err)
			goto out;
		b = p->cur;
		k = run_fits(p, b, *nr, *bytes);
	}
	if (k < *nr)
		*bytes = (size_t)k * bs;
	*nr = k;
	dst = b->raw + b->res_len;
	if (!hole)
		b->res_len += *bytes;
	b->cut_len += *bytes;
	b->res_nr += (uint32_t)k;
out:
	pthread_mutex_unlock(&p->lock);
	return dst;
}

/* The FILLING batch reserved first: the next commit's data is there. */
static struct sp_batch *oldest_filling(struct seg_pipeline *p)
{
	struct sp_batch *best = NULL;

	for (unsigned int i = 0; i < p->nr_batches; i++) {
		struct sp_batch *b = &p->batches[i];

		if (b->state == SP_FILLING && b->nr < b->res_nr &&
		    (!best || b->fill_seq < best->fill_seq))
			best = b;
	}
	return best;
}

int seg_pipeline_commit(struct seg_pipeline *p, uint64_t first, uint64_t nr, size_t bytes,
			bool hole)
{
	size_t bs = p->vs->info.block_size;
	struct sp_batch *b;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	b = oldest_filling(p);
	if (!b || nr > b->res_nr - b->nr || (!hole && bytes > b->res_len - b->raw_len)) {
		log_err("segment pipeline: %" PRIu64 " blocks from block %" PRIu64 " were not reserved (a bug)",
			nr, first);
		set_err(p, -EINVAL);
		ret = -EINVAL;
		goto out;
	}
	for (uint64_t i = 0; i < nr; i++) {
		b->blocks[b->nr] = first + i;
		b->lens[b->nr] = (uint32_t)(bytes - i * bs < bs ? bytes - i * bs : bs);
		b->hole[b->nr] = hole;
		b->nr++;
	}
	if (!hole)
		b->raw_len += bytes;
	if (b != p->cur && b->nr == b->res_nr)
		queue_batch(p, b);	/* cut earlier, now complete */
	ret = p->err;
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int seg_pipeline_finish(struct seg_pipeline *p, struct fmt_manifest_seg **segs, uint32_t *nr)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	queue_cur(p);
	if (p->cur)
		p->cur->state = SP_FREE;	/* an empty batch */
	p->cur = NULL;
	while (!p->err && p->stored != p->cut)
		pthread_cond_wait(&p->store_cv, &p->lock);
	ret = p->err;
	pthread_mutex_unlock(&p->lock);
	stop_threads(p);
	/* Every segment is stored before the caller writes the manifest. */
	{
		uint64_t t0 = now_ns();
		int fret = store_flush(p->vs->st);

		p->store_ns += now_ns() - t0;
		if (!ret)
			ret = fret;
	}
	log_debug("cycle %" PRIu64 ": %u segments, %.1f s; reader waited for the pool %.2f s; %u workers sealed %.2f s (%.0f MB/s each, %.0f%% of their time; CPU %.2f s, %.0f MB/s per CPU second); store %.2f s (%.0f MB/s of objects)",
		  p->cycle, p->stored, (now_ns() - p->t_start) / 1e9, p->reader_wait_ns / 1e9,
		  p->nr_workers, p->seal_ns / 1e9,
		  p->seal_ns ? p->raw_bytes * 1e3 / p->seal_ns : 0.0,
		  100.0 * p->seal_ns / p->nr_workers / (double)(now_ns() - p->t_start + 1),
		  p->seal_cpu_ns / 1e9, p->seal_cpu_ns ? p->raw_bytes * 1e3 / p->seal_cpu_ns : 0.0,
		  p->store_ns / 1e9, p->store_ns ? p->obj_bytes * 1e3 / p->store_ns : 0.0);
	if (!ret) {
		*segs = p->segs;
		*nr = p->stored;
		p->segs = NULL;
	}
	pipeline_free(p);
	return ret;
}

void seg_pipeline_abort(struct seg_pipeline *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	set_err(p, -ECANCELED);
	pthread_mutex_unlock(&p->lock);
	stop_threads(p);
	store_flush(p->vs->st);	/* no upload outlives the cycle; the error is moot */
	pipeline_free(p);
}
