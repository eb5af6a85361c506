// SPDX-License-Identifier: GPL-2.0
/*
 * Volume store and apply, end to end on files: cycles written with the
 * cycle writer are applied to a replica and compared byte for byte; damage,
 * a lying manifest and a missing cycle stop apply with the replica as it
 * was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"
#include "vstore-priv.h"
#include "vstore.h"

#define BS	4096u
#define NBLK	21u
#define SIZE	((uint64_t)(NBLK - 1) * BS + 1000)	/* last block is 1000 bytes */

static uint8_t *src;			/* the source volume's bytes */
static struct cbt_key key;
static const uint8_t tid[16] = { 0xee, 1, 2, 3 };

static size_t blen(uint64_t b)
{
	return b == NBLK - 1 ? SIZE - (uint64_t)b * BS : BS;
}

/* Blocks: 0, 7 zero; 1-3 text; 4-6 random; 8.. a mix; the last random. */
static void fill_source(void)
{
	static const char words[] = "block replication test data, compressible. ";

	src = calloc(1, SIZE);
	for (uint64_t b = 1; b <= 3; b++)
		for (size_t i = 0; i < BS; i++)
			src[b * BS + i] = (uint8_t)words[(i + b) % (sizeof(words) - 1)];
	test_fill_random(src + 4 * BS, 3 * BS, 4);
	for (uint64_t b = 8; b < NBLK; b++)
		if (b % 3)
			test_fill_random(src + b * BS, blen(b), b);
}

static int write_cycle(struct vstore *vs, uint64_t cycle, enum cycle_kind kind,
		       enum codec_id codec, const struct cbt_extent *ext, size_t n)
{
	struct cycle_writer_opts opts = { .codec = codec, .segment_bytes = 3 * BS };
	struct cycle_writer *w;
	int ret;

	ret = cycle_writer_begin(vs, cycle, kind, &opts, &w);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++)
		for (uint64_t b = ext[i].start; b < ext[i].start + ext[i].count; b++) {
			ret = cycle_writer_add(w, b, src + b * BS, blen(b));
			if (ret) {
				cycle_writer_abort(w);
				return ret;
			}
		}
	return cycle_writer_commit(w, ext, n, cycle * 10, tid);
}

static int replica_matches(const char *path)
{
	size_t len;
	uint8_t *buf = test_read_file(path, &len);
	int ok = buf && len == SIZE && !memcmp(buf, src, SIZE);

	free(buf);
	return ok;
}

static uint64_t applied(struct vstore *vs)
{
	uint64_t c = 99;

	return vstore_get_applied(vs, &c) ? 99 : c;
}

/* Count the record kinds of one segment (private API, to see the encoding). */
static void check_record_kinds(struct vstore *vs)
{
	struct fmt_manifest m;
	struct fmt_seg_reader rd;
	struct fmt_record rec;
	int kinds[3] = { 0 }, kind_of[NBLK];
	uint8_t *payload;
	unsigned int codec = 99;
	size_t len;
	int ret;

	ret = vstore_read_manifest(vs, 1, &m);
	tap_eq(ret, 0, "read cycle 1's manifest");
	if (ret)
		return;
	tap_ok(m.nr_segments == 7 && m.nr_extents == 1 && m.blocks_sent == NBLK,
	       "cycle 1: %u segments of 3 blocks, one extent of %u blocks", m.nr_segments, NBLK);
	for (uint32_t s = 0; s < m.nr_segments; s++) {
		if (vstore_read_segment(vs, 1, &m.segs[s], &payload, &len, &codec))
			break;
		fmt_segment_begin(&rd, "seg", payload, len, BS, SIZE);
		while (fmt_segment_next(&rd, &rec) == 1) {
			kinds[rec.kind]++;
			kind_of[rec.block] = rec.kind;
		}
		free(payload);
	}
	tap_eq(codec, CODEC_ZSTD, "segments say codec zstd");
	tap_ok(kind_of[0] == REC_ZERO && kind_of[7] == REC_ZERO && kind_of[9] == REC_ZERO,
	       "zero blocks are stored as kind 2");
	tap_ok(kind_of[1] == REC_COMPRESSED && kind_of[3] == REC_COMPRESSED,
	       "text blocks are stored compressed");
	tap_ok(kind_of[4] == REC_RAW && kind_of[NBLK - 1] == REC_RAW,
	       "random blocks (compression does not help) are stored raw");
	tap_eq(kinds[0] + kinds[1] + kinds[2], NBLK, "every block has one record");
	fmt_manifest_free(&m);
}

