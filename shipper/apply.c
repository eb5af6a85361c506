// SPDX-License-Identifier: GPL-2.0
/*
 * Applying cycles to a replica.  Each cycle is read twice: the first pass
 * checks everything and writes nothing; the second writes.  The second pass
 * re-checks each segment against the (already authenticated) manifest's
 * GCM tag (version 1 manifests: SHA-256) and re-authenticates it, so it
 * writes exactly the bytes the first pass verified, and a
 * store that changes in between stops it like a crash would: the
 * replica-applied record still names the previous cycle, and the next run
 * applies the whole cycle again.  Memory is bounded by one segment.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "codec.h"
#include "crc32c.h"
#include "journal.h"
#include "vol-state.h"
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
	journal_step();
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

/* Save the replica's current contents of every block cycle m writes. */
static int save_undo(struct journal *j, uint64_t cycle, const struct fmt_manifest *m,
		     struct replica *r)
{
	struct undo_writer *w;
	uint8_t *buf;
	int ret;

	buf = malloc(WRITE_BATCH_BYTES);
	if (!buf)
		return -ENOMEM;
	ret = undo_begin(j, cycle, &w);
	if (ret)
		goto out;
	for (uint64_t i = 0; i < m->nr_extents && !ret; i++)
		ret = undo_save_range(w, r, m->ext[i].start, m->ext[i].count, buf,
				      WRITE_BATCH_BYTES);
	if (ret) {
		log_err("cannot save the replica's blocks before cycle %" PRIu64 " overwrites them; replica %s was not written",
			cycle, r->spec);
		undo_abort(w);
		goto out;
	}
	ret = undo_commit(w);
out:
	free(buf);
	return ret;
}

/*
 * Apply one cycle; with jump, a full cycle over a replica at any earlier
 * cycle (after a rejected or missing one): no point before it can be kept.
 * With repair too, a repair cycle (vol-state.h) over the cycle it names as
 * its base: the points go, the undo file for it is kept.
 */
static int apply_one(struct vstore *vs, uint64_t cycle, struct replica *r, struct journal *j,
		     bool jump, bool repair)
{
	uint64_t size = vs->info.size_bytes;
	struct fmt_manifest m;
	int ret;

	if (j && (j->st.pending || (!jump && j->st.at + 1 != cycle) || j->st.at >= cycle)) {
		log_err("replica %s is at cycle %" PRIu64 "; cycle %" PRIu64 " cannot be applied next",
			r->spec, j->st.at, cycle);
		return -EINVAL;
	}
	ret = read_manifest(vs, cycle, &m);
	if (ret)
		return ret;
	if (j && !j->st.at && m.kind == CYCLE_DELTA && r->created) {
		/* A reverse volume (reprotect): cycle 1 changes an existing disk. */
		log_err("cycle %" PRIu64 " of volume %s is a delta over the original disk (reprotect), but replica %s did not exist: give the original disk as the replica",
			cycle, vs->info.name, r->spec);
		ret = -ENOENT;
		goto out;
	}
	ret = run_pass(vs, cycle, &m, NULL);
	if (ret) {
		log_err("cycle %" PRIu64 " failed verification; replica %s was not written",
			cycle, r->spec);
		goto out;
	}
	ret = r->ops->resize(r, size);
	if (ret)
		goto out;
	if (j && jump) {
		ret = journal_drop_points(j);
		if (ret)
			goto out;
		if (!repair)
			j->st.at = 0;
	}
	if (j) {
		/* At cycle 0 there is no point to keep: cycle 1 writes every block. */
		if (j->st.at) {
			ret = save_undo(j, cycle, &m, r);
			if (ret)
				goto out;
		}
		j->st.pending = cycle;
		ret = journal_save_state(j);
		if (ret)
			goto out;
	}
	ret = run_pass(vs, cycle, &m, r);
	if (ret) {
		log_err("cycle %" PRIu64 " was only partly written to replica %s; run apply again to roll it back and rewrite it whole",
			cycle, r->spec);
		goto out;
	}
	ret = r->ops->sync(r);
	if (ret)
		goto out;
	r->fresh = false;
	if (j) {
		j->st.at = cycle;
		j->st.at_created = m.created;
		j->st.at_kind = (enum point_kind)(m.consistency & FMT_CONSISTENCY_LEVEL);
		snprintf(j->st.at_group, sizeof(j->st.at_group), "%s",
			 m.consistency & FMT_CONSISTENCY_GROUP ? m.group : "");
		j->st.at_instant = m.consistency & FMT_CONSISTENCY_GROUP ? m.group_instant : 0;
		j->st.pending = 0;
		ret = journal_save_state(j);
	}
out:
	fmt_manifest_free(&m);
	return ret;
}

int apply_cycle(struct vstore *vs, uint64_t cycle, struct replica *r, struct journal *j)
{
	return apply_one(vs, cycle, r, j, false, false);
}

/* A cycle the store holds but that cannot be used (not a store I/O error). */
static bool is_rejection(int err)
{
	return err == -EBADMSG || err == -EKEYREJECTED || err == -EPROTO;
}

