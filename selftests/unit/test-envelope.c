// SPDX-License-Identifier: GPL-2.0
/* Envelope: round trip, and every kind of damage or misplacement is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

static struct cbt_key key, other_key;
static struct env_meta meta = {
	.type = ENV_SEGMENT,
	.codec = 2,
	.volume_id = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 },
	.cycle = 7,
	.segment = 3,
};

#define PLEN 1000
static uint8_t payload[PLEN];
static uint8_t sealed[PLEN + ENV_OVERHEAD];

static int open_copy(const uint8_t *obj, size_t len, const struct cbt_key *k,
		     const struct env_meta *expect, bool any_volume, uint8_t *out, size_t *out_len)
{
	struct env_meta got;

	return envelope_open(k, "test object", obj, len, expect, any_volume, &got, out, out_len);
}

/* Flip one byte of a copy of the sealed object and try to open it. */
static int open_flipped(size_t off)
{
	uint8_t obj[sizeof(sealed)], out[PLEN];
	size_t out_len;

	memcpy(obj, sealed, sizeof(obj));
	obj[off] ^= 0x01;
	return open_copy(obj, sizeof(obj), &key, &meta, false, out, &out_len);
}

static void make_key(struct cbt_key *k, const char *path, uint64_t seed)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[32];
	char text[65];

	test_fill_random(raw, sizeof(raw), seed);
	for (int i = 0; i < 32; i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 15];
	}
	text[64] = '\n';
	test_write_file(path, text, sizeof(text), 0600);
	if (key_load(path, k))
		exit(99);
}