static void flip_byte(const char *path, long off)
{
	size_t len;
	uint8_t *buf = test_read_file(path, &len);

	if (!buf || (size_t)off >= len)
		exit(99);
	buf[off] ^= 0x40;
	test_write_file(path, buf, len, 0644);
	free(buf);
}

/* Replace cycle `c`'s manifest by an authentic one whose extents lie. */
static int forge_manifest(struct vstore *vs, uint64_t c, uint64_t new_start)
{
	struct env_meta meta = { .type = ENV_MANIFEST, .codec = CODEC_ZLIB, .cycle = c };
	struct fmt_manifest m;
	char path[VSTORE_PATH_MAX];
	uint8_t *payload, *obj;
	size_t len;
	int ret;

	ret = vstore_read_manifest(vs, c, &m);
	if (ret)
		return ret;
	m.ext[0].start = new_start;
	meta.version = (uint8_t)m.version;
	len = fmt_manifest_bytes(m.version, m.nr_segments, m.nr_extents);
	payload = malloc(len);
	obj = malloc(envelope_size(len));
	fmt_manifest_encode(&m, payload);
	memcpy(meta.volume_id, vstore_info(vs)->volume_id, 16);
	ret = envelope_seal(&key, &meta, payload, len, obj);
	vstore_path_manifest(vs, c, path);
	ret = ret ?: store_put(vs->st, path, obj, envelope_size(len));
	fmt_manifest_free(&m);
	free(payload);
	free(obj);
	return ret;
}

