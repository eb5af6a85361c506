// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-cbt volume: live and frozen change sets, the freeze protocol and the
 * registry of volumes.
 *
 * Freeze correctness rests on one rule: a write is marked in the live set
 * and counted in the current in-flight generation under v->lock, in one
 * step.  The freezer swaps the sets and flips the generation under the
 * same lock, then waits for the old generation to drain.  So every block
 * in the frozen set belongs to a write that has completed.
 */

#include <linux/atomic.h>
#include <linux/device-mapper.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "cbt-bitmap.h"
#include "cbt-genl.h"
#include "cbt-ring.h"
#include "cbt-volume.h"
#include "cbt-wil.h"

#define DM_MSG_PREFIX "cbt"

/* Bits set per lock hold by MARK_DIRTY, to bound time with irqs off. */
#define CBT_MARK_BATCH	BIT_ULL(20)

struct cbt_volume {
	/* Protected by cbt_registry_lock. */
	struct list_head list;
	unsigned int nr_tables;		/* tables attached */
	bool active;			/* the volume lookups return */
	bool announced;			/* VOLUME_ADDED was sent */

	refcount_t ref;			/* tables and control operations */

	/* Fixed at creation. */
	dev_t devt;
	dev_t backing_devt;
	u32 block_size;
	unsigned int sector_shift;	/* log2(sectors per block) */
	u8 id[CBT_VOLUME_ID_LEN];

	/* Grow on resume: written under all three locks, read under any. */
	sector_t len;
	u64 nr_blocks;

	/* Memory of both bitmaps; max_bytes changes on resume. */
	struct cbt_bitmap_budget budget;

	/* Ring and CHANGED events found in the map path, sent from a work item. */
	unsigned long event_bits;
	struct work_struct event_work;

	/* Serialises freeze, commit, abort and reads of the frozen set. */
	struct mutex cycle_lock;

	/* Protects what follows; the set pointers also need cycle_lock. */
	spinlock_t lock;
	struct cbt_bitmap *live;
	struct cbt_bitmap *frozen;	/* empty unless is_frozen */
	bool is_frozen;
	u64 cycle;			/* id of the frozen or last cycle */
	unsigned int gen;		/* current in-flight generation */
	char name[DM_NAME_LEN];
	bool degraded_logged;
	bool resync_required;		/* changes before creation unknown */
	struct cbt_ring ring;
	u64 freeze_seq;			/* ring sequence at the last freeze */
	u32 epoch;			/* completed flushes */

	struct cbt_wil *wil;		/* told of commits; NULL: none */

	atomic_t inflight[2];		/* writes mapped, not completed */
	wait_queue_head_t drain_wait;
};

struct cbt_volume_update {
	sector_t len;
	u64 nr_blocks;
	struct cbt_bitmap *live, *frozen;	/* NULL unless growing */
	bool new_ring;
	struct cbt_ring ring;
	long max_bytes;
};

static LIST_HEAD(cbt_registry);
static DEFINE_MUTEX(cbt_registry_lock);

/* ---- Registry and lifetime ---- */

static long cap_bytes(long memory_cap)
{
	return memory_cap < 0 ? -1 : memory_cap * SZ_1M;
}

static void volume_event_work(struct work_struct *work)
{
	struct cbt_volume *v = container_of(work, struct cbt_volume, event_work);

	if (test_and_clear_bit(0, &v->event_bits))
		cbt_genl_notify(v, CBT_CMD_RING_WATERMARK);
	if (test_and_clear_bit(1, &v->event_bits))
		cbt_genl_notify(v, CBT_CMD_RING_OVERFLOW);
	if (test_and_clear_bit(2, &v->event_bits))
		cbt_genl_notify(v, CBT_CMD_CHANGED);
}

/* Called with v->lock held: queue the ring events @ev for listeners. */
static void queue_ring_events(struct cbt_volume *v, unsigned int ev)
{
	if (likely(!ev))
		return;
	if (ev & CBT_RING_EV_WATERMARK)
		set_bit(0, &v->event_bits);
	if (ev & CBT_RING_EV_OVERFLOW)
		set_bit(1, &v->event_bits);
	schedule_work(&v->event_work);
}

/*
 * Called with v->lock held, before blocks are added to the live set: if it
 * is empty, queue CHANGED (at most once per cycle, since only a freeze
 * empties it).
 */
static void queue_changed_event(struct cbt_volume *v)
{
	if (likely(cbt_bitmap_count(v->live)))
		return;
	set_bit(2, &v->event_bits);
	schedule_work(&v->event_work);
}

