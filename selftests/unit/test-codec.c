// SPDX-License-Identifier: GPL-2.0
/* Codecs: round trips of zeros, text and random data; garbage is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

#define BLK 4096

static void round_trip(const struct codec_ops *c, void *ctx, const char *what,
		       const uint8_t *src, size_t len, int expect_smaller)
{
	size_t cap = c->bound(len), clen = 0, dlen = 0;
	uint8_t *cbuf = malloc(cap), *dbuf = malloc(len);
	int ret;

	ret = c->compress(ctx, src, len, cbuf, cap, &clen);
	tap_eq(ret, 0, "compress ok");
	tap_ok(clen <= cap, "%s %s: output fits the bound (%zu <= %zu)", c->name, what, clen, cap);
	if (expect_smaller)
		tap_ok(clen < len / 4, "%s %s compresses well (%zu of %zu)", c->name, what, clen, len);
	ret = c->decompress(ctx, cbuf, clen, dbuf, len, &dlen);
	tap_ok(ret == 0 && dlen == len && !memcmp(src, dbuf, len),
	       "%s %s round trip gives the same bytes", c->name, what);
	/* The same context again: state is reset between blocks. */
	ret = c->compress(ctx, src, len, cbuf, cap, &clen);
	ret = ret ?: c->decompress(ctx, cbuf, clen, dbuf, len, &dlen);
	tap_ok(ret == 0 && dlen == len && !memcmp(src, dbuf, len),
	       "%s %s second round trip on the reused context", c->name, what);
	free(cbuf);
	free(dbuf);
}

static void refuses_garbage(const struct codec_ops *c, void *ctx, const uint8_t *random,
			    const uint8_t *text)
{
	size_t cap = c->bound(BLK), clen, dlen;
	uint8_t *cbuf = malloc(cap), *dbuf = malloc(BLK);
	int ret;

	ret = c->decompress(ctx, random, 200, dbuf, BLK, &dlen);
	tap_eq(ret, -EBADMSG, "decompressing random bytes is refused");

	c->compress(ctx, text, BLK, cbuf, cap, &clen);
	ret = c->decompress(ctx, cbuf, clen / 2, dbuf, BLK, &dlen);
	tap_eq(ret, -EBADMSG, "a truncated stream is refused");

	ret = c->decompress(ctx, cbuf, clen, dbuf, BLK / 2, &dlen);
	tap_eq(ret, -EBADMSG, "a stream longer than the block is refused");

	memcpy(dbuf, cbuf, clen);
	dbuf[clen] = 0x55;
	ret = c->decompress(ctx, dbuf, clen + 1, cbuf, BLK, &dlen);
	if (c->id == CODEC_ZLIB)
		tap_eq(ret, -EBADMSG, "zlib: bytes after the stream are refused");

	ret = c->compress(ctx, random, BLK, cbuf, 16, &clen);
	tap_eq(ret, -ENOSPC, "compress into too small a buffer says -ENOSPC");
	free(cbuf);
	free(dbuf);
}

int main(void)
{
	const struct codec_ops *codecs[] = { &codec_none, &codec_zlib, &codec_zstd };
	uint8_t *zeros = calloc(1, BLK), *text = malloc(BLK), *random = malloc(BLK);
	static const char words[] = "the quick brown fox jumps over the lazy dog; ";
	void *ctx;

	test_quiet_logs();
	for (size_t i = 0; i < BLK; i++)
		text[i] = (uint8_t)words[i % (sizeof(words) - 1)];
	test_fill_random(random, BLK, 42);

	tap_ok(codec_by_name("zstd") == &codec_zstd, "codec_by_name(zstd)");
	tap_ok(codec_by_name("zlib") == &codec_zlib, "codec_by_name(zlib)");
	tap_ok(codec_by_name("none") == &codec_none, "codec_by_name(none)");
	tap_ok(codec_by_name("lz4") == NULL, "codec_by_name(lz4) is unknown");
	tap_ok(codec_by_id(CODEC_ZSTD) == &codec_zstd, "codec_by_id(2) is zstd");
	tap_ok(codec_by_id(7) == NULL, "codec_by_id(7) is unknown");
	tap_eq(codec_zlib.create(10, &ctx), -EINVAL, "zlib level 10 refused");
	tap_eq(codec_zstd.create(-5, &ctx), -EINVAL, "zstd level -5 refused");

	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		const struct codec_ops *c = codecs[i];
		int compresses = c->id != CODEC_NONE;

		tap_eq(c->create(0, &ctx), 0, "create with the default level");
		round_trip(c, ctx, "zeros", zeros, BLK, compresses);
		round_trip(c, ctx, "text", text, BLK, compresses);
		round_trip(c, ctx, "random", random, BLK, 0);
		round_trip(c, ctx, "short text", text, 37, 0);
		if (compresses)
			refuses_garbage(c, ctx, random, text);
		c->destroy(ctx);
		if (compresses) {
			tap_eq(c->create(1, &ctx), 0, "create with level 1");
			round_trip(c, ctx, "text at level 1", text, BLK, 1);
			c->destroy(ctx);
		}
	}
	free(zeros);
	free(text);
	free(random);
	return tap_done();
}
