// SPDX-License-Identifier: GPL-2.0
/*
 * Writes the seeds the fuzz targets get from the unit test vectors
 * (selftests/unit/vectors/store, sealed with the fixed key of fuzz.h):
 * their raw objects for fuzz-envelope, the opened manifests and segments
 * for fuzz-manifest and fuzz-segment, and each cycle in fuzz-cycle's input
 * layout.  Names start with PREFIX (default "vec"); a store whose
 * manifests are format version 1 (vectors/store-v1) gets the version bit
 * in fuzz-cycle's first byte.  Run once after the vectors change:
 *
 *   make -C shipper && cc -std=gnu11 -D_GNU_SOURCE -Iuapi -Ishipper \
 *       -Iselftests/fuzz -o /tmp/make-corpus selftests/fuzz/make-corpus.c \
 *       shipper/libcbtship.a $(pkg-config --libs liburing libcrypto zlib \
 *       libzstd libnl-genl-3.0) -pthread
 *   /tmp/make-corpus selftests/unit/vectors/store selftests/fuzz/corpus
 *   /tmp/make-corpus selftests/unit/vectors/store-v1 selftests/fuzz/corpus vec1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "fuzz.h"
#include "le.h"
#include "vstore-priv.h"

static void put(const char *dir, const char *sub, const char *name, const void *a, size_t alen,
		const void *b, size_t blen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "we");
	FUZZ_CHECK(f);
	FUZZ_CHECK(fwrite(a, 1, alen, f) == alen);
	FUZZ_CHECK(!blen || fwrite(b, 1, blen, f) == blen);
	FUZZ_CHECK(fclose(f) == 0);
}

static void copy_object(struct store *st, const char *obj, uint8_t sel, const char *out,
			const char *name)
{
	void *buf;
	size_t len;

	FUZZ_CHECK(store_get(st, obj, &buf, &len) == 0);
	put(out, "envelope", name, &sel, 1, buf, len);
	free(buf);
}

int main(int argc, char **argv)
{
	const struct vstore_volume_info *vi;
	struct store *st;
	struct vstore *vs;
	struct fmt_volume v = { 0 };
	uint8_t vol[FMT_VOLUME_BYTES];
	char path[VSTORE_PATH_MAX], name[64];
	const char *prefix = argc == 4 ? argv[3] : "vec";

	if (argc != 3 && (argc != 4 || strlen(prefix) > 16)) {
		fprintf(stderr, "usage: %s VECTOR_STORE CORPUS_DIR [PREFIX]\n", argv[0]);
		return 2;
	}
	FUZZ_CHECK(store_open(argv[1], false, &st) == 0);
	FUZZ_CHECK(vstore_open(st, "vec", fuzz_key(), &vs) == 0);
	vi = vstore_info(vs);
	v.block_size = vi->block_size;
	v.size_bytes = vi->size_bytes;
	v.created = vi->created;
	strcpy(v.name, vi->name);
	fmt_volume_encode(&v, vol);
	snprintf(name, sizeof(name), "%s-volume", prefix);
	put(argv[2], "manifest", name, vol, sizeof(vol), NULL, 0);
	vstore_path_volume(vs, path);
	copy_object(st, path, 8 | 4, argv[2], name);

	for (uint64_t c = 1; c <= 2; c++) {
		struct fmt_manifest m;
		uint8_t *mbuf, *cyc = NULL, lenb[4];
		size_t mlen, clen = 0;

		FUZZ_CHECK(vstore_read_manifest(vs, c, &m) == 0);
		mlen = fmt_manifest_bytes(m.version, m.nr_segments, m.nr_extents);
		mbuf = malloc(mlen);
		FUZZ_CHECK(mbuf);
		fmt_manifest_encode(&m, mbuf);
		snprintf(name, sizeof(name), "%s-c%llu", prefix, (unsigned long long)c);
		put(argv[2], "manifest", name, mbuf, mlen, NULL, 0);
		vstore_path_manifest(vs, c, path);
		copy_object(st, path, 8, argv[2], name);

		/* fuzz-cycle: codec, then length-prefixed manifest and segments. */
		cyc = malloc(1 + 4 + mlen);
		FUZZ_CHECK(cyc);
		cyc[0] = m.version == FMT_MANIFEST_V1 ? 0x80 : 0;
		put_le32(cyc + 1, (uint32_t)mlen);
		memcpy(cyc + 5, mbuf, mlen);
		clen = 5 + mlen;
		for (uint32_t i = 0; i < m.nr_segments; i++) {
			uint8_t *payload, seg_prefix[6];
			unsigned int codec;
			size_t plen;

			FUZZ_CHECK(vstore_read_segment(vs, c, &m.segs[i], &payload, &plen,
						       &codec) == 0);
			seg_prefix[0] = (uint8_t)codec;
			seg_prefix[1] = 3;	/* 512 << 3 = 4096 */
			put_le32(seg_prefix + 2, (uint32_t)vi->size_bytes);
			snprintf(name, sizeof(name), "%s-c%llu-s%u", prefix, (unsigned long long)c,
				 i);
			put(argv[2], "segment", name, seg_prefix, sizeof(seg_prefix), payload,
			    plen);
			vstore_path_segment(vs, c, i, path);
			copy_object(st, path, 8, argv[2], name);
			cyc[0] = (uint8_t)(codec | (m.version == FMT_MANIFEST_V1 ? 0x80 : 0));
			cyc = realloc(cyc, clen + 4 + plen);
			FUZZ_CHECK(cyc);
			put_le32(lenb, (uint32_t)plen);
			memcpy(cyc + clen, lenb, 4);
			memcpy(cyc + clen + 4, payload, plen);
			clen += 4 + plen;
			free(payload);
		}
		snprintf(name, sizeof(name), "%s-c%llu", prefix, (unsigned long long)c);
		put(argv[2], "cycle", name, cyc, clen, NULL, 0);
		free(cyc);
		free(mbuf);
		fmt_manifest_free(&m);
	}
	vstore_close(vs);
	store_close(st);
	return 0;
}
