/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The envelope of FORMAT.md: a 128-byte header (the AAD), the AES-256-GCM
 * ciphertext under a per-object HKDF subkey, and a 16-byte tag.  Pure
 * functions over buffers: no I/O.
 */
#ifndef CBTSHIP_ENVELOPE_H
#define CBTSHIP_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "key.h"

#define ENV_HDR_BYTES		128
#define ENV_TAG_BYTES		16
#define ENV_OVERHEAD		(ENV_HDR_BYTES + ENV_TAG_BYTES)
#define ENV_VERSION		1	/* of every type but the manifest */
#define ENV_VERSION_MANIFEST	2	/* the newest manifest format (format.h) */
#define ENV_ID_BYTES		16

enum env_type {
	ENV_VOLUME = 1,
	ENV_SEGMENT = 2,
	ENV_MANIFEST = 3,
	ENV_RECORD = 4,		/* a small record (vol-state.h); segment = record kind */
	ENV_HASH_INDEX = 5,	/* blockhash.c */
	ENV_HASH_PART = 6,
};

/* The header fields an object is sealed with and opened against. */
struct env_meta {
	enum env_type type;
	uint8_t version;		/* format version; 0 when sealing: ENV_VERSION */
	uint8_t codec;			/* enum codec_id of the records */
	uint8_t volume_id[ENV_ID_BYTES];
	uint64_t cycle;
	uint32_t segment;
};

static inline size_t envelope_size(size_t payload_len)
{
	return payload_len + ENV_OVERHEAD;
}

/*
 * Seal payload into out (envelope_size(len) bytes), with a fresh random
 * salt.  payload may be out + ENV_HDR_BYTES: it is then encrypted in place
 * (the segment pipeline builds segments there to save a copy).  Returns 0
 * or -errno (OpenSSL failure, logged).
 */
int envelope_seal(const struct cbt_key *key, const struct env_meta *meta,
		  const void *payload, size_t len, void *out);

/* A run of payload bytes where it lies: see envelope_seal_pieces. */
struct env_piece {
	const void *src;
	size_t len;
};

/*
 * Seal a payload given as pieces laid end to end (n of them, their lengths
 * summing to the payload's), as envelope_seal does: the ciphertext is
 * written contiguously from out + ENV_HDR_BYTES.  A piece may lie at its
 * own place there (encrypted in place) or outside out altogether, such as raw blocks
 * still in the reader's buffer, which then need no copy first.
 */
int envelope_seal_pieces(const struct cbt_key *key, const struct env_meta *meta,
			 const struct env_piece *pieces, size_t n, void *out);

/*
 * The format versions a reader knows for an object type: 1 for every type,
 * and 2 for manifests (format.h FMT_MANIFEST_V2).
 */
bool envelope_version_known(unsigned int type, unsigned int version);

/*
 * Open an object named `what` (for messages).  The header must say exactly
 * what `expect` says (type, volume id unless any_volume, cycle, segment);
 * then the tag is checked.  On success the plaintext is in out (at least
 * len - ENV_OVERHEAD bytes), its length in *out_len, and the header's codec,
 * format version and volume id in *got.  If it does not authenticate, out is zeroed.
 * Errors (logged, naming `what`): -EBADMSG damaged, truncated, misplaced or
 * not authentic; -EPROTO unknown version or cipher; -EKEYREJECTED sealed
 * with another key.
 */
int envelope_open(const struct cbt_key *key, const char *what,
		  const void *obj, size_t len,
		  const struct env_meta *expect, bool any_volume,
		  struct env_meta *got, void *out, size_t *out_len);

#endif
