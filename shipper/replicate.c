// SPDX-License-Identifier: GPL-2.0
/*
 * One replication cycle: freeze, list the changes, read them in ascending
 * order through the block reader, seal them with a cycle writer (manifest
 * last), then commit the kernel cycle.  The order matters: the kernel's
 * frozen set is only dropped once the store holds the whole cycle, and the
 * restart rule (commit if the store's newest cycle records this tracking
 * cycle, abort otherwise) settles a crash between the two.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blockhash.h"
#include "cbt-source.h"
#include "format.h"
#include "fs-guard.h"
#include "key.h"
#include "log.h"
#include "replicate.h"
#include "seg-pipeline.h"
#include "src-state.h"
#include "statedir.h"
#include "store.h"
#include "vol-state.h"

/* Wraps the real store to count the bytes a cycle puts. */
struct counting_store {
	struct store st;
	struct store *inner;
	int (*put_fault)(const char *name);
	const struct replicate_hooks *hooks;
	uint64_t bytes_put;		/* only the store thread writes it during a cycle */
};

struct replicator {
	struct replicate_opts opts;
	char volume[VSTORE_NAME_MAX + 1];
	struct cbt_key key;
	struct counting_store cs;
	struct cbt_source *src;
	struct vstore *vs;		/* NULL until the volume exists in the store */
	struct block_reader *br;
	struct cons_volume cv;		/* the freeze instant's snapshot */
	struct cons_config cons;	/* copies of opts' consistency settings */
	struct cons_hooks cons_hooks;
	char *cons_str[4];		/* owned strings of those */
	double last_app;		/* monotonic time of the last app-consistent point */
	bool snap_overflowed;		/* this cycle's snapshot was invalidated */
	bool at_group;			/* this cycle reached the group's freeze */
	bool in_instant;		/* ... and the instant was taken: it must vote */
	bool voted;			/* its commit vote is cast (cons_group_commit_vote) */
	bool read_live;			/* ship this cycle from the live device */
};

/* ---- counting store ---- */

static struct store *inner_of(struct store *st)
{
	return ((struct counting_store *)st)->inner;
}

/* Put (or start a put) through the inner store, counting what was accepted. */
static int cs_count(struct store *st, const char *name, const void *buf, size_t len,
		    bool async)
{
	struct counting_store *cs = (struct counting_store *)st;
	int err = cs->put_fault ? cs->put_fault(name) : 0;

	if (!err && cs->hooks && cs->hooks->before_put)
		cs->hooks->before_put(cs->hooks->arg, len);
	if (!err)
		err = async ? store_put_async(cs->inner, name, buf, len) :
			      store_put(cs->inner, name, buf, len);
	if (!err)
		cs->bytes_put += len;
	return err;
}

static int cs_put(struct store *st, const char *name, const void *buf, size_t len)
{
	return cs_count(st, name, buf, len, false);
}

static int cs_put_async(struct store *st, const char *name, const void *buf, size_t len)
{
	return cs_count(st, name, buf, len, true);
}

static int cs_flush(struct store *st)
{
	return store_flush(inner_of(st));
}

static int cs_get(struct store *st, const char *name, void **buf, size_t *len)
{
	return store_get(inner_of(st), name, buf, len);
}

static int cs_list(struct store *st, const char *prefix,
		   int (*fn)(void *arg, const char *child), void *arg)
{
	struct store *in = inner_of(st);

	return in->ops->list(in, prefix, fn, arg);
}

static int cs_remove(struct store *st, const char *name)
{
	struct store *in = inner_of(st);

	return in->ops->remove(in, name);
}

static void cs_close(struct store *st)
{
	(void)st;	/* the replicator closes the inner store */
}

static const struct store_ops counting_store_ops = {
	.name = "counting",
	.put = cs_put,
	.get = cs_get,
	.list = cs_list,
	.remove = cs_remove,
	.close = cs_close,
	.put_async = cs_put_async,
	.flush = cs_flush,
};

/* ---- setup ---- */

static int open_source(const struct replicate_opts *o, struct cbt_source **src)
{
	if (!o->fake_state)
		return cbt_source_open_dm(o->device, src);
	/* An existing state file keeps its block size; a new one gets 4 KiB. */
	return cbt_source_open_file(o->device, o->fake_state,
				    access(o->fake_state, F_OK) == 0 ? 0 : 4096, src);
}

static char *dup_or_null(const char *s, char **slot, int *err)
{
	if (s && !(*slot = strdup(s)))
		*err = -ENOMEM;
	return *slot;
}

/* The replicator's own copies of the consistency settings (callers' may go). */
static int copy_cons(struct replicator *r, const struct replicate_opts *opts)
{
	int err = 0;

	if (opts->cons) {
		r->cons = *opts->cons;
		r->cons.cow = dup_or_null(opts->cons->cow, &r->cons_str[1], &err);
		r->opts.cons = &r->cons;
	}
	if (opts->cons_hooks) {
		r->cons_hooks = *opts->cons_hooks;
		r->cons_hooks.command = dup_or_null(opts->cons_hooks->command, &r->cons_str[2],
						    &err);
		r->cons_hooks.fsfreeze = dup_or_null(opts->cons_hooks->fsfreeze, &r->cons_str[3],
						     &err);
		r->opts.cons_hooks = &r->cons_hooks;
	}
	return err;
}

