// SPDX-License-Identifier: GPL-2.0
/* zstd codec: one frame per block; contexts made once and reused. */
#include <errno.h>
#include <stdlib.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "codec.h"
#include "log.h"

struct zstd_ctx {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	int level;
};

static void zstd_destroy(void *ctx)
{
	struct zstd_ctx *z = ctx;

	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

static int zstd_create(int level, void **ctx)
{
	struct zstd_ctx *z;

	if (level == 0)
		level = ZSTD_CLEVEL_DEFAULT;
	else if (level < 1 || level > ZSTD_maxCLevel()) {
		log_err("zstd level %d is out of range; use 1 to %d", level, ZSTD_maxCLevel());
		return -EINVAL;
	}
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->level = level;
	z->cctx = ZSTD_createCCtx();
	z->dctx = ZSTD_createDCtx();
	if (!z->cctx || !z->dctx) {
		log_err("cannot set up zstd: out of memory");
		zstd_destroy(z);
		return -ENOMEM;
	}
	*ctx = z;
	return 0;
}

static int zstd_compress(void *ctx, const void *src, size_t len, void *dst, size_t cap,
			 size_t *outlen)
{
	struct zstd_ctx *z = ctx;
	size_t r = ZSTD_compressCCtx(z->cctx, dst, cap, src, len, z->level);

	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
			return -ENOSPC;
		log_err("zstd compression failed: %s", ZSTD_getErrorName(r));
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
	}
	*outlen = r;
	return 0;
}

static int zstd_decompress(void *ctx, const void *src, size_t len, void *dst, size_t cap,
			   size_t *outlen)
{
	struct zstd_ctx *z = ctx;
	size_t r = ZSTD_decompressDCtx(z->dctx, dst, cap, src, len);

	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation) {
			log_err("zstd decompression failed: %s", ZSTD_getErrorName(r));
			return -ENOMEM;
		}
		log_err("zstd data is damaged: %s", ZSTD_getErrorName(r));
		return -EBADMSG;
	}
	*outlen = r;
	return 0;
}

static size_t zstd_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

const struct codec_ops codec_zstd = {
	.name = "zstd",
	.id = CODEC_ZSTD,
	.create = zstd_create,
	.compress = zstd_compress,
	.decompress = zstd_decompress,
	.bound = zstd_bound,
	.destroy = zstd_destroy,
};
