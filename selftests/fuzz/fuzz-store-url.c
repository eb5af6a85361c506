// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the Azure store/page-blob URL parser.  Input: a spec,
 * optionally "\n" and an endpoint.  Checks the parser's promises on every
 * accepted input, not just that it does not crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "azure-url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct azure_url u;
	char *buf, *endpoint;

	if (size > 4096)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	endpoint = strchr(buf, '\n');
	if (endpoint)
		*endpoint++ = '\0';
	for (int allow = 0; allow < 2; allow++) {
		if (azure_url_parse(buf, endpoint, allow, true, &u))
			continue;
		/* Accepted: everything is terminated, named safely and consistent. */
		if (strlen(u.account) < 3 || strlen(u.container) < 3 ||
		    (u.path[0] && !azure_name_ok(u.path)) ||
		    strncmp(u.base, u.https ? "https://" : "http://", u.https ? 8 : 7) ||
		    (!allow && !u.https) ||
		    u.base_path < u.base || u.base_path > u.base + strlen(u.base) ||
		    strpbrk(u.base, "?# "))
			abort();
	}
	free(buf);
	return 0;
}
