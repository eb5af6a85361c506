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
	bool resync_required;
	enum cbt_volume_state state;
	u8 id[CBT_VOLUME_ID_LEN];
	size_t mem_bytes;
	u32 ring_size;
	u32 ring_fill;
	u64 ring_first;
	u64 ring_next;
	u64 ring_lost;
	bool ring_overflow;
	u32 epoch;
};

/* Parameters that decide whether a new table may share a volume. */
struct cbt_volume_params {
	dev_t devt;		/* the dm device */
	const char *name;	/* its name */
	dev_t backing_devt;	/* the device written through */
	u32 block_size;		/* bytes, power of two */
	sector_t len;		/* target length in sectors */
	u32 ring_size;		/* records, 0: no ring */
	long memory_cap;	/* MiB of bitmap pages, < 0: none */
};

/* What a new table changes in a shared volume, applied on its resume. */
struct cbt_volume_update;

/*
 * Find a matching volume (new reference) or create one.  May sleep.
 * A volume matches when the dm device, backing device and block size
 * are the same and the length is the same or larger (a grow).  For a
 * shared volume, *@upd holds what the new table changes (length, ring
 * size, memory cap), preallocated here and applied by
 * cbt_volume_activate(); else it is NULL.
 */
int cbt_volume_attach(const struct cbt_volume_params *p,
		      struct cbt_volume **out,
		      struct cbt_volume_update **upd);
/* Drop a table's reference taken by cbt_volume_attach(); frees *@upd. */
void cbt_volume_detach(struct cbt_volume *v, struct cbt_volume_update **upd);
/*
 * The table using @v was resumed: apply and free *@upd if set, and make
 * @v the one found for its device.  The first activation of a volume
 * sends VOLUME_ADDED (and RESYNC_REQUIRED); detaching its last table
 * after that sends VOLUME_REMOVED.  May sleep.
 */
void cbt_volume_activate(struct cbt_volume *v, struct cbt_volume_update **upd,
			 const char *name);

/* Reference to the active volume of dm device @devt, or NULL. */
struct cbt_volume *cbt_volume_lookup(dev_t devt);
/* Reference to the @idx-th active volume (for dumps), or NULL. */
struct cbt_volume *cbt_volume_get_nth(unsigned long idx);
void cbt_volume_put(struct cbt_volume *v);

dev_t cbt_volume_devt(const struct cbt_volume *v);

/*
 * I/O path; never sleep.  start marks the blocks, appends a ring record
 * of @op (enum cbt_rec_op) and returns the generation for end.
 */
unsigned int cbt_volume_start_write(struct cbt_volume *v, sector_t sector,
				    unsigned int nr_sectors, u8 op);
void cbt_volume_end_write(struct cbt_volume *v, unsigned int gen);
/* An empty flush was mapped / completed successfully (next epoch). */
void cbt_volume_flush(struct cbt_volume *v);
void cbt_volume_flush_done(struct cbt_volume *v);
/* Append a tag record carrying @tag; -ENOSPC if the volume has no ring. */
int cbt_volume_tag(struct cbt_volume *v, u64 tag);
/*
 * Copy up to @max ring records from sequence *@seq on into @dst;
 * advances *@seq.  Returns the number copied.
 */
u32 cbt_volume_get_ring(struct cbt_volume *v, u64 *seq,
			struct cbt_ring_record *dst, u32 max);

void cbt_volume_get_info(struct cbt_volume *v, struct cbt_volume_info *info);

/*
 * The dm device of a table using @v was suspended (postsuspend): no I/O
 * is in flight.  Checks that, wakes a FREEZE waiting for the old
 * generation and flushes pending ring events.  May sleep.
 */
void cbt_volume_suspended(struct cbt_volume *v);

/* Control; may sleep.  See uapi/linux/dm-cbt.h for the protocol. */
int cbt_volume_freeze(struct cbt_volume *v, u64 *cycle);
int cbt_volume_commit(struct cbt_volume *v, u64 cycle, u64 *frozen_cycle);
int cbt_volume_abort(struct cbt_volume *v, u64 cycle, u64 *frozen_cycle);
int cbt_volume_mark_dirty(struct cbt_volume *v, const struct cbt_extent *ext,
			  unsigned int nr);
/*
 * Userspace has brought the replica in line (CBT_CMD_CLEAR_RESYNC): clear
 * resync_required.  Returns whether it was set.
 */
bool cbt_volume_clear_resync(struct cbt_volume *v);
/*
 * Copy up to @max extents of the frozen set of cycle @cycle, from block
 * *@pos on, into @ext; advances *@pos.  Returns the number copied (0 at
 * the end), -ENOENT if nothing is frozen, -ESTALE if @cycle is not frozen.
 */
int cbt_volume_get_changes(struct cbt_volume *v, u64 cycle, u64 *pos,
			   struct cbt_extent *ext, unsigned int max);

/* ---- Write-intent log (cbt-wil.c) ---- */
struct cbt_wil;

void cbt_volume_get_id(struct cbt_volume *v, u8 *id);
/*
 * A log written for volume @id was found.  A volume not yet announced
 * takes @id and is not resync_required (the log vouches for what
 * changed); an announced one must already be @id, else -EINVAL.
 */
int cbt_volume_adopt_log(struct cbt_volume *v, const u8 *id);
/* Whether @v has exactly one table (the caller's). */
bool cbt_volume_sole_table(struct cbt_volume *v);
/* The log failed with @err: resync_required, event, log line. */
void cbt_volume_log_failed(struct cbt_volume *v, int err);
/* No block of [@first, @last] dirty or frozen; takes v->lock, no sleep. */
bool cbt_volume_blocks_clean(struct cbt_volume *v, u64 first, u64 last);
typedef void (*cbt_change_fn_t)(void *data, u64 start, u64 count);
/* Call @fn for every extent of the live and frozen sets.  May sleep. */
void cbt_volume_walk_changes(struct cbt_volume *v, cbt_change_fn_t fn, void *data);
/*
 * The log told after each COMMIT (NULL: none).  Once set to NULL, no
 * COMMIT tells the old one any more.
 */
void cbt_volume_set_wil(struct cbt_volume *v, struct cbt_wil *wil);

#endif /* DM_CBT_VOLUME_H */
