/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Block compressors behind one ops struct, one file each (codec-NAME.c).
 * A context is made once and reused for every block.  Library errors are
 * logged once with the library's message and mapped to -errno.
 */
#ifndef CBTSHIP_CODEC_H
#define CBTSHIP_CODEC_H

#include <stddef.h>

#include "vstore.h"	/* enum codec_id */

struct codec_ops {
	const char *name;
	enum codec_id id;
	/* level 0 = the codec's default; -EINVAL (logged) if out of range. */
	int (*create)(int level, void **ctx);
	/*
	 * -ENOSPC (not logged) when the result does not fit in cap: the
	 * caller then stores the block raw.
	 */
	int (*compress)(void *ctx, const void *src, size_t len,
			void *dst, size_t cap, size_t *outlen);
	/* -EBADMSG if src is not one complete stream that fits in cap. */
	int (*decompress)(void *ctx, const void *src, size_t len,
			  void *dst, size_t cap, size_t *outlen);
	/* Largest compress() output for len input bytes. */
	size_t (*bound)(size_t len);
	void (*destroy)(void *ctx);
};

extern const struct codec_ops codec_none;
extern const struct codec_ops codec_zlib;
extern const struct codec_ops codec_zstd;

/* NULL if unknown (callers report it: they know where the name came from). */
const struct codec_ops *codec_by_name(const char *name);
const struct codec_ops *codec_by_id(unsigned int id);

#endif
