// SPDX-License-Identifier: GPL-2.0
/* Payload decoders: good payloads decode, inconsistent ones are refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "le.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

#define BS 4096u
#define SIZE (10ull * BS + 100)		/* 11 blocks, the last 100 bytes */

static void test_volume(void)
{
	struct fmt_volume v = { .block_size = BS, .size_bytes = SIZE, .created = 1234 }, d;
	uint8_t buf[FMT_VOLUME_BYTES], bad[FMT_VOLUME_BYTES];
	int ret;

	strcpy(v.name, "vol-1.a_b");
	fmt_volume_encode(&v, buf);
	ret = fmt_volume_decode("v", buf, sizeof(buf), &d);
	tap_ok(ret == 0 && d.block_size == BS && d.size_bytes == SIZE && d.created == 1234 &&
	       !strcmp(d.name, "vol-1.a_b"), "volume header round trip");
	tap_eq(fmt_volume_decode("v", buf, sizeof(buf) - 1, &d), -EBADMSG, "short volume header");
	memcpy(bad, buf, sizeof(buf));
	bad[4] = 1;
	tap_eq(fmt_volume_decode("v", bad, sizeof(bad), &d), -EBADMSG, "reserved field set");
	memcpy(bad, buf, sizeof(buf));
	put_le32(bad, 3000);
	tap_eq(fmt_volume_decode("v", bad, sizeof(bad), &d), -EBADMSG, "block size not a power of 2");
	memcpy(bad, buf, sizeof(buf));
	memset(bad + 24, 'a', FMT_NAME_BYTES);
	tap_eq(fmt_volume_decode("v", bad, sizeof(bad), &d), -EBADMSG, "unterminated name");
	memcpy(bad, buf, sizeof(buf));
	bad[24 + 20] = 'x';
	tap_eq(fmt_volume_decode("v", bad, sizeof(bad), &d), -EBADMSG, "junk after the name's NUL");
	memcpy(bad, buf, sizeof(buf));
	bad[24] = '/';
	tap_eq(fmt_volume_decode("v", bad, sizeof(bad), &d), -EBADMSG, "'/' in the name");

	tap_ok(fmt_volume_name_ok("a") && fmt_volume_name_ok("A.b_c-9") &&
	       !fmt_volume_name_ok("") && !fmt_volume_name_ok(".hidden") &&
	       !fmt_volume_name_ok("a/b") && !fmt_volume_name_ok("a b"),
	       "volume name rules");
	tap_eq(fmt_nr_blocks(SIZE, BS), 11, "11 blocks");
	tap_eq(fmt_block_len(10, SIZE, BS), 100, "the last block is 100 bytes");
	tap_eq(fmt_block_len(9, SIZE, BS), BS, "the one before is whole");
}

/* A segment with blocks 1 (raw), 3 (zero), 10 (compressed, 100 raw bytes). */
static size_t make_segment(uint8_t *buf)
{
	struct fmt_record r;
	size_t pos = FMT_SEG_HDR_BYTES;

	fmt_segment_header_encode(buf, 3, BS);
	r = (struct fmt_record){ .block = 1, .crc = 11, .stored_len = BS, .kind = REC_RAW };
	fmt_record_header_encode(buf + pos, &r);
	pos += FMT_REC_HDR_BYTES;
	memset(buf + pos, 0x5a, BS);
	pos += BS;
	r = (struct fmt_record){ .block = 3, .crc = 33, .stored_len = 0, .kind = REC_ZERO };
	fmt_record_header_encode(buf + pos, &r);
	pos += FMT_REC_HDR_BYTES;
	r = (struct fmt_record){ .block = 10, .crc = 1010, .stored_len = 7, .kind = REC_COMPRESSED };
	fmt_record_header_encode(buf + pos, &r);
	pos += FMT_REC_HDR_BYTES;
	memcpy(buf + pos, "1234567", 7);
	return pos + 7;
}

static int walk(const uint8_t *buf, size_t len, int *records)
{
	struct fmt_seg_reader rd;
	struct fmt_record rec;
	int ret;

	*records = 0;
	ret = fmt_segment_begin(&rd, "seg", buf, len, BS, SIZE);
	if (ret)
		return ret;
	while ((ret = fmt_segment_next(&rd, &rec)) == 1)
		(*records)++;
	return ret;
}

