// SPDX-License-Identifier: GPL-2.0
/*
 * Writing one cycle: blocks are packed into segments of about segment_bytes
 * raw bytes, which a segment pipeline (seg-pipeline.c) checksums, compresses
 * when that helps, seals and stores on worker threads.  This file checks the
 * order, keeps the block set and writes the manifest last, once every
 * segment is stored, so the cycle appears whole or not at all.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "log.h"
#include "seg-pipeline.h"
#include "vstore-priv.h"

#define SEGMENT_BYTES_DEFAULT	(8u << 20)

struct cycle_writer {
	struct vstore *vs;
	uint64_t cycle;
	enum cycle_kind kind;
	size_t segment_bytes;
	uint64_t nr_blocks;

	const struct codec_ops *codec;
	struct seg_pipeline *pipe;	/* seals and stores the segments */

	/* The blocks added, as merged extents, to compare with the commit's. */
	struct cbt_extent *added;
	size_t nr_added, added_alloc;
	uint64_t blocks_added;
	uint64_t res_next;		/* zero-copy: the block after the last one reserved */
	uint32_t consistency;		/* FMT_CONSISTENCY_* */
	uint64_t group_instant;
	char group[FMT_GROUP_NAME_MAX + 1];
	int (*ready)(void *arg);	/* cycle_writer_set_ready */
	void *ready_arg;
};

static void writer_free(struct cycle_writer *w)
{
	if (!w)
		return;
	seg_pipeline_abort(w->pipe);
	free(w->added);
	free(w);
}

struct residue_ctx {
	struct vstore *vs;
	const char *dir;
	int ret;
};

