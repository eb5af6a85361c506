// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the two small text records a store holds: the store marker (read by
 * store_local_open() from a real directory) and a volume's replica-applied
 * record (vstore_get_applied()).  The same input is tried as both.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "store-local.h"
#include "vstore-priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[300], marker[400];
	static struct vstore *vs;
	char path[VSTORE_PATH_MAX], text[32];
	struct store *st;
	uint64_t cycle;
	int ret;

	if (!vs) {
		snprintf(dir, sizeof(dir), "%s/store", fuzz_setup());
		snprintf(marker, sizeof(marker), "%s/" STORE_MARKER, dir);
		FUZZ_CHECK(mkdir(dir, 0700) == 0);
		FUZZ_CHECK(vstore_create(fuzz_mem_store(), "vol", fuzz_key(), 4096, 1 << 20,
					 &vs) == 0);
	}

	/* The store marker. */
	fuzz_write_file(marker, data, size, 0644);
	ret = store_local_open(dir, false, &st);
	FUZZ_CHECK(ret == 0 || ret == -ENOTDIR || ret == -EPROTO);
	if (ret == 0) {
		FUZZ_CHECK(size == strlen(STORE_MARKER_TEXT) &&
			   !memcmp(data, STORE_MARKER_TEXT, size));
		store_close(st);
	}

	/* The replica-applied record: what loads is the number set_applied writes. */
	vstore_path_applied(vs, path);
	FUZZ_CHECK(store_put(vs->st, path, data, size) == 0);
	ret = vstore_get_applied(vs, &cycle);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG);
	if (ret == 0) {
		int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", cycle);
		size_t skip = 0;

		/* Leading zeros are tolerated; the digits after them are the number. */
		while (skip + 1 < size - 1 && data[skip] == '0')
			skip++;
		FUZZ_CHECK(size - skip == (size_t)n && !memcmp(data + skip, text, n));
		FUZZ_CHECK(vstore_set_applied(vs, cycle) == 0);
		FUZZ_CHECK(vstore_get_applied(vs, &cycle) == 0);
		FUZZ_CHECK(cycle == strtoull(text, NULL, 10));
	}
	return 0;
}
