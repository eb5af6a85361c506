// SPDX-License-Identifier: GPL-2.0
/*
 * Applying cycles to a replica.  Each cycle is read twice: the first pass
 * checks everything and writes nothing; the second writes.  The second pass
 * re-checks each segment against the (already authenticated) manifest's
 * SHA-256, so it writes exactly the bytes the first pass verified, and a
 * store that changes in between stops it like a crash would: the
 * replica-applied record still names the previous cycle, and the next run
 * applies the whole cycle again.  Memory is bounded by one segment.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "codec.h"
#include "crc32c.h"
#include "log.h"
#include "vstore-priv.h"

#define WRITE_BATCH_BYTES	(1u << 20)

/* ---- one pass over a cycle ---- */

struct pass {
	struct vstore *vs;
	uint64_t cycle;
	const struct fmt_manifest *m;
	struct replica *replica;	/* NULL: verify only */

	/* Stage 1 cursor: the next block the manifest's extents expect. */
	uint64_t ext_idx, ext_off;

	const struct codec_ops *codec;
	void *cctx;
	uint8_t *block;			/* one decompressed block */
	uint8_t *zeros;			/* one block of zeros */

	/* Consecutive blocks gathered into one pwrite. */
	uint8_t *wbuf;
	size_t wlen;
	uint64_t woff;
};

static int flush_writes(struct pass *p)
{
	int ret;

	if (!p->wlen)
		return 0;
	ret = p->replica->ops->pwrite(p->replica, p->wbuf, p->wlen, p->woff);
	if (ret)
		return ret;
	p->woff += p->wlen;
	p->wlen = 0;
	return 0;
}

static int write_block(struct pass *p, uint64_t off, const void *data, size_t len)
{
	int ret;

	if (p->wlen && (p->woff + p->wlen != off || p->wlen + len > WRITE_BATCH_BYTES)) {
		ret = flush_writes(p);
		if (ret)
			return ret;
	}
	if (!p->wlen)
		p->woff = off;
	memcpy(p->wbuf + p->wlen, data, len);
	p->wlen += len;
	return 0;
}

static int expect_block(struct pass *p, uint32_t seg, uint64_t block)
{
	const struct fmt_manifest *m = p->m;
	uint64_t want;

	if (p->ext_idx == m->nr_extents) {
		log_err("cycle %" PRIu64 " segment %u holds block %" PRIu64 ", which the manifest does not list (block set check failed)",
			p->cycle, seg, block);
		return -EBADMSG;
	}
	want = m->ext[p->ext_idx].start + p->ext_off;
	if (block != want) {
		log_err("cycle %" PRIu64 " segment %u holds block %" PRIu64 " where the manifest lists block %" PRIu64 " next (block set check failed)",
			p->cycle, seg, block, want);
		return -EBADMSG;
	}
	if (++p->ext_off == m->ext[p->ext_idx].count) {
		p->ext_idx++;
		p->ext_off = 0;
	}
	return 0;
}

static int set_codec(struct pass *p, unsigned int id, uint32_t seg)
{
	const struct codec_ops *c;
	int ret;

	if (p->codec && p->codec->id == id)
		return 0;
	c = codec_by_id(id);
	if (!c) {
		log_err("cycle %" PRIu64 " segment %u uses codec %u, which this cbtship does not know; upgrade cbtship",
			p->cycle, seg, id);
		return -EPROTO;
	}
	if (p->cctx)
		p->codec->destroy(p->cctx);
	p->cctx = NULL;
	p->codec = c;
	ret = c->create(0, &p->cctx);
	if (ret)
		p->codec = NULL;
	return ret;
}

