/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Payload encodings of FORMAT.md: volume header, segment and manifest.
 * Decoders check every count against the bytes present, every reserved
 * field, and every block number against the volume: they never trust a
 * length they read.  All return 0 or -EBADMSG (logged, naming `what`).
 */
#ifndef CBTSHIP_FORMAT_H
#define CBTSHIP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/dm-cbt.h>

#define FMT_NAME_BYTES		128
#define FMT_VOLUME_BYTES	(4 + 4 + 8 + 8 + FMT_NAME_BYTES)
#define FMT_SEG_HDR_BYTES	8
#define FMT_REC_HDR_BYTES	24
#define FMT_MANIFEST_HDR_BYTES	72
#define FMT_MANIFEST_SEG_BYTES_V1	48	/* ... SHA-256 of the object */
#define FMT_MANIFEST_SEG_BYTES	32	/* version 2: ... the object's GCM tag */

/* A manifest's consistency field: what the cycle's data is (CONSISTENCY.md). */
#define FMT_CONSISTENCY_NONE	0	/* read from the live device while written */
#define FMT_CONSISTENCY_CRASH	1	/* the volume at the freeze (a snapshot) */
#define FMT_CONSISTENCY_APP	2	/* that, with the application's hooks run */
#define FMT_CONSISTENCY_LEVEL	0xffu	/* the level's bits; above them flags: */
#define FMT_CONSISTENCY_GROUP	0x100u	/* a consistency group trailer follows */
#define FMT_MANIFEST_GROUP_BYTES 48	/* 8 instant, 8 reserved, 32 group name */
#define FMT_GROUP_NAME_MAX	31
#define FMT_MANIFEST_EXT_BYTES	16
#define FMT_SHA256_BYTES	32
#define FMT_TAG_BYTES		16

/*
 * Manifest format versions (the envelope's version byte of a manifest;
 * FORMAT.md).  Version 1 records each segment's SHA-256, version 2 its
 * AES-256-GCM tag; writers write version 2, readers read both.
 */
#define FMT_MANIFEST_V1		1
#define FMT_MANIFEST_V2		2
#define FMT_MANIFEST_VERSION	FMT_MANIFEST_V2

#define FMT_BLOCK_SIZE_MIN	512u
#define FMT_BLOCK_SIZE_MAX	(64u << 20)

/* True if name is a valid volume name (FORMAT.md). */
bool fmt_volume_name_ok(const char *name);
/* True if block_size is a power of two within the limits above. */
bool fmt_block_size_ok(uint32_t block_size);
/* Blocks in a volume, and the raw length of one of them (last may be short). */
uint64_t fmt_nr_blocks(uint64_t size_bytes, uint32_t block_size);
uint32_t fmt_block_len(uint64_t block, uint64_t size_bytes, uint32_t block_size);

struct fmt_volume {
	uint32_t block_size;
	uint64_t size_bytes;
	uint64_t created;
	char name[FMT_NAME_BYTES];
};

void fmt_volume_encode(const struct fmt_volume *v, uint8_t out[FMT_VOLUME_BYTES]);
int fmt_volume_decode(const char *what, const void *buf, size_t len, struct fmt_volume *v);

enum fmt_record_kind {
	REC_RAW = 0,
	REC_COMPRESSED = 1,
	REC_ZERO = 2,
};

struct fmt_record {
	uint64_t block;
	uint32_t crc;
	uint32_t stored_len;
	enum fmt_record_kind kind;
	uint32_t raw_len;		/* decode only: the block's length in the volume */
	const uint8_t *data;		/* decode only: stored_len bytes in the buffer */
};

void fmt_segment_header_encode(uint8_t out[FMT_SEG_HDR_BYTES], uint32_t count,
			       uint32_t block_size);
void fmt_record_header_encode(uint8_t out[FMT_REC_HDR_BYTES], const struct fmt_record *r);

/* Walks a segment's records; checks each as it goes and the end exactly. */
struct fmt_seg_reader {
	const char *what;
	const uint8_t *buf;
	size_t len, pos;
	uint32_t count, seen;
	uint32_t block_size;
	uint64_t size_bytes;
	uint64_t last_block;
};

int fmt_segment_begin(struct fmt_seg_reader *r, const char *what, const void *buf, size_t len,
		      uint32_t block_size, uint64_t size_bytes);
/* 1 and *rec filled, 0 after the last record (nothing left over), or -EBADMSG. */
int fmt_segment_next(struct fmt_seg_reader *r, struct fmt_record *rec);

struct fmt_manifest_seg {
	uint32_t index;
	uint32_t records;
	uint64_t object_bytes;
	uint8_t tag[FMT_TAG_BYTES];	/* version 2: the sealed object's last 16 bytes */
	uint8_t sha256[FMT_SHA256_BYTES];	/* version 1 only: of the whole object */
	bool has_sha256;		/* from a version 1 manifest: check sha256, not tag */
};

struct fmt_manifest {
	uint32_t version;		/* FMT_MANIFEST_V1 or _V2 */
	uint32_t kind;			/* enum cycle_kind */
	uint32_t block_size;
	uint64_t size_bytes;
	uint64_t created;
	uint64_t tracking_cycle;
	uint8_t tracking_id[16];
	uint32_t nr_segments;
	uint64_t nr_extents;
	uint64_t blocks_sent;
	uint32_t consistency;		/* FMT_CONSISTENCY_* level | flags */
	/* With FMT_CONSISTENCY_GROUP: the group's freeze instant (us since the epoch). */
	uint64_t group_instant;
	char group[FMT_GROUP_NAME_MAX + 1];
	struct fmt_manifest_seg *segs;
	struct cbt_extent *ext;
};

size_t fmt_manifest_bytes(uint32_t version, uint32_t nr_segments, uint64_t nr_extents);
/* The whole encoded length of m, with its group trailer if it has one. */
size_t fmt_manifest_len(const struct fmt_manifest *m);
/* Encode m->version's layout into out (fmt_manifest_len() long). */
void fmt_manifest_encode(const struct fmt_manifest *m, uint8_t *out);
/*
 * Decode a manifest of format `version` (the envelope's); segs and ext are
 * malloc'd (fmt_manifest_free).  -EPROTO for an unknown version; -ENOMEM
 * possible.
 */
int fmt_manifest_decode(const char *what, unsigned int version, const void *buf, size_t len,
			struct fmt_manifest *m);
void fmt_manifest_free(struct fmt_manifest *m);

#endif
