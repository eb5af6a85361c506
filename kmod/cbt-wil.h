/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-cbt write-intent log on an optional metadata device.
 *
 * The data device is cut into regions (region_size bytes).  Before the
 * first write into a region that is not marked in the log is issued, the
 * region's bit is set and the log written with PREFLUSH|FUA; writes into
 * a marked region pass straight through.  After a COMMIT, regions with
 * no dirty or frozen block are cleared lazily.  After an unclean
 * shutdown, the marked regions are the changes the volume reports.
 * See dm-cbt.rst ("Write-intent log") for the on-disk format.
 */
#ifndef DM_CBT_WIL_H
#define DM_CBT_WIL_H

#include <linux/bio.h>
#include <linux/bits.h>
#include <linux/blkdev.h>
#include <linux/types.h>

struct cbt_volume;
struct cbt_wil;

#define CBT_WIL_DEFAULT_REGION_SIZE	(64ULL << 20)
#define CBT_WIL_MAX_REGIONS		BIT(20)

/*
 * Called under the log's lock for a write allowed through (never
 * sleeps): mark it in the volume and remember what end_io needs.
 */
typedef void (*cbt_wil_start_fn)(void *ctx, struct bio *bio);

/*
 * Open the log on @bdev for a target of @len sectors: read and check the
 * superblock.  May sleep.  On failure sets *@error.
 */
int cbt_wil_create(struct block_device *bdev, u32 block_size, sector_t len,
		   u64 region_size, cbt_wil_start_fn start, void *ctx,
		   struct cbt_wil **out, char **error);
void cbt_wil_destroy(struct cbt_wil *wil);

/*
 * Before I/O starts (preresume): load the log into @v (first time) and
 * make the regions holding @v's unshipped changes durable.  May sleep.
 */
int cbt_wil_resume(struct cbt_wil *wil, struct cbt_volume *v,
		   const char *name);
/* All I/O done (postsuspend): write the log clean.  May sleep. */
void cbt_wil_suspend(struct cbt_wil *wil);
/*
 * The last table of @v goes away (dtr, after postsuspend): if @v has
 * unshipped changes, mark their regions and write the log dirty, so the
 * next load reports them.  May sleep.
 */
void cbt_wil_keep_changes(struct cbt_wil *wil, struct cbt_volume *v);

/*
 * Map path, never sleeps: true if the write of @bio may go on now (the
 * start callback was called), false if it was queued and will be
 * started and submitted once its regions are durable.
 */
bool cbt_wil_map(struct cbt_wil *wil, struct bio *bio);

/*
 * A cycle was committed: clear regions with nothing left, later.  Takes
 * no lock (called under the volume lock), never sleeps.
 */
void cbt_wil_committed(struct cbt_wil *wil);

#endif /* DM_CBT_WIL_H */
