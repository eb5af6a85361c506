// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the manifest and volume header decoders (format.c) with raw
 * plaintexts, as they would come out of an authenticated envelope written
 * by a buggy or hostile writer, as either manifest format version (the
 * envelope says which).  Whatever decodes must encode back to the same
 * bytes: the format has one encoding per value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmt_manifest m;
	struct fmt_volume v;

	fuzz_setup();
	for (uint32_t version = FMT_MANIFEST_V1; version <= FMT_MANIFEST_V2; version++) {
		uint8_t *out;

		if (fmt_manifest_decode("fuzz manifest", version, data, size, &m))
			continue;
		out = malloc(size);
		FUZZ_CHECK(out);
		FUZZ_CHECK(m.version == version);
		FUZZ_CHECK(fmt_manifest_len(&m) == size);
		fmt_manifest_encode(&m, out);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
		free(out);
		fmt_manifest_free(&m);
	}
	if (fmt_volume_decode("fuzz volume header", data, size, &v) == 0) {
		uint8_t out[FMT_VOLUME_BYTES];

		fmt_volume_encode(&v, out);
		FUZZ_CHECK(memcmp(out, data, size) == 0);
	}
	return 0;
}
