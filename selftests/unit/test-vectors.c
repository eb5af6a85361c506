// SPDX-License-Identifier: GPL-2.0
/*
 * Format test vectors: a tiny store (selftests/unit/vectors/store) written
 * once by this program with a fixed key, committed, and checked on every
 * run, so a change to the byte format (FORMAT.md) cannot pass unnoticed:
 * the header fields are checked at their documented offsets, every object
 * must authenticate with the fixed key, the records must be the expected
 * kinds with the crc32c of the expected content, and applying the store
 * must give exactly the expected volume.  vectors/store-v1 is the same
 * content written before manifests went to version 2 (per segment a
 * SHA-256 of the object instead of its GCM tag): it is kept, and checked
 * the same way, because readers still read version 1 manifests.  In both,
 * a segment replaced by another authentic one of the same slot (what an
 * interrupted attempt leaves) must be refused: the negative control of the
 * manifest's per-segment check.
 *
 * Regenerate (only for a deliberate, documented format change):
 *   selftests/unit/test-vectors --make-vectors selftests/unit/vectors/store
 * (DIR must not exist.)  The content and the key are functions of this
 * file alone; only the salts, the volume id and the times are random.
 */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "crc32c.h"
#include "key.h"
#include "le.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"
#include "vstore-priv.h"

#define BS		4096u
#define NBLK		7u
#define VOL_BYTES	(6u * BS + 1000)		/* partial last block */
#define SEG_BYTES	(4u * BS)			/* 2 segments in cycle 1 */
#define VOLUME		"vec"
#define CYCLES		"volumes/" VOLUME "/cycles/"

static const char key_hex[] =
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
/* First 8 bytes of HMAC-SHA256(key above, "cbtship key id v1"). */
static const uint8_t key_id[CBT_KEY_ID_BYTES] = {
	0x19, 0xe3, 0x62, 0x5b, 0x30, 0x3e, 0x0d, 0x61,
};
static const uint8_t tracking_id[16] = "vector-track-id";

/* Block kinds of the volume: 2 zero, 1 text (compresses), 0 random (stays raw). */
static const int kind_v1[NBLK] = { 2, 1, 0, 1, 2, 0, 1 };
/* Cycle 2 rewrites blocks 2 (to zeros) and 4 (to text). */
static const int kind_v2[NBLK] = { 2, 1, 2, 1, 1, 0, 1 };

static size_t blen(uint32_t b)
{
	return b == NBLK - 1 ? VOL_BYTES - (NBLK - 1) * BS : BS;
}

static void make_block(uint8_t *p, uint32_t b, int kind, unsigned int version)
{
	size_t len = blen(b);

	if (kind == 2) {
		memset(p, 0, len);
	} else if (kind == 1) {
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)"block text, version  \n"[i % 22];
		p[0] = (uint8_t)('0' + b);
		p[1] = (uint8_t)('0' + version);
	} else {
		test_fill_random(p, len, 1000 * version + b);
	}
}

/* Version 2 is version 1 with blocks 2 and 4 rewritten. */
static void make_volume(uint8_t *vol, unsigned int version)
{
	for (uint32_t b = 0; b < NBLK; b++) {
		bool rewritten = version == 2 && (b == 2 || b == 4);

		make_block(vol + b * BS, b, rewritten ? kind_v2[b] : kind_v1[b], rewritten ? 2 : 1);
	}
}

static int load_key(struct cbt_key *key)
{
	int err = test_write_file("key", key_hex, strlen(key_hex), 0600);

	return err ? err : key_load("key", key);
}

/* Write one cycle through the real cycle writer. */
static int write_cycle(struct vstore *vs, uint64_t cycle, const uint8_t *vol,
		       const struct cbt_extent *ext, size_t nr_ext)
{
	struct cycle_writer_opts o = { .codec = CODEC_ZSTD, .level = 3,
				       .segment_bytes = SEG_BYTES, .workers = 2 };
	struct cycle_writer *w;
	int err;

	err = cycle_writer_begin(vs, cycle, cycle == 1 ? CYCLE_INITIAL : CYCLE_DELTA, &o, &w);
	if (err)
		return err;
	for (size_t e = 0; e < nr_ext; e++)
		for (uint64_t b = ext[e].start; b < ext[e].start + ext[e].count; b++) {
			err = cycle_writer_add(w, b, vol + b * BS, blen((uint32_t)b));
			if (err) {
				cycle_writer_abort(w);
				return err;
			}
		}
	return cycle_writer_commit(w, ext, nr_ext, cycle + 40, tracking_id);
}

