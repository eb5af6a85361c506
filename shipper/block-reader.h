/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reads runs of blocks from a device or file with io_uring: O_DIRECT where
 * the file allows it, extents coalesced into large reads, a bounded number
 * in flight, short reads and -EAGAIN requeued.  Data is handed to the
 * caller strictly in ascending order.
 */
#ifndef CBTSHIP_BLOCK_READER_H
#define CBTSHIP_BLOCK_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/dm-cbt.h>

struct block_reader_opts {
	unsigned int queue_depth;	/* reads in flight; 0 = default (32) */
	size_t max_read_bytes;		/* bytes per read; 0 = default (1 MiB) */
};

struct block_reader;

int block_reader_open(const char *path, const struct block_reader_opts *opts,
		      struct block_reader **out);
uint64_t block_reader_size(const struct block_reader *br);	/* bytes */

/* Reads submitted since open, and how many of them into registered buffers. */
struct block_reader_stats {
	uint64_t reads;
	uint64_t fixed_reads;
};
void block_reader_get_stats(const struct block_reader *br, struct block_reader_stats *st);
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

/*
 * Where block_reader_read_into() reads to, so the data is not copied:
 * reserve() gives room for a run of *nr blocks from `first` (*bytes bytes;
 * it may shorten both, never to 0) that may be written up to 4096 bytes
 * past *bytes, and is aligned like a multiple of the block size from a
 * page-aligned buffer; NULL with *err = -EAGAIN when there is no room and
 * !wait (the reader delivers reads in flight first), or another error.
 * commit() hands over each run, in order, once its bytes are there; its
 * non-zero return stops the read.  With holes set, runs of a regular file
 * that SEEK_DATA says are holes are reserved and committed with hole =
 * true and never read (they read as zeros; the room is not written); a
 * block device has no holes.  If the device needs O_DIRECT alignment
 * the block size cannot give, the reader reads into its own buffers and
 * copies into the reserved room.  Nothing is in flight when the call
 * returns, so the sink's buffers may be freed then.
 */
struct block_reader_sink {
	void *(*reserve)(void *arg, uint64_t first, uint64_t *nr, size_t *bytes, bool hole,
			 bool wait, int *err);
	int (*commit)(void *arg, uint64_t first, uint64_t nr, size_t bytes, bool hole);
	void *arg;
	bool holes;		/* the sink takes holes as such */
	/*
	 * Optional: every buffer reserve() hands out lies in one of these;
	 * they are registered with the ring for the read, so reads into them
	 * skip pinning pages (registration failing only costs that).
	 */
	const struct iovec *bufs;
	unsigned int nr_bufs;
};

int block_reader_read_into(struct block_reader *br, uint32_t block_size,
			   const struct cbt_extent *ext, size_t nr_ext,
			   const struct block_reader_sink *sink);

#endif
