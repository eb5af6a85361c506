// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: blackout window lists.  Anything the parser accepts
 * must format back to a list that parses to the same windows, and
 * evaluating it must not misbehave.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blackout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blackout b, again;
	char *s, err[256], text[BLACKOUT_MAX * 40];

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (blackout_parse(s, &b, err, sizeof(err)) == 0) {
		blackout_format(&b, text, sizeof(text));
		if (blackout_parse(text, &again, err, sizeof(err)) || again.nr != b.nr ||
		    memcmp(again.w, b.w, b.nr * sizeof(b.w[0])))
			abort();
		(void)blackout_next_end(&b, 1800000000);
		(void)blackout_next_start(&b, 1800000000);
	} else if (strncmp(err, "column ", 7)) {
		abort();	/* every error names its column */
	}
	free(s);
	return 0;
}