static struct cbt_volume *volume_create(const struct cbt_volume_params *p)
{
	struct cbt_volume *v;
	unsigned int sectors = p->block_size >> SECTOR_SHIFT;

	v = kzalloc(sizeof(*v), GFP_KERNEL);
	if (!v)
		return NULL;

	v->devt = p->devt;
	v->backing_devt = p->backing_devt;
	v->block_size = p->block_size;
	v->sector_shift = ilog2(sectors);
	v->len = p->len;
	v->nr_blocks = DIV_ROUND_UP_ULL(p->len, sectors);
	get_random_bytes(v->id, sizeof(v->id));
	/* Nothing vouches for what was written before this state existed. */
	v->resync_required = true;
	strscpy(v->name, p->name, sizeof(v->name));
	atomic_long_set(&v->budget.bytes, 0);
	v->budget.max_bytes = cap_bytes(p->memory_cap);
	INIT_WORK(&v->event_work, volume_event_work);

	if (cbt_ring_init(&v->ring, p->ring_size))
		goto bad_ring;
	v->live = cbt_bitmap_create(v->nr_blocks);
	if (!v->live)
		goto bad_live;
	v->frozen = cbt_bitmap_create(v->nr_blocks);
	if (!v->frozen)
		goto bad_frozen;
	cbt_bitmap_set_budget(v->live, &v->budget);
	cbt_bitmap_set_budget(v->frozen, &v->budget);

	INIT_LIST_HEAD(&v->list);
	refcount_set(&v->ref, 1);
	v->nr_tables = 1;
	mutex_init(&v->cycle_lock);
	spin_lock_init(&v->lock);
	atomic_set(&v->inflight[0], 0);
	atomic_set(&v->inflight[1], 0);
	init_waitqueue_head(&v->drain_wait);
	return v;

bad_frozen:
	cbt_bitmap_destroy(v->live);
bad_live:
	cbt_ring_exit(&v->ring);
bad_ring:
	kfree(v);
	return NULL;
}

static void volume_free(struct cbt_volume *v)
{
	cancel_work_sync(&v->event_work);
	mutex_destroy(&v->cycle_lock);
	cbt_bitmap_destroy(v->frozen);
	cbt_bitmap_destroy(v->live);
	cbt_ring_exit(&v->ring);
	kfree(v);
}

static void update_free(struct cbt_volume_update *u)
{
	if (!u)
		return;
	cbt_bitmap_destroy(u->live);
	cbt_bitmap_destroy(u->frozen);
	cbt_ring_exit(&u->ring);
	kfree(u);
}

/* Preallocate what applying @p to @v needs; may sleep. */
static struct cbt_volume_update *update_create(struct cbt_volume *v,
					       const struct cbt_volume_params *p)
{
	struct cbt_volume_update *u;

	u = kzalloc(sizeof(*u), GFP_KERNEL);
	if (!u)
		return NULL;
	u->len = p->len;
	u->nr_blocks = DIV_ROUND_UP_ULL(p->len, 1U << v->sector_shift);
	u->max_bytes = cap_bytes(p->memory_cap);
	if (u->nr_blocks != v->nr_blocks) {
		u->live = cbt_bitmap_create(u->nr_blocks);
		u->frozen = cbt_bitmap_create(u->nr_blocks);
		if (!u->live || !u->frozen)
			goto bad;
		cbt_bitmap_set_budget(u->live, &v->budget);
		cbt_bitmap_set_budget(u->frozen, &v->budget);
	}
	/* The ring size is only read under registry_lock, held here. */
	if (p->ring_size != v->ring.size) {
		u->new_ring = true;
		if (cbt_ring_init(&u->ring, p->ring_size))
			goto bad;
	}
	return u;

bad:
	update_free(u);
	return NULL;
}

int cbt_volume_attach(const struct cbt_volume_params *p,
		      struct cbt_volume **out,
		      struct cbt_volume_update **upd)
{
	struct cbt_volume *v;

	*upd = NULL;
	mutex_lock(&cbt_registry_lock);
	list_for_each_entry(v, &cbt_registry, list) {
		if (v->devt == p->devt && v->backing_devt == p->backing_devt &&
		    v->block_size == p->block_size && p->len >= v->len &&
		    v->nr_tables) {
			*upd = update_create(v, p);
			if (!*upd) {
				mutex_unlock(&cbt_registry_lock);
				return -ENOMEM;
			}
			refcount_inc(&v->ref);
			v->nr_tables++;
			mutex_unlock(&cbt_registry_lock);
			*out = v;
			return 0;
		}
	}

