/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Encryption keys.  A key file holds 64 hex digits and a newline; it must be
 * a regular file not readable or writable by group or others.  Keys never
 * appear in argv or in logs; only their key id (see FORMAT.md) does.
 */
#ifndef CBTSHIP_KEY_H
#define CBTSHIP_KEY_H

#include <stdint.h>

#define CBT_KEY_BYTES		32
#define CBT_KEY_ID_BYTES	8

struct cbt_key {
	uint8_t bytes[CBT_KEY_BYTES];
	uint8_t id[CBT_KEY_ID_BYTES];	/* HMAC-SHA256(key, "cbtship key id v1")[0..8) */
};

/* Write a new random key to path (created with O_EXCL, mode 0600). */
int key_generate(const char *path);

/*
 * Load and check a key file.  Errors (each logged with what to do):
 * -ENOENT missing, -EPERM unsafe permissions, -EINVAL malformed or short.
 */
int key_load(const char *path, struct cbt_key *key);

/* Wipe key material from memory. */
void key_wipe(struct cbt_key *key);

/* Key id as 16 hex digits plus NUL, for messages. */
void key_id_hex(const uint8_t id[CBT_KEY_ID_BYTES], char out[2 * CBT_KEY_ID_BYTES + 1]);

#endif