static int make_vectors(const char *out)
{
	static uint8_t vol[VOL_BYTES];
	const struct cbt_extent all = { .start = 0, .count = NBLK };
	const struct cbt_extent delta[] = { { .start = 2, .count = 1 }, { .start = 4, .count = 1 } };
	char abs[PATH_MAX];
	struct cbt_key key;
	struct store *st;
	struct vstore *vs;
	int err;

	if (mkdir(out, 0755)) {
		fprintf(stderr, "cannot create %s: %s\n", out, strerror(errno));
		return 1;
	}
	if (!realpath(out, abs))
		return 1;
	test_dir_setup("test-vectors");
	err = load_key(&key);
	if (!err)
		err = store_open(abs, true, &st);
	if (err)
		return 1;
	err = vstore_create(st, VOLUME, &key, BS, VOL_BYTES, &vs);
	if (!err) {
		make_volume(vol, 1);
		err = write_cycle(vs, 1, vol, &all, 1);
		make_volume(vol, 2);
		if (!err)
			err = write_cycle(vs, 2, vol, delta, 2);
		vstore_close(vs);
	}
	store_close(st);
	key_wipe(&key);
	if (err)
		fprintf(stderr, "making the vectors failed: %s\n", strerror(-err));
	else
		printf("vectors written to %s\n", abs);
	return err ? 1 : 0;
}

/* The envelope header at the offsets of FORMAT.md; version 1 but for manifests. */
static void check_header(const char *path, unsigned int type, unsigned int version,
			 unsigned int codec, uint64_t cycle, uint32_t segment,
			 const uint8_t *volume_id)
{
	size_t len = 0;
	uint8_t *h = test_read_file(path, &len);
	int ok = h && len >= ENV_OVERHEAD;

	ok = ok && !memcmp(h, "CBTSHP", 6) && h[6] == type && h[7] == version && h[8] == codec &&
	     h[9] == 1 && get_le16(h + 10) == 0 && get_le32(h + 12) == 128 &&
	     !memcmp(h + 16, key_id, 8) && get_le64(h + 40) == cycle &&
	     get_le32(h + 48) == segment && get_le32(h + 52) == 0 &&
	     get_le64(h + 56) == len - 144 && all_zero(h + 96, 32);
	ok = ok && (!volume_id || !memcmp(h + 24, volume_id, 16));
	tap_ok(ok, "%s: header fields at their FORMAT.md offsets", path);
	free(h);
}

/* The manifest entry's check is the object's: tag (version 2) or SHA-256 (1). */
static int entry_matches(const char *path, const struct fmt_manifest_seg *e, unsigned int version)
{
	uint8_t sha[FMT_SHA256_BYTES];
	size_t len = 0;
	uint8_t *obj = test_read_file(path, &len);
	int ok = obj && len == e->object_bytes && len >= ENV_OVERHEAD;

	if (ok && version == FMT_MANIFEST_V1)
		ok = e->has_sha256 && !vstore_sha256(obj, len, sha) &&
		     !memcmp(sha, e->sha256, sizeof(sha));
	else if (ok)
		ok = !e->has_sha256 && !memcmp(obj + len - ENV_TAG_BYTES, e->tag, ENV_TAG_BYTES);
	free(obj);
	return ok;
}

