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
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/wait.h>

#include "cbt-bitmap.h"
#include "cbt-volume.h"

#define DM_MSG_PREFIX "cbt"

/* Bits set per lock hold by MARK_DIRTY, to bound time with irqs off. */
#define CBT_MARK_BATCH	BIT_ULL(20)

struct cbt_volume {
	/* Protected by cbt_registry_lock. */
	struct list_head list;
	unsigned int nr_tables;		/* tables attached */
	bool active;			/* the volume lookups return */

	refcount_t ref;			/* tables and control operations */

	/* Fixed at creation. */
	dev_t devt;
	dev_t backing_devt;
	u32 block_size;
	unsigned int sector_shift;	/* log2(sectors per block) */
	sector_t len;
	u64 nr_blocks;
	u8 id[CBT_VOLUME_ID_LEN];

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

	atomic_t inflight[2];		/* writes mapped, not completed */
	wait_queue_head_t drain_wait;
};

static LIST_HEAD(cbt_registry);
static DEFINE_MUTEX(cbt_registry_lock);

/* ---- Registry and lifetime ---- */

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
	strscpy(v->name, p->name, sizeof(v->name));

	v->live = cbt_bitmap_create(v->nr_blocks);
	if (!v->live)
		goto bad_live;
	v->frozen = cbt_bitmap_create(v->nr_blocks);
	if (!v->frozen)
		goto bad_frozen;

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
	kfree(v);
	return NULL;
}

static void volume_free(struct cbt_volume *v)
{
	mutex_destroy(&v->cycle_lock);
	cbt_bitmap_destroy(v->frozen);
	cbt_bitmap_destroy(v->live);
	kfree(v);
}

int cbt_volume_attach(const struct cbt_volume_params *p,
		      struct cbt_volume **out, bool *shared)
{
	struct cbt_volume *v;

	mutex_lock(&cbt_registry_lock);
	list_for_each_entry(v, &cbt_registry, list) {
		if (v->devt == p->devt && v->backing_devt == p->backing_devt &&
		    v->block_size == p->block_size && v->len == p->len &&
		    v->nr_tables) {
			refcount_inc(&v->ref);
			v->nr_tables++;
			mutex_unlock(&cbt_registry_lock);
			*out = v;
			*shared = true;
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
	*shared = false;
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

void cbt_volume_detach(struct cbt_volume *v)
{
	mutex_lock(&cbt_registry_lock);
	if (!--v->nr_tables)
		v->active = false;
	mutex_unlock(&cbt_registry_lock);
	cbt_volume_put(v);
}

void cbt_volume_activate(struct cbt_volume *v, const char *name)
{
	struct cbt_volume *other;

	mutex_lock(&cbt_registry_lock);
	list_for_each_entry(other, &cbt_registry, list)
		if (other->devt == v->devt)
			other->active = false;
	v->active = true;
	mutex_unlock(&cbt_registry_lock);

	spin_lock_irq(&v->lock);
	strscpy(v->name, name, sizeof(v->name));
	spin_unlock_irq(&v->lock);
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
				    unsigned int nr_sectors)
{
	u64 first = sector >> v->sector_shift;
	u64 last = (sector + nr_sectors - 1) >> v->sector_shift;
	bool log_degraded = false;
	unsigned long flags;
	unsigned int gen;

	spin_lock_irqsave(&v->lock, flags);
	cbt_bitmap_set_range(v->live, first, last);
	gen = v->gen;
	atomic_inc(&v->inflight[gen]);
	if (unlikely(cbt_bitmap_degraded(v->live) && !v->degraded_logged)) {
		v->degraded_logged = true;
		log_degraded = true;
	}
	spin_unlock_irqrestore(&v->lock, flags);

	if (unlikely(log_degraded))
		DMWARN("%s: out of memory for the change bitmap; tracking some regions whole",
		       v->name);
	return gen;
}

void cbt_volume_end_write(struct cbt_volume *v, unsigned int gen)
{
	if (atomic_dec_and_test(&v->inflight[gen]) &&
	    wq_has_sleeper(&v->drain_wait))
		wake_up(&v->drain_wait);
}

/* ---- Reporting ---- */

void cbt_volume_get_info(struct cbt_volume *v, struct cbt_volume_info *info)
{
	info->devt = v->devt;
	info->block_size = v->block_size;
	info->nr_blocks = v->nr_blocks;
	memcpy(info->id, v->id, sizeof(info->id));

	spin_lock_irq(&v->lock);
	strscpy(info->name, v->name, sizeof(info->name));
	info->dirty_blocks = cbt_bitmap_count(v->live);
	info->frozen = v->is_frozen;
	info->frozen_blocks = v->is_frozen ? cbt_bitmap_count(v->frozen) : 0;
	info->cycle = v->cycle;
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

	for (i = 0; i < nr; i++)
		if (!ext[i].count || ext[i].start >= v->nr_blocks ||
		    ext[i].count > v->nr_blocks - ext[i].start)
			return -ERANGE;

	for (i = 0; i < nr; i++) {
		u64 pos = ext[i].start, end = ext[i].start + ext[i].count;

		while (pos < end) {
			u64 n = min(end - pos, CBT_MARK_BATCH);

			spin_lock_irq(&v->lock);
			cbt_bitmap_set_range(v->live, pos, pos + n - 1);
			spin_unlock_irq(&v->lock);
			pos += n;
			cond_resched();
		}
	}
	return 0;
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
