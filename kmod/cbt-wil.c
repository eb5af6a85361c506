// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-cbt write-intent log; see cbt-wil.h and dm-cbt.rst.
 *
 * Locking: wil->lock (irq-safe spinlock) protects the durable bitmap, the
 * queue of waiting bios and the in-memory copy of the log.  It is taken
 * outside the volume lock, so that "region durable?" plus marking the
 * write in the volume (map path) and "region without changes?" plus
 * clearing it (worker) are each one step.  Only the worker, an ordered
 * workqueue, writes the log, so log writes reach the device in order.
 */

#include <linux/crc32c.h>
#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/ioprio.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "cbt-volume.h"
#include "cbt-wil.h"

#define DM_MSG_PREFIX "cbt"

#define CBT_WIL_MAGIC		0x57544243U	/* "CBTW" little-endian */
#define CBT_WIL_VERSION		1U
#define CBT_WIL_SB_BYTES	4096U
#define CBT_WIL_FLAG_CLEAN	BIT(0)

/* The superblock, at byte 0 of the metadata device; little-endian. */
struct cbt_wil_sb {
	__le32 magic;
	__le32 version;
	__le32 flags;
	__le32 crc;		/* crc32c of the 512-byte sector, this field 0 */
	u8 id[CBT_VOLUME_ID_LEN];
	__le64 seq;		/* incremented by every write of the log */
	__le32 block_size;
	__le32 reserved;
	__le64 region_size;	/* bytes */
	__le64 nr_blocks;
	__le64 nr_regions;
} __packed;

struct cbt_wil {
	struct block_device *bdev;
	struct dm_io_client *io_client;
	struct workqueue_struct *wq;
	struct work_struct work;
	cbt_wil_start_fn start;
	void *ctx;

	u32 block_size;
	unsigned int region_shift;	/* log2(sectors per region) */
	u64 region_size;
	u64 blocks_per_region;
	u64 nr_blocks;
	u64 nr_regions;
	size_t io_bytes;		/* superblock + bitmap, 4 KiB multiple */
	void *buf;			/* the log as written: sb, then bits */

	bool loaded;			/* the log was read into the volume */
	u64 seq;

	spinlock_t lock;		/* see the top of this file */
	unsigned long *durable;		/* regions marked on disk */
	struct bio_list queued;		/* writes waiting for their regions */
	struct cbt_volume *vol;		/* set while resumed */
	bool failed;			/* the metadata device failed */
	unsigned long clear_pending;	/* bit 0: a COMMIT asked for a pass */
};

static unsigned long *disk_bits(struct cbt_wil *wil)
{
	return wil->buf + CBT_WIL_SB_BYTES;
}

static u32 sb_crc(struct cbt_wil_sb *sb)
{
	__le32 saved = sb->crc;
	u32 crc;

	sb->crc = 0;
	crc = crc32c(~0U, sb, SECTOR_SIZE);
	sb->crc = saved;
	return crc;
}

static int log_io(struct cbt_wil *wil, blk_opf_t opf, size_t bytes)
{
	struct dm_io_region where = {
		.bdev = wil->bdev,
		.sector = 0,
		.count = bytes >> SECTOR_SHIFT,
	};
	struct dm_io_request req = {
		.bi_opf = opf,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = wil->buf,
		.client = wil->io_client,
	};
	unsigned long error_bits = 0;
	int r;

	r = dm_io(&req, 1, &where, &error_bits, IOPRIO_DEFAULT);
	if (!r && error_bits)
		r = -EIO;
	return r;
}

