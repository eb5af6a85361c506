/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-cbt volume: the tracking state of one dm device.
 *
 * A volume belongs to the mapped device, not to a table: a table loaded
 * for the same device, backing device, block size and length shares the
 * volume of the table it replaces, so reload/suspend/resume lose nothing.
 * Volumes are found by the dev_t of their dm device in a global registry.
 */
#ifndef DM_CBT_VOLUME_H
#define DM_CBT_VOLUME_H

#include <linux/types.h>
#include <linux/device-mapper.h>
#include <linux/dm-ioctl.h>

#include <linux/dm-cbt.h>

#define CBT_VOLUME_ID_LEN	16

struct cbt_volume;

/* A consistent copy of what userspace and `dmsetup status` report. */
struct cbt_volume_info {
	dev_t devt;
	char name[DM_NAME_LEN];
	u32 block_size;
	u64 nr_blocks;
	u64 dirty_blocks;
	u64 frozen_blocks;
	u64 cycle;
	bool frozen;
	enum cbt_volume_state state;
	u8 id[CBT_VOLUME_ID_LEN];
	size_t mem_bytes;
};

/* Parameters that decide whether a new table may share a volume. */
struct cbt_volume_params {
	dev_t devt;		/* the dm device */
	const char *name;	/* its name */
	dev_t backing_devt;	/* the device written through */
	u32 block_size;		/* bytes, power of two */
	sector_t len;		/* target length in sectors */
};

/* Find a matching volume (new reference) or create one.  May sleep. */
int cbt_volume_attach(const struct cbt_volume_params *p,
		      struct cbt_volume **out, bool *shared);
/* Drop a table's reference taken by cbt_volume_attach(). */
void cbt_volume_detach(struct cbt_volume *v);
/* The table using @v was resumed: make @v the one found for its device. */
void cbt_volume_activate(struct cbt_volume *v, const char *name);

/* Reference to the active volume of dm device @devt, or NULL. */
struct cbt_volume *cbt_volume_lookup(dev_t devt);
/* Reference to the @idx-th active volume (for dumps), or NULL. */
struct cbt_volume *cbt_volume_get_nth(unsigned long idx);
void cbt_volume_put(struct cbt_volume *v);

dev_t cbt_volume_devt(const struct cbt_volume *v);

/* I/O path; never sleep.  start returns the generation for end. */
unsigned int cbt_volume_start_write(struct cbt_volume *v, sector_t sector,
				    unsigned int nr_sectors);
void cbt_volume_end_write(struct cbt_volume *v, unsigned int gen);

void cbt_volume_get_info(struct cbt_volume *v, struct cbt_volume_info *info);

/* Control; may sleep.  See uapi/linux/dm-cbt.h for the protocol. */
int cbt_volume_freeze(struct cbt_volume *v, u64 *cycle);
int cbt_volume_commit(struct cbt_volume *v, u64 cycle, u64 *frozen_cycle);
int cbt_volume_abort(struct cbt_volume *v, u64 cycle, u64 *frozen_cycle);
int cbt_volume_mark_dirty(struct cbt_volume *v, const struct cbt_extent *ext,
			  unsigned int nr);
/*
 * Copy up to @max extents of the frozen set of cycle @cycle, from block
 * *@pos on, into @ext; advances *@pos.  Returns the number copied (0 at
 * the end), -ENOENT if nothing is frozen, -ESTALE if @cycle is not frozen.
 */
int cbt_volume_get_changes(struct cbt_volume *v, u64 cycle, u64 *pos,
			   struct cbt_extent *ext, unsigned int max);

#endif /* DM_CBT_VOLUME_H */