static void test_segment(void)
{
	uint8_t *buf = malloc(2 * BS), *bad = malloc(2 * BS + 64);
	size_t len = make_segment(buf);
	struct fmt_seg_reader rd;
	struct fmt_record rec;
	int n, ret;

	ret = fmt_segment_begin(&rd, "seg", buf, len, BS, SIZE);
	tap_eq(ret, 0, "segment begins");
	ret = fmt_segment_next(&rd, &rec);
	tap_ok(ret == 1 && rec.block == 1 && rec.kind == REC_RAW && rec.raw_len == BS &&
	       rec.crc == 11 && rec.data[0] == 0x5a, "record 1: raw block 1");
	ret = fmt_segment_next(&rd, &rec);
	tap_ok(ret == 1 && rec.block == 3 && rec.kind == REC_ZERO && rec.stored_len == 0,
	       "record 2: zero block 3");
	ret = fmt_segment_next(&rd, &rec);
	tap_ok(ret == 1 && rec.block == 10 && rec.kind == REC_COMPRESSED && rec.raw_len == 100 &&
	       rec.stored_len == 7 && !memcmp(rec.data, "1234567", 7),
	       "record 3: compressed last block, 100 raw bytes");
	tap_eq(fmt_segment_next(&rd, &rec), 0, "then the end");

#define MUTATE(stmt, what) do { \
		memcpy(bad, buf, len); \
		size_t blen = len; \
		stmt; \
		tap_eq(walk(bad, blen, &n), -EBADMSG, what); \
	} while (0)
	MUTATE(put_le32(bad, 4), "record count larger than the records present");
	MUTATE(put_le32(bad, 0xffffffff), "huge record count");
	MUTATE(put_le32(bad, 2), "record count smaller: bytes left over");
	MUTATE(put_le32(bad + 4, 512), "block size differs from the volume's");
	MUTATE(blen = len - 1, "truncated last record");
	MUTATE(blen = len + 1, "a trailing byte");
	MUTATE(put_le32(bad + 8 + 12, BS - 1), "raw record length not the block size");
	MUTATE(bad[8 + 16] = 3, "unknown record kind");
	MUTATE(bad[8 + 20] = 1, "reserved record byte set");
	MUTATE(put_le64(bad + 8, 11), "block beyond the end of the volume");
	MUTATE(put_le64(bad + 8, 3), "blocks not ascending (3 then 3)");
	MUTATE(put_le64(bad + 8, 5), "blocks not ascending (5 then 3)");
	{
		size_t zero_rec = 8 + FMT_REC_HDR_BYTES + BS;

		MUTATE(put_le32(bad + zero_rec + 12, 1), "zero record with data");
		MUTATE(put_le32(bad + zero_rec + FMT_REC_HDR_BYTES + 12, 100),
		       "compressed record as large as its block");
		MUTATE(put_le32(bad + zero_rec + FMT_REC_HDR_BYTES + 12, 99),
		       "record data beyond the end of the segment");
	}
	tap_eq(walk(buf, 4, &n), -EBADMSG, "segment shorter than its header");
	free(buf);
	free(bad);
}

static size_t make_manifest(uint8_t **out, uint32_t version, uint32_t kind,
			    struct cbt_extent *ext, uint64_t next, uint64_t blocks)
{
	struct fmt_manifest_seg segs[2] = {
		{ .index = 0, .records = 2, .object_bytes = 5000 },
		{ .index = 1, .records = (uint32_t)(blocks - 2), .object_bytes = 6000 },
	};
	struct fmt_manifest m = {
		.version = version, .kind = kind, .block_size = BS, .size_bytes = SIZE, .created = 99,
		.tracking_cycle = 5, .nr_segments = 2, .nr_extents = next, .blocks_sent = blocks,
		.segs = segs, .ext = ext,
	};
	size_t len = fmt_manifest_bytes(version, 2, next);

	memset(segs[1].sha256, 0xab, 32);
	memset(segs[1].tag, 0xcd, 16);
	memset(m.tracking_id, 7, 16);
	*out = malloc(len);
	fmt_manifest_encode(&m, *out);
	return len;
}

