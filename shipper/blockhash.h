/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Block hash lists (FORMAT.md "Block hash lists"): a 16-byte SHA-256 prefix
 * per block of a volume, published by the target side through the store
 * (sealed like every other object) and compared by the source side, so
 * `cbtship verify` and `cbtship resync` learn which blocks differ without
 * shipping any data.
 */
#ifndef CBTSHIP_BLOCKHASH_H
#define CBTSHIP_BLOCKHASH_H

#include <stdint.h>

#include "block-reader.h"
#include "cbt-source.h"
#include "vstore.h"

#define BLOCKHASH_BYTES		16		/* SHA-256 truncated to 128 bits */
#define BLOCKHASH_PART_BLOCKS	(256u * 1024)	/* default blocks per part (4 MiB of hashes) */
#define BLOCKHASH_PART_MAX	(1024u * 1024)	/* most a reader accepts (16 MiB) */

/* Hash blocks [first, first + nr) read through br; out holds nr * BLOCKHASH_BYTES. */
int blockhash_compute(struct block_reader *br, uint32_t block_size, uint64_t size_bytes,
		      uint64_t first, uint64_t nr, uint8_t *out);

struct blockhash_stats {
	uint64_t blocks;		/* blocks hashed */
	uint64_t bytes_read;		/* data bytes hashed */
	uint64_t list_bytes;		/* bytes of hash-list objects put or got */
	uint64_t diff_blocks;		/* compare: blocks that differ */
	uint64_t diff_bytes;		/* compare: their raw bytes */
};

/*
 * Target side: hash the replica (a file or block device of the volume's
 * size) and publish the list as the hashes of cycle `cycle`, the cycle the
 * replica is at, in parts of part_blocks hashes (0: BLOCKHASH_PART_BLOCKS).
 * Parts first, index last: a reader sees the whole list or the previous
 * one.  Lists of older cycles are removed afterwards.
 */
int blockhash_publish(struct vstore *vs, const char *replica_path, uint64_t cycle,
		      uint32_t part_blocks, struct blockhash_stats *stats);

/*
 * Source side: compare the volume read through br with the list published
 * for `cycle`; append the differing blocks to diff (sorted, merged).
 * -ENOENT (logged, saying how to publish one) if there is no list for that
 * cycle; a list that does not authenticate or does not fit the volume is
 * an error, never skipped.
 */
int blockhash_compare(struct vstore *vs, uint64_t cycle, struct block_reader *br,
		      struct cbt_extent_list *diff, struct blockhash_stats *stats);

/* out = a ∪ b; both sorted and non-overlapping, out too (merged). */
int blockhash_extents_union(const struct cbt_extent_list *a, const struct cbt_extent_list *b,
			    struct cbt_extent_list *out);

#endif