/* Write the whole log (superblock @clean) and wait; worker or suspended. */
static int log_write(struct cbt_wil *wil, const u8 *id, bool clean)
{
	struct cbt_wil_sb *sb = wil->buf;

	memset(sb, 0, CBT_WIL_SB_BYTES);
	sb->magic = cpu_to_le32(CBT_WIL_MAGIC);
	sb->version = cpu_to_le32(CBT_WIL_VERSION);
	sb->flags = cpu_to_le32(clean ? CBT_WIL_FLAG_CLEAN : 0);
	memcpy(sb->id, id, CBT_VOLUME_ID_LEN);
	sb->seq = cpu_to_le64(++wil->seq);
	sb->block_size = cpu_to_le32(wil->block_size);
	sb->region_size = cpu_to_le64(wil->region_size);
	sb->nr_blocks = cpu_to_le64(wil->nr_blocks);
	sb->nr_regions = cpu_to_le64(wil->nr_regions);
	sb->crc = cpu_to_le32(sb_crc(sb));
	return log_io(wil, REQ_OP_WRITE | REQ_PREFLUSH | REQ_FUA | REQ_SYNC,
		      wil->io_bytes);
}

/* Write the log of volume @v; may sleep. */
static int log_write_vol(struct cbt_wil *wil, struct cbt_volume *v, bool clean)
{
	u8 id[CBT_VOLUME_ID_LEN];

	cbt_volume_get_id(v, id);
	return log_write(wil, id, clean);
}

/* The log cannot be written: never fail user I/O, ask for a resync. */
static void log_failed(struct cbt_wil *wil, int r)
{
	struct cbt_volume *v;
	unsigned long flags;
	bool first;

	spin_lock_irqsave(&wil->lock, flags);
	first = !wil->failed;
	wil->failed = true;
	v = wil->vol;
	spin_unlock_irqrestore(&wil->lock, flags);
	if (first && v)
		cbt_volume_log_failed(v, r);
}

static void regions_of(struct cbt_wil *wil, struct bio *bio, u64 *first,
		       u64 *last)
{
	sector_t s = bio->bi_iter.bi_sector;

	*first = s >> wil->region_shift;
	*last = (s + bio_sectors(bio) - 1) >> wil->region_shift;
}

/* Called with wil->lock held. */
static bool regions_durable(struct cbt_wil *wil, u64 first, u64 last)
{
	return find_next_zero_bit(wil->durable, last + 1, first) > last;
}

bool cbt_wil_map(struct cbt_wil *wil, struct bio *bio)
{
	unsigned long flags;
	u64 first, last;
	bool go;

	regions_of(wil, bio, &first, &last);
	spin_lock_irqsave(&wil->lock, flags);
	go = wil->failed || regions_durable(wil, first, last);
	if (go) {
		wil->start(wil->ctx, bio);
	} else {
		bio_list_add(&wil->queued, bio);
		queue_work(wil->wq, &wil->work);
	}
	spin_unlock_irqrestore(&wil->lock, flags);
	return go;
}

void cbt_wil_committed(struct cbt_wil *wil)
{
	set_bit(0, &wil->clear_pending);
	queue_work(wil->wq, &wil->work);
}

/* Clear, in memory, the durable regions without dirty or frozen blocks. */
static bool clear_idle_regions(struct cbt_wil *wil, struct cbt_volume *v)
{
	bool changed = false;
	unsigned long flags;
	u64 r, first, last;

	for (r = find_first_bit(wil->durable, wil->nr_regions);
	     r < wil->nr_regions;
	     r = find_next_bit(wil->durable, wil->nr_regions, r + 1)) {
		first = r * wil->blocks_per_region;
		last = min(first + wil->blocks_per_region, wil->nr_blocks) - 1;
		spin_lock_irqsave(&wil->lock, flags);
		if (!wil->failed && test_bit(r, wil->durable) &&
		    cbt_volume_blocks_clean(v, first, last)) {
			clear_bit(r, wil->durable);
			__clear_bit_le(r, disk_bits(wil));
			changed = true;
		}
		spin_unlock_irqrestore(&wil->lock, flags);
	}
	return changed;
}

/*
 * Clear first, then take the queue: a write into a region cleared here
 * is either in the queue taken below (its bit is set again before the
 * log is written) or queued for the next run.
 */