static void test_manifest(uint32_t v)
{
	struct cbt_extent ext[3] = { { 0, 2 }, { 4, 3 }, { 9, 2 } };	/* 7 blocks */
	struct cbt_extent all[1] = { { 0, 11 } };
	size_t sb = v == FMT_MANIFEST_V1 ? FMT_MANIFEST_SEG_BYTES_V1 : FMT_MANIFEST_SEG_BYTES;
	struct fmt_manifest m;
	uint8_t *buf, *bad;
	size_t len;
	int ret;

	printf("# manifest format version %u\n", v);
	len = make_manifest(&buf, v, 2, ext, 3, 7);
	tap_ok(len == 72 + 2 * sb + 3 * 16, "version %u: the length FORMAT.md gives (%zu)", v, len);
	ret = fmt_manifest_decode("m", v, buf, len, &m);
	tap_ok(ret == 0 && m.version == v && m.kind == 2 && m.nr_segments == 2 &&
	       m.nr_extents == 3 && m.blocks_sent == 7 && m.tracking_cycle == 5 &&
	       m.tracking_id[3] == 7 && m.segs[1].records == 5 && m.segs[1].object_bytes == 6000 &&
	       m.ext[1].start == 4 && m.ext[2].count == 2,
	       "delta manifest round trip");
	if (v == FMT_MANIFEST_V1)
		tap_ok(!ret && m.segs[1].has_sha256 && m.segs[1].sha256[31] == 0xab &&
		       buf[72 + sb + 16 + 31] == 0xab,
		       "version 1: the segment's SHA-256 at entry offset 16, checked by readers");
	else
		tap_ok(!ret && !m.segs[1].has_sha256 && m.segs[1].tag[15] == 0xcd &&
		       buf[72 + sb + 16 + 15] == 0xcd && get_le64(buf + 72 + 2 * sb) == 0,
		       "version 2: the segment's GCM tag at entry offset 16, extents right after");
	if (!ret)
		fmt_manifest_free(&m);
	tap_eq(fmt_manifest_decode("m", v == 1 ? 2 : 1, buf, len, &m), -EBADMSG,
	       "decoded as the other version: refused (the lengths differ)");
	tap_eq(fmt_manifest_decode("m", 3, buf, len, &m), -EPROTO, "an unknown version: -EPROTO");
	for (uint32_t c = 0; c <= FMT_CONSISTENCY_APP; c++) {
		uint8_t *copy = malloc(len);

		memcpy(copy, buf, len);
		put_le32(copy + 52, c);
		ret = fmt_manifest_decode("m", v, copy, len, &m);
		tap_ok(ret == 0 && m.consistency == c, "manifest with consistency %u decodes", c);
		if (!ret)
			fmt_manifest_free(&m);
		free(copy);
	}
	{
		/* A consistency group's trailer: round trip, then damaged. */
		struct fmt_manifest g;
		uint8_t *gb, *gb2;
		size_t glen;

		ret = fmt_manifest_decode("m", v, buf, len, &g);
		g.consistency = FMT_CONSISTENCY_CRASH | FMT_CONSISTENCY_GROUP;
		g.group_instant = 1700000000123456ull;
		snprintf(g.group, sizeof(g.group), "db-group");
		glen = fmt_manifest_len(&g);
		gb = malloc(glen);
		gb2 = malloc(glen);
		fmt_manifest_encode(&g, gb);
		fmt_manifest_free(&g);
		ret = fmt_manifest_decode("m", v, gb, glen, &g);
		tap_ok(ret == 0 && glen == len + FMT_MANIFEST_GROUP_BYTES &&
		       g.consistency == (FMT_CONSISTENCY_CRASH | FMT_CONSISTENCY_GROUP) &&
		       g.group_instant == 1700000000123456ull && !strcmp(g.group, "db-group"),
		       "a group's manifest round trip: name, instant, level");
		if (!ret)
			fmt_manifest_free(&g);
		tap_eq(fmt_manifest_decode("m", v, gb, glen - FMT_MANIFEST_GROUP_BYTES, &m), -EBADMSG,
		       "a group flag without its trailer is refused");
		memcpy(gb2, gb, glen);
		gb2[glen - 32 + 10] = 'x';	/* after the name's NUL */
		tap_eq(fmt_manifest_decode("m", v, gb2, glen, &m), -EBADMSG,
		       "a group name that is not NUL-padded is refused");
		memcpy(gb2, gb, glen);
		gb2[glen - 32] = '.';
		tap_eq(fmt_manifest_decode("m", v, gb2, glen, &m), -EBADMSG,
		       "an invalid group name is refused");
		memcpy(gb2, gb, glen);
		put_le32(gb2 + 52, FMT_CONSISTENCY_CRASH);
		tap_eq(fmt_manifest_decode("m", v, gb2, glen, &m), -EBADMSG,
		       "a trailer without the group flag is refused (length)");
		free(gb);
		free(gb2);
	}
	bad = malloc(len + 16);

#define MBAD(stmt, blen, what) do { \
		memcpy(bad, buf, len); \
		stmt; \
		tap_eq(fmt_manifest_decode("m", v, bad, (blen), &m), -EBADMSG, what); \
	} while (0)
	MBAD(put_le32(bad, 3), len, "unknown cycle kind");
	MBAD(put_le32(bad + 52, 3), len, "consistency 3 (only 0 none, 1 crash, 2 app exist)");
	MBAD(put_le32(bad + 52, 0x101), len, "consistency with bits above the level set");
	MBAD(put_le32(bad + 48, 3), len, "segment count larger than present");
	MBAD(put_le32(bad + 48, 0x7fffffff), len, "huge segment count");
	MBAD(put_le64(bad + 56, 4), len, "extent count larger than present");
	MBAD(put_le64(bad + 56, 1ull << 62), len, "huge extent count");
	MBAD((void)0, len - 1, "one byte short");
	MBAD((void)0, len + 16, "an extra extent's worth of bytes");
	MBAD(put_le64(bad + 64, 8), len, "blocks sent does not match the extents");
	MBAD(put_le32(bad + 72 + sb, 0), len, "segment indexes out of order");
	MBAD(put_le32(bad + 72 + sb + 4, 4), len, "segment records do not add up");
	{
		size_t e = 72 + 2 * sb;

		MBAD(put_le64(bad + e + 16, 1), len, "overlapping extents");
		MBAD((put_le64(bad + e + 16, 9), put_le64(bad + e + 24, 2),
		      put_le64(bad + e + 32, 4), put_le64(bad + e + 40, 3)), len,
		     "extents out of order");
		MBAD(put_le64(bad + e + 32 + 8, 3), len, "extent past the end of the volume");
		MBAD(put_le64(bad + e + 8, 0), len, "an empty extent");
		MBAD(put_le64(bad + e + 32, UINT64_MAX), len, "an extent whose end overflows");
	}
	MBAD(put_le32(bad + 4, 1000), len, "bad block size");
	tap_eq(fmt_manifest_decode("m", v, buf, 10, &m), -EBADMSG, "shorter than the header");
	free(buf);
	free(bad);

	len = make_manifest(&buf, v, 1, ext, 3, 7);
	tap_eq(fmt_manifest_decode("m", v, buf, len, &m), -EBADMSG,
	       "an initial manifest that does not cover the volume");
	free(buf);
	len = make_manifest(&buf, v, 1, all, 1, 11);
	ret = fmt_manifest_decode("m", v, buf, len, &m);
	tap_eq(ret, 0, "an initial manifest covering every block");
	fmt_manifest_free(&m);
	free(buf);
}

