// SPDX-License-Identifier: GPL-2.0
/*
 * segment_seal: one segment built and sealed from a batch of blocks of every
 * kind (random, text, written zeros, a hole, a short last block) opens and
 * reads back as those blocks, each with its crc32c, the incompressible ones
 * stored raw without a copy into the object.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "crc32c.h"
#include "envelope.h"
#include "format.h"
#include "segment-seal.h"
#include "tap.h"
#include "tmpdir.h"

#define BS	4096u
#define NR	6u
#define SHORT	1000u	/* the volume's last block is this long */

int main(void)
{
	static const char text[] = "the quick brown fox jumps over the lazy dog; ";
	const uint64_t size_bytes = 99 * (uint64_t)BS + SHORT;	/* blocks 0..99 */
	const uint64_t blocks[NR] = { 3, 4, 5, 6, 7, 99 };
	const uint32_t lens[NR] = { BS, BS, BS, BS, BS, SHORT };
	const uint8_t hole[NR] = { 0, 0, 0, 1, 0, 0 };	/* block 6: a hole, no bytes */
	const enum fmt_record_kind want[NR] = { REC_RAW, REC_COMPRESSED, REC_ZERO, REC_ZERO,
						REC_COMPRESSED, REC_COMPRESSED };
	uint8_t *raw = calloc(5, BS), *vol = calloc(NR, BS), *obj, *plain, block[BS];
	struct env_meta meta = { .type = ENV_SEGMENT, .codec = CODEC_ZSTD, .cycle = 2, .segment = 5 };
	struct env_piece pieces[2 * NR + 1];
	struct seg_sealer s = { .codec = &codec_zstd, .block_size = BS, .zero_crc = segment_zero_crc(BS) };
	struct seg_blocks in = { .blocks = blocks, .lens = lens, .hole = hole, .nr = NR };
	struct fmt_seg_reader rd;
	struct fmt_record rec;
	struct env_meta got;
	struct cbt_key key;
	size_t obj_len = 0, plen, cap = segment_obj_cap(NR, 5 * BS), n;
	int ret, good = 0;

	test_dir_setup("segment-seal");
	test_fill_random(key.bytes, sizeof(key.bytes), 1);
	obj = malloc(cap);
	plain = malloc(cap);
	/* The volume's view of each block, and raw: the non-hole ones back to back. */
	test_fill_random(vol, BS, 2);					/* 3: random */
	for (size_t i = 0; i < BS; i++)
		vol[BS + i] = (uint8_t)text[i % (sizeof(text) - 1)];	/* 4: text */
	/* 5: zeros written; 6: the hole */
	for (size_t i = 0; i < BS; i++)
		vol[4 * BS + i] = (uint8_t)(i / 64);			/* 7: runs */
	memset(vol + 5 * BS, 'x', SHORT);				/* 99: short, compresses */
	memcpy(raw, vol, 3 * BS);
	memcpy(raw + 3 * BS, vol + 4 * BS, BS);
	memcpy(raw + 4 * BS, vol + 5 * BS, SHORT);
	in.raw = raw;
	if (codec_zstd.create(1, &s.cctx))
		return 99;

	ret = segment_seal(&key, &meta, &s, &in, obj, pieces, &obj_len);
	tap_eq(ret, 0, "seal a segment of 6 blocks of every kind");
	tap_ok(obj_len > ENV_OVERHEAD && obj_len <= cap, "its length %zu fits segment_obj_cap %zu",
	       obj_len, cap);
	tap_ok(memmem(obj, obj_len, raw + 100, 64) == NULL,
	       "the random block's bytes do not appear in the clear");
	ret = envelope_open(&key, "segment", obj, obj_len, &meta, false, &got, plain, &plen);
	tap_eq(ret, 0, "the object opens and authenticates");
	ret = fmt_segment_begin(&rd, "segment", plain, plen, BS, size_bytes);
	tap_eq(ret, 0, "its segment header reads");
	for (n = 0; ret == 0 && n < NR && fmt_segment_next(&rd, &rec) == 1; n++) {
		size_t out = 0;
		int same;

		if (rec.kind == REC_COMPRESSED)
			same = !codec_zstd.decompress(s.cctx, rec.data, rec.stored_len, block,
						      sizeof(block), &out) && out == lens[n] &&
			       !memcmp(block, vol + n * BS, out);
		else if (rec.kind == REC_RAW)
			same = rec.stored_len == lens[n] && !memcmp(rec.data, vol + n * BS, lens[n]);
		else
			same = rec.stored_len == 0 && !memcmp(vol + n * BS, (uint8_t[BS]){ 0 }, lens[n]);
		good += rec.block == blocks[n] && rec.kind == want[n] && same &&
			rec.crc == crc32c(0, vol + n * BS, lens[n]);
	}
	tap_eq(good, (int)NR, "every record: its block, the kind expected, its bytes and its crc32c");
	tap_eq(fmt_segment_next(&rd, &rec), 0, "and nothing after the last record");

	/* Control: a block that does not compress is sealed from where it lies. */
	raw[7] ^= 0xff;
	ret = segment_seal(&key, &meta, &s, &in, obj, pieces, &obj_len);
	ret = ret ? ret : envelope_open(&key, "segment", obj, obj_len, &meta, false, &got, plain, &plen);
	ret = ret ? ret : fmt_segment_begin(&rd, "segment", plain, plen, BS, size_bytes);
	tap_ok(!ret && fmt_segment_next(&rd, &rec) == 1 && rec.kind == REC_RAW &&
	       rec.data[7] == (raw[7]) && rec.crc != crc32c(0, vol, BS),
	       "control: a changed raw byte shows in the record and its crc");

	codec_zstd.destroy(s.cctx);
	free(plain);
	free(obj);
	free(vol);
	free(raw);
	return tap_done();
}
