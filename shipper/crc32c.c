// SPDX-License-Identifier: GPL-2.0
/*
 * CRC-32C.  x86-64 CPUs with SSE4.2 have an instruction for it (chosen at
 * run time); everything else uses a slicing-by-8 table built on first use.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY	0x82F63B78u

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

#if defined(__x86_64__)
/*
 * The crc32 instruction has a latency of 3 cycles but can start one per
 * cycle, so three independent streams over three stripes of a buffer run
 * about three times as fast as one.  The stripes' registers are then joined:
 * the register after stripes X and Y is shift(reg after X) ^ reg of Y alone,
 * where shift() runs a register over CRC32C_STRIPE zero bytes, a linear map
 * done with four byte tables.  3 x 1360 bytes cover a 4 KiB block but 16.
 */
#define CRC32C_STRIPE	1360u
static uint32_t crc32c_shift_table[4][256];
static pthread_once_t crc32c_shift_once = PTHREAD_ONCE_INIT;

static void crc32c_shift_init(void)
{
	pthread_once(&crc32c_table_once, crc32c_table_init);
	for (unsigned int k = 0; k < 4; k++)
		for (unsigned int b = 0; b < 256; b++) {
			uint32_t c = (uint32_t)b << (8 * k);

			for (unsigned int i = 0; i < CRC32C_STRIPE; i++)
				c = (c >> 8) ^ crc32c_table[0][c & 0xff];
			crc32c_shift_table[k][b] = c;
		}
}

static inline uint32_t crc32c_shift(uint32_t c)
{
	return crc32c_shift_table[0][c & 0xff] ^ crc32c_shift_table[1][(c >> 8) & 0xff] ^
	       crc32c_shift_table[2][(c >> 16) & 0xff] ^ crc32c_shift_table[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	if (len >= 3 * CRC32C_STRIPE)
		pthread_once(&crc32c_shift_once, crc32c_shift_init);
	while (len >= 3 * CRC32C_STRIPE) {
		uint64_t c1 = 0, c2 = 0;

		for (size_t i = 0; i < CRC32C_STRIPE; i += 8) {
			uint64_t v0, v1, v2;

			memcpy(&v0, p + i, 8);
			memcpy(&v1, p + CRC32C_STRIPE + i, 8);
			memcpy(&v2, p + 2 * CRC32C_STRIPE + i, 8);
			c = _mm_crc32_u64(c, v0);
			c1 = _mm_crc32_u64(c1, v1);
			c2 = _mm_crc32_u64(c2, v2);
		}
		c = crc32c_shift(crc32c_shift((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * CRC32C_STRIPE;
		len -= 3 * CRC32C_STRIPE;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_sse42(crc, buf, len);
#endif
	return crc32c_sw(crc, buf, len);
}