/*
 * Random damage: decoders must refuse or accept without reading out of
 * bounds (the ASan build checks that), and what they accept must be
 * consistent.
 */
static void test_mutations(void)
{
	struct cbt_extent ext[3] = { { 0, 2 }, { 4, 3 }, { 9, 2 } };
	uint8_t *seg = malloc(2 * BS), *man, *bad = malloc(2 * BS);
	size_t seg_len = make_segment(seg), man_len = make_manifest(&man, FMT_MANIFEST_VERSION, 2, ext, 3, 7);
	uint64_t rnd[4];
	int consistent = 1, refused = 0, n;

	for (int i = 0; i < 3000; i++) {
		struct fmt_manifest m;
		size_t len = i & 1 ? man_len : seg_len;

		memcpy(bad, i & 1 ? man : seg, len);
		test_fill_random(rnd, sizeof(rnd), (uint64_t)i + 1);
		/* Damage 1-4 bytes in the headers, where the counts and lengths are. */
		for (uint64_t k = 0; k <= rnd[0] % 4; k++) {
			size_t limit = i & 1 ? len : 8 + FMT_REC_HDR_BYTES;

			bad[(rnd[1 + k % 3] >> (8 * k)) % limit] ^= (uint8_t)(1u << (k + i) % 8);
		}
		if (rnd[3] % 5 == 0)
			len -= rnd[2] % len;	/* sometimes truncated too */
		if (i & 1) {
			if (fmt_manifest_decode("m", FMT_MANIFEST_VERSION, bad, len, &m) == 0) {
				uint64_t blocks = 0;

				for (uint64_t e = 0; e < m.nr_extents; e++)
					blocks += m.ext[e].count;
				consistent &= blocks == m.blocks_sent &&
					      len == fmt_manifest_len(&m);
				fmt_manifest_free(&m);
			} else {
				refused++;
			}
		} else if (walk(bad, len, &n) != 0) {
			refused++;
		}
	}
	tap_ok(consistent, "3000 damaged payloads: whatever decodes is self-consistent");
	tap_ok(refused > 1000, "most damaged payloads are refused (%d)", refused);
	free(seg);
	free(man);
	free(bad);
}

int main(void)
{
	test_quiet_logs();
	test_volume();
	test_segment();
	test_manifest(FMT_MANIFEST_V1);
	test_manifest(FMT_MANIFEST_V2);
	test_mutations();
	return tap_done();
}