	v = volume_create(p);
	if (!v) {
		mutex_unlock(&cbt_registry_lock);
		return -ENOMEM;
	}
	list_add_tail(&v->list, &cbt_registry);
	mutex_unlock(&cbt_registry_lock);
	*out = v;
	return 0;
}

void cbt_volume_put(struct cbt_volume *v)
{
	if (!refcount_dec_and_mutex_lock(&v->ref, &cbt_registry_lock))
		return;
	list_del(&v->list);
	mutex_unlock(&cbt_registry_lock);
	volume_free(v);
}

void cbt_volume_detach(struct cbt_volume *v, struct cbt_volume_update **upd)
{
	struct cbt_volume_info info;
	bool last, announced = false;

	update_free(*upd);
	*upd = NULL;
	mutex_lock(&cbt_registry_lock);
	last = !--v->nr_tables;
	if (last) {
		v->active = false;
		announced = v->announced;
	}
	mutex_unlock(&cbt_registry_lock);

	if (announced)
		cbt_genl_notify(v, CBT_CMD_VOLUME_REMOVED);
	if (last) {
		cbt_volume_get_info(v, &info);
		if (info.dirty_blocks || info.frozen_blocks)
			DMWARN("%s: tracking ended, %llu dirty and %llu frozen blocks unshipped",
			       info.name, info.dirty_blocks, info.frozen_blocks);
		else
			DMINFO("%s: tracking ended with no unshipped changes",
			       info.name);
	}
	cbt_volume_put(v);
}

/* Called with registry_lock held: apply @u to @v. */
static void update_apply(struct cbt_volume *v, struct cbt_volume_update *u)
{
	mutex_lock(&v->cycle_lock);
	spin_lock_irq(&v->lock);
	if (u->live) {
		/* Same region layout: leaves move, nothing is lost. */
		cbt_bitmap_move_into(u->live, v->live);
		cbt_bitmap_move_into(u->frozen, v->frozen);
		swap(v->live, u->live);
		swap(v->frozen, u->frozen);
		v->nr_blocks = u->nr_blocks;
	}
	v->len = u->len;	/* may grow within the last block */
	if (u->new_ring) {
		cbt_ring_move(&u->ring, &v->ring);
		swap(v->ring, u->ring);
	}
	v->budget.max_bytes = u->max_bytes;
	spin_unlock_irq(&v->lock);
	mutex_unlock(&v->cycle_lock);
}

void cbt_volume_activate(struct cbt_volume *v, struct cbt_volume_update **upd,
			 const char *name)
{
	struct cbt_volume *other;
	bool added, resync;

	mutex_lock(&cbt_registry_lock);
	if (*upd)
		update_apply(v, *upd);
	list_for_each_entry(other, &cbt_registry, list)
		if (other->devt == v->devt)
			other->active = false;
	v->active = true;
	added = !v->announced;
	v->announced = true;
	mutex_unlock(&cbt_registry_lock);
	update_free(*upd);
	*upd = NULL;

	spin_lock_irq(&v->lock);
	strscpy(v->name, name, sizeof(v->name));
	resync = v->resync_required;
	spin_unlock_irq(&v->lock);

	/* Only a new tracking state is announced, not a reload keeping one. */
	if (!added)
		return;
	cbt_genl_notify(v, CBT_CMD_VOLUME_ADDED);
	if (resync) {
		DMWARN("%s: new tracking state, earlier changes unknown: resync required",
		       name);
		cbt_genl_notify(v, CBT_CMD_RESYNC_REQUIRED);
	}
}

struct cbt_volume *cbt_volume_lookup(dev_t devt)
{
	struct cbt_volume *v;

	mutex_lock(&cbt_registry_lock);
	list_for_each_entry(v, &cbt_registry, list) {
		if (v->active && v->devt == devt) {
			refcount_inc(&v->ref);
			mutex_unlock(&cbt_registry_lock);
			return v;
		}
	}
	mutex_unlock(&cbt_registry_lock);
	return NULL;
}

struct cbt_volume *cbt_volume_get_nth(unsigned long idx)
{
	struct cbt_volume *v;

	mutex_lock(&cbt_registry_lock);
	list_for_each_entry(v, &cbt_registry, list) {
		if (!v->active)
			continue;
		if (!idx--) {
			refcount_inc(&v->ref);
			mutex_unlock(&cbt_registry_lock);
			return v;
		}
	}
	mutex_unlock(&cbt_registry_lock);
	return NULL;
}