/* Cycle's records: the expected blocks, kinds and crc32c, in order. */
static void check_cycle(struct vstore *vs, unsigned int version, uint64_t cycle,
			const uint8_t *vol, const int *kinds, const uint32_t *blocks, uint32_t nr,
			uint32_t want_segs)
{
	struct fmt_manifest m;
	char path[VSTORE_PATH_MAX];
	uint32_t seen = 0;
	int ok = 1;

	if (vstore_read_manifest(vs, cycle, &m)) {
		tap_ok(0, "cycle %llu: manifest authenticates", (unsigned long long)cycle);
		return;
	}
	tap_ok(m.version == version && m.kind == (cycle == 1 ? 1u : 2u) && m.block_size == BS &&
	       m.size_bytes == VOL_BYTES &&
	       m.tracking_cycle == cycle + 40 && !memcmp(m.tracking_id, tracking_id, 16) &&
	       m.nr_segments == want_segs && m.blocks_sent == nr,
	       "cycle %llu: manifest fields (version %u, kind, sizes, tracking, %u segments, %u blocks)",
	       (unsigned long long)cycle, version, want_segs, nr);
	snprintf(path, sizeof(path), CYCLES "%020llu/manifest", (unsigned long long)cycle);
	check_header(path, 3, version, CODEC_ZSTD, cycle, 0, vs->info.volume_id);
	for (uint32_t s = 0; s < m.nr_segments; s++) {
		struct fmt_seg_reader rd;
		struct fmt_record rec;
		uint8_t *payload = NULL;
		unsigned int codec = 0;
		size_t len;

		snprintf(path, sizeof(path), CYCLES "%020llu/seg-%08u", (unsigned long long)cycle, s);
		check_header(path, 2, 1, CODEC_ZSTD, cycle, s, vs->info.volume_id);
		tap_ok(entry_matches(path, &m.segs[s], version), "%s: size and %s in the manifest",
		       path, version == FMT_MANIFEST_V1 ? "SHA-256" : "GCM tag");
		if (vstore_read_segment(vs, cycle, &m.segs[s], &payload, &len, &codec) ||
		    fmt_segment_begin(&rd, path, payload, len, BS, VOL_BYTES)) {
			ok = 0;
			free(payload);
			continue;
		}
		while (fmt_segment_next(&rd, &rec) == 1) {
			uint32_t b = (uint32_t)rec.block;

			if (seen >= nr || b != blocks[seen] || (int)rec.kind != kinds[b] ||
			    rec.raw_len != blen(b) || rec.crc != crc32c(0, vol + b * BS, blen(b)))
				ok = 0;
			seen++;
		}
		free(payload);
	}
	tap_ok(ok && seen == nr, "cycle %llu: %u records, expected blocks, kinds and crc32c",
	       (unsigned long long)cycle, seen);
	fmt_manifest_free(&m);
}

/*
 * Negative control: reseal cycle 1 segment 0's plaintext for the same slot
 * (authentic, own salt), as an interrupted attempt would have: the manifest
 * entry must refuse it, then the original is put back.
 */
static void check_replaced_segment(struct vstore *vs, unsigned int version)
{
	struct env_meta meta = { .type = ENV_SEGMENT, .codec = CODEC_ZSTD, .cycle = 1 };
	char path[VSTORE_PATH_MAX];
	struct fmt_manifest m;
	uint8_t *orig = NULL, *payload = NULL, *obj = NULL;
	size_t olen = 0, plen = 0;
	unsigned int codec;
	int ok = 0, ret;

	if (vstore_read_manifest(vs, 1, &m)) {
		tap_ok(0, "cycle 1 manifest for the replaced-segment check");
		return;
	}
	snprintf(path, sizeof(path), CYCLES "%020u/seg-%08u", 1u, 0u);
	orig = test_read_file(path, &olen);
	if (orig && !vstore_read_segment(vs, 1, &m.segs[0], &payload, &plen, &codec)) {
		obj = malloc(envelope_size(plen));
		memcpy(meta.volume_id, vs->info.volume_id, ENV_ID_BYTES);
		ok = obj && !envelope_seal(&vs->key, &meta, payload, plen, obj) &&
		     !test_write_file(path, obj, envelope_size(plen), 0644);
	}
	free(payload);
	payload = NULL;
	tap_ok(ok, "segment 0 resealed in place: an authentic object of the same slot");
	ret = vstore_read_segment(vs, 1, &m.segs[0], &payload, &plen, &codec);
	tap_eq(ret, -EBADMSG, version == FMT_MANIFEST_V1 ?
	       "the manifest's SHA-256 refuses it" : "the manifest's GCM tag refuses it");
	free(payload);
	payload = NULL;
	tap_ok(orig && !test_write_file(path, orig, olen, 0644) &&
	       !vstore_read_segment(vs, 1, &m.segs[0], &payload, &plen, &codec),
	       "the original segment put back reads again");
	free(payload);
	free(obj);
	free(orig);
	fmt_manifest_free(&m);
}

