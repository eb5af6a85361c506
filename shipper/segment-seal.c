// SPDX-License-Identifier: GPL-2.0
/*
 * One segment object from a batch of blocks (segment-seal.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "crc32c.h"
#include "format.h"
#include "le.h"
#include "segment-seal.h"

uint32_t segment_zero_crc(uint32_t len)
{
	static const uint8_t zeros[4096];
	uint32_t crc = 0;

	for (uint32_t done = 0; done < len; done += sizeof(zeros))
		crc = crc32c(crc, zeros, len - done < sizeof(zeros) ? len - done : sizeof(zeros));
	return crc;
}

size_t segment_obj_cap(uint32_t nr, size_t raw_bytes)
{
	return ENV_OVERHEAD + FMT_SEG_HDR_BYTES + (size_t)nr * FMT_REC_HDR_BYTES + raw_bytes;
}

int segment_seal(const struct cbt_key *key, const struct env_meta *meta,
		 const struct seg_sealer *s, const struct seg_blocks *in,
		 uint8_t *obj, struct env_piece *pieces, size_t *obj_len)
{
	uint8_t *payload = obj + ENV_HDR_BYTES, *q = payload + FMT_SEG_HDR_BYTES;
	uint8_t *run = payload;		/* start of the bytes built in place, not yet a piece */
	const uint8_t *data = in->raw;
	struct env_piece *pc = pieces;
	size_t clen;
	int ret;

	for (uint32_t i = 0; i < in->nr; i++) {
		struct fmt_record rec = { .block = in->blocks[i] };
		bool hole = in->hole && in->hole[i];
		size_t len = in->lens[i];
		uint8_t *out = q + FMT_REC_HDR_BYTES;

		if (hole || all_zero(data, len)) {
			/* Zero blocks (holes, often a third of a volume) all have one crc. */
			rec.crc = len == s->block_size ? s->zero_crc : segment_zero_crc((uint32_t)len);
			rec.kind = REC_ZERO;
			rec.stored_len = 0;
		} else {
			rec.crc = crc32c(0, data, len);
			rec.kind = REC_RAW;
			rec.stored_len = (uint32_t)len;
			/* Compressed only when strictly smaller: len - 1 bytes of room. */
			if (s->codec->id != CODEC_NONE && len > 1) {
				ret = s->codec->compress(s->cctx, data, len, out, len - 1, &clen);
				if (ret && ret != -ENOSPC)
					return ret;
				if (!ret && clen > 0 && clen < len) {
					rec.kind = REC_COMPRESSED;
					rec.stored_len = (uint32_t)clen;
				}
			}
			if (rec.kind == REC_RAW) {
				*pc++ = (struct env_piece){ .src = run, .len = (size_t)(out - run) };
				*pc++ = (struct env_piece){ .src = data, .len = len };
				run = out + len;
			}
		}
		fmt_record_header_encode(q, &rec);
		q = out + rec.stored_len;
		if (!hole)
			data += len;
	}
	if (q > run)
		*pc++ = (struct env_piece){ .src = run, .len = (size_t)(q - run) };
	fmt_segment_header_encode(payload, in->nr, s->block_size);
	ret = envelope_seal_pieces(key, meta, pieces, (size_t)(pc - pieces), obj);
	if (!ret)
		*obj_len = envelope_size((size_t)(q - payload));
	return ret;
}