static int do_record(struct pass *p, uint32_t seg, const struct fmt_record *rec)
{
	const uint8_t *data;
	uint32_t crc;
	size_t out_len;
	int ret;

	ret = expect_block(p, seg, rec->block);
	if (ret)
		return ret;
	switch (rec->kind) {
	case REC_ZERO:
		data = p->zeros;
		break;
	case REC_COMPRESSED:
		ret = p->codec->decompress(p->cctx, rec->data, rec->stored_len, p->block,
					   rec->raw_len, &out_len);
		if (!ret && out_len != rec->raw_len)
			ret = -EBADMSG;
		if (ret) {
			log_err("cycle %" PRIu64 " segment %u block %" PRIu64 ": cannot decompress it to %u bytes",
				p->cycle, seg, rec->block, rec->raw_len);
			return ret;
		}
		data = p->block;
		break;
	default:
		data = rec->data;
		break;
	}
	crc = crc32c(0, data, rec->raw_len);
	if (crc != rec->crc) {
		log_err("cycle %" PRIu64 " segment %u block %" PRIu64 ": crc32c is %08x, the source recorded %08x (block checksum check failed)",
			p->cycle, seg, rec->block, crc, rec->crc);
		return -EBADMSG;
	}
	if (!p->replica)
		return 0;
	/* A new file is all holes: leave zero blocks as holes (stays sparse). */
	if (rec->kind == REC_ZERO && p->replica->fresh)
		return 0;
	return write_block(p, rec->block * p->m->block_size, data, rec->raw_len);
}

static int do_segment(struct pass *p, const struct fmt_manifest_seg *s)
{
	const struct vstore_volume_info *vi = &p->vs->info;
	struct fmt_seg_reader rd;
	struct fmt_record rec;
	char what[128];
	uint8_t *payload;
	unsigned int codec;
	size_t len;
	int ret;

	ret = vstore_read_segment(p->vs, p->cycle, s, &payload, &len, &codec);
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "cycle %" PRIu64 " segment %u", p->cycle, s->index);
	ret = set_codec(p, codec, s->index);
	if (ret)
		goto out;
	ret = fmt_segment_begin(&rd, what, payload, len, vi->block_size, vi->size_bytes);
	if (ret)
		goto out;
	if (rd.count != s->records) {
		log_err("%s holds %u records, but the manifest says %u", what, rd.count, s->records);
		ret = -EBADMSG;
		goto out;
	}
	while ((ret = fmt_segment_next(&rd, &rec)) == 1) {
		ret = do_record(p, s->index, &rec);
		if (ret)
			break;
	}
out:
	free(payload);
	return ret;
}

static void pass_free(struct pass *p)
{
	if (p->codec && p->cctx)
		p->codec->destroy(p->cctx);
	free(p->block);
	free(p->zeros);
	free(p->wbuf);
}

static int run_pass(struct vstore *vs, uint64_t cycle, const struct fmt_manifest *m,
		    struct replica *replica)
{
	struct pass p = { .vs = vs, .cycle = cycle, .m = m, .replica = replica };
	int ret = 0;

	p.block = malloc(m->block_size);
	p.zeros = calloc(1, m->block_size);
	if (replica)
		p.wbuf = malloc(WRITE_BATCH_BYTES + m->block_size);
	if (!p.block || !p.zeros || (replica && !p.wbuf)) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < m->nr_segments; i++) {
		ret = do_segment(&p, &m->segs[i]);
		if (ret)
			goto out;
	}
	if (p.ext_idx != m->nr_extents) {
		log_err("cycle %" PRIu64 ": the manifest lists block %" PRIu64 ", which no segment holds (block set check failed)",
			cycle, (uint64_t)(m->ext[p.ext_idx].start + p.ext_off));
		ret = -EBADMSG;
		goto out;
	}
	if (replica)
		ret = flush_writes(&p);
out:
	pass_free(&p);
	return ret;
}

static int read_manifest(struct vstore *vs, uint64_t cycle, struct fmt_manifest *m)
{
	int ret = vstore_read_manifest(vs, cycle, m);

	if (ret == -ENOENT)
		log_err("cycle %" PRIu64 " of volume %s is not complete (no manifest)",
			cycle, vs->info.name);
	return ret;
}

int apply_verify_cycle(struct vstore *vs, uint64_t cycle)
{
	struct fmt_manifest m;
	int ret;

	ret = read_manifest(vs, cycle, &m);
	if (ret)
		return ret;
	ret = run_pass(vs, cycle, &m, NULL);
	fmt_manifest_free(&m);
	return ret;
}

