// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz a whole cycle past authentication: the input's manifest and segment
 * payloads are sealed with the fixed key, as a writer holding the key would
 * (buggy or hostile), put in an in-memory store, and the applier verifies
 * the cycle (apply_verify_cycle: manifest, segment hashes, records, block
 * set, decompression, crc32c).  The harness fills in each listed segment's
 * object size and SHA-256 so the fuzzer need not forge them.
 *
 * Input: codec id (1 byte), then chunks of (length: 4 bytes LE, bytes):
 * the manifest payload, then segment 0, 1, ... payloads.  The volume is
 * the unit test vectors' (4096-byte blocks, 25576 bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "envelope.h"
#include "fuzz.h"
#include "le.h"
#include "vstore-priv.h"

#define BS		4096u
#define VOL_BYTES	(6u * BS + 1000)
#define MAX_SEGS	8
#define MAX_CHUNK	(1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Seal payload as object `path` of cycle 1; its size and SHA-256 out. */
static void put_sealed(struct vstore *vs, const char *path, enum env_type type,
		       uint8_t codec, uint32_t segment, const uint8_t *payload, size_t len,
		       uint64_t *obj_len, uint8_t sha[FMT_SHA256_BYTES])
{
	struct env_meta meta = { .type = type, .codec = codec, .cycle = 1, .segment = segment };
	uint8_t *obj = malloc(envelope_size(len));

	FUZZ_CHECK(obj);
	memcpy(meta.volume_id, vs->info.volume_id, ENV_ID_BYTES);
	FUZZ_CHECK(envelope_seal(&vs->key, &meta, payload, len, obj) == 0);
	FUZZ_CHECK(store_put(vs->st, path, obj, envelope_size(len)) == 0);
	if (sha)
		FUZZ_CHECK(vstore_sha256(obj, envelope_size(len), sha) == 0);
	*obj_len = envelope_size(len);
	free(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vstore *vs;
	const uint8_t *chunk[1 + MAX_SEGS];
	size_t chunk_len[1 + MAX_SEGS], nr = 0;
	char path[VSTORE_PATH_MAX];
	uint8_t codec, *man;
	uint64_t obj_len;
	int ret;

	if (!vs)
		FUZZ_CHECK(vstore_create(fuzz_mem_store(), "vec", fuzz_key(), BS, VOL_BYTES,
					 &vs) == 0);
	if (size < 1)
		return 0;
	codec = data[0];
	data++;
	size--;
	while (nr < 1 + MAX_SEGS && size >= 4) {
		size_t n = get_le32(data);

		if (n > MAX_CHUNK || n > size - 4)
			break;
		chunk[nr] = data + 4;
		chunk_len[nr++] = n;
		data += 4 + n;
		size -= 4 + n;
	}
	if (!nr)
		return 0;

	/* Leave no segment of an earlier input behind. */
	for (uint32_t i = 0; i < MAX_SEGS; i++) {
		vstore_path_segment(vs, 1, i, path);
		vs->st->ops->remove(vs->st, path);
	}
	man = malloc(chunk_len[0] ? chunk_len[0] : 1);
	FUZZ_CHECK(man);
	memcpy(man, chunk[0], chunk_len[0]);
	for (size_t i = 1; i < nr; i++) {
		size_t off = FMT_MANIFEST_HDR_BYTES + (i - 1) * FMT_MANIFEST_SEG_BYTES;
		uint8_t sha[FMT_SHA256_BYTES];

		vstore_path_segment(vs, 1, (uint32_t)(i - 1), path);
		put_sealed(vs, path, ENV_SEGMENT, codec, (uint32_t)(i - 1), chunk[i],
			   chunk_len[i], &obj_len, sha);
		if (chunk_len[0] >= off + FMT_MANIFEST_SEG_BYTES) {
			put_le64(man + off + 8, obj_len);
			memcpy(man + off + 16, sha, sizeof(sha));
		}
	}
	vstore_path_manifest(vs, 1, path);
	put_sealed(vs, path, ENV_MANIFEST, 0, 0, man, chunk_len[0], &obj_len, NULL);
	free(man);

	ret = apply_verify_cycle(vs, 1);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -EPROTO || ret == -ENOENT);
	return 0;
}