static int vectors_dir(char *out, size_t n)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (len <= 0)
		return -errno;
	exe[len] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	if (strlen(exe) + sizeof("/vectors/") > n)
		return -ENAMETOOLONG;
	memcpy(out, exe, strlen(exe));
	memcpy(out + strlen(exe), "/vectors/", sizeof("/vectors/"));
	return 0;
}

/* Everything about one vector store, copied to ./NAME (apply writes into it). */
static void check_store(const char *name, unsigned int version, const struct cbt_key *key,
			const uint8_t *v1, const uint8_t *v2)
{
	static const uint32_t all[NBLK] = { 0, 1, 2, 3, 4, 5, 6 }, changed[] = { 2, 4 };
	char src[PATH_MAX], cmd[2 * PATH_MAX + 16];
	struct apply_result res = { 0 };
	struct store *st;
	struct vstore *vs;
	uint8_t *buf;
	size_t len = 0;
	int err;

	printf("# vectors/%s (manifests of format version %u)\n", name, version);
	if (vectors_dir(src, sizeof(src) - strlen(name))) {
		tap_ok(0, "vectors found next to the test binary");
		return;
	}
	strcat(src, name);
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", src, name);
	tap_eq(system(cmd), 0, "vector store copied");
	snprintf(cmd, sizeof(cmd), "%s/cbtship-store", name);
	buf = test_read_file(cmd, &len);
	tap_ok(buf && len == 16 && !memcmp(buf, "cbtship-store 1\n", 16), "store marker");
	free(buf);
	if (chdir(name)) {
		tap_ok(0, "chdir %s", name);
		return;
	}
	check_header("volumes/" VOLUME "/volume", 1, 1, 0, 0, 0, NULL);
	err = store_open(".", false, &st);
	tap_eq(err, 0, "vector store opens");
	if (err)
		goto out;
	err = vstore_open(st, VOLUME, key, &vs);
	tap_eq(err, 0, "volume header authenticates with the fixed key");
	if (!err) {
		const struct vstore_volume_info *vi = vstore_info(vs);

		tap_ok(vi->block_size == BS && vi->size_bytes == VOL_BYTES &&
		       !strcmp(vi->name, VOLUME), "volume header fields");
		check_cycle(vs, version, 1, v1, kind_v1, all, NBLK, 2);
		check_cycle(vs, version, 2, v2, kind_v2, changed, 2, 1);
		check_replaced_segment(vs, version);
		snprintf(cmd, sizeof(cmd), "../replica-%s", name);
		err = apply_pending(vs, cmd, &res);
		tap_ok(!err && res.now == 2, "apply brings a new replica to cycle 2");
		buf = test_read_file(cmd, &len);
		tap_ok(buf && len == VOL_BYTES && !memcmp(buf, v2, VOL_BYTES),
		       "the replica is exactly the expected volume (%zu bytes)", len);
		tap_ok(buf && memcmp(buf, v1, VOL_BYTES), "and differs from version 1 (the check can fail)");
		free(buf);
		vstore_close(vs);
	}
	store_close(st);
out:
	if (chdir(".."))
		tap_ok(0, "chdir ..");
}

int main(int argc, char **argv)
{
	static uint8_t v1[VOL_BYTES], v2[VOL_BYTES];
	struct cbt_key key;

	log_init("test-vectors", false);
	if (argc == 3 && !strcmp(argv[1], "--make-vectors"))
		return make_vectors(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--make-vectors DIR]\n", argv[0]);
		return 2;
	}
	test_dir_setup("test-vectors");
	tap_eq(load_key(&key), 0, "fixed key loaded");
	tap_ok(!memcmp(key.id, key_id, sizeof(key_id)), "key id derivation unchanged");
	make_volume(v1, 1);
	make_volume(v2, 2);
	check_store("store", FMT_MANIFEST_V2, &key, v1, v2);
	check_store("store-v1", FMT_MANIFEST_V1, &key, v1, v2);
	key_wipe(&key);
	return tap_done();
}
