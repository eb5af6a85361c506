// SPDX-License-Identifier: GPL-2.0
/* Payload encode/decode (FORMAT.md).  Decoding checks everything it reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "le.h"
#include "log.h"

bool fmt_volume_name_ok(const char *name)
{
	size_t n = strnlen(name, FMT_NAME_BYTES);

	if (n == 0 || n >= FMT_NAME_BYTES || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool fmt_block_size_ok(uint32_t block_size)
{
	return block_size >= FMT_BLOCK_SIZE_MIN && block_size <= FMT_BLOCK_SIZE_MAX &&
	       !(block_size & (block_size - 1));
}

uint64_t fmt_nr_blocks(uint64_t size_bytes, uint32_t block_size)
{
	return size_bytes / block_size + (size_bytes % block_size != 0);
}

uint32_t fmt_block_len(uint64_t block, uint64_t size_bytes, uint32_t block_size)
{
	uint64_t off = block * block_size;

	if (off >= size_bytes)
		return 0;
	return size_bytes - off < block_size ? (uint32_t)(size_bytes - off) : block_size;
}

static int bad(const char *what, const char *why)
{
	log_err("%s is not valid: %s", what, why);
	return -EBADMSG;
}

/* ---- volume header ---- */

void fmt_volume_encode(const struct fmt_volume *v, uint8_t out[FMT_VOLUME_BYTES])
{
	memset(out, 0, FMT_VOLUME_BYTES);
	put_le32(out, v->block_size);
	put_le64(out + 8, v->size_bytes);
	put_le64(out + 16, v->created);
	memcpy(out + 24, v->name, strnlen(v->name, FMT_NAME_BYTES - 1));
}

int fmt_volume_decode(const char *what, const void *buf, size_t len, struct fmt_volume *v)
{
	const uint8_t *p = buf;
	size_t name_len;

	if (len != FMT_VOLUME_BYTES)
		return bad(what, "the volume header has the wrong length");
	v->block_size = get_le32(p);
	v->size_bytes = get_le64(p + 8);
	v->created = get_le64(p + 16);
	if (get_le32(p + 4))
		return bad(what, "a reserved field is not zero");
	if (!fmt_block_size_ok(v->block_size))
		return bad(what, "the block size is not a power of two from 512 bytes to 64 MiB");
	if (v->size_bytes == 0)
		return bad(what, "the volume size is zero");
	name_len = strnlen((const char *)p + 24, FMT_NAME_BYTES);
	if (name_len == FMT_NAME_BYTES)
		return bad(what, "the volume name is not terminated");
	if (!all_zero(p + 24 + name_len, FMT_NAME_BYTES - name_len))
		return bad(what, "the volume name is not NUL-padded");
	memcpy(v->name, p + 24, FMT_NAME_BYTES);
	if (!fmt_volume_name_ok(v->name))
		return bad(what, "the volume name has characters a name may not have");
	return 0;
}

/* ---- segment ---- */

void fmt_segment_header_encode(uint8_t out[FMT_SEG_HDR_BYTES], uint32_t count,
			       uint32_t block_size)
{
	put_le32(out, count);
	put_le32(out + 4, block_size);
}

void fmt_record_header_encode(uint8_t out[FMT_REC_HDR_BYTES], const struct fmt_record *r)
{
	memset(out, 0, FMT_REC_HDR_BYTES);
	put_le64(out, r->block);
	put_le32(out + 8, r->crc);
	put_le32(out + 12, r->stored_len);
	out[16] = (uint8_t)r->kind;
}

int fmt_segment_begin(struct fmt_seg_reader *r, const char *what, const void *buf, size_t len,
		      uint32_t block_size, uint64_t size_bytes)
{
	memset(r, 0, sizeof(*r));
	r->what = what;
	r->buf = buf;
	r->len = len;
	r->block_size = block_size;
	r->size_bytes = size_bytes;
	if (len < FMT_SEG_HDR_BYTES)
		return bad(what, "the segment is shorter than its header");
	r->count = get_le32(r->buf);
	if (get_le32(r->buf + 4) != block_size)
		return bad(what, "the segment's block size differs from the volume's");
	if (r->count > (len - FMT_SEG_HDR_BYTES) / FMT_REC_HDR_BYTES)
		return bad(what, "the record count does not fit in the segment");
	r->pos = FMT_SEG_HDR_BYTES;
	return 0;
}