static void wil_work(struct work_struct *work)
{
	struct cbt_wil *wil = container_of(work, struct cbt_wil, work);
	bool need_write = false, clear;
	struct cbt_volume *v;
	struct bio_list list;
	struct bio *bio;
	u64 first, last, r;
	int err;

	clear = test_and_clear_bit(0, &wil->clear_pending);
	spin_lock_irq(&wil->lock);
	v = wil->vol;
	spin_unlock_irq(&wil->lock);

	if (clear && v && clear_idle_regions(wil, v))
		need_write = true;

	spin_lock_irq(&wil->lock);
	list = wil->queued;
	bio_list_init(&wil->queued);
	/* Bits set here are only trusted once the write below is done. */
	bio_list_for_each(bio, &list) {
		regions_of(wil, bio, &first, &last);
		for (r = first; r <= last; r++) {
			if (!test_bit_le(r, disk_bits(wil))) {
				__set_bit_le(r, disk_bits(wil));
				need_write = true;
			}
		}
	}
	if (wil->failed)
		need_write = false;
	spin_unlock_irq(&wil->lock);

	if (need_write && v) {
		err = log_write_vol(wil, v, false);
		if (err) {
			DMERR("metadata device %pg: log write failed (%d): going on without it",
			      wil->bdev, err);
			log_failed(wil, err);
		}
	}

	spin_lock_irq(&wil->lock);
	bio_list_for_each(bio, &list) {
		regions_of(wil, bio, &first, &last);
		for (r = first; r <= last; r++)
			set_bit(r, wil->durable);
		wil->start(wil->ctx, bio);
	}
	spin_unlock_irq(&wil->lock);

	while ((bio = bio_list_pop(&list)))
		submit_bio_noacct(bio);
}

static int check_sb(struct cbt_wil *wil, const struct cbt_wil_sb *sb,
		    char **error)
{
	if (le32_to_cpu(sb->version) != CBT_WIL_VERSION) {
		*error = "Metadata device: unknown log version (zero its first 4 KiB to reuse it)";
		return -EINVAL;
	}
	if (le32_to_cpu(sb->crc) != sb_crc((struct cbt_wil_sb *)sb)) {
		*error = "Metadata device: log checksum mismatch (zero 4 KiB to reuse it)";
		return -EINVAL;
	}
	if (le32_to_cpu(sb->block_size) != wil->block_size ||
	    le64_to_cpu(sb->region_size) != wil->region_size) {
		*error = "Metadata device: log of another block/region size (zero 4 KiB)";
		return -EINVAL;
	}
	if (le64_to_cpu(sb->nr_blocks) > wil->nr_blocks ||
	    le64_to_cpu(sb->nr_regions) > wil->nr_regions) {
		*error = "Metadata device: log of a larger volume (zero 4 KiB to reuse it)";
		return -EINVAL;
	}
	return 0;
}

/*
 * Read the log into wil->buf.  Returns 1 for a log, 0 for a device
 * without one (no magic), else -errno with *@error set.
 */
static int log_read(struct cbt_wil *wil, char **error)
{
	struct cbt_wil_sb *sb = wil->buf;
	u64 old_regions, r;
	int ret;

	ret = log_io(wil, REQ_OP_READ, wil->io_bytes);
	if (ret) {
		*error = "Metadata device: cannot read the write-intent log";
		return ret;
	}
	if (le32_to_cpu(sb->magic) != CBT_WIL_MAGIC)
		return 0;
	ret = check_sb(wil, sb, error);
	if (ret)
		return ret;
	wil->seq = le64_to_cpu(sb->seq);
	/* A log from before a grow: bits past its regions are not its own. */
	old_regions = le64_to_cpu(sb->nr_regions);
	for (r = old_regions; r < wil->nr_regions; r++)
		__clear_bit_le(r, disk_bits(wil));
	return 1;
}

int cbt_wil_create(struct block_device *bdev, u32 block_size, sector_t len,
		   u64 region_size, cbt_wil_start_fn start, void *ctx,
		   struct cbt_wil **out, char **error)
{
	struct cbt_wil *wil;
	int r;