int main(void)
{
	struct cbt_extent all = { 0, NBLK };
	struct cbt_extent d2[] = { { 2, 3 }, { 10, 1 }, { NBLK - 1, 1 } };
	struct cbt_extent d3[] = { { 5, 2 } };	/* blocks unchanged: a resend */
	struct cbt_extent d4[] = { { 12, 1 } };
	struct cbt_extent d5[] = { { 13, 2 } };
	struct cycle_writer_opts opts = { .codec = CODEC_ZSTD };
	struct vstore_cycle_info ci;
	struct apply_result res;
	struct cycle_writer *w;
	struct store *st;
	struct vstore *vs, *vs2;
	struct cbt_key other;
	char before[65], after[65], path[VSTORE_PATH_MAX];
	int ret;

	test_dir_setup("vstore");
	test_quiet_logs();
	fill_source();
	if (key_generate("key") || key_load("key", &key) || key_generate("other") ||
	    key_load("other", &other) || store_open("store", true, &st))
		return 99;

	ret = vstore_open(st, "vol", &key, &vs);
	tap_eq(ret, -ENOENT, "no volume yet: -ENOENT");
	ret = vstore_create(st, "vol", &key, BS, SIZE, &vs);
	tap_eq(ret, 0, "create the volume");
	tap_ok(vstore_info(vs)->block_size == BS && vstore_info(vs)->size_bytes == SIZE,
	       "volume info");
	ret = vstore_create(st, "vol", &key, BS, SIZE, &vs2);
	tap_eq(ret, -EEXIST, "creating it again is -EEXIST");
	ret = vstore_open(st, "vol", &other, &vs2);
	tap_eq(ret, -EKEYREJECTED, "opening with another key is -EKEYREJECTED");
	ret = vstore_open(st, "vol", &key, &vs2);
	tap_ok(ret == 0 && !memcmp(vstore_info(vs2)->volume_id, vstore_info(vs)->volume_id, 16),
	       "reopen: same volume id");
	vstore_close(vs2);
	tap_eq(vstore_last_cycle(vs, &ci), -ENOENT, "no cycle yet");

	ret = cycle_writer_begin(vs, 1, CYCLE_DELTA, &opts, &w);
	tap_eq(ret, -EINVAL, "cycle 1 must be initial");
	ret = cycle_writer_begin(vs, 2, CYCLE_INITIAL, &opts, &w);
	tap_eq(ret, -EINVAL, "the first cycle must be number 1");

	/* Cycle 1: everything, zstd, 3-block segments. */
	tap_eq(write_cycle(vs, 1, CYCLE_INITIAL, CODEC_ZSTD, &all, 1), 0, "write cycle 1");
	ret = vstore_last_cycle(vs, &ci);
	tap_ok(ret == 0 && ci.cycle == 1 && ci.kind == CYCLE_INITIAL && ci.blocks_sent == NBLK &&
	       ci.tracking_cycle == 10 && ci.tracking_id[0] == 0xee && ci.nr_segments == 7,
	       "last cycle is 1, initial, with what the writer was given");
	check_record_kinds(vs);

	ret = apply_pending(vs, "replica", &res);
	tap_ok(ret == 0 && res.before == 0 && res.first == 1 && res.last == 1 && res.now == 1,
	       "apply cycle 1 to a new replica file");
	tap_ok(replica_matches("replica"), "replica equals the source byte for byte");
	tap_eq(applied(vs), 1, "replica-applied says 1");
	{
		struct stat sb, probe;

		/* Zero blocks are left as holes in a new file, where holes exist. */
		test_write_file("probe", "", 0, 0600);
		if (truncate("probe", 1 << 20) == 0 && stat("probe", &probe) == 0 &&
		    probe.st_blocks == 0 && stat("replica", &sb) == 0) {
			tap_ok((uint64_t)sb.st_blocks * 512 <= SIZE - 3 * BS,
			       "the new replica is sparse (%lld bytes allocated of %llu)",
			       (long long)sb.st_blocks * 512, (unsigned long long)SIZE);
		} else {
			tap_ok(1, "# SKIP the file system has no holes");
		}
	}
	ret = apply_pending(vs, "replica", &res);
	tap_ok(ret == 0 && res.first == 0 && res.now == 1, "apply again: nothing to do");

	/* Cycle 2: a delta with zlib, including the short last block. */
	memset(src + 2 * BS, 0, BS);			/* becomes zero */
	test_fill_random(src + 3 * BS, 2 * BS, 77);
	memset(src + 10 * BS, 'x', BS);
	test_fill_random(src + (NBLK - 1) * BS, blen(NBLK - 1), 78);
	tap_eq(write_cycle(vs, 2, CYCLE_DELTA, CODEC_ZLIB, d2, 3), 0, "write delta cycle 2 (zlib)");
	ret = apply_pending(vs, "replica", &res);
	tap_ok(ret == 0 && res.first == 2 && res.last == 2, "apply cycle 2");
	tap_ok(replica_matches("replica"), "replica equals the changed source");

	/* Writer misuse. */
	ret = cycle_writer_begin(vs, 5, CYCLE_DELTA, &opts, &w);
	tap_eq(ret, -EINVAL, "cycle 5 after 2 is refused");
	ret = cycle_writer_begin(vs, 3, CYCLE_DELTA, &opts, &w);
	tap_eq(ret, 0, "begin cycle 3");
	ret = cycle_writer_add(w, 5, src + 5 * BS, BS);
	ret = ret ?: cycle_writer_add(w, 6, src + 6 * BS, BS);
	tap_eq(ret, 0, "add blocks 5 and 6");
	tap_eq(cycle_writer_add(w, 6, src + 6 * BS, BS), -EINVAL, "adding block 6 again is refused");
	tap_eq(cycle_writer_add(w, 4, src + 4 * BS, BS), -EINVAL, "adding block 4 after 6 is refused");
	tap_eq(cycle_writer_add(w, 8, src + 8 * BS, 100), -EINVAL, "a short middle block is refused");
	tap_eq(cycle_writer_add(w, NBLK, src, BS), -EINVAL, "a block past the end is refused");
	ret = cycle_writer_commit(w, d4, 1, 30, tid);
	tap_eq(ret, -EINVAL, "commit with other extents than the blocks added fails");
	tap_ok(vstore_last_cycle(vs, &ci) == 0 && ci.cycle == 2, "no manifest: the newest is still 2");

	/* Cycle 3, properly (the failed attempt's segments are residue). */
	tap_eq(write_cycle(vs, 3, CYCLE_DELTA, CODEC_ZLIB, d3, 1), 0, "write cycle 3 over the residue");
	{
		uint8_t junk[2 * BS];

		test_fill_random(junk, sizeof(junk), 99);
		ret = cycle_writer_begin(vs, 4, CYCLE_DELTA, &opts, &w);
		ret = ret ?: cycle_writer_add(w, 5, junk, BS);
		ret = ret ?: cycle_writer_add(w, 6, junk + BS, BS);
		tap_eq(ret, 0, "an abandoned cycle 4 (its segment is stored, no manifest)");
		cycle_writer_abort(w);
		tap_ok(vstore_last_cycle(vs, &ci) == 0 && ci.cycle == 3, "the newest is still 3");
	}

	/* A damaged segment: apply fails, the replica is untouched. */
	test_hash_file("replica", before);
	vstore_path_segment(vs, 3, 0, path);
	{
		char full[VSTORE_PATH_MAX + 16];

		snprintf(full, sizeof(full), "store/%s", path);
		flip_byte(full, 200);
		ret = apply_pending(vs, "replica", &res);
		tap_ok(ret == -EBADMSG && res.first == 0 && res.now == 2,
		       "a damaged segment stops apply (%d)", ret);
		test_hash_file("replica", after);
		tap_ok(before[0] && !strcmp(before, after), "the replica is byte-identical to before");
		tap_eq(applied(vs), 2, "replica-applied still says 2");
		flip_byte(full, 200);
	}
	ret = apply_pending(vs, "replica", &res);
	tap_ok(ret == 0 && res.first == 3 && res.now == 3,
	       "repaired, cycle 3 applies (the abandoned cycle 4 is ignored)");
	tap_ok(replica_matches("replica"), "replica equals the source");

	/* An authentic manifest that lists a block no segment holds: stage 1. */
	tap_eq(write_cycle(vs, 4, CYCLE_DELTA, CODEC_ZSTD, d4, 1), 0, "write cycle 4 (block 12)");
	tap_eq(forge_manifest(vs, 4, 11), 0, "forge cycle 4's manifest to list block 11");
	test_hash_file("replica", before);
	ret = apply_pending(vs, "replica", &res);
	tap_ok(ret == -EBADMSG && res.first == 0, "block set differs from the manifest: apply fails");
	test_hash_file("replica", after);
	tap_ok(!strcmp(before, after), "the replica is byte-identical to before");
	tap_eq(apply_verify_cycle(vs, 4), -EBADMSG, "verify alone says the same");
	tap_eq(forge_manifest(vs, 4, 12), 0, "put the true extents back");
	tap_eq(apply_verify_cycle(vs, 4), 0, "cycle 4 verifies");

	/* A gap: cycle 5 complete, cycle 4's manifest gone. */
	tap_eq(write_cycle(vs, 5, CYCLE_DELTA, CODEC_NONE, d5, 1), 0, "write cycle 5 (codec none)");
	vstore_path_manifest(vs, 4, path);
	tap_eq(st->ops->remove(st, path), 0, "remove cycle 4's manifest");
	test_hash_file("replica", before);
	ret = apply_pending(vs, "replica", &res);
	tap_ok(ret == -ENOENT && res.now == 3, "apply refuses to skip cycle 4");
	test_hash_file("replica", after);
	tap_ok(!strcmp(before, after), "the replica is untouched");
	tap_eq(applied(vs), 3, "replica-applied still says 3");

	/* A new replica when the store says cycles were applied elsewhere. */
	ret = apply_pending(vs, "replica-new", &res);
	tap_eq(ret, -ENOENT, "a missing replica with replica-applied 3 is refused");
	tap_ok(access("replica-new", F_OK) != 0, "and no file is left behind");

	/* A fresh replica from cycle 1: it gets up to the gap. */
	tap_eq(vstore_set_applied(vs, 0), 0, "reset replica-applied");
	ret = apply_pending(vs, "replica2", &res);
	tap_ok(ret == -ENOENT && res.first == 1 && res.last == 3 && applied(vs) == 3,
	       "a fresh replica gets cycles 1..3, then the gap stops it");
	tap_ok(replica_matches("replica2"), "that replica equals the source too");
	/* replica-applied from another history. */
	tap_eq(vstore_set_applied(vs, 99), 0, "set replica-applied to 99");
	ret = apply_pending(vs, "replica", &res);
	tap_eq(ret, -ESTALE, "a replica-applied above every cycle in the store is refused");

	/* A damaged manifest is an error, never skipped. */
	tap_eq(vstore_set_applied(vs, 3), 0, "set replica-applied back to 3");
	vstore_path_manifest(vs, 5, path);
	{
		char full[VSTORE_PATH_MAX + 16];

		snprintf(full, sizeof(full), "store/%s", path);
		flip_byte(full, 150);
		tap_eq(vstore_last_cycle(vs, &ci), -EBADMSG,
		       "the newest manifest fails authentication: vstore_last_cycle says so");
		ret = cycle_writer_begin(vs, 6, CYCLE_DELTA, &opts, &w);
		tap_eq(ret, -EBADMSG, "and no writer builds on top of it");
	}
	vstore_close(vs);
	store_close(st);
	key_wipe(&key);
	free(src);
	return tap_done();
}