static int remove_child(void *arg, const char *child)
{
	struct residue_ctx *ctx = arg;
	char path[VSTORE_PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", ctx->dir, child);
	ret = ctx->vs->st->ops->remove(ctx->vs->st, path);
	if (ret && ret != -ENOENT)
		ctx->ret = ret;
	return 0;
}

/* Remove what an interrupted attempt at this cycle left (never a manifest'd cycle). */
static int remove_residue(struct vstore *vs, uint64_t cycle)
{
	struct residue_ctx ctx;
	char dir[VSTORE_PATH_MAX];
	int ret;

	vstore_path_cycle(vs, cycle, dir);
	ctx.vs = vs;
	ctx.dir = dir;
	ctx.ret = 0;
	ret = vs->st->ops->list(vs->st, dir, remove_child, &ctx);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	if (ctx.ret)
		return ctx.ret;
	log_info("removed the residue of an interrupted cycle %" PRIu64, cycle);
	ret = vs->st->ops->remove(vs->st, dir);
	return ret == -ENOENT ? 0 : ret;
}

static uint32_t checkpoint_segments(const struct cycle_writer_opts *opts)
{
	return opts && opts->checkpoint_segments ? opts->checkpoint_segments :
	       CYCLE_CHECKPOINT_SEGMENTS;
}

int cycle_writer_begin(struct vstore *vs, uint64_t cycle, enum cycle_kind kind,
		       const struct cycle_writer_opts *opts, struct cycle_writer **out)
{
	struct vstore_cycle_info last;
	struct cycle_writer *w;
	uint64_t newest;
	int ret;

	*out = NULL;
	if (kind != CYCLE_INITIAL && kind != CYCLE_DELTA)
		return -EINVAL;
	ret = vstore_last_cycle(vs, &last);
	if (ret && ret != -ENOENT)
		return ret;
	newest = ret ? 0 : last.cycle;
	if (cycle != newest + 1) {
		log_err("volume %s: cannot write cycle %" PRIu64 ": the newest complete cycle is %" PRIu64 ", so the next must be %" PRIu64,
			vs->info.name, cycle, newest, newest + 1);
		return -EINVAL;
	}
	if (cycle == 1 && kind != CYCLE_INITIAL && !(opts && opts->over_base)) {
		log_err("volume %s: cycle 1 must be an initial (full) cycle", vs->info.name);
		return -EINVAL;
	}

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->vs = vs;
	w->cycle = cycle;
	w->kind = kind;
	w->segment_bytes = opts && opts->segment_bytes ? opts->segment_bytes :
			   SEGMENT_BYTES_DEFAULT;
	w->nr_blocks = fmt_nr_blocks(vs->info.size_bytes, vs->info.block_size);
	w->codec = codec_by_id(opts ? opts->codec : CODEC_NONE);
	if (!w->codec) {
		log_err("unknown codec id %u", (unsigned int)opts->codec);
		ret = -EINVAL;
		goto out_free;
	}
	ret = remove_residue(vs, cycle);
	if (ret)
		goto out_free;
	ret = seg_pipeline_start(vs, cycle, w->codec, opts ? opts->level : 0,
				 opts ? opts->workers : 0, w->segment_bytes, &w->pipe);
	if (ret)
		goto out_free;
	if (kind == CYCLE_INITIAL)
		seg_pipeline_flush_every(w->pipe, checkpoint_segments(opts));
	*out = w;
	return 0;

out_free:
	writer_free(w);
	return ret;
}

/*
 * Segment `index` of an unfinished initial cycle: authenticate it and check
 * that it holds blocks *next, *next + 1, ... in order.  1 and *seg, *next
 * updated if so; 0 if it is missing or does not fit (not kept); -errno.
 */
static int keep_segment(struct vstore *vs, uint32_t index, uint64_t *next,
			struct fmt_manifest_seg *seg)
{
	char path[VSTORE_PATH_MAX], what[VSTORE_PATH_MAX + 64];
	struct fmt_seg_reader rd;
	struct fmt_record rec;
	uint8_t *obj = NULL, *payload = NULL;
	unsigned int codec;
	uint64_t b = *next;
	size_t len;
	int ret;

	vstore_path_segment(vs, 1, index, path);
	ret = store_get(vs->st, path, (void **)&obj, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	memset(seg, 0, sizeof(*seg));
	seg->index = index;
	seg->object_bytes = len;
	if (len >= ENV_OVERHEAD)
		memcpy(seg->tag, obj + len - ENV_TAG_BYTES, ENV_TAG_BYTES);
	free(obj);
	/* Authenticates it (key, volume id, cycle 1, this index). */
	ret = vstore_read_segment(vs, 1, seg, &payload, &len, &codec);
	if (ret == -EBADMSG || ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "interrupted cycle 1 segment %u", index);
	ret = fmt_segment_begin(&rd, what, payload, len, vs->info.block_size, vs->info.size_bytes);
	while (!ret && (ret = fmt_segment_next(&rd, &rec)) == 1)
		ret = rec.block == b++ ? 0 : -EBADMSG;
	free(payload);
	if (ret == -EBADMSG)
		return 0;
	if (ret)
		return ret;
	seg->records = rd.count;
	*next = b;
	return 1;
}

struct resume_ctx {
	struct vstore *vs;
	const char *dir;
	uint32_t kept;
	int ret;
};

/* Remove every object of the cycle directory but the kept segments. */
static int remove_unkept(void *arg, const char *child)
{
	struct resume_ctx *ctx = arg;
	char path[VSTORE_PATH_MAX];
	unsigned int idx;
	int n = 0, ret;

	if (sscanf(child, "seg-%8u%n", &idx, &n) == 1 && n == 12 && !child[n] && idx < ctx->kept)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", ctx->dir, child);
	ret = ctx->vs->st->ops->remove(ctx->vs->st, path);
	if (ret && ret != -ENOENT)
		ctx->ret = ret;
	return 0;
}

int cycle_writer_resume(struct vstore *vs, const struct cycle_writer_opts *opts,
			struct cycle_writer **out, uint64_t *next_block)
{
	struct fmt_manifest_seg *segs = NULL, *ns;
	struct resume_ctx ctx = { .vs = vs };
	char dir[VSTORE_PATH_MAX];
	uint32_t nr = 0, alloc = 0;
	uint64_t next = 0;
	struct cycle_writer *w;
	int ret;

	*out = NULL;
	*next_block = 0;
	ret = vstore_last_cycle(vs, &(struct vstore_cycle_info){ 0 });
	if (ret != -ENOENT)
		return ret ? ret : -EEXIST;	/* only before the first complete cycle */
	for (;;) {
		if (nr == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			ns = realloc(segs, alloc * sizeof(*segs));
			if (!ns) {
				ret = -ENOMEM;
				goto out;
			}
			segs = ns;
		}
		ret = keep_segment(vs, nr, &next, &segs[nr]);
		if (ret <= 0)
			break;
		nr++;
	}
	if (ret < 0)
		goto out;
	if (!nr) {
		ret = cycle_writer_begin(vs, 1, CYCLE_INITIAL, opts, out);
		goto out;
	}
	vstore_path_cycle(vs, 1, dir);
	ctx.dir = dir;
	ctx.kept = nr;
	ret = vs->st->ops->list(vs->st, dir, remove_unkept, &ctx);
	if (!ret)
		ret = ctx.ret;
	if (ret)
		goto out;

	w = calloc(1, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto out;
	}
	w->vs = vs;
	w->cycle = 1;
	w->kind = CYCLE_INITIAL;
	w->segment_bytes = opts && opts->segment_bytes ? opts->segment_bytes :
			   SEGMENT_BYTES_DEFAULT;
	w->nr_blocks = fmt_nr_blocks(vs->info.size_bytes, vs->info.block_size);
	w->codec = codec_by_id(opts ? opts->codec : CODEC_NONE);
	w->added = malloc(64 * sizeof(*w->added));
	ret = w->codec && w->added ? 0 : (w->codec ? -ENOMEM : -EINVAL);
	if (!ret) {
		w->added_alloc = 64;
		w->added[0].start = 0;
		w->added[0].count = next;
		w->nr_added = 1;
		w->blocks_added = next;
		ret = seg_pipeline_start(vs, 1, w->codec, opts ? opts->level : 0,
					 opts ? opts->workers : 0, w->segment_bytes, &w->pipe);
	}
	if (!ret) {
		seg_pipeline_flush_every(w->pipe, checkpoint_segments(opts));
		ret = seg_pipeline_keep(w->pipe, segs, nr);
	}
	if (ret) {
		writer_free(w);
		goto out;
	}
	log_info("volume %s: resuming the initial cycle after %u stored segments (%" PRIu64 " blocks)",
		 vs->info.name, nr, next);
	*out = w;
	*next_block = next;
out:
	free(segs);
	return ret;
}

static int note_added(struct cycle_writer *w, uint64_t block, uint64_t nr)
{
	struct cbt_extent *last = w->nr_added ? &w->added[w->nr_added - 1] : NULL;

	if (last && last->start + last->count == block) {
		last->count += nr;
	} else {
		if (w->nr_added == w->added_alloc) {
			size_t n = w->added_alloc ? 2 * w->added_alloc : 64;
			struct cbt_extent *a = realloc(w->added, n * sizeof(*a));

			if (!a)
				return -ENOMEM;
			w->added = a;
			w->added_alloc = n;
		}
		w->added[w->nr_added].start = block;
		w->added[w->nr_added].count = nr;
		w->nr_added++;
	}
	w->blocks_added += nr;
	return 0;
}

int cycle_writer_add(struct cycle_writer *w, uint64_t block, const void *data, size_t len)
{
	const struct vstore_volume_info *vi = &w->vs->info;
	int ret;

	if (block >= w->nr_blocks || len != fmt_block_len(block, vi->size_bytes, vi->block_size)) {
		log_err("volume %s: block %" PRIu64 " with %zu bytes does not fit a volume of %" PRIu64 " bytes in %u-byte blocks",
			vi->name, block, len, vi->size_bytes, vi->block_size);
		return -EINVAL;
	}
	if (w->blocks_added) {
		const struct cbt_extent *last = &w->added[w->nr_added - 1];

		if (block < last->start + last->count) {
			log_err("volume %s: block %" PRIu64 " added after block %" PRIu64 ": blocks must come in ascending order, once each",
				vi->name, block, (uint64_t)(last->start + last->count - 1));
			return -EINVAL;
		}
	}
	ret = seg_pipeline_add(w->pipe, block, data, len);
	if (ret)
		return ret;
	return note_added(w, block, 1);
}

void *cycle_writer_reserve(struct cycle_writer *w, uint64_t first, uint64_t *nr, size_t *bytes,
			   bool hole, bool wait, int *err)
{
	const struct vstore_volume_info *vi = &w->vs->info;
	uint64_t end = first + *nr;
	const struct cbt_extent *last = w->nr_added ? &w->added[w->nr_added - 1] : NULL;
	void *dst;

	if (!*nr || end > w->nr_blocks || end < first || first < w->res_next ||
	    (last && first < last->start + last->count) ||
	    *bytes != (*nr - 1) * vi->block_size + fmt_block_len(end - 1, vi->size_bytes,
								  vi->block_size)) {
		log_err("volume %s: a run of %" PRIu64 " blocks (%zu bytes) from block %" PRIu64 " does not fit a volume of %" PRIu64 " bytes in %u-byte blocks, or is out of order",
			vi->name, *nr, *bytes, first, vi->size_bytes, vi->block_size);
		*err = -EINVAL;
		return NULL;
	}
	dst = seg_pipeline_reserve(w->pipe, nr, bytes, hole, wait, err);
	if (dst)
		w->res_next = first + *nr;
	return dst;
}

unsigned int cycle_writer_buffers(const struct cycle_writer *w, struct iovec *iov,
				  unsigned int max)
{
	return w->pipe ? seg_pipeline_buffers(w->pipe, iov, max) : 0;
}

int cycle_writer_commit_run(struct cycle_writer *w, uint64_t first, uint64_t nr, size_t bytes,
			    bool hole)
{
	int ret = seg_pipeline_commit(w->pipe, first, nr, bytes, hole);

	return ret ? ret : note_added(w, first, nr);
}

/*
 * The extents given must be sorted and non-overlapping, and name exactly
 * the blocks added (adjacent extents may be split differently).
 */
static bool extents_match(const struct cycle_writer *w, const struct cbt_extent *ext,
			  size_t nr_ext)
{
	size_t j = 0;
	uint64_t pos = 0, next = 0, total = 0;	/* pos: blocks of added[j] consumed */

	for (size_t i = 0; i < nr_ext; i++) {
		uint64_t start = ext[i].start, count = ext[i].count;

		if (count == 0 || start < next || start + count < start)
			return false;
		next = start + count;
		total += count;
		while (count) {
			uint64_t take;

			if (j == w->nr_added || w->added[j].start + pos != start)
				return false;
			take = w->added[j].count - pos;
			if (take > count)
				take = count;
			start += take;
			count -= take;
			pos += take;
			if (pos == w->added[j].count) {
				j++;
				pos = 0;
			}
		}
	}
	return j == w->nr_added && total == w->blocks_added;
}

void cycle_writer_set_consistency(struct cycle_writer *w, uint32_t consistency)
{
	w->consistency = consistency;
}

void cycle_writer_set_group(struct cycle_writer *w, const char *group, uint64_t instant)
{
	snprintf(w->group, sizeof(w->group), "%s", group);
	w->group_instant = instant;
	w->consistency |= FMT_CONSISTENCY_GROUP;
}

void cycle_writer_set_ready(struct cycle_writer *w, int (*ready)(void *arg), void *arg)
{
	w->ready = ready;
	w->ready_arg = arg;
}

int cycle_writer_commit(struct cycle_writer *w, const struct cbt_extent *ext, size_t nr_ext,
			uint64_t tracking_cycle, const uint8_t tracking_id[16])
{
	struct vstore *vs = w->vs;
	struct env_meta meta = { .type = ENV_MANIFEST, .version = FMT_MANIFEST_VERSION,
				 .codec = (uint8_t)w->codec->id, .cycle = w->cycle };
	struct fmt_manifest m = { 0 };
	struct fmt_manifest_seg *segs = NULL;
	uint32_t nr_segs = 0;
	char path[VSTORE_PATH_MAX];
	uint8_t *payload = NULL, *obj = NULL;
	size_t len;
	int ret;

	if (!extents_match(w, ext, nr_ext)) {
		log_err("volume %s cycle %" PRIu64 ": the extents to commit are not the %" PRIu64 " blocks that were added; no manifest written",
			vs->info.name, w->cycle, w->blocks_added);
		ret = -EINVAL;
		goto out;
	}
	if (w->kind == CYCLE_INITIAL && w->blocks_added != w->nr_blocks) {
		log_err("volume %s cycle %" PRIu64 ": an initial cycle must hold all %" PRIu64 " blocks, not %" PRIu64 "; no manifest written",
			vs->info.name, w->cycle, w->nr_blocks, w->blocks_added);
		ret = -EINVAL;
		goto out;
	}
	ret = seg_pipeline_finish(w->pipe, &segs, &nr_segs);
	w->pipe = NULL;
	if (!ret && w->ready)
		ret = w->ready(w->ready_arg);
	if (ret)
		goto out;

	/* The manifest stores the merged extents: the same set, canonical. */
	m.version = FMT_MANIFEST_VERSION;
	m.kind = w->kind;
	m.block_size = vs->info.block_size;
	m.size_bytes = vs->info.size_bytes;
	m.created = (uint64_t)time(NULL);
	m.tracking_cycle = tracking_cycle;
	if (tracking_id)
		memcpy(m.tracking_id, tracking_id, sizeof(m.tracking_id));
	m.nr_segments = nr_segs;
	m.nr_extents = w->nr_added;
	m.blocks_sent = w->blocks_added;
	m.consistency = w->consistency;
	m.group_instant = w->group_instant;
	memcpy(m.group, w->group, sizeof(m.group));
	m.segs = segs;
	m.ext = w->added;
	len = fmt_manifest_len(&m);
	payload = malloc(len);
	obj = malloc(envelope_size(len));
	if (!payload || !obj) {
		ret = -ENOMEM;
		goto out;
	}
	fmt_manifest_encode(&m, payload);
	memcpy(meta.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	ret = envelope_seal(&vs->key, &meta, payload, len, obj);
	if (ret)
		goto out;
	vstore_path_manifest(vs, w->cycle, path);
	ret = store_put(vs->st, path, obj, envelope_size(len));
	if (!ret)
		log_debug("volume %s: cycle %" PRIu64 " written: %" PRIu64 " blocks in %u segments",
			 vs->info.name, w->cycle, w->blocks_added, nr_segs);
out:
	free(segs);
	free(obj);
	free(payload);
	writer_free(w);
	return ret;
}

void cycle_writer_abort(struct cycle_writer *w)
{
	writer_free(w);
}