int fmt_segment_next(struct fmt_seg_reader *r, struct fmt_record *rec)
{
	const uint8_t *p;
	uint64_t nr_blocks = fmt_nr_blocks(r->size_bytes, r->block_size);

	if (r->seen == r->count) {
		if (r->pos != r->len)
			return bad(r->what, "bytes follow the last record");
		return 0;
	}
	if (r->len - r->pos < FMT_REC_HDR_BYTES)
		return bad(r->what, "a record header runs past the end of the segment");
	p = r->buf + r->pos;
	rec->block = get_le64(p);
	rec->crc = get_le32(p + 8);
	rec->stored_len = get_le32(p + 12);
	rec->kind = p[16];
	if (!all_zero(p + 17, 7))
		return bad(r->what, "a record's reserved bytes are not zero");
	if (rec->block >= nr_blocks)
		return bad(r->what, "a record names a block beyond the end of the volume");
	if (r->seen && rec->block <= r->last_block)
		return bad(r->what, "records are not in ascending block order");
	rec->raw_len = fmt_block_len(rec->block, r->size_bytes, r->block_size);
	switch (rec->kind) {
	case REC_RAW:
		if (rec->stored_len != rec->raw_len)
			return bad(r->what, "a raw record's length is not the block's length");
		break;
	case REC_COMPRESSED:
		if (rec->stored_len == 0 || rec->stored_len >= rec->raw_len)
			return bad(r->what, "a compressed record is not smaller than its block");
		break;
	case REC_ZERO:
		if (rec->stored_len)
			return bad(r->what, "a zero record carries data");
		break;
	default:
		return bad(r->what, "a record has an unknown kind");
	}
	r->pos += FMT_REC_HDR_BYTES;
	if (rec->stored_len > r->len - r->pos)
		return bad(r->what, "a record's data runs past the end of the segment");
	rec->data = r->buf + r->pos;
	r->pos += rec->stored_len;
	r->last_block = rec->block;
	r->seen++;
	return 1;
}

/* ---- manifest ---- */

static size_t manifest_seg_bytes(uint32_t version)
{
	return version == FMT_MANIFEST_V1 ? FMT_MANIFEST_SEG_BYTES_V1 : FMT_MANIFEST_SEG_BYTES;
}

size_t fmt_manifest_bytes(uint32_t version, uint32_t nr_segments, uint64_t nr_extents)
{
	return FMT_MANIFEST_HDR_BYTES + (size_t)nr_segments * manifest_seg_bytes(version) +
	       (size_t)nr_extents * FMT_MANIFEST_EXT_BYTES;
}

size_t fmt_manifest_len(const struct fmt_manifest *m)
{
	return fmt_manifest_bytes(m->version, m->nr_segments, m->nr_extents) +
	       (m->consistency & FMT_CONSISTENCY_GROUP ? FMT_MANIFEST_GROUP_BYTES : 0);
}

void fmt_manifest_encode(const struct fmt_manifest *m, uint8_t *out)
{
	size_t seg_bytes = manifest_seg_bytes(m->version);
	uint8_t *p = out;

	memset(out, 0, FMT_MANIFEST_HDR_BYTES);
	put_le32(p, m->kind);
	put_le32(p + 4, m->block_size);
	put_le64(p + 8, m->size_bytes);
	put_le64(p + 16, m->created);
	put_le64(p + 24, m->tracking_cycle);
	memcpy(p + 32, m->tracking_id, 16);
	put_le32(p + 48, m->nr_segments);
	put_le32(p + 52, m->consistency);
	put_le64(p + 56, m->nr_extents);
	put_le64(p + 64, m->blocks_sent);
	p += FMT_MANIFEST_HDR_BYTES;
	for (uint32_t i = 0; i < m->nr_segments; i++, p += seg_bytes) {
		put_le32(p, m->segs[i].index);
		put_le32(p + 4, m->segs[i].records);
		put_le64(p + 8, m->segs[i].object_bytes);
		if (m->version == FMT_MANIFEST_V1)
			memcpy(p + 16, m->segs[i].sha256, FMT_SHA256_BYTES);
		else
			memcpy(p + 16, m->segs[i].tag, FMT_TAG_BYTES);
	}
	for (uint64_t i = 0; i < m->nr_extents; i++, p += FMT_MANIFEST_EXT_BYTES) {
		put_le64(p, m->ext[i].start);
		put_le64(p + 8, m->ext[i].count);
	}
	if (m->consistency & FMT_CONSISTENCY_GROUP) {
		memset(p, 0, FMT_MANIFEST_GROUP_BYTES);
		put_le64(p, m->group_instant);
		memcpy(p + 16, m->group, strnlen(m->group, FMT_GROUP_NAME_MAX));
	}
}

void fmt_manifest_free(struct fmt_manifest *m)
{
	free(m->segs);
	free(m->ext);
	m->segs = NULL;
	m->ext = NULL;
}

static int manifest_check_lists(const char *what, struct fmt_manifest *m)
{
	uint64_t nr_blocks = fmt_nr_blocks(m->size_bytes, m->block_size);
	uint64_t records = 0, blocks = 0, next = 0;

	for (uint32_t i = 0; i < m->nr_segments; i++) {
		if (m->segs[i].index != i)
			return bad(what, "segment indexes are not 0, 1, 2, ... in order");
		if (m->segs[i].records == 0)
			return bad(what, "a segment holds no records");
		records += m->segs[i].records;
	}
	for (uint64_t i = 0; i < m->nr_extents; i++) {
		const struct cbt_extent *e = &m->ext[i];

		if (e->count == 0)
			return bad(what, "an extent is empty");
		if (e->start < next)
			return bad(what, "extents are not sorted and non-overlapping");
		if (e->start >= nr_blocks || e->count > nr_blocks - e->start)
			return bad(what, "an extent reaches beyond the end of the volume");
		next = e->start + e->count;
		blocks += e->count;
	}
	if (blocks != m->blocks_sent)
		return bad(what, "the extents do not add up to the blocks sent");
	if (records != m->blocks_sent)
		return bad(what, "the segments' records do not add up to the blocks sent");
	if (m->kind == 1 && blocks != nr_blocks)
		return bad(what, "an initial cycle does not cover every block of the volume");
	return 0;
}

