/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as stored per
 * block in segments.  crc32c(0, buf, len) is the standard checksum of buf;
 * passing a previous result as crc continues it over more data.
 */
#ifndef CBTSHIP_CRC32C_H
#define CBTSHIP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable table path, exposed so tests can compare it with the CPU's. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
