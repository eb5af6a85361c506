/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Building and sealing one segment object from a batch of blocks: the work
 * of one seal-pool worker (seg-pipeline.c), kept apart so cbtship bench can
 * measure exactly that work on one core.  Record layout: FORMAT.md.
 */
#ifndef CBTSHIP_SEGMENT_SEAL_H
#define CBTSHIP_SEGMENT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "envelope.h"

/* A batch of blocks as the reader delivered them. */
struct seg_blocks {
	const uint8_t *raw;		/* bytes of the blocks that are not holes, back to back */
	const uint64_t *blocks;		/* block numbers */
	const uint32_t *lens;		/* bytes per block (the last of a volume may be short) */
	const uint8_t *hole;		/* per block: known zeros, no bytes in raw; NULL: none */
	uint32_t nr;
};

/* How one worker seals: its codec context is its own. */
struct seg_sealer {
	const struct codec_ops *codec;
	void *cctx;
	uint32_t block_size;
	uint32_t zero_crc;		/* segment_zero_crc(block_size) */
};

/* The crc32c of a block of zeros of len bytes. */
uint32_t segment_zero_crc(uint32_t len);

/* Bytes an object of up to nr blocks and raw_bytes of block data needs. */
size_t segment_obj_cap(uint32_t nr, size_t raw_bytes);

/*
 * Build segment meta->segment of the batch (crc32c of each block, zero
 * blocks as markers, the rest compressed when that makes them smaller)
 * right after the envelope header in obj (segment_obj_cap bytes) and seal
 * it there.  pieces has room for 2 x in->nr + 1 entries: blocks that do not
 * compress are encrypted straight from in->raw, never copied into obj.
 * Returns 0 with the object's length in *obj_len, or -errno.
 */
int segment_seal(const struct cbt_key *key, const struct env_meta *meta,
		 const struct seg_sealer *s, const struct seg_blocks *in,
		 uint8_t *obj, struct env_piece *pieces, size_t *obj_len);

#endif
