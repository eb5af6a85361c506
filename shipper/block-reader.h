/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reads runs of blocks from a device or file with io_uring: O_DIRECT where
 * the file allows it, extents coalesced into large reads, a bounded number
 * in flight, short reads and -EAGAIN requeued.  Data is handed to the
 * caller strictly in ascending order.
 */
#ifndef CBTSHIP_BLOCK_READER_H
#define CBTSHIP_BLOCK_READER_H

#include <stddef.h>
#include <stdint.h>

#include <linux/dm-cbt.h>

struct block_reader_opts {
	unsigned int queue_depth;	/* reads in flight; 0 = default (32) */
	size_t max_read_bytes;		/* bytes per read; 0 = default (1 MiB) */
};

struct block_reader;

int block_reader_open(const char *path, const struct block_reader_opts *opts,
		      struct block_reader **out);
uint64_t block_reader_size(const struct block_reader *br);	/* bytes */
void block_reader_close(struct block_reader *br);

/*
 * Called for each run read, in ascending block order.  data holds `bytes`
 * bytes for blocks [first, first + nr): nr * block_size, less at the end of
 * the device.  data is only valid during the call.  A non-zero return
 * stops the read and is returned by block_reader_read().
 */
typedef int (*block_reader_fn)(void *arg, uint64_t first, uint64_t nr,
			       const void *data, size_t bytes);

int block_reader_read(struct block_reader *br, uint32_t block_size,
		      const struct cbt_extent *ext, size_t nr_ext,
		      block_reader_fn fn, void *arg);

#endif