dev_t cbt_volume_devt(const struct cbt_volume *v)
{
	return v->devt;
}

/* ---- I/O path ---- */

unsigned int cbt_volume_start_write(struct cbt_volume *v, sector_t sector,
				    unsigned int nr_sectors, u8 op)
{
	u64 first = sector >> v->sector_shift;
	u64 last = (sector + nr_sectors - 1) >> v->sector_shift;
	bool log_degraded = false;
	unsigned long flags;
	unsigned int gen;

	spin_lock_irqsave(&v->lock, flags);
	queue_changed_event(v);
	cbt_bitmap_set_range(v->live, first, last);
	gen = v->gen;
	atomic_inc(&v->inflight[gen]);
	queue_ring_events(v, cbt_ring_add(&v->ring, op, sector, nr_sectors,
					  v->epoch, 0));
	if (unlikely(cbt_bitmap_degraded(v->live) && !v->degraded_logged)) {
		v->degraded_logged = true;
		log_degraded = true;
	}
	spin_unlock_irqrestore(&v->lock, flags);

	if (unlikely(log_degraded))
		DMWARN("%s: out of memory for the change bitmap or at memory_cap: coarse regions",
		       v->name);
	return gen;
}

void cbt_volume_end_write(struct cbt_volume *v, unsigned int gen)
{
	if (atomic_dec_and_test(&v->inflight[gen]) &&
	    wq_has_sleeper(&v->drain_wait))
		wake_up(&v->drain_wait);
}

void cbt_volume_flush(struct cbt_volume *v)
{
	unsigned long flags;

	if (!v->ring.size)	/* racy read: a resize is done while suspended */
		return;
	spin_lock_irqsave(&v->lock, flags);
	queue_ring_events(v, cbt_ring_add(&v->ring, CBT_REC_FLUSH, 0, 0,
					  v->epoch, 0));
	spin_unlock_irqrestore(&v->lock, flags);
}

void cbt_volume_flush_done(struct cbt_volume *v)
{
	unsigned long flags;

	spin_lock_irqsave(&v->lock, flags);
	v->epoch++;
	spin_unlock_irqrestore(&v->lock, flags);
}

int cbt_volume_tag(struct cbt_volume *v, u64 tag)
{
	int r = -ENOSPC;

	spin_lock_irq(&v->lock);
	if (v->ring.size) {
		queue_ring_events(v, cbt_ring_add(&v->ring, CBT_REC_TAG, 0, 0,
						  v->epoch, tag));
		r = 0;
	}
	spin_unlock_irq(&v->lock);
	return r;
}

u32 cbt_volume_get_ring(struct cbt_volume *v, u64 *seq,
			struct cbt_ring_record *dst, u32 max)
{
	u32 n;

	spin_lock_irq(&v->lock);
	n = v->ring.size ? cbt_ring_copy(&v->ring, seq, dst, max) : 0;
	spin_unlock_irq(&v->lock);
	return n;
}

void cbt_volume_suspended(struct cbt_volume *v)
{
	int g0 = atomic_read(&v->inflight[0]), g1 = atomic_read(&v->inflight[1]);

	/* dm core waited for every bio: a non-zero count is a bug here. */
	if (g0 || g1)
		DMERR("%s: suspended with %d/%d writes still counted in flight",
		      v->name, g0, g1);
	/* A FREEZE draining a generation sees it empty now. */
	wake_up_all(&v->drain_wait);
	/* Events about I/O before the suspend go out before it completes. */
	flush_work(&v->event_work);
}

/* ---- Reporting ---- */

void cbt_volume_get_info(struct cbt_volume *v, struct cbt_volume_info *info)
{
	info->devt = v->devt;
	info->block_size = v->block_size;
	memcpy(info->id, v->id, sizeof(info->id));

	spin_lock_irq(&v->lock);
	info->nr_blocks = v->nr_blocks;
	info->ring_size = v->ring.size;
	info->ring_fill = cbt_ring_fill(&v->ring);
	info->ring_first = v->ring.first;
	info->ring_next = v->ring.next;
	info->ring_lost = v->ring.lost;
	info->ring_overflow = cbt_ring_overflow(&v->ring);
	info->epoch = v->epoch;
	strscpy(info->name, v->name, sizeof(info->name));
	info->dirty_blocks = cbt_bitmap_count(v->live);
	info->frozen = v->is_frozen;
	info->frozen_blocks = v->is_frozen ? cbt_bitmap_count(v->frozen) : 0;
	info->cycle = v->cycle;
	info->resync_required = v->resync_required;
	info->state = cbt_bitmap_degraded(v->live) ||
		      (v->is_frozen && cbt_bitmap_degraded(v->frozen)) ?
		      CBT_STATE_DEGRADED : CBT_STATE_TRACKING;
	info->mem_bytes = cbt_bitmap_mem_bytes(v->live) +
			  (v->is_frozen ? cbt_bitmap_mem_bytes(v->frozen) : 0);
	spin_unlock_irq(&v->lock);
}

