// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the segment reader (format.c) and the codecs' decompressors the way
 * the applier uses them: every record is checked, a compressed one is
 * decompressed into exactly its block's length, and the crc32c computed.
 *
 * Input: codec id (1 byte), block size shift (1 byte: 512 << (n % 8)),
 * volume size (4 bytes LE, 0 means 1), then the segment payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "crc32c.h"
#include "format.h"
#include "fuzz.h"
#include "le.h"

#define PREFIX_BYTES	6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ctx[3];
	const struct codec_ops *codec;
	struct fmt_seg_reader rd;
	struct fmt_record rec;
	uint32_t block_size;
	uint64_t size_bytes;
	uint8_t *block, hdr[FMT_REC_HDR_BYTES];
	int ret;

	fuzz_setup();
	if (size < PREFIX_BYTES)
		return 0;
	codec = codec_by_id(data[0]);
	block_size = 512u << (data[1] % 8);
	size_bytes = get_le32(data + 2);
	if (!size_bytes)
		size_bytes = 1;
	data += PREFIX_BYTES;
	size -= PREFIX_BYTES;
	if (codec && !ctx[codec->id])
		FUZZ_CHECK(codec->create(0, &ctx[codec->id]) == 0);

	if (fmt_segment_begin(&rd, "fuzz segment", data, size, block_size, size_bytes))
		return 0;
	block = malloc(block_size);
	FUZZ_CHECK(block);
	while ((ret = fmt_segment_next(&rd, &rec)) == 1) {
		size_t out_len = 0;

		FUZZ_CHECK(rec.raw_len > 0 && rec.raw_len <= block_size);
		FUZZ_CHECK(rec.data >= data && rec.data + rec.stored_len <= data + size);
		/* The record header re-encodes to the bytes it was read from. */
		fmt_record_header_encode(hdr, &rec);
		FUZZ_CHECK(memcmp(hdr, rec.data - FMT_REC_HDR_BYTES, sizeof(hdr)) == 0);
		if (rec.kind == REC_COMPRESSED && codec) {
			if (codec->decompress(ctx[codec->id], rec.data, rec.stored_len, block,
					      rec.raw_len, &out_len) == 0) {
				FUZZ_CHECK(out_len <= rec.raw_len);
				(void)crc32c(0, block, out_len);
			}
		} else if (rec.kind == REC_RAW) {
			(void)crc32c(0, rec.data, rec.raw_len);
		}
	}
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG);
	free(block);
	return 0;
}