int main(void)
{
	uint8_t out[PLEN], obj[sizeof(sealed)];
	struct env_meta got, expect;
	size_t out_len = 0;
	int ret, all;

	test_dir_setup("envelope");
	test_quiet_logs();
	make_key(&key, "k1", 1);
	make_key(&other_key, "k2", 2);
	test_fill_random(payload, sizeof(payload), 3);

	tap_eq(envelope_seal(&key, &meta, payload, PLEN, sealed), 0, "seal");
	tap_ok(!memcmp(sealed, "CBTSHP", 6) && sealed[6] == ENV_SEGMENT && sealed[7] == 1 &&
	       sealed[8] == 2 && sealed[9] == 1 && sealed[12] == 128,
	       "header: magic, type, version, codec, cipher, header length as FORMAT.md says");
	tap_ok(memmem(sealed, sizeof(sealed), payload + 100, 32) == NULL,
	       "the payload does not appear in the clear");

	ret = envelope_open(&key, "t", sealed, sizeof(sealed), &meta, false, &got, out, &out_len);
	tap_eq(ret, 0, "open the sealed object");
	tap_ok(out_len == PLEN && !memcmp(out, payload, PLEN), "the payload comes back unchanged");
	tap_ok(got.codec == 2 && got.cycle == 7 && got.segment == 3 && got.type == ENV_SEGMENT &&
	       !memcmp(got.volume_id, meta.volume_id, 16), "the header fields come back");

	memcpy(obj, sealed, sizeof(obj));
	tap_eq(envelope_seal(&key, &meta, payload, PLEN, obj), 0, "seal again");
	tap_ok(memcmp(obj + 64, sealed + 64, 32) && memcmp(obj + 128, sealed + 128, PLEN),
	       "a second seal uses a new salt and gives a different ciphertext");

	tap_eq(open_flipped(6), -EBADMSG, "a flipped type byte is refused");
	tap_eq(open_flipped(8), -EBADMSG, "a flipped codec byte fails authentication");
	tap_eq(open_flipped(70), -EBADMSG, "a flipped salt byte fails authentication");
	tap_eq(open_flipped(100), -EBADMSG, "a flipped reserved byte is refused");
	tap_eq(open_flipped(ENV_HDR_BYTES + 10), -EBADMSG, "a flipped ciphertext byte is refused");
	tap_eq(open_flipped(sizeof(sealed) - 1), -EBADMSG, "a flipped tag byte is refused");
	tap_eq(open_flipped(0), -EBADMSG, "a flipped magic byte is refused");
	tap_eq(open_flipped(12), -EBADMSG, "a wrong header length is refused");
	tap_eq(open_flipped(56), -EBADMSG, "a wrong payload length is refused");

	/* A failed open leaves no plaintext behind. */
	memcpy(obj, sealed, sizeof(obj));
	obj[ENV_HDR_BYTES + 500] ^= 0x80;
	memset(out, 0xAA, sizeof(out));
	ret = open_copy(obj, sizeof(obj), &key, &meta, false, out, &out_len);
	all = 1;
	for (size_t i = 0; i < PLEN; i++)
		all &= out[i] == 0;
	tap_ok(ret == -EBADMSG && all, "after a failed authentication the output is zeroed");

	ret = open_copy(sealed, sizeof(sealed) - 1, &key, &meta, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "an object one byte short is refused");
	ret = open_copy(sealed, 100, &key, &meta, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "an object shorter than a header is refused");
	ret = open_copy(sealed, 0, &key, &meta, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "an empty object is refused");

	ret = open_copy(sealed, sizeof(sealed), &other_key, &meta, false, out, &out_len);
	tap_eq(ret, -EKEYREJECTED, "the wrong key is -EKEYREJECTED");

	expect = meta;
	expect.cycle = 8;
	ret = open_copy(sealed, sizeof(sealed), &key, &expect, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "opened as another cycle (replay) it is refused");
	expect = meta;
	expect.segment = 2;
	ret = open_copy(sealed, sizeof(sealed), &key, &expect, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "opened as another segment (reorder) it is refused");
	expect = meta;
	expect.volume_id[0] ^= 1;
	ret = open_copy(sealed, sizeof(sealed), &key, &expect, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "opened for another volume it is refused");
	ret = open_copy(sealed, sizeof(sealed), &key, &expect, true, out, &out_len);
	tap_eq(ret, 0, "with any_volume the volume id is not compared");
	expect = meta;
	expect.type = ENV_MANIFEST;
	ret = open_copy(sealed, sizeof(sealed), &key, &expect, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "opened as a manifest it is refused");

	/* A header rewritten to claim another cycle fails the tag. */
	memcpy(obj, sealed, sizeof(obj));
	obj[40] = 8;
	expect = meta;
	expect.cycle = 8;
	ret = open_copy(obj, sizeof(obj), &key, &expect, false, out, &out_len);
	tap_eq(ret, -EBADMSG, "a header edited to move the object fails authentication");

	memcpy(obj, sealed, sizeof(obj));
	obj[7] = 2;
	ret = open_copy(obj, sizeof(obj), &key, &meta, false, out, &out_len);
	tap_eq(ret, -EPROTO, "format version 2 is -EPROTO");
	memcpy(obj, sealed, sizeof(obj));
	obj[9] = 2;
	ret = open_copy(obj, sizeof(obj), &key, &meta, false, out, &out_len);
	tap_eq(ret, -EPROTO, "an unknown cipher is -EPROTO");

	/* Every single-bit change anywhere in an object is refused. */
	{
		uint8_t small[64 + ENV_OVERHEAD], copy[sizeof(small)], o[64];
		int refused = 0, total = 0;

		envelope_seal(&key, &meta, payload, 64, small);
		for (size_t off = 0; off < sizeof(small); off++)
			for (int bit = 0; bit < 8; bit += 3) {
				memcpy(copy, small, sizeof(copy));
				copy[off] ^= (uint8_t)(1u << bit);
				total++;
				refused += open_copy(copy, sizeof(copy), &key, &meta, false, o,
						     &out_len) != 0;
			}
		tap_eq(refused, total, "every flipped bit in every byte of an object is refused");
	}

	/* An empty payload is legal. */
	{
		uint8_t tiny[ENV_OVERHEAD], o[1];

		tap_eq(envelope_seal(&key, &meta, NULL, 0, tiny), 0, "seal an empty payload");
		ret = open_copy(tiny, sizeof(tiny), &key, &meta, false, o, &out_len);
		tap_ok(ret == 0 && out_len == 0, "open an empty payload");
	}

	/*
	 * Pieces, as the segment pipeline seals: runs built in place in the
	 * object with blocks encrypted from elsewhere between them, of odd
	 * lengths so the GCM stream is cut off its 16-byte blocks.
	 */
	{
		static const size_t cuts[] = { 0, 24, 24 + 333, 24 + 333 + 17, 600, 601, PLEN };
		uint8_t pobj[PLEN + ENV_OVERHEAD], *ct = pobj + ENV_HDR_BYTES;
		struct env_piece pieces[6];
		size_t n = 0;

		memset(pobj, 0, sizeof(pobj));
		for (size_t i = 0; i + 1 < sizeof(cuts) / sizeof(cuts[0]); i++) {
			size_t len = cuts[i + 1] - cuts[i];

			/* Every other piece in place (copied there), the rest read from payload. */
			if (i % 2 == 0) {
				memcpy(ct + cuts[i], payload + cuts[i], len);
				pieces[n++] = (struct env_piece){ .src = ct + cuts[i], .len = len };
			} else {
				pieces[n++] = (struct env_piece){ .src = payload + cuts[i], .len = len };
			}
		}
		tap_eq(envelope_seal_pieces(&key, &meta, pieces, n, pobj), 0,
		       "seal a payload given as 6 pieces, 3 in place and 3 elsewhere");
		ret = open_copy(pobj, sizeof(pobj), &key, &meta, false, out, &out_len);
		tap_ok(ret == 0 && out_len == PLEN && !memcmp(out, payload, PLEN),
		       "it opens to the pieces laid end to end");
		/* Control: the same pieces in another order seal another payload. */
		{
			struct env_piece t = pieces[1];

			pieces[1] = pieces[3];
			pieces[3] = t;
		}
		memcpy(ct, payload, PLEN);
		tap_eq(envelope_seal_pieces(&key, &meta, pieces, n, pobj), 0, "seal the pieces reordered");
		ret = open_copy(pobj, sizeof(pobj), &key, &meta, false, out, &out_len);
		tap_ok(ret == 0 && out_len == PLEN && memcmp(out, payload, PLEN),
		       "control: reordered pieces give another payload");
	}
	return tap_done();
}