int apply_cycle(struct vstore *vs, uint64_t cycle, struct replica *r)
{
	uint64_t size = vs->info.size_bytes;
	struct fmt_manifest m;
	int ret;

	ret = read_manifest(vs, cycle, &m);
	if (ret)
		return ret;
	ret = run_pass(vs, cycle, &m, NULL);
	if (ret) {
		log_err("cycle %" PRIu64 " failed verification; replica %s was not written",
			cycle, r->spec);
		goto out;
	}
	ret = r->ops->resize(r, size);
	if (ret)
		goto out;
	ret = run_pass(vs, cycle, &m, r);
	if (ret) {
		log_err("cycle %" PRIu64 " was only partly written to replica %s; run apply again to rewrite it whole",
			cycle, r->spec);
		goto out;
	}
	ret = r->ops->sync(r);
	if (ret)
		goto out;
	r->fresh = false;
out:
	fmt_manifest_free(&m);
	return ret;
}

/* ---- all pending cycles ---- */

/* 1 if cycle has a manifest, 0 if not, or -errno if the store failed. */
static int has_manifest(struct vstore *vs, uint64_t cycle)
{
	char path[VSTORE_PATH_MAX];
	void *buf;
	size_t len;
	int ret;

	vstore_path_manifest(vs, cycle, path);
	ret = store_get(vs->st, path, &buf, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	free(buf);
	return 1;
}

int apply_pending(struct vstore *vs, const char *replica_path, struct apply_result *res)
{
	return apply_pending_opts(vs, replica_path, NULL, res);
}

int apply_pending_opts(struct vstore *vs, const char *replica_path, const struct apply_opts *opts,
		       struct apply_result *res)
{
	struct replica *r = NULL;
	uint64_t applied, *cycles = NULL;
	size_t nr;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = vstore_get_applied(vs, &applied);
	if (ret)
		return ret;
	res->before = res->now = applied;
	ret = vstore_list_cycles(vs, &cycles, &nr);
	if (ret)
		return ret;
	if (applied && (!nr || applied > cycles[nr - 1])) {
		log_err("the store records cycle %" PRIu64 " as applied to volume %s's replica, but holds no such cycle: %s/volumes/%s/replica-applied does not belong to this store's history",
			applied, vs->info.name, vs->st->spec, vs->info.name);
		ret = -ESTALE;
		goto out;
	}
	ret = replica_open(replica_path, vs->info.size_bytes, opts ? opts->ro : NULL, &r);
	if (ret)
		goto out;
	if (r->created && applied) {
		log_err("replica %s did not exist, but the store records cycle %" PRIu64 " as applied to volume %s's replica: give that replica, or remove %s/volumes/%s/replica-applied to rebuild from cycle 1",
			replica_path, applied, vs->info.name, vs->st->spec, vs->info.name);
		ret = -ENOENT;
		goto out_close;
	}
	for (size_t i = 0; i < nr; i++) {
		uint64_t c = cycles[i];

		if (c <= applied)
			continue;
		/* Without a manifest it is residue or still being written. */
		ret = has_manifest(vs, c);
		if (ret < 0)
			goto out_close;
		if (!ret)
			continue;
		if (c != applied + 1) {
			log_err("volume %s: cycle %" PRIu64 " is missing from the store but cycle %" PRIu64 " is there: a replica cannot skip a cycle; the replica stays at cycle %" PRIu64,
				vs->info.name, applied + 1, c, applied);
			ret = -ENOENT;
			goto out_close;
		}
		ret = apply_cycle(vs, c, r);
		if (ret)
			goto out_close;
		ret = vstore_set_applied(vs, c);
		if (ret)
			goto out_close;
		log_info("applied cycle %" PRIu64 " to %s", c, replica_path);
		applied = c;
		if (!res->first)
			res->first = c;
		res->last = res->now = c;
	}
	ret = 0;
out_close:
	if (ret && !res->first)
		replica_close_remove(r);
	else
		replica_close(r);
out:
	free(cycles);
	return ret;
}
