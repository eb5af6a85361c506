/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The parallel part of writing a cycle.  The caller (one thread: the one
 * reading the volume) adds blocks in ascending order into segment-sized
 * batches whose segment index is fixed when the batch is cut: copied
 * (seg_pipeline_add), or read there directly (seg_pipeline_reserve and
 * _commit: the replication reader does that, no copy).
 * A pool of worker threads checksums, zero-detects, compresses and seals
 * the batches in any order, and one store thread puts the sealed objects
 * in index order.  Memory is bounded: (workers + 2) batches exist, each
 * holding about 2 x segment_bytes (raw blocks, sealed object), so 64 MiB
 * for 2 workers and 8 MiB segments; when none is free, adding waits, so the
 * reader never runs ahead of the pool.  Worker threads block signals: the
 * caller's thread receives them.  The first error stops everything and is
 * returned by the next call.
 */
#ifndef CBTSHIP_SEG_PIPELINE_H
#define CBTSHIP_SEG_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "codec.h"
#include "format.h"

struct vstore;
struct seg_pipeline;

/* Most worker threads a pipeline runs. */
#define SEG_PIPELINE_MAX_WORKERS	256

/* The worker count used when 0 is asked: the online processors. */
unsigned int seg_pipeline_default_workers(void);

/*
 * Start the threads for segments of `cycle`: workers = 0 means
 * seg_pipeline_default_workers().  level is the codec's level.
 */
int seg_pipeline_start(struct vstore *vs, uint64_t cycle, const struct codec_ops *codec,
		       int level, unsigned int workers, size_t segment_bytes,
		       struct seg_pipeline **out);
/*
 * Right after start: make the stored segments durable (store_flush) after
 * every n of them, so that they survive a crash; 0 = only at finish.
 */
void seg_pipeline_flush_every(struct seg_pipeline *p, uint32_t n);
/*
 * Right after start, before any block: segments 0..nr-1 are already stored
 * (an interrupted attempt's, checked by the caller); new segments are
 * numbered from nr and finish() lists prior first.
 */
int seg_pipeline_keep(struct seg_pipeline *p, const struct fmt_manifest_seg *prior, uint32_t nr);
/* Queue one block (copied); may wait for a free batch.  Ascending order. */
int seg_pipeline_add(struct seg_pipeline *p, uint64_t block, const void *data, size_t len);
/*
 * Zero-copy adding, for a reader that reads straight into the batches (one
 * way or the other in a cycle, never both).  Reserve room for a run of *nr
 * blocks of *bytes bytes (only the volume's last block may be short) in the
 * batch being filled, or a new one: *nr and *bytes may come back smaller
 * (a segment's cut), never 0.  The buffer is aligned like the run's offset
 * in it (block size) and may be written 4096 bytes past *bytes.  NULL
 * with *err = -EAGAIN when no batch is free and !wait (reads in flight
 * should be delivered first), or another error.  Once the data is there,
 * seg_pipeline_commit() hands the run over, in the order reserved.  A hole
 * (hole = true in both: blocks known to be zeros, such as a sparse file's
 * holes) takes no room: nothing is read into the buffer, and its blocks
 * become zero records; it still counts for the segment's cut.
 */
void *seg_pipeline_reserve(struct seg_pipeline *p, uint64_t *nr, size_t *bytes, bool hole,
			   bool wait, int *err);
/*
 * The batches' raw buffers (up to max; returns how many), where every
 * reserve() points: a reader may register them (io_uring fixed buffers).
 * They stay until seg_pipeline_finish() or _abort().
 */
unsigned int seg_pipeline_buffers(const struct seg_pipeline *p, struct iovec *iov,
				  unsigned int max);
int seg_pipeline_commit(struct seg_pipeline *p, uint64_t first, uint64_t nr, size_t bytes,
			bool hole);
/*
 * Seal and store what is left, wait for every segment to be stored and stop
 * the threads.  On success *segs (malloc'd, index order) and *nr describe
 * the stored segments for the manifest.  Frees p whatever the result.
 */
int seg_pipeline_finish(struct seg_pipeline *p, struct fmt_manifest_seg **segs, uint32_t *nr);
/* Stop the threads and free p; segments already stored stay invisible (no manifest). */
void seg_pipeline_abort(struct seg_pipeline *p);

#endif
