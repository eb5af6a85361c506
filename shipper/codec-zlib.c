// SPDX-License-Identifier: GPL-2.0
/*
 * zlib codec: raw deflate (RFC 1951, no zlib header or Adler-32: each block
 * already has a crc32c and the envelope a GCM tag).  One deflate and one
 * inflate stream per context, reset per block rather than set up again.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "codec.h"
#include "log.h"

#define ZLIB_RAW_WINDOW_BITS	(-15)	/* negative: raw deflate */
#define ZLIB_MEM_LEVEL		8

struct zlib_ctx {
	z_stream def;
	z_stream inf;
	bool def_ready, inf_ready;
};

static void zlib_destroy(void *ctx)
{
	struct zlib_ctx *z = ctx;

	if (!z)
		return;
	if (z->def_ready)
		deflateEnd(&z->def);
	if (z->inf_ready)
		inflateEnd(&z->inf);
	free(z);
}

static int zlib_create(int level, void **ctx)
{
	struct zlib_ctx *z;
	int zret;

	if (level == 0)
		level = Z_DEFAULT_COMPRESSION;
	else if (level < 1 || level > 9) {
		log_err("zlib level %d is out of range; use 1 to 9", level);
		return -EINVAL;
	}
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	zret = deflateInit2(&z->def, level, Z_DEFLATED, ZLIB_RAW_WINDOW_BITS, ZLIB_MEM_LEVEL,
			    Z_DEFAULT_STRATEGY);
	if (zret != Z_OK)
		goto out_err;
	z->def_ready = true;
	zret = inflateInit2(&z->inf, ZLIB_RAW_WINDOW_BITS);
	if (zret != Z_OK)
		goto out_err;
	z->inf_ready = true;
	*ctx = z;
	return 0;

out_err:
	log_err("cannot set up zlib: %s", zError(zret));
	zlib_destroy(z);
	return zret == Z_MEM_ERROR ? -ENOMEM : -EIO;
}

static int zlib_compress(void *ctx, const void *src, size_t len, void *dst, size_t cap,
			 size_t *outlen)
{
	struct zlib_ctx *z = ctx;
	int zret;

	if (len > UINT_MAX)
		return -EINVAL;
	if (cap > UINT_MAX)
		cap = UINT_MAX;
	zret = deflateReset(&z->def);
	if (zret != Z_OK) {
		log_err("zlib deflateReset failed: %s", zError(zret));
		return -EIO;
	}
	z->def.next_in = (Bytef *)src;	/* zlib's API is not const-correct */
	z->def.avail_in = (uInt)len;
	z->def.next_out = dst;
	z->def.avail_out = (uInt)cap;
	zret = deflate(&z->def, Z_FINISH);
	if (zret == Z_STREAM_END) {
		*outlen = cap - z->def.avail_out;
		return 0;
	}
	if (zret == Z_OK || zret == Z_BUF_ERROR)
		return -ENOSPC;		/* ran out of output space */
	log_err("zlib deflate failed: %s", zError(zret));
	return -EIO;
}

static int zlib_decompress(void *ctx, const void *src, size_t len, void *dst, size_t cap,
			   size_t *outlen)
{
	struct zlib_ctx *z = ctx;
	int zret;

	if (len > UINT_MAX || cap > UINT_MAX)
		return -EBADMSG;
	zret = inflateReset(&z->inf);
	if (zret != Z_OK) {
		log_err("zlib inflateReset failed: %s", zError(zret));
		return -EIO;
	}
	z->inf.next_in = (Bytef *)src;
	z->inf.avail_in = (uInt)len;
	z->inf.next_out = dst;
	z->inf.avail_out = (uInt)cap;
	zret = inflate(&z->inf, Z_FINISH);
	/* One complete stream, no bytes after it, fitting in cap. */
	if (zret == Z_STREAM_END && z->inf.avail_in == 0) {
		*outlen = cap - z->inf.avail_out;
		return 0;
	}
	if (zret == Z_MEM_ERROR) {
		log_err("zlib inflate failed: %s", zError(zret));
		return -ENOMEM;
	}
	log_err("zlib data is damaged: %s",
		z->inf.msg ? z->inf.msg :
		zret == Z_STREAM_END ? "trailing bytes after the stream" : "truncated or too long");
	return -EBADMSG;
}

static size_t zlib_bound(size_t len)
{
	/* deflateBound() for our settings, plus slack for a raw stream. */
	return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 64;
}

const struct codec_ops codec_zlib = {
	.name = "zlib",
	.id = CODEC_ZLIB,
	.create = zlib_create,
	.compress = zlib_compress,
	.decompress = zlib_decompress,
	.bound = zlib_bound,
	.destroy = zlib_destroy,
};