int fmt_manifest_decode(const char *what, unsigned int version, const void *buf, size_t len,
			struct fmt_manifest *m)
{
	size_t seg_bytes = manifest_seg_bytes(version);
	const uint8_t *p = buf;
	int ret;

	memset(m, 0, sizeof(*m));
	if (version != FMT_MANIFEST_V1 && version != FMT_MANIFEST_V2) {
		log_err("%s is a manifest of format version %u; this cbtship reads versions %d and %d, upgrade cbtship",
			what, version, FMT_MANIFEST_V1, FMT_MANIFEST_V2);
		return -EPROTO;
	}
	m->version = version;
	if (len < FMT_MANIFEST_HDR_BYTES)
		return bad(what, "the manifest is shorter than its header");
	m->kind = get_le32(p);
	m->block_size = get_le32(p + 4);
	m->size_bytes = get_le64(p + 8);
	m->created = get_le64(p + 16);
	m->tracking_cycle = get_le64(p + 24);
	memcpy(m->tracking_id, p + 32, 16);
	m->nr_segments = get_le32(p + 48);
	m->nr_extents = get_le64(p + 56);
	m->blocks_sent = get_le64(p + 64);
	if (m->kind != 1 && m->kind != 2)
		return bad(what, "the cycle kind is neither initial nor delta");
	m->consistency = get_le32(p + 52);
	if ((m->consistency & FMT_CONSISTENCY_LEVEL) > FMT_CONSISTENCY_APP ||
	    (m->consistency & ~(FMT_CONSISTENCY_LEVEL | FMT_CONSISTENCY_GROUP)))
		return bad(what, "the consistency field is not a level 0, 1 or 2 with known flags");
	if (m->consistency & FMT_CONSISTENCY_GROUP) {
		const uint8_t *t;

		if (len < FMT_MANIFEST_HDR_BYTES + FMT_MANIFEST_GROUP_BYTES)
			return bad(what, "the manifest is too short for its group trailer");
		t = p + len - FMT_MANIFEST_GROUP_BYTES;
		len -= FMT_MANIFEST_GROUP_BYTES;
		m->group_instant = get_le64(t);
		memcpy(m->group, t + 16, FMT_GROUP_NAME_MAX);
		if (get_le64(t + 8) || !m->group[0] || !fmt_volume_name_ok(m->group))
			return bad(what, "the group trailer is not a valid group name and instant");
		for (size_t i = strnlen(m->group, FMT_GROUP_NAME_MAX); i <= FMT_GROUP_NAME_MAX; i++)
			if (t[16 + i])
				return bad(what, "the group name is not NUL-padded");
	}
	if (!fmt_block_size_ok(m->block_size) || m->size_bytes == 0)
		return bad(what, "the block size or volume size is invalid");
	/* Divide rather than multiply: counts come from the object. */
	if (m->nr_segments > (len - FMT_MANIFEST_HDR_BYTES) / seg_bytes)
		return bad(what, "the segment count does not fit in the manifest");
	if (m->nr_extents > (len - FMT_MANIFEST_HDR_BYTES -
			     (size_t)m->nr_segments * seg_bytes) /
			    FMT_MANIFEST_EXT_BYTES ||
	    fmt_manifest_bytes(version, m->nr_segments, m->nr_extents) != len)
		return bad(what, "the manifest's length does not match its counts");

	m->segs = calloc(m->nr_segments ? m->nr_segments : 1, sizeof(*m->segs));
	m->ext = calloc(m->nr_extents ? m->nr_extents : 1, sizeof(*m->ext));
	if (!m->segs || !m->ext) {
		fmt_manifest_free(m);
		return -ENOMEM;
	}
	p += FMT_MANIFEST_HDR_BYTES;
	for (uint32_t i = 0; i < m->nr_segments; i++, p += seg_bytes) {
		m->segs[i].index = get_le32(p);
		m->segs[i].records = get_le32(p + 4);
		m->segs[i].object_bytes = get_le64(p + 8);
		if (version == FMT_MANIFEST_V1) {
			memcpy(m->segs[i].sha256, p + 16, FMT_SHA256_BYTES);
			m->segs[i].has_sha256 = true;
		} else {
			memcpy(m->segs[i].tag, p + 16, FMT_TAG_BYTES);
		}
	}
	for (uint64_t i = 0; i < m->nr_extents; i++, p += FMT_MANIFEST_EXT_BYTES) {
		m->ext[i].start = get_le64(p);
		m->ext[i].count = get_le64(p + 8);
	}
	ret = manifest_check_lists(what, m);
	if (ret)
		fmt_manifest_free(m);
	return ret;
}
