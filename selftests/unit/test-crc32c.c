// SPDX-License-Identifier: GPL-2.0
/* crc32c: known vectors, and ISA-L agrees with the table path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "tap.h"
#include "tmpdir.h"

int main(void)
{
	static const uint8_t zeros[32];
	uint8_t ones[32], inc[32], buf[4099];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;

	tap_eq(crc32c(0, "123456789", 9), 0xE3069283u, "crc32c(\"123456789\")");
	tap_eq(crc32c_sw(0, "123456789", 9), 0xE3069283u, "table crc32c(\"123456789\")");
	tap_eq(crc32c(0, zeros, 32), 0x8A9136AAu, "crc32c of 32 zero bytes");
	tap_eq(crc32c_sw(0, zeros, 32), 0x8A9136AAu, "table crc32c of 32 zero bytes");
	/* RFC 3720 B.4 vectors. */
	tap_eq(crc32c(0, ones, 32), 0x62A8AB43u, "crc32c of 32 0xff bytes");
	tap_eq(crc32c(0, inc, 32), 0x46DD794Eu, "crc32c of bytes 0..31");
	tap_eq(crc32c(0, "", 0), 0u, "crc32c of nothing is 0");

	/* Continuing a checksum equals checksumming the whole. */
	tap_eq(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u,
	       "crc32c continues across calls");

	test_fill_random(buf, sizeof(buf), 7);
	{
		int same = 1;

		/* Every length and misalignment up to 64, then a long buffer. */
		for (size_t off = 0; off < 8; off++)
			for (size_t len = 0; len < 64; len++)
				if (crc32c(0, buf + off, len) != crc32c_sw(0, buf + off, len))
					same = 0;
		tap_ok(same, "ISA-L and table paths agree on short, misaligned buffers");
		tap_eq(crc32c(0, buf, sizeof(buf)), crc32c_sw(0, buf, sizeof(buf)),
		       "ISA-L and table paths agree on 4099 bytes");
	}
	{
		static uint8_t big[3 * 1360 * 4 + 100];
		int same = 1;

		/* Long, misaligned buffers (ISA-L folds 64 and 256 bytes at a time). */
		test_fill_random(big, sizeof(big), 11);
		for (size_t off = 0; off < 8; off++)
			for (size_t len = 4000; len < sizeof(big) - 8; len += 97)
				if (crc32c(0, big + off, len) != crc32c_sw(0, big + off, len))
					same = 0;
		for (size_t len = 3 * 1360 - 9; len < 3 * 1360 + 9; len++)
			if (crc32c(0, big, len) != crc32c_sw(0, big, len))
				same = 0;
		tap_ok(same, "ISA-L and table paths agree on long, misaligned buffers");
		tap_eq(crc32c(crc32c(0x12345678, big, 5000), big + 5000, 7000),
		       crc32c_sw(crc32c_sw(0x12345678, big, 5000), big + 5000, 7000),
		       "ISA-L path continues from a previous checksum");
		memset(big, 0, 4096);
		tap_eq(crc32c(0, big, 4096), 0x98F94189u, "crc32c of a 4 KiB zero block");
	}
	buf[100] ^= 1;
	tap_ok(crc32c(0, buf, sizeof(buf)) != crc32c_sw(0, buf + 1, sizeof(buf) - 1),
	       "a different buffer gives a different checksum");
	return tap_done();
}