/* The first complete, authentic full cycle after `after`; 0 if none. */
static uint64_t next_full_cycle(struct vstore *vs, const uint64_t *cycles, size_t nr,
				uint64_t after)
{
	for (size_t i = 0; i < nr; i++)
		if (cycles[i] > after && vol_cycle_is_full(vs, cycles[i]) == 1)
			return cycles[i];
	return 0;
}

/*
 * The source's repair cycle for a replica at `applied` after rejected (or
 * missing) cycle bad: one holding every block of the cycles since
 * `applied` (vol-state.h); 0 if the store holds none.
 */
static uint64_t repair_cycle(struct vstore *vs, uint64_t bad, uint64_t applied)
{
	struct vol_repair rep;
	struct fmt_manifest m;

	if (vol_repair_get(vs, &rep) || rep.base != applied || rep.cycle <= bad)
		return 0;
	if (vstore_read_manifest(vs, rep.cycle, &m))
		return 0;
	fmt_manifest_free(&m);
	return rep.cycle;
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

/*
 * Open (creating) the replica's state directory and bring it to a cycle
 * boundary.  *applied is the store's replica-applied record on entry (for
 * a replica that predates state directories) and the replica's cycle on
 * return.
 */
static int open_journal(struct vstore *vs, struct replica *r, const struct apply_opts *opts,
			uint64_t *applied, struct journal **out)
{
	const struct vstore_volume_info *vi = &vs->info;
	struct journal *j = NULL;
	char *dir;
	int ret;

	*out = NULL;
	dir = journal_dir_for(r->spec, opts ? opts->state_dir : NULL);
	if (!dir)
		return -EINVAL;
	ret = journal_open(dir, true, true, &j);
	if (ret)
		goto out;
	if (j->created) {
		memcpy(j->st.volume_id, vi->volume_id, JOURNAL_ID_BYTES);
		j->st.block_size = vi->block_size;
		j->st.size_bytes = vi->size_bytes;
		j->st.at = r->created ? 0 : *applied;
		if (j->st.at)
			log_notice("replica %s has no state directory yet; taking cycle %" PRIu64 " from the store's replica-applied record",
				   r->spec, j->st.at);
		ret = journal_save_state(j);
		if (ret)
			goto out;
	} else if (memcmp(j->st.volume_id, vi->volume_id, JOURNAL_ID_BYTES) ||
		   j->st.block_size != vi->block_size || j->st.size_bytes != vi->size_bytes) {
		log_err("state directory %s belongs to another volume (other volume id, block size or size) than %s in store %s: give this replica's own --state, or a new replica",
			dir, vi->name, vs->st->spec);
		ret = -EXDEV;
		goto out;
	} else if (j->st.failed_over) {
		log_err("replica %s was failed over at cycle %" PRIu64 " and is a live disk now; apply does not write it any more",
			r->spec, j->st.failed_over);
		ret = -EROFS;
		goto out;
	} else if (r->created && (j->st.at || j->st.pending)) {
		log_err("replica %s did not exist, but its state directory %s says it is at cycle %" PRIu64 ": give that replica, or remove %s to rebuild from cycle 1",
			r->spec, dir, j->st.at, dir);
		ret = -ENOENT;
		goto out;
	}
	ret = journal_recover(j, r);
	if (ret)
		goto out;
	/* Killed between the state and the points file: add the point now. */
	if (j->st.at && (!j->nr_points || j->points[j->nr_points - 1].cycle < j->st.at)) {
		ret = journal_add_point(j, j->st.at, j->st.at_created, j->st.at_kind,
					opts ? &opts->keep : NULL, (uint64_t)time(NULL));
		if (ret)
			goto out;
	}
	*applied = j->st.at;
	*out = j;
	j = NULL;
out:
	if (j && j->created)
		journal_remove(j);
	journal_close(j);
	free(dir);
	return ret;
}

int apply_pending_opts(struct vstore *vs, const char *replica_path, const struct apply_opts *opts,
		       struct apply_result *res)
{
	struct replica *r = NULL;
	struct journal *j = NULL;
	uint64_t applied, *cycles = NULL;
	struct vol_rejection rej;
	bool rej_seen = false;
	char reason[96];
	size_t nr;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = vol_rejection_get(vs, &rej);
	if (ret && ret != -ENOENT)
		return ret;
	rej_seen = !ret;
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
	ret = open_journal(vs, r, opts, &applied, &j);
	if (ret)
		goto out_close;
	res->before = res->now = applied;
	if (applied && (!nr || applied > cycles[nr - 1])) {
		log_err("replica %s is at cycle %" PRIu64 ", but store %s holds no such cycle of volume %s: the replica is ahead of this store's history",
			replica_path, applied, vs->st->spec, vs->info.name);
		ret = -ESTALE;
		goto out_close;
	}
	for (size_t i = 0; i < nr; i++) {
		uint64_t c = cycles[i], bad = 0, full;
		bool jump = false, repair = false;

		if (c <= applied)
			continue;
		/* Without a manifest it is residue or still being written. */
		ret = has_manifest(vs, c);
		if (ret < 0)
			goto out_close;
		if (!ret)
			continue;
		/* Between cycles, readers of the points (test-failover) get a turn. */
		journal_unlock(j);
		ret = journal_relock(j, true);
		if (ret)
			goto out_close;
		if (c != applied + 1) {
			log_err("volume %s: cycle %" PRIu64 " is missing from the store but cycle %" PRIu64 " is there: a replica cannot skip a cycle",
				vs->info.name, applied + 1, c);
			ret = -ENOENT;
			bad = applied + 1;
			snprintf(reason, sizeof(reason), "cycle %" PRIu64 " is missing from the store",
				 bad);
		} else {
			ret = apply_cycle(vs, c, r, j);
			if (ret && j->st.pending && !journal_recover(j, r))
				log_notice("replica %s is back at cycle %" PRIu64, replica_path,
					   j->st.at);	/* now, not at the next start */
			if (is_rejection(ret)) {
				bad = c;
				snprintf(reason, sizeof(reason),
					 "cycle %" PRIu64 " failed verification (%s)", c, strerror(-ret));
			}
		}
		if (bad) {
			/* Only a cycle of every block can follow a rejected one. */
			full = next_full_cycle(vs, cycles, nr, bad - (c == bad ? 0 : 1));
			if (!full || full == bad) {
				/* Or one of only the blocks the replica misses. */
				full = repair_cycle(vs, bad, applied);
				repair = full != 0;
			}
			if (full && full != bad) {
				log_warn("volume %s: %s; applying %s cycle %" PRIu64 " over cycle %" PRIu64 " (older recovery points are dropped)",
					 vs->info.name, reason, repair ? "repair" : "full", full, applied);
				ret = apply_one(vs, full, r, j, true, repair);
				if (ret && j->st.pending && !journal_recover(j, r))
					log_notice("replica %s is back at cycle %" PRIu64, replica_path,
						   j->st.at);
				/* That answer is bad too: the source must answer it. */
				if (is_rejection(ret)) {
					snprintf(reason, sizeof(reason),
						 "%s cycle %" PRIu64 " failed verification (%s)",
						 repair ? "repair" : "full", full, strerror(-ret));
					if (!vol_rejection_set(vs, full, applied, reason))
						log_err("volume %s: %s; the replica stays at cycle %" PRIu64 ". Recorded in %s/volumes/%s/rejected: the source answers it in its next cycle",
							vs->info.name, reason, applied, vs->st->spec,
							vs->info.name);
				}
				c = full;
				jump = !ret;
			} else if (!rej_seen || rej.cycle != bad) {
				if (!vol_rejection_set(vs, bad, applied, reason))
					log_err("volume %s: %s; the replica stays at cycle %" PRIu64 ". Recorded in %s/volumes/%s/rejected: the source ships the blocks of the cycles the replica misses (or every block) in its next cycle, which brings the replica back",
						vs->info.name, reason, applied, vs->st->spec,
						vs->info.name);
			}
		}
		if (ret)
			goto out_close;
		ret = journal_add_point(j, c, j->st.at_created, j->st.at_kind,
					opts ? &opts->keep : NULL, (uint64_t)time(NULL));
		if (ret)
			goto out_close;
		/* A report for the source side; the replica's own record is in j. */
		ret = vstore_set_applied(vs, c);
		if (ret)
			goto out_close;
		if (rej_seen && rej.cycle <= c) {
			ret = vol_rejection_clear(vs);
			if (!ret)
				ret = vol_repair_clear(vs);
			if (ret)
				goto out_close;
			rej_seen = false;
		}
		log_info("applied %scycle %" PRIu64 " to %s", jump ? (repair ? "repair " : "full ") : "",
			 c, replica_path);
		applied = c;
		if (!res->first)
			res->first = c;
		res->last = res->now = c;
	}
	ret = 0;
out_close:
	if (ret && !res->first && r && r->created) {
		if (j)
			journal_remove(j);
		replica_close_remove(r);
	} else {
		replica_close(r);
	}
	journal_close(j);
out:
	free(cycles);
	return ret;
}

int apply_open_volume(const char *store_dir, const char *key_path, const char *volume,
		      struct store **st, struct vstore **vs)
{
	return apply_open_volume_opts(store_dir, NULL, key_path, volume, st, vs);
}

int apply_open_volume_opts(const char *store_dir, const struct remote_opts *ro,
			   const char *key_path, const char *volume,
			   struct store **st, struct vstore **vs)
{
	struct cbt_key key;
	int ret;

	*st = NULL;
	*vs = NULL;
	ret = key_load(key_path, &key);
	if (ret)
		return ret;
	ret = store_open_opts(store_dir, false, ro, st);
	if (ret)
		goto out_key;
	ret = vstore_open(*st, volume, &key, vs);
	if (ret == -ENOENT)
		log_err("store %s has no volume %s (has the source replicated it yet?)",
			store_dir, volume);
	if (ret) {
		store_close(*st);
		*st = NULL;
	}
out_key:
	key_wipe(&key);
	return ret;
}