static void free_cons(struct replicator *r)
{
	for (size_t i = 0; i < sizeof(r->cons_str) / sizeof(r->cons_str[0]); i++)
		free(r->cons_str[i]);
}

int replicator_open(const struct replicate_opts *opts, struct replicator **out)
{
	struct cbt_volume_info info;
	struct replicator *r;
	struct store *inner;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->opts = *opts;
	err = copy_cons(r, opts);
	if (err)
		goto out_free;
	/* Before anything writes: thaw what a killed run left frozen (fs-guard.h). */
	if (opts->state_dir)
		fs_guard_recover(opts->state_dir, NULL);

	err = key_load(opts->key_path, &r->key);
	if (err)
		goto out_free;
	err = store_open_opts(opts->store, true, &opts->remote, &inner);
	if (err)
		goto out_key;
	r->cs.st.ops = &counting_store_ops;
	r->cs.st.spec = inner->spec;
	r->cs.inner = inner;
	r->cs.put_fault = opts->put_fault;
	r->cs.hooks = opts->hooks;

	err = open_source(opts, &r->src);
	if (err)
		goto out_store;
	err = r->src->ops->info(r->src, &info);
	if (err)
		goto out_src;

	snprintf(r->volume, sizeof(r->volume), "%s", opts->volume ? opts->volume : info.name);
	if ((opts->volume && strlen(opts->volume) > VSTORE_NAME_MAX) ||
	    !fmt_volume_name_ok(r->volume)) {
		log_err("invalid volume name \"%s\": use letters, digits, '.', '_' and '-', at most %d bytes, not starting with '.'%s",
			opts->volume ? opts->volume : info.name, VSTORE_NAME_MAX,
			opts->volume ? "" : " (give one with --volume)");
		err = -EINVAL;
		goto out_src;
	}

	err = cons_volume_init(&r->cv, r->src, opts->device, &info, r->opts.cons);
	if (err)
		goto out_src;
	if (opts->group)
		opts->group->vols[opts->group_index] = &r->cv;
	err = block_reader_open(info.data_path, &opts->reader, &r->br);
	if (err)
		goto out_src;

	err = vstore_open(&r->cs.st, r->volume, &r->key, &r->vs);
	if (err == -ENOENT) {
		r->vs = NULL;	/* initial replication will create it */
		err = 0;
	}
	if (err)
		goto out_br;
	*out = r;
	return 0;

out_br:
	block_reader_close(r->br);
out_src:
	cbt_source_close(r->src);
out_store:
	store_close(inner);
out_key:
	key_wipe(&r->key);
out_free:
	free_cons(r);
	free(r);
	return err;
}

void replicator_close(struct replicator *r)
{
	if (!r)
		return;
	vstore_close(r->vs);
	block_reader_close(r->br);
	cbt_source_close(r->src);
	store_close(r->cs.inner);
	key_wipe(&r->key);
	free_cons(r);
	free(r);
}

const char *replicator_volume(const struct replicator *r)
{
	return r->volume;
}

int replicator_pending(struct replicator *r, uint64_t *dirty_blocks)
{
	struct cbt_volume_info info;
	int err = r->src->ops->info(r->src, &info);

	if (!err)
		*dirty_blocks = info.dirty_blocks + (info.frozen ? info.frozen_blocks : 0);
	return err;
}

/* ---- one cycle ---- */

struct ship_ctx {
	struct replicator *r;
	struct cycle_writer *w;
	uint32_t block_size;
	uint64_t blocks;
	uint64_t bytes;
	uint64_t total;			/* blocks in this cycle, for progress */
};

/* Zero-copy: the reader reads straight into the segment pipeline's batches. */
static void *ship_reserve(void *arg, uint64_t first, uint64_t *nr, size_t *bytes, bool hole,
			  bool wait, int *err)
{
	struct ship_ctx *c = arg;

	return cycle_writer_reserve(c->w, first, nr, bytes, hole, wait, err);
}

