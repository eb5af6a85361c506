// SPDX-License-Identifier: GPL-2.0
/*
 * CRC-32C through Intel's ISA-L (libisal), which has the fast code for
 * every x86-64 and arm64 CPU; a slicing-by-8 table walk stays as the
 * reference the unit test checks ISA-L against.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#include <isa-l/crc.h>

#define CRC32C_POLY	0x82F63B78u
#define CRC32C_ISAL_MAX	(1u << 30)

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

static void crc32c_table_init(void)
{
	for (unsigned int i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc32c_table[0][i] = c;
	}
	for (unsigned int i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc32c_table[t][i] = (crc32c_table[t - 1][i] >> 8) ^
					     crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc32c_table_once, crc32c_table_init);
	crc = ~crc;
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);	/* the table walk wants the bytes little-endian */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		v = __builtin_bswap64(v);
#endif
		v ^= crc;
		crc = crc32c_table[7][v & 0xff] ^
		      crc32c_table[6][(v >> 8) & 0xff] ^
		      crc32c_table[5][(v >> 16) & 0xff] ^
		      crc32c_table[4][(v >> 24) & 0xff] ^
		      crc32c_table[3][(v >> 32) & 0xff] ^
		      crc32c_table[2][(v >> 40) & 0xff] ^
		      crc32c_table[1][(v >> 48) & 0xff] ^
		      crc32c_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/*
 * ISA-L picks the fastest code this CPU has at run time (on x86-64 a
 * folding loop over PCLMULQDQ or AVX-512 VPCLMULQDQ, about twice the speed of
 * three interleaved crc32 instruction streams).  Its register convention has
 * no final inversion, so the standard value is ~crc32_iscsi(buf, len, ~crc).
 * Its length is an int: longer buffers go in pieces.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	while (len) {
		size_t n = len > CRC32C_ISAL_MAX ? CRC32C_ISAL_MAX : len;

		c = crc32_iscsi((unsigned char *)p, (int)n, c);
		p += n;
		len -= n;
	}
	return ~c;
}
