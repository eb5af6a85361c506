/* SPDX-License-Identifier: GPL-2.0 */
/* Lower-case hex of ids and digests, for logs, output and text state files. */
#ifndef CBTSHIP_HEX_H
#define CBTSHIP_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* out holds 2 * n + 1 bytes; it is NUL-terminated. */
static inline void hex_encode(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * n] = '\0';
}

#endif
