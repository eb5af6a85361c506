// SPDX-License-Identifier: GPL-2.0
/* The identity codec: blocks are always stored raw under it. */
#include <errno.h>
#include <string.h>

#include "codec.h"

static int none_create(int level, void **ctx)
{
	(void)level;
	*ctx = NULL;
	return 0;
}

static int none_copy(void *ctx, const void *src, size_t len, void *dst, size_t cap,
		     size_t *outlen)
{
	(void)ctx;
	if (len > cap)
		return -ENOSPC;
	memcpy(dst, src, len);
	*outlen = len;
	return 0;
}

static int none_decompress(void *ctx, const void *src, size_t len, void *dst, size_t cap,
			   size_t *outlen)
{
	return none_copy(ctx, src, len, dst, cap, outlen) ? -EBADMSG : 0;
}

static size_t none_bound(size_t len)
{
	return len;
}

static void none_destroy(void *ctx)
{
	(void)ctx;
}

const struct codec_ops codec_none = {
	.name = "none",
	.id = CODEC_NONE,
	.create = none_create,
	.compress = none_copy,
	.decompress = none_decompress,
	.bound = none_bound,
	.destroy = none_destroy,
};
