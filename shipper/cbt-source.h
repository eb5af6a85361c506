/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel boundary: a tracked volume as the shipper sees it.  The real
 * backend talks to dm-cbt over generic netlink; the file backend fakes the
 * kernel with a plain file and a change-list file so the source side can be
 * unit-tested and benchmarked without a VM.
 */
#ifndef CBTSHIP_CBT_SOURCE_H
#define CBTSHIP_CBT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/dm-cbt.h>

struct cbt_volume_info {
	char name[128];			/* dm name (or file base name) */
	char data_path[4096];		/* what to open to read the blocks */
	uint32_t block_size;
	uint64_t nr_blocks;
	uint64_t size_bytes;
	uint64_t dirty_blocks;
	uint64_t frozen_blocks;
	uint64_t cycle;			/* frozen cycle, else the last one */
	bool frozen;
	/*
	 * The tracking state is new (or was lost) and cannot vouch for changes
	 * made before it existed: the replica needs a resync, or a saved change
	 * set restored with mark_dirty, before clear_resync.
	 */
	bool resync_required;
	uint8_t tracking_id[16];	/* changes when tracking state was recreated */
};

/* A growable array of extents, sorted and non-overlapping. */
struct cbt_extent_list {
	struct cbt_extent *ext;
	size_t nr;
	size_t alloc;
};

void cbt_extent_list_free(struct cbt_extent_list *l);
/* Append [start, start+count), merging with the last extent when adjacent. */
int cbt_extent_list_add(struct cbt_extent_list *l, uint64_t start, uint64_t count);
/* Append without merging or order checks, for callers that sort afterwards. */
int cbt_extent_list_push(struct cbt_extent_list *l, uint64_t start, uint64_t count);
uint64_t cbt_extent_list_blocks(const struct cbt_extent_list *l);

struct cbt_source;

struct cbt_source_ops {
	const char *name;
	int (*info)(struct cbt_source *src, struct cbt_volume_info *info);
	int (*freeze)(struct cbt_source *src, uint64_t *cycle);
	int (*changes)(struct cbt_source *src, uint64_t cycle, struct cbt_extent_list *out);
	int (*commit)(struct cbt_source *src, uint64_t cycle);
	int (*abort)(struct cbt_source *src, uint64_t cycle);
	int (*mark_dirty)(struct cbt_source *src, const struct cbt_extent *ext, size_t n);
	/* The replica is in line again (resync done or change set restored). */
	int (*clear_resync)(struct cbt_source *src);
	void (*close)(struct cbt_source *src);
};

struct cbt_source {
	const struct cbt_source_ops *ops;
};

/*
 * Open the dm-cbt volume behind a device path (/dev/mapper/NAME or
 * /dev/dm-N).  -ENODEV with a clear message if it is not a dm-cbt volume;
 * -ENOENT if the dm-cbt module is not loaded.
 */
int cbt_source_open_dm(const char *device, struct cbt_source **out);

/*
 * Fake kernel for tests and benchmarks: data_path is the volume, state_path
 * a text file holding the tracking state ("block_size N", "cycle N",
 * "frozen 0|1", "id HEX32", optionally "resync 0|1" (absent: 0), then
 * "dirty START COUNT" and "frozen_ext START COUNT" lines) that tests edit
 * to say what changed.  A state file created here starts with "resync 1",
 * like a new dm-cbt volume.
 */
int cbt_source_open_file(const char *data_path, const char *state_path,
			 uint32_t block_size, struct cbt_source **out);

static inline void cbt_source_close(struct cbt_source *src)
{
	if (src)
		src->ops->close(src);
}

#endif
