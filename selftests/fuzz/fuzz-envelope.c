// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz envelope opening (envelope.c) with the fixed key.  Two halves:
 *
 *  - the input as an object: every header check runs against hostile
 *    bytes; what the header expects (type, volume id, cycle, segment) is
 *    taken from the input itself when byte 0 says so, so the fuzzer also
 *    reaches the key derivation and the tag check;
 *  - the input as a payload: sealed with the fixed key it must open to the
 *    same bytes, and with any one byte changed it must not open at all.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "le.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cbt_key *key = fuzz_key();
	struct env_meta expect = { 0 }, got;
	uint8_t sel, *out, *obj;
	size_t out_len, obj_len;
	bool any_volume;
	int ret;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;

	/* Half 1: the input is an object from the store. */
	expect.type = 1 + sel % 3;
	any_volume = sel & 4;
	if ((sel & 8) && size >= ENV_HDR_BYTES) {
		expect.type = data[6];
		memcpy(expect.volume_id, data + 24, ENV_ID_BYTES);
		expect.cycle = get_le64(data + 40);
		expect.segment = get_le32(data + 48);
	}
	out = malloc(size ? size : 1);
	FUZZ_CHECK(out);
	ret = envelope_open(key, "fuzz object", data, size, &expect, any_volume, &got, out,
			    &out_len);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -EPROTO || ret == -EKEYREJECTED);
	if (ret == 0) {
		FUZZ_CHECK(out_len == size - ENV_OVERHEAD);
		FUZZ_CHECK(got.type == expect.type && got.cycle == expect.cycle);
	}
	free(out);

	/* Half 2: the input is a payload; seal, open, tamper. */
	obj_len = envelope_size(size);
	obj = malloc(obj_len);
	out = malloc(obj_len);
	FUZZ_CHECK(obj && out);
	expect.type = 1 + sel % 3;
	expect.codec = sel >> 4;
	expect.cycle = sel;
	expect.segment = (uint32_t)size;
	FUZZ_CHECK(envelope_seal(key, &expect, data, size, obj) == 0);
	FUZZ_CHECK(envelope_open(key, "fuzz sealed", obj, obj_len, &expect, false, &got, out,
				 &out_len) == 0);
	FUZZ_CHECK(out_len == size && !memcmp(out, data, size));
	FUZZ_CHECK(got.codec == expect.codec && got.segment == expect.segment);
	obj[(sel * 131u + size) % obj_len] ^= (uint8_t)(1u << (sel % 8));
	FUZZ_CHECK(envelope_open(key, "fuzz tampered", obj, obj_len, &expect, false, &got, out,
				 &out_len) != 0);
	free(obj);
	free(out);
	return 0;
}