/* ---- Cycle control ---- */

static int wait_drained(struct cbt_volume *v, unsigned int gen)
{
	return wait_event_killable(v->drain_wait,
				   !atomic_read(&v->inflight[gen]));
}

int cbt_volume_freeze(struct cbt_volume *v, u64 *cycle)
{
	unsigned int old_gen;
	int r;

	r = mutex_lock_killable(&v->cycle_lock);
	if (r)
		return r;

	if (v->is_frozen) {
		r = -EBUSY;
		goto out;
	}

	/*
	 * The generation we switch to must be empty.  It is, unless an
	 * earlier freeze was interrupted before its writes drained.
	 */
	r = wait_drained(v, v->gen ^ 1);
	if (r)
		goto out;

	spin_lock_irq(&v->lock);
	swap(v->live, v->frozen);
	v->is_frozen = true;
	v->cycle++;
	v->freeze_seq = v->ring.next;
	old_gen = v->gen;
	v->gen ^= 1;
	spin_unlock_irq(&v->lock);

	r = wait_drained(v, old_gen);
	if (r) {
		/* Interrupted: give the changes back, nothing is lost. */
		spin_lock_irq(&v->lock);
		cbt_bitmap_move_into(v->live, v->frozen);
		v->is_frozen = false;
		spin_unlock_irq(&v->lock);
		goto out;
	}
	*cycle = v->cycle;
out:
	mutex_unlock(&v->cycle_lock);
	return r;
}

/* Called with cycle_lock held. */
static int check_cycle(struct cbt_volume *v, u64 cycle, u64 *frozen_cycle)
{
	*frozen_cycle = v->cycle;
	if (!v->is_frozen)
		return -ENOENT;
	if (cycle != v->cycle)
		return -ESTALE;
	return 0;
}

int cbt_volume_commit(struct cbt_volume *v, u64 cycle, u64 *frozen_cycle)
{
	int r;

	r = mutex_lock_killable(&v->cycle_lock);
	if (r)
		return r;
	r = check_cycle(v, cycle, frozen_cycle);
	if (!r) {
		spin_lock_irq(&v->lock);
		v->is_frozen = false;
		/* Records mapped before the freeze went out with the cycle. */
		cbt_ring_release(&v->ring, v->freeze_seq);
		if (v->wil)
			cbt_wil_committed(v->wil);
		spin_unlock_irq(&v->lock);
		/* Only cycle_lock holders touch the frozen set. */
		cbt_bitmap_reset(v->frozen);
	}
	mutex_unlock(&v->cycle_lock);
	return r;
}

int cbt_volume_abort(struct cbt_volume *v, u64 cycle, u64 *frozen_cycle)
{
	int r;

	r = mutex_lock_killable(&v->cycle_lock);
	if (r)
		return r;
	r = check_cycle(v, cycle, frozen_cycle);
	if (!r) {
		spin_lock_irq(&v->lock);
		cbt_bitmap_move_into(v->live, v->frozen);
		v->is_frozen = false;
		spin_unlock_irq(&v->lock);
	}
	mutex_unlock(&v->cycle_lock);
	return r;
}

int cbt_volume_mark_dirty(struct cbt_volume *v, const struct cbt_extent *ext,
			  unsigned int nr)
{
	unsigned int i;

	u64 nr_blocks = READ_ONCE(v->nr_blocks);	/* only grows */

	for (i = 0; i < nr; i++)
		if (!ext[i].count || ext[i].start >= nr_blocks ||
		    ext[i].count > nr_blocks - ext[i].start)
			return -ERANGE;

	for (i = 0; i < nr; i++) {
		u64 pos = ext[i].start, end = ext[i].start + ext[i].count;

		while (pos < end) {
			u64 n = min(end - pos, CBT_MARK_BATCH);

			spin_lock_irq(&v->lock);
			queue_changed_event(v);
			cbt_bitmap_set_range(v->live, pos, pos + n - 1);
			spin_unlock_irq(&v->lock);
			pos += n;
			cond_resched();
		}
	}
	return 0;
}

