/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A volume's replication history in a store, in the format of FORMAT.md:
 * the volume header and its cycles.  Writing a cycle is done through a
 * cycle writer which seals blocks into segments and writes the manifest
 * last, so a cycle becomes visible whole or not at all.
 */
#ifndef CBTSHIP_VSTORE_H
#define CBTSHIP_VSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/dm-cbt.h>	/* struct cbt_extent */

#include "key.h"
#include "store.h"

#define VSTORE_ID_BYTES		16
#define VSTORE_NAME_MAX		127

enum cycle_kind {
	CYCLE_INITIAL = 1,	/* every block of the volume */
	CYCLE_DELTA = 2,
};

enum codec_id {
	CODEC_NONE = 0,
	CODEC_ZLIB = 1,
	CODEC_ZSTD = 2,
};

struct vstore_volume_info {
	uint8_t volume_id[VSTORE_ID_BYTES];
	uint32_t block_size;
	uint64_t size_bytes;
	uint64_t created;
	char name[VSTORE_NAME_MAX + 1];
};

/* What a complete cycle's manifest says, without its lists. */
struct vstore_cycle_info {
	uint64_t cycle;
	enum cycle_kind kind;
	uint64_t created;
	uint64_t tracking_cycle;
	uint8_t tracking_id[16];
	uint64_t blocks_sent;
	uint32_t nr_segments;
	uint64_t nr_extents;
};

struct vstore;

/* Open an existing volume: reads and authenticates its header.  -ENOENT if none. */
int vstore_open(struct store *st, const char *volume, const struct cbt_key *key,
		struct vstore **out);
/* Create a new volume header (random volume id).  -EEXIST if one exists. */
int vstore_create(struct store *st, const char *volume, const struct cbt_key *key,
		  uint32_t block_size, uint64_t size_bytes, struct vstore **out);
void vstore_close(struct vstore *vs);

const struct vstore_volume_info *vstore_info(const struct vstore *vs);

/* Newest complete cycle (authenticated manifest).  -ENOENT if there is none. */
int vstore_last_cycle(struct vstore *vs, struct vstore_cycle_info *info);

struct cycle_writer_opts {
	enum codec_id codec;
	int level;			/* codec level; 0 = codec default */
	size_t segment_bytes;		/* raw bytes per segment; 0 = default (8 MiB) */
	unsigned int workers;		/* sealing threads; 0 = one per online CPU */
	/*
	 * Initial cycles: stored segments are made durable every this many
	 * (0 = CYCLE_CHECKPOINT_SEGMENTS), so that an interrupted initial
	 * replication continues from them (cycle_writer_resume).
	 */
	unsigned int checkpoint_segments;
	/*
	 * Reprotect: cycle 1 may be a delta over a base disk whose hash list
	 * is published as cycle 0 (TARGET.md "Reprotect and failback").
	 */
	bool over_base;
};

#define CYCLE_CHECKPOINT_SEGMENTS	32

struct cycle_writer;

/*
 * Start writing cycle number `cycle` (must be newest + 1; residue of an
 * interrupted attempt at that number is discarded).
 */
int cycle_writer_begin(struct vstore *vs, uint64_t cycle, enum cycle_kind kind,
		       const struct cycle_writer_opts *opts, struct cycle_writer **out);
/*
 * Start writing initial cycle 1 keeping what an interrupted attempt stored:
 * its segments 0, 1, ... are read and authenticated in turn as long as they
 * hold blocks 0, 1, ... without a gap; the first missing or bad one and all
 * objects after it are removed.  *next_block is the first block still to
 * add (0: nothing kept, as cycle_writer_begin).
 */
int cycle_writer_resume(struct vstore *vs, const struct cycle_writer_opts *opts,
			struct cycle_writer **out, uint64_t *next_block);
/*
 * Add one block's raw bytes (len = block size, or less for the volume's last
 * block).  Blocks must be added in ascending block order, each once.
 */
int cycle_writer_add(struct cycle_writer *w, uint64_t block, const void *data, size_t len);
/*
 * Zero-copy adding (instead of cycle_writer_add, for a whole cycle): room
 * in the segment buffers for the run of *nr blocks from `first` (*bytes
 * bytes), in ascending order; *nr and *bytes may come back smaller.  NULL
 * with *err -EAGAIN if no buffer is free and !wait, or another error.
 * cycle_writer_commit_run() adds each run once its bytes are there, in the
 * order reserved (seg-pipeline.h).  hole: the run is known to read as
 * zeros; nothing is read into the room, its blocks become zero records.
 */
void *cycle_writer_reserve(struct cycle_writer *w, uint64_t first, uint64_t *nr, size_t *bytes,
			   bool hole, bool wait, int *err);
int cycle_writer_commit_run(struct cycle_writer *w, uint64_t first, uint64_t nr, size_t bytes,
			    bool hole);
/* The buffers reserve() points into (up to max; how many), for registering. */
unsigned int cycle_writer_buffers(const struct cycle_writer *w, struct iovec *iov,
				  unsigned int max);
/*
 * Finish: flush the last segment, then write the manifest naming the blocks
 * sent (must equal the blocks added) and the source's tracking cycle and id.
 * Frees w whatever the result.
 */
int cycle_writer_commit(struct cycle_writer *w, const struct cbt_extent *ext, size_t nr_ext,
			uint64_t tracking_cycle, const uint8_t tracking_id[16]);
/* What the cycle's data is (FMT_CONSISTENCY_*, default NONE), for its manifest. */
void cycle_writer_set_consistency(struct cycle_writer *w, uint32_t consistency);
/* The cycle belongs to group's freeze instant (us since the epoch); after set_consistency. */
void cycle_writer_set_group(struct cycle_writer *w, const char *group, uint64_t instant);
/*
 * Called by cycle_writer_commit once every segment is stored, right before
 * the manifest is written; a non-zero -errno from ready aborts the commit
 * (no manifest: the cycle does not exist).  A group's commit vote.
 */
void cycle_writer_set_ready(struct cycle_writer *w, int (*ready)(void *arg), void *arg);
/* Give up: frees w; whatever was written stays invisible (no manifest). */
void cycle_writer_abort(struct cycle_writer *w);

#endif