	wil = kzalloc(sizeof(*wil), GFP_KERNEL);
	if (!wil) {
		*error = "Cannot allocate the write-intent log";
		return -ENOMEM;
	}
	wil->bdev = bdev;
	wil->start = start;
	wil->ctx = ctx;
	wil->block_size = block_size;
	wil->region_size = region_size;
	wil->region_shift = ilog2(region_size >> SECTOR_SHIFT);
	wil->blocks_per_region = region_size / block_size;
	wil->nr_blocks = DIV_ROUND_UP_ULL(len, block_size >> SECTOR_SHIFT);
	wil->nr_regions = DIV_ROUND_UP_ULL(len, 1ULL << wil->region_shift);
	spin_lock_init(&wil->lock);
	bio_list_init(&wil->queued);
	INIT_WORK(&wil->work, wil_work);

	if (wil->nr_regions > CBT_WIL_MAX_REGIONS) {
		*error = "Invalid region_size: more than 1048576 regions for this length";
		r = -EINVAL;
		goto bad;
	}
	wil->io_bytes = CBT_WIL_SB_BYTES +
		round_up(BITS_TO_LONGS(wil->nr_regions) * sizeof(long), PAGE_SIZE);
	if (bdev_nr_bytes(bdev) < wil->io_bytes) {
		*error = "Metadata device too small for the write-intent log";
		r = -EINVAL;
		goto bad;
	}
	r = -ENOMEM;
	*error = "Cannot allocate the write-intent log";
	wil->buf = vzalloc(wil->io_bytes);
	if (!wil->buf)
		goto bad;
	wil->durable = bitmap_zalloc(wil->nr_regions, GFP_KERNEL);
	if (!wil->durable)
		goto bad;
	wil->io_client = dm_io_client_create();
	if (IS_ERR(wil->io_client)) {
		r = PTR_ERR(wil->io_client);
		wil->io_client = NULL;
		goto bad;
	}
	wil->wq = alloc_ordered_workqueue("dm-cbt-wil", WQ_MEM_RECLAIM);
	if (!wil->wq)
		goto bad;
	/* Refuse a foreign log now, with a reason; loaded at resume. */
	r = log_read(wil, error);
	if (r < 0)
		goto bad;
	*error = NULL;
	*out = wil;
	return 0;

bad:
	cbt_wil_destroy(wil);
	return r;
}

void cbt_wil_destroy(struct cbt_wil *wil)
{
	if (wil->wq)
		destroy_workqueue(wil->wq);
	if (wil->io_client)
		dm_io_client_destroy(wil->io_client);
	bitmap_free(wil->durable);
	vfree(wil->buf);
	kfree(wil);
}

/* First resume of this table: apply the log on the device to @v. */
static int log_load(struct cbt_wil *wil, struct cbt_volume *v,
		    const char *name)
{
	struct cbt_wil_sb *sb = wil->buf;
	u64 r, count = 0;
	char *error;
	int ret;
	bool clean;

	/* Read again: the table replaced may have written it since ctr. */
	ret = log_read(wil, &error);
	if (ret == -EINVAL) {
		DMERR("%s: %s: not resuming", name, error);
		return ret;
	}
	if (ret < 0) {
		/* Unreadable: go on without the log, as when a write fails. */
		DMERR("%s: metadata device %pg: cannot read the log (%d)", name,
		      wil->bdev, ret);
		wil->failed = true;
		cbt_volume_log_failed(v, ret);
		return 0;
	}
	if (!ret) {
		memset(wil->buf, 0, wil->io_bytes);
		DMINFO("%s: metadata device %pg: new write-intent log, region size %llu",
		       name, wil->bdev, wil->region_size);
		return 0;
	}
	clean = le32_to_cpu(sb->flags) & CBT_WIL_FLAG_CLEAN;
	ret = cbt_volume_adopt_log(v, sb->id);
	if (ret) {
		DMERR("%s: metadata device %pg holds the log of another volume: not resuming",
		      name, wil->bdev);
		return ret;
	}
	if (clean) {
		/* Its changes were handed over at the clean shutdown. */
		memset(disk_bits(wil), 0, wil->io_bytes - CBT_WIL_SB_BYTES);
		DMINFO("%s: metadata device %pg: clean write-intent log", name,
		       wil->bdev);
		return 0;
	}
	for (r = 0; r < wil->nr_regions; r++) {
		struct cbt_extent ext;

		if (!test_bit_le(r, disk_bits(wil)))
			continue;
		ext.start = r * wil->blocks_per_region;
		ext.count = min(ext.start + wil->blocks_per_region,
				wil->nr_blocks) - ext.start;
		ret = cbt_volume_mark_dirty(v, &ext, 1);
		if (ret) {
			DMERR("%s: cannot mark region %llu of the log dirty (%d)",
			      name, r, ret);
			return ret;
		}
		count++;
	}
	DMWARN("%s: unclean shutdown: %llu log regions of %llu bytes reported as changed",
	       name, count, wil->region_size);
	return 0;
}

