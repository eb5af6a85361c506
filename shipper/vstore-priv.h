/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the volume store: object names, reading and checking manifests
 * and segments.  Shared by vstore.c, cycle-writer.c, apply.c and blockhash.c only.
 */
#ifndef CBTSHIP_VSTORE_PRIV_H
#define CBTSHIP_VSTORE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "format.h"
#include "vstore.h"

struct vstore {
	struct store *st;
	struct cbt_key key;
	struct vstore_volume_info info;
};

/* Object names (FORMAT.md "Layout"); buffers of VSTORE_PATH_MAX bytes. */
#define VSTORE_PATH_MAX		256
void vstore_path_volume(const struct vstore *vs, char *buf);
void vstore_path_cycles(const struct vstore *vs, char *buf);
void vstore_path_cycle(const struct vstore *vs, uint64_t cycle, char *buf);
void vstore_path_segment(const struct vstore *vs, uint64_t cycle, uint32_t index, char *buf);
void vstore_path_manifest(const struct vstore *vs, uint64_t cycle, char *buf);
void vstore_path_applied(const struct vstore *vs, char *buf);

/* Every cycle directory number (complete or not), ascending; *out malloc'd. */
int vstore_list_cycles(struct vstore *vs, uint64_t **out, size_t *nr);

/*
 * Read, authenticate and decode a cycle's manifest, and check it matches
 * the volume.  -ENOENT (not logged) if the cycle has no manifest.
 */
int vstore_read_manifest(struct vstore *vs, uint64_t cycle, struct fmt_manifest *m);

/*
 * Read one segment of a cycle, check its size and GCM tag (a version 1
 * manifest: SHA-256) against the manifest entry, and authenticate it.  On success *payload (malloc'd)
 * holds the plaintext and *codec the codec of its compressed records.
 */
int vstore_read_segment(struct vstore *vs, uint64_t cycle, const struct fmt_manifest_seg *seg,
			uint8_t **payload, size_t *len, unsigned int *codec);

/* The replica-applied record: 0 if absent. */
int vstore_get_applied(struct vstore *vs, uint64_t *cycle);
int vstore_set_applied(struct vstore *vs, uint64_t cycle);

/* SHA-256 of a buffer (OpenSSL, failure logged). */
int vstore_sha256(const void *buf, size_t len, uint8_t out[FMT_SHA256_BYTES]);

#endif