static int ship_commit(void *arg, uint64_t first, uint64_t nr, size_t bytes, bool hole)
{
	struct ship_ctx *c = arg;
	int err;

	if (c->r->opts.stop && *c->r->opts.stop)
		return -EINTR;
	err = cycle_writer_commit_run(c->w, first, nr, bytes, hole);
	if (err)
		return err;
	c->blocks += nr;
	c->bytes += bytes;
	if (c->r->opts.hooks && c->r->opts.hooks->progress)
		c->r->opts.hooks->progress(c->r->opts.hooks->arg, c->blocks, c->total,
					   c->block_size);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A frozen cycle at start: shipped already (commit it) or not (merge it back)? */
static int settle_frozen(struct replicator *r, const struct cbt_volume_info *info)
{
	struct vstore_cycle_info last;
	int err = -ENOENT;

	if (r->vs)
		err = vstore_last_cycle(r->vs, &last);
	if (err && err != -ENOENT)
		return err;
	if (!err && last.tracking_cycle == info->cycle &&
	    !memcmp(last.tracking_id, info->tracking_id, sizeof(last.tracking_id))) {
		log_notice("volume %s: tracking cycle %" PRIu64 " was left frozen but store cycle %" PRIu64 " holds it: committing it",
			   r->volume, info->cycle, last.cycle);
		return r->src->ops->commit(r->src, info->cycle);
	}
	log_notice("volume %s: tracking cycle %" PRIu64 " was left frozen by an interrupted run: merging it back to ship again",
		   r->volume, info->cycle);
	return r->src->ops->abort(r->src, info->cycle);
}

/* The store's volume and newest cycle, creating the volume if absent. */
static int check_volume(struct replicator *r, const struct cbt_volume_info *info,
			struct vstore_cycle_info *last, bool *have_last)
{
	const struct vstore_volume_info *vi;
	int err;

	*have_last = false;
	if (!r->vs) {
		err = vstore_create(&r->cs.st, r->volume, &r->key, info->block_size,
				    info->size_bytes, &r->vs);
		if (err)
			return err;
		log_info("volume %s: created in store %s", r->volume, r->opts.store);
		return 0;
	}
	vi = vstore_info(r->vs);
	if (vi->block_size != info->block_size) {
		log_err("volume %s: the store has %u-byte blocks, the source tracks %u-byte blocks; use the same block size or another --volume",
			r->volume, vi->block_size, info->block_size);
		return -EINVAL;
	}
	if (vi->size_bytes != info->size_bytes) {
		log_err("volume %s: the source is %" PRIu64 " bytes but the store's volume is %" PRIu64 " bytes; resizing a replicated volume is not supported yet: replicate to a new --volume",
			r->volume, info->size_bytes, vi->size_bytes);
		return -EINVAL;
	}
	err = vstore_last_cycle(r->vs, last);
	if (err && err != -ENOENT)
		return err;
	*have_last = !err;
	return 0;
}

/*
 * Is the saved change set (clean detach) the one for this attach: same
 * store volume and device, taken from the tracking the store's newest
 * cycle came from, relative to that cycle?  Then *ok.
 */
static int saved_set(struct replicator *r, const struct cbt_volume_info *info,
		     const struct vstore_cycle_info *last, struct statedir_set *set, bool *ok)
{
	const struct vstore_volume_info *vi = vstore_info(r->vs);
	const char *why = NULL;
	int err;

	*ok = false;
	if (!r->opts.state_dir)
		return 0;
	err = statedir_load(r->opts.state_dir, r->volume, set);
	if (err == -ENOENT || err == -EBADMSG)
		return 0;
	if (err)
		return err;
	if (memcmp(set->volume_id, vi->volume_id, sizeof(set->volume_id)))
		why = "it belongs to another store volume";
	else if (strcmp(set->device, info->name) || set->size_bytes != info->size_bytes ||
		 set->block_size != info->block_size)
		why = "it was saved for another device, size or block size";
	else if (memcmp(set->tracking_id, last->tracking_id, sizeof(set->tracking_id)) ||
		 set->after_cycle != last->cycle)
		why = "cycles were shipped after it was saved";
	if (why) {
		log_warn("volume %s: ignoring the saved change set in %s: %s",
			 r->volume, r->opts.state_dir, why);
		statedir_set_free(set);
		return 0;
	}
	*ok = true;
	return 0;
}

/*
 * Nothing to ship, but the tracking was restarted and is trusted now (a
 * restored change set, or a resync that found the volumes equal): ship
 * block 0 so a stored cycle records the new tracking id.  Otherwise the
 * next run would see the restart again and, the saved set being gone,
 * ship every block.
 */
static int adopt_tracking(struct replicator *r, struct cbt_extent_list *ext)
{
	log_info("volume %s: nothing changed since the restart; storing a one-block cycle to record the new tracking id",
		 r->volume);
	return cbt_extent_list_add(ext, 0, 1);
}

/*
 * Begin the initial cycle: continued from what an interrupted attempt under
 * the same tracking stored (the statedir.h checkpoint says which), else
 * afresh with a new checkpoint.  The kept blocks may have been written
 * since they were read; those writes are in the frozen set, which this
 * cycle's commit drops, so they are marked dirty again first and the next
 * delta ships them.  *from: the first block still to read.
 */
static int begin_initial(struct replicator *r, const struct cbt_volume_info *info,
			 uint64_t tcycle, struct cycle_writer **w, uint64_t *from)
{
	const char *dir = r->opts.state_dir;
	const uint8_t *vid = vstore_info(r->vs)->volume_id;
	struct cbt_extent_list changed = { 0 }, again = { 0 };
	uint64_t end;
	size_t i;
	int err;

	*from = 0;
	if (!dir || statedir_initial_match(dir, r->volume, vid, info->tracking_id) != 1) {
		/* The residue of other tracking goes first, then the new checkpoint. */
		err = cycle_writer_begin(r->vs, 1, CYCLE_INITIAL, &r->opts.writer, w);
		if (err || !dir)
			return err;
		err = statedir_initial_save(dir, r->volume, vid, info->tracking_id);
		if (err)
			log_warn("volume %s: cannot record the initial replication's checkpoint in %s (%s): if it is interrupted it starts over; check the state directory (--state-dir, state_dir)",
				 r->volume, dir, strerror(-err));
		return 0;
	}
	err = cycle_writer_resume(r->vs, &r->opts.writer, w, from);
	if (err || !*from)
		return err;
	err = r->src->ops->changes(r->src, tcycle, &changed);
	for (i = 0; !err && i < changed.nr && changed.ext[i].start < *from; i++) {
		end = changed.ext[i].start + changed.ext[i].count;
		err = cbt_extent_list_add(&again, changed.ext[i].start,
					  (end < *from ? end : *from) - changed.ext[i].start);
	}
	if (!err && again.nr)
		err = r->src->ops->mark_dirty(r->src, again.ext, again.nr);
	if (!err)
		log_notice("volume %s: continuing the interrupted initial replication at block %" PRIu64 " of %" PRIu64 "; the %" PRIu64 " blocks written since they were stored go out with the next delta",
			   r->volume, *from, info->nr_blocks, cbt_extent_list_blocks(&again));
	if (err) {
		cycle_writer_abort(*w);
		*w = NULL;
	}
	cbt_extent_list_free(&changed);
	cbt_extent_list_free(&again);
	return err;
}

/*
 * A group member's cycle is stored but for its manifest: vote, so that
 * every member's manifest is written or none (cycle_writer_set_ready).
 */
static int group_ready(void *arg)
{
	struct replicator *r = arg;
	int err;

	r->voted = true;
	err = cons_group_commit_vote(r->opts.group, true);
	if (err)
		log_notice("volume %s: another volume of group %s could not store its cycle of this instant, so this one is not committed either; it is merged back",
			   r->volume, r->opts.group->name);
	return err;
}

/*
 * Freeze the kernel cycle: with a snapshot origin configured, as one
 * consistent instant (hooks when an app point is due), else plainly.
 */
static int freeze_instant(struct replicator *r, uint64_t *tcycle, enum cons_level *level,
			  uint64_t *instant)
{
	const struct cons_hooks *h = r->opts.cons_hooks;
	const struct cons_config *cfg = r->cv.cfg;
	struct cons_volume *one = &r->cv;
	bool app = h && (!r->last_app || now() - r->last_app >= h->interval);
	int err;

	if (r->opts.group) {
		r->at_group = true;
		err = cons_group_freeze(r->opts.group, level, instant);
		if (!err) {
			r->in_instant = true;
			*tcycle = r->cv.tcycle;
		}
		return err;
	}
	if (r->read_live)
		r->cv.cfg = NULL;	/* just this cycle: the last snapshot overflowed */
	err = cons_freeze(&one, 1, h, app, level);
	r->cv.cfg = cfg;
	if (err)
		return err;
	*tcycle = r->cv.tcycle;
	if (*level == CONS_APP)
		r->last_app = now();
	return 0;
}

/* Read straight into the cycle writer's batches (zero copy where aligned). */
static int read_into_ship(struct block_reader *br, const struct cbt_extent_list *read,
			  struct ship_ctx *ship)
{
	struct iovec bufs[SEG_PIPELINE_MAX_WORKERS + 2];	/* a pipeline's batches at most */
	struct block_reader_sink sink = {
		.reserve = ship_reserve,
		.commit = ship_commit,
		.arg = ship,
		.holes = true,
		.bufs = bufs,
	};

	struct block_reader_stats st0, st1;
	int err;

	sink.nr_bufs = cycle_writer_buffers(ship->w, bufs, sizeof(bufs) / sizeof(bufs[0]));
	block_reader_get_stats(br, &st0);
	err = block_reader_read_into(br, ship->block_size, read->ext, read->nr, &sink);
	block_reader_get_stats(br, &st1);
	log_debug("%" PRIu64 " reads, %" PRIu64 " of them into registered buffers",
		  st1.reads - st0.reads, st1.fixed_reads - st0.fixed_reads);
	return err;
}

/*
 * Read the cycle's blocks: from the snapshot if the instant has one (and
 * check that it was not invalidated meanwhile), else from the live device.
 */
static int read_blocks(struct replicator *r, const struct cbt_extent_list *read,
		       struct ship_ctx *ship)
{
	struct block_reader *br;
	bool valid = true;
	int err;

	if (!read->nr)
		return 0;
	if (!r->cv.snapped)
		return read_into_ship(r->br, read, ship);
	err = block_reader_open(r->cv.read_path, &r->opts.reader, &br);
	if (!err) {
		err = read_into_ship(br, read, ship);
		block_reader_close(br);
	}
	/* Whether the reads failed or not: an invalidated snapshot read nothing trustworthy. */
	if (err != -EINTR && !cons_snapshot_valid(&r->cv, &valid) && !valid) {
		r->snap_overflowed = true;
		err = -ENOSPC;
	}
	return err;
}

/*
 * Remove the instant's snapshot and put the dm-cbt device back on its
 * disk, once per cycle: right after the reads (nothing reads the snapshot
 * later, so users stop paying its copy-on-write while the cycle is still
 * uploading), or at the end of a cycle that failed before them or had
 * nothing to read.
 */
static int release_once(struct replicator *r, bool *released, double *t_released)
{
	if (*released)
		return 0;
	*released = true;
	*t_released = now();
	return cons_release(&r->cv);
}

enum cycle_mode {
	MODE_AUTO,		/* tracked changes; full (or resync) if tracking restarted */
	MODE_RESYNC,		/* tracked changes plus blocks whose hashes differ */
	MODE_REPROTECT,		/* cycle 1 as MODE_RESYNC over a base (hash list 0) */
};

static int run_cycle(struct replicator *r, enum cycle_mode mode, struct replicate_summary *sum)
{
	struct cbt_extent_list ext = { 0 }, tracked = { 0 }, diff = { 0 }, rest = { 0 };
	struct cbt_extent_list repair = { 0 };
	struct vol_state_rec vst = { 0 };
	struct vol_rejection rej = { 0 };
	struct cbt_extent_list *read = &ext;
	struct vstore_cycle_info last;
	struct cbt_volume_info info;
	struct ship_ctx ship = { .r = r };
	struct statedir_set set = { 0 };
	struct blockhash_stats hs = { 0 };
	bool have_last = false, frozen = false, restored = false, have_set = false, adopt;
	bool repairing = false, restarted = false, released = false, snapped = false;
	uint64_t tcycle = 0, seq, from = 0;
	struct cycle_writer_opts wopts = r->opts.writer;
	double t0 = now(), t_frozen = 0, t_released = 0;
	int err, err2, rel_err = 0;

	wopts.over_base = mode == MODE_REPROTECT;
	memset(sum, 0, sizeof(*sum));
	r->cs.bytes_put = 0;
	err = r->src->ops->info(r->src, &info);
	if (err)
		return err;
	if (info.frozen) {
		err = settle_frozen(r, &info);
		if (err)
			return err;
	}
	if (!info.nr_blocks) {
		log_err("%s is empty: nothing to replicate", info.data_path);
		return -EINVAL;
	}
	if (block_reader_size(r->br) != info.size_bytes) {
		log_err("%s: the device is %" PRIu64 " bytes now, %" PRIu64 " when opened; restart cbtship",
			info.data_path, info.size_bytes, block_reader_size(r->br));
		return -EIO;
	}
	err = check_volume(r, &info, &last, &have_last);
	if (err)
		return err;
	if (mode == MODE_REPROTECT && have_last)
		mode = MODE_AUTO;	/* the first reverse cycle is stored: deltas */
	/* What the target side recorded: stopped, migrated, failed over end it. */
	err = src_state_check(r->vs, &vst);
	sum->store_state = vst.state;
	if (err)
		return err;
	if (mode == MODE_RESYNC && !have_last) {
		log_err("volume %s: the store has no complete cycle yet, so there is nothing to resync against; run cbtship replicate for the initial copy",
			r->volume);
		return -EINVAL;
	}

	sum->kind = have_last || mode == MODE_REPROTECT ? CYCLE_DELTA : CYCLE_INITIAL;
	sum->full = !have_last && mode != MODE_REPROTECT;
	if (have_last && memcmp(last.tracking_id, info.tracking_id, sizeof(last.tracking_id))) {
		err = saved_set(r, &info, &last, &set, &have_set);
		if (err)
			return err;
		if (have_set) {
			/* Clean detach: the changes since `last` are the saved ones. */
			err = set.ext.nr ? r->src->ops->mark_dirty(r->src, set.ext.ext, set.ext.nr) : 0;
			if (!err && info.resync_required)
				err = r->src->ops->clear_resync(r->src);
			if (err)
				goto out;
			sum->restored_blocks = cbt_extent_list_blocks(&set.ext);
			restored = true;
			log_notice("volume %s: tracking was restarted since store cycle %" PRIu64 "; restored the %" PRIu64 " changed blocks saved at detach, shipping only those",
				   r->volume, last.cycle, sum->restored_blocks);
		} else if (mode == MODE_RESYNC) {
			log_notice("volume %s: tracking was restarted since store cycle %" PRIu64 "; the checksum resync finds the changes",
				   r->volume, last.cycle);
		} else {
			log_warn("volume %s: resync required: tracking was restarted since store cycle %" PRIu64 " (tracking id changed) without a saved change set (unclean shutdown?), so changes may be missing: shipping every block; cbtship resync ships only the blocks that differ instead",
				 r->volume, last.cycle);
			sum->full = true;
			restarted = true;
		}
	} else if (have_last) {
		/*
		 * Same tracking as the store's newest cycle, which was stored
		 * only once this tracking was trusted: finish a clear_resync
		 * that an interrupted run did not get to.  The kernel still
		 * has everything a saved set has.
		 */
		if (info.resync_required) {
			err = r->src->ops->clear_resync(r->src);
			if (err)
				return err;
		}
		if (r->opts.state_dir) {
			err = statedir_remove(r->opts.state_dir, r->volume);
			if (err)
				return err;
		}
	}
	/*
	 * The target rejected a cycle: ship the blocks of the cycles it misses
	 * again (marked dirty, so they join the tracked changes), or every
	 * block if their block sets cannot be read.
	 */
	if (have_last && !sum->full) {
		err = src_repair_plan(r->vs, &repair, &rej);
		if (err < 0)
			goto out;
		sum->full = err == SRC_REPAIR_FULL;
		repairing = err == SRC_REPAIR_BLOCKS;
		err = repairing ? r->src->ops->mark_dirty(r->src, repair.ext, repair.nr) : 0;
		if (err)
			goto out;
		sum->repair_blocks = cbt_extent_list_blocks(&repair);
	}
	if (sum->kind == CYCLE_INITIAL)
		err = src_state_enter(r->vs, &vst, VOL_INITIAL_RUNNING, 0, "initial replication: every block");
	else if (restarted || mode == MODE_RESYNC)
		err = src_state_enter(r->vs, &vst, VOL_RESYNC_REQUIRED, last.cycle,
				      mode == MODE_RESYNC ? "checksum resync running" :
				      "tracking restarted without a saved change set: shipping every block");
	if (err)
		goto out;
	seq = have_last ? last.cycle + 1 : 1;
	/* Trusting a restarted tracking: a stored cycle must record its id. */
	adopt = have_last && !sum->full &&
		memcmp(last.tracking_id, info.tracking_id, sizeof(last.tracking_id));
	/* A reverse volume's first cycle must be stored, even of one block. */
	adopt = adopt || mode == MODE_REPROTECT;

	err = freeze_instant(r, &tcycle, &sum->consistency, &sum->group_instant);
	if (err)
		goto out;
	frozen = true;
	t_frozen = now();
	snapped = r->cv.snapped;
	if (sum->full) {
		err = cbt_extent_list_add(&ext, 0, info.nr_blocks);
	} else if (mode == MODE_RESYNC || mode == MODE_REPROTECT) {
		err = r->src->ops->changes(r->src, tcycle, &tracked);
		if (!err)
			err = blockhash_compare(r->vs, have_last ? last.cycle : 0, r->br, &diff,
						&hs);
		if (!err)
			err = blockhash_extents_union(&tracked, &diff, &ext);
		sum->resync = true;
		sum->diff_blocks = hs.diff_blocks;
		sum->diff_bytes = hs.diff_bytes;
		sum->hashed_bytes = hs.bytes_read;
		sum->hash_list_bytes = hs.list_bytes;
		if (!err && !ext.nr && adopt)
			err = adopt_tracking(r, &ext);
		if (!err && !ext.nr) {
			log_info("volume %s: the replica's hashes match the source and nothing changed",
				 r->volume);
			goto no_changes;
		}
	} else {
		err = r->src->ops->changes(r->src, tcycle, &ext);
		if (!err && !ext.nr && adopt)
			err = adopt_tracking(r, &ext);
		if (!err && !ext.nr && r->opts.group) {
			log_info("volume %s: no changes; storing a one-block cycle so that group %s's instant has a point of every volume",
				 r->volume, r->opts.group->name);
			err = cbt_extent_list_add(&ext, 0, 1);
		}
		if (!err && !ext.nr) {
			log_info("volume %s: no changes in tracking cycle %" PRIu64, r->volume, tcycle);
			goto no_changes;
		}
	}
	if (err)
		goto out;

	if (sum->kind == CYCLE_INITIAL)
		err = begin_initial(r, &info, tcycle, &ship.w, &from);
	else
		err = cycle_writer_begin(r->vs, seq, sum->kind, &wopts, &ship.w);
	if (err)
		goto out;
	if (from) {
		/* Read only the rest; the commit names every block. */
		err = from < info.nr_blocks ?
		      cbt_extent_list_add(&rest, from, info.nr_blocks - from) : 0;
		if (err) {
			cycle_writer_abort(ship.w);
			goto out;
		}
		read = &rest;
	}
	ship.block_size = info.block_size;
	ship.total = cbt_extent_list_blocks(read);
	err = read_blocks(r, read, &ship);
	/* Every block is read (or the reads failed): the snapshot has served. */
	rel_err = release_once(r, &released, &t_released);
	if (err) {
		if (err == -EINTR)
			log_notice("volume %s: interrupted while reading cycle %" PRIu64,
				   r->volume, seq);
		cycle_writer_abort(ship.w);
		goto out;
	}
	cycle_writer_set_consistency(ship.w, sum->consistency);
	if (r->opts.group) {
		cycle_writer_set_group(ship.w, r->opts.group->name, sum->group_instant);
		cycle_writer_set_ready(ship.w, group_ready, r);
	}
	err = cycle_writer_commit(ship.w, ext.ext, ext.nr, tcycle, info.tracking_id);
	if (err)
		goto out;
	/* The store holds the cycle: from here on a failure is settled at restart. */
	frozen = false;
	err = r->src->ops->commit(r->src, tcycle);
	if (err) {
		log_err("volume %s: cycle %" PRIu64 " is stored but committing tracking cycle %" PRIu64 " failed; the next run commits it",
			r->volume, seq, tcycle);
		goto out;
	}
	if (sum->kind == CYCLE_INITIAL && r->opts.state_dir)
		statedir_initial_remove(r->opts.state_dir, r->volume);	/* logged; stale is harmless */
	/* Initial, full, restored or resync cycle: the replica is in line. */
	if (info.resync_required) {
		err = r->src->ops->clear_resync(r->src);
		if (err)
			goto out;
	}
	sum->result = REPLICATE_SHIPPED;
	sum->cycle = seq;
	sum->tracking_cycle = tcycle;
	sum->blocks = ship.blocks;
	sum->bytes_read = ship.bytes;
	/* After the cycle: a later one answers the rejection if this record is lost. */
	if (repairing && vol_repair_set(r->vs, seq, rej.replica_at, rej.cycle))
		log_warn("volume %s: cannot record cycle %" PRIu64 " as the repair of rejected cycle %" PRIu64 "; the next cycle ships those blocks again",
			 r->volume, seq, rej.cycle);
	goto states;

no_changes:
	err = r->src->ops->commit(r->src, tcycle);
	frozen = false;
	if (err)
		goto out;
	sum->result = REPLICATE_NO_CHANGES;
	sum->tracking_cycle = tcycle;
	sum->cycle = have_last ? last.cycle : 0;
states:
	/* The replica is in line: delta replication, or a migration's final cycle. */
	if (vst.state == VOL_MIGRATION_QUEUED)
		err = src_state_migration(r->vs, &vst, sum->result == REPLICATE_SHIPPED, sum->cycle,
					  info.data_path, &sum->migration_final);
	else if (vst.state != VOL_DELTA && vst.state != VOL_MIGRATION_RUNNING)
		err = src_state_enter(r->vs, &vst, VOL_DELTA, sum->cycle, "replicating changes");
out:
	err2 = release_once(r, &released, &t_released);
	if (!rel_err)
		rel_err = err2;
	if (rel_err && !err)
		err = rel_err;
	if (snapped && !rel_err) {
		double t_end = now();

		log_debug("volume %s: the snapshot of tracking cycle %" PRIu64 " lived %.3f s; the cycle went on %.3f s after the freeze (%.3f s in all)",
			  r->volume, tcycle, t_released - t_frozen, t_end - t_frozen, t_end - t0);
	}
	if (frozen) {
		err2 = r->src->ops->abort(r->src, tcycle);
		if (err2)
			log_err("volume %s: could not merge tracking cycle %" PRIu64 " back (%s); the next run will",
				r->volume, tcycle, strerror(-err2));
		else
			log_notice("volume %s: tracking cycle %" PRIu64 " merged back; its blocks go out with the next cycle",
				   r->volume, tcycle);
	}
	/*
	 * A restored set is dropped only once a cycle of the new tracking is
	 * stored: until then a restart finds it and marks it dirty again.
	 */
	if (restored && !err && sum->result != REPLICATE_NOTHING)
		err = statedir_remove(r->opts.state_dir, r->volume);
	if (have_set)
		statedir_set_free(&set);
	cbt_extent_list_free(&repair);
	cbt_extent_list_free(&tracked);
	cbt_extent_list_free(&diff);
	cbt_extent_list_free(&rest);
	cbt_extent_list_free(&ext);
	sum->store_state = vst.state;
	sum->bytes_stored = r->cs.bytes_put;
	sum->seconds = now() - t0;
	return err;
}

/*
 * A snapshot invalidated during the cycle (its COW device filled up): the
 * cycle was merged back; ship it again at once, read from the live device
 * and labelled "none", so replication goes on.  The next cycle takes a
 * snapshot again.
 */
static int cycle_or_live(struct replicator *r, enum cycle_mode mode, struct replicate_summary *sum)
{
	int err;

	r->snap_overflowed = false;
	r->at_group = r->in_instant = r->voted = false;
	err = run_cycle(r, mode, sum);
	if (r->opts.group && !r->at_group)
		cons_group_leave(r->opts.group);	/* the others must not wait for it */
	if (r->opts.group && r->in_instant && !r->voted)
		cons_group_commit_vote(r->opts.group, false);	/* failed after the instant */
	/* A group retries the whole instant with its next round. */
	if (err != -ENOSPC || !r->snap_overflowed || r->opts.group)
		return err;
	log_warn("volume %s: the cycle's snapshot overflowed, so it is shipped from the live device and its recovery point is not consistent (none); give a larger COW device (--cow)",
		 r->volume);
	r->read_live = true;
	err = run_cycle(r, mode, sum);
	r->read_live = false;
	return err;
}

int replicator_cycle(struct replicator *r, struct replicate_summary *sum)
{
	return cycle_or_live(r, MODE_AUTO, sum);
}

int replicator_resync(struct replicator *r, struct replicate_summary *sum)
{
	return cycle_or_live(r, MODE_RESYNC, sum);
}

int replicator_reprotect(struct replicator *r, struct replicate_summary *sum)
{
	if (!r->vs) {
		log_err("volume %s is not in store %s: on the original side, publish the original disk's hashes first (cbtship reprotect --original DISK)",
			r->volume, r->opts.store);
		return -ENOENT;
	}
	return run_cycle(r, MODE_REPROTECT, sum);
}

int replicator_mark_queued(struct replicator *r)
{
	struct vstore_cycle_info last;
	struct cbt_volume_info info;
	struct vol_state_rec vst;
	bool have_last;
	int err;

	err = r->src->ops->info(r->src, &info);
	if (!err)
		err = check_volume(r, &info, &last, &have_last);
	if (!err && !have_last)
		err = src_state_check(r->vs, &vst);
	if (err || have_last)
		return err;
	if (vst.state && vst.state != VOL_INITIAL_RUNNING)
		return 0;
	return src_state_enter(r->vs, &vst, VOL_INITIAL_QUEUED, 0,
			       "initial replication waits for its turn");
}

/* ---- clean detach ---- */

int replicator_detach(struct replicator *r, uint64_t *saved_blocks)
{
	struct statedir_set set = { 0 };
	struct vstore_cycle_info last;
	struct cbt_volume_info info;
	bool have_last, frozen = false;
	uint64_t tcycle = 0;
	int err, err2, fd = -1;

	*saved_blocks = 0;
	if (!r->opts.state_dir) {
		log_err("volume %s: no state directory to save the change set in; give --state-dir",
			r->volume);
		return -EINVAL;
	}
	err = r->src->ops->info(r->src, &info);
	if (err)
		return err;
	if (!r->opts.fake_state) {
		/* Held until the set is saved: nobody can mount it meanwhile. */
		fd = open(info.data_path, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd < 0 && errno == EBUSY && !r->opts.force) {
			log_err("volume %s: %s is in use (mounted?), so its change set is not saved: writes after this point would be missing at the next attach; unmount it and run cbtship detach (or after a reboot, cbtship resync)",
				r->volume, info.data_path);
			return -EBUSY;
		}
	}
	if (info.frozen) {
		err = settle_frozen(r, &info);
		if (err)
			goto out;
	}
	if (!r->vs) {
		log_notice("volume %s: nothing replicated yet, so there is no change set to save; the next attach starts with the initial copy",
			   r->volume);
		goto out;
	}
	err = check_volume(r, &info, &last, &have_last);
	if (err)
		goto out;
	if (!have_last || memcmp(last.tracking_id, info.tracking_id, sizeof(last.tracking_id))) {
		log_warn("volume %s: the current tracking has not shipped a cycle yet, so its change set does not cover everything since the store's newest cycle; nothing saved: the next attach needs a checksum resync (cbtship resync)",
			 r->volume);
		err = statedir_remove(r->opts.state_dir, r->volume);
		goto out;
	}
	err = r->src->ops->freeze(r->src, &tcycle);
	if (err)
		goto out;
	frozen = true;
	err = r->src->ops->changes(r->src, tcycle, &set.ext);
	if (err)
		goto out;
	memcpy(set.volume_id, vstore_info(r->vs)->volume_id, sizeof(set.volume_id));
	snprintf(set.device, sizeof(set.device), "%s", info.name);
	set.size_bytes = info.size_bytes;
	set.block_size = info.block_size;
	memcpy(set.tracking_id, info.tracking_id, sizeof(set.tracking_id));
	set.after_cycle = last.cycle;
	err = statedir_save(r->opts.state_dir, r->volume, &set);
	if (err)
		goto out;
	*saved_blocks = cbt_extent_list_blocks(&set.ext);
	log_notice("volume %s: saved %" PRIu64 " unshipped changed blocks (after store cycle %" PRIu64 ") in %s",
		   r->volume, *saved_blocks, last.cycle, r->opts.state_dir);
out:
	if (frozen) {
		/* The kernel keeps the set too, in case the volume is not detached after all. */
		err2 = r->src->ops->abort(r->src, tcycle);
		if (err2 && !err)
			err = err2;
	}
	statedir_set_free(&set);
	if (fd >= 0)
		close(fd);
	return err;
}
