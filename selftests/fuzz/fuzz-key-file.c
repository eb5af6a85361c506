// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the key file parser (key.c): the input is the file's content (mode
 * 0600).  A file that loads holds exactly 64 hex digits and an optional
 * newline, and the key is what those digits say.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[300];
	struct cbt_key key;

	if (!path[0])
		snprintf(path, sizeof(path), "%s/key", fuzz_setup());
	fuzz_write_file(path, data, size, 0600);
	if (key_load(path, &key))
		return 0;
	FUZZ_CHECK(size == 64 || (size == 65 && data[64] == '\n'));
	for (size_t i = 0; i < CBT_KEY_BYTES; i++) {
		unsigned int b;
		char hex[3] = { (char)data[2 * i], (char)data[2 * i + 1], 0 };

		FUZZ_CHECK(isxdigit(data[2 * i]) && isxdigit(data[2 * i + 1]));
		FUZZ_CHECK(sscanf(hex, "%2x", &b) == 1 && key.bytes[i] == b);
	}
	key_wipe(&key);
	return 0;
}