struct mark_ctx {
	struct cbt_wil *wil;
	bool any;
};

static void mark_extent(void *data, u64 start, u64 count)
{
	struct mark_ctx *m = data;
	struct cbt_wil *wil = m->wil;
	u64 r, first = start / wil->blocks_per_region;
	u64 last = (start + count - 1) / wil->blocks_per_region;

	for (r = first; r <= last && r < wil->nr_regions; r++) {
		__set_bit_le(r, disk_bits(wil));
		m->any = true;
	}
}

/* Nothing runs: set the bits of the regions of @v's unshipped changes. */
static bool mark_changes(struct cbt_wil *wil, struct cbt_volume *v)
{
	struct mark_ctx m = { .wil = wil };

	memset(disk_bits(wil), 0, wil->io_bytes - CBT_WIL_SB_BYTES);
	cbt_volume_walk_changes(v, mark_extent, &m);
	return m.any;
}

void cbt_wil_keep_changes(struct cbt_wil *wil, struct cbt_volume *v)
{
	int r;

	if (!wil->loaded || wil->failed || !mark_changes(wil, v))
		return;
	r = log_write_vol(wil, v, false);
	if (r)
		DMERR("metadata device %pg: cannot mark the unshipped changes in the log (%d)",
		      wil->bdev, r);
}

int cbt_wil_resume(struct cbt_wil *wil, struct cbt_volume *v,
		   const char *name)
{
	bool any;
	u64 i;
	int r;

	if (!wil->loaded) {
		r = log_load(wil, v, name);
		if (r)
			return r;
		wil->loaded = true;
	}
	if (wil->failed) {
		spin_lock_irq(&wil->lock);
		wil->vol = v;
		spin_unlock_irq(&wil->lock);
		return 0;
	}
	any = mark_changes(wil, v);
	/* A clean log covers no write: without marks, nothing is durable. */
	r = log_write_vol(wil, v, !any);
	spin_lock_irq(&wil->lock);
	bitmap_zero(wil->durable, wil->nr_regions);
	if (r) {
		wil->failed = true;
	} else {
		for (i = 0; i < wil->nr_regions; i++)
			if (test_bit_le(i, disk_bits(wil)))
				__set_bit(i, wil->durable);
	}
	wil->vol = v;
	spin_unlock_irq(&wil->lock);
	if (r) {
		DMERR("%s: metadata device %pg: log write failed (%d): going on without the log",
		      name, wil->bdev, r);
		cbt_volume_log_failed(v, r);
	}
	cbt_volume_set_wil(v, wil);
	return 0;
}

void cbt_wil_suspend(struct cbt_wil *wil)
{
	struct cbt_volume *v = wil->vol;
	int r;

	if (!v)
		return;
	cbt_volume_set_wil(v, NULL);
	flush_workqueue(wil->wq);
	spin_lock_irq(&wil->lock);
	bitmap_zero(wil->durable, wil->nr_regions);
	wil->vol = NULL;
	spin_unlock_irq(&wil->lock);
	if (wil->failed)
		return;
	r = log_write_vol(wil, v, true);
	if (r)
		DMERR("metadata device %pg: cannot write the log clean (%d): its regions come back",
		      wil->bdev, r);
}