bool cbt_volume_clear_resync(struct cbt_volume *v)
{
	char name[DM_NAME_LEN];
	bool was;

	spin_lock_irq(&v->lock);
	was = v->resync_required;
	v->resync_required = false;
	strscpy(name, v->name, sizeof(name));
	spin_unlock_irq(&v->lock);
	if (was)
		DMINFO("%s: resync required cleared by userspace", name);
	return was;
}

int cbt_volume_get_changes(struct cbt_volume *v, u64 cycle, u64 *pos,
			   struct cbt_extent *ext, unsigned int max)
{
	unsigned int n = 0;
	u64 frozen_cycle;
	int r;

	r = mutex_lock_killable(&v->cycle_lock);
	if (r)
		return r;
	r = check_cycle(v, cycle, &frozen_cycle);
	if (r)
		goto out;
	while (n < max &&
	       cbt_bitmap_next_extent(v->frozen, pos, &ext[n].start,
				      &ext[n].count))
		n++;
	r = n;
out:
	mutex_unlock(&v->cycle_lock);
	return r;
}

/* ---- Write-intent log ---- */

void cbt_volume_get_id(struct cbt_volume *v, u8 *id)
{
	spin_lock_irq(&v->lock);
	memcpy(id, v->id, CBT_VOLUME_ID_LEN);
	spin_unlock_irq(&v->lock);
}

int cbt_volume_adopt_log(struct cbt_volume *v, const u8 *id)
{
	int r = 0;

	mutex_lock(&cbt_registry_lock);
	spin_lock_irq(&v->lock);
	if (!v->announced) {
		memcpy(v->id, id, CBT_VOLUME_ID_LEN);
		v->resync_required = false;
	} else if (memcmp(v->id, id, CBT_VOLUME_ID_LEN)) {
		r = -EINVAL;
	}
	spin_unlock_irq(&v->lock);
	mutex_unlock(&cbt_registry_lock);
	return r;
}

bool cbt_volume_sole_table(struct cbt_volume *v)
{
	bool sole;

	mutex_lock(&cbt_registry_lock);
	sole = v->nr_tables == 1;
	mutex_unlock(&cbt_registry_lock);
	return sole;
}

void cbt_volume_log_failed(struct cbt_volume *v, int err)
{
	char name[DM_NAME_LEN];
	bool was;

	spin_lock_irq(&v->lock);
	was = v->resync_required;
	v->resync_required = true;
	strscpy(name, v->name, sizeof(name));
	spin_unlock_irq(&v->lock);
	if (was)
		return;
	DMWARN("%s: write-intent log lost (%d): a crash now would lose changes: resync required",
	       name, err);
	cbt_genl_notify(v, CBT_CMD_RESYNC_REQUIRED);
}

/* Called with v->lock held. */
static bool set_clean(struct cbt_bitmap *bm, u64 first, u64 last)
{
	u64 pos = first, start, len;

	return !cbt_bitmap_next_extent(bm, &pos, &start, &len) || start > last;
}

bool cbt_volume_blocks_clean(struct cbt_volume *v, u64 first, u64 last)
{
	unsigned long flags;
	bool clean;

	spin_lock_irqsave(&v->lock, flags);
	clean = set_clean(v->live, first, last) &&
		(!v->is_frozen || set_clean(v->frozen, first, last));
	spin_unlock_irqrestore(&v->lock, flags);
	return clean;
}

void cbt_volume_walk_changes(struct cbt_volume *v, cbt_change_fn_t fn, void *data)
{
	u64 pos, start, len;
	bool found;
	int i;

	mutex_lock(&v->cycle_lock);
	for (i = 0; i < 2; i++) {
		struct cbt_bitmap *bm = i ? v->frozen : v->live;

		if (i && !v->is_frozen)
			break;
		pos = 0;
		do {
			spin_lock_irq(&v->lock);
			found = cbt_bitmap_next_extent(bm, &pos, &start, &len);
			spin_unlock_irq(&v->lock);
			if (found)
				fn(data, start, len);
			cond_resched();
		} while (found);
	}
	mutex_unlock(&v->cycle_lock);
}

void cbt_volume_set_wil(struct cbt_volume *v, struct cbt_wil *wil)
{
	spin_lock_irq(&v->lock);
	v->wil = wil;
	spin_unlock_irq(&v->lock);
}
