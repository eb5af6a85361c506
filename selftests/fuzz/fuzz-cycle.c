// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz a whole cycle past authentication: the input's manifest and segment
 * payloads are sealed with the fixed key, as a writer holding the key would
 * (buggy or hostile), put in an in-memory store, and the applier verifies
 * the cycle (apply_verify_cycle: manifest, segment hashes, records, block
 * set, decompression, crc32c).  The harness fills in each listed segment's
 * object size and GCM tag (manifest version 2) or SHA-256 (version 1) so
 * the fuzzer need not forge them.
 *
 * Input: codec id (1 byte; its top bit set: the manifest is sealed as
 * format version 1, else 2), then chunks of (length: 4 bytes LE, bytes):
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

/*
 * Seal payload as object `path` of cycle 1 (format `version`); its size
 * and its check for a manifest entry of that version (SHA-256 of the
 * object for 1, its GCM tag for 2) out.
 */
static void put_sealed(struct vstore *vs, const char *path, enum env_type type, uint8_t version,
		       uint8_t codec, uint32_t segment, const uint8_t *payload, size_t len,
		       uint64_t *obj_len, uint8_t check[FMT_SHA256_BYTES])
{
	struct env_meta meta = { .type = type, .version = version, .codec = codec, .cycle = 1,
				 .segment = segment };
	uint8_t *obj = malloc(envelope_size(len));

	FUZZ_CHECK(obj);
	memcpy(meta.volume_id, vs->info.volume_id, ENV_ID_BYTES);
	FUZZ_CHECK(envelope_seal(&vs->key, &meta, payload, len, obj) == 0);
	FUZZ_CHECK(store_put(vs->st, path, obj, envelope_size(len)) == 0);
	*obj_len = envelope_size(len);
	if (check && version == FMT_MANIFEST_V1)
		FUZZ_CHECK(vstore_sha256(obj, *obj_len, check) == 0);
	else if (check)
		memcpy(check, obj + *obj_len - ENV_TAG_BYTES, ENV_TAG_BYTES);
	free(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vstore *vs;
	const uint8_t *chunk[1 + MAX_SEGS];
	size_t chunk_len[1 + MAX_SEGS], nr = 0;
	char path[VSTORE_PATH_MAX];
	uint8_t codec, version, *man;
	size_t entry_bytes, check_bytes;
	uint64_t obj_len;
	int ret;

	if (!vs)
		FUZZ_CHECK(vstore_create(fuzz_mem_store(), "vec", fuzz_key(), BS, VOL_BYTES,
					 &vs) == 0);
	if (size < 1)
		return 0;
	codec = data[0] & 0x7f;
	version = data[0] & 0x80 ? FMT_MANIFEST_V1 : FMT_MANIFEST_V2;
	entry_bytes = version == FMT_MANIFEST_V1 ? FMT_MANIFEST_SEG_BYTES_V1 : FMT_MANIFEST_SEG_BYTES;
	check_bytes = version == FMT_MANIFEST_V1 ? FMT_SHA256_BYTES : FMT_TAG_BYTES;
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
		size_t off = FMT_MANIFEST_HDR_BYTES + (i - 1) * entry_bytes;
		uint8_t check[FMT_SHA256_BYTES];

		vstore_path_segment(vs, 1, (uint32_t)(i - 1), path);
		put_sealed(vs, path, ENV_SEGMENT, 0, codec, (uint32_t)(i - 1), chunk[i],
			   chunk_len[i], &obj_len, check);
		if (chunk_len[0] >= off + entry_bytes) {
			put_le64(man + off + 8, obj_len);
			memcpy(man + off + 16, check, check_bytes);
		}
	}
	vstore_path_manifest(vs, 1, path);
	put_sealed(vs, path, ENV_MANIFEST, version, 0, 0, man, chunk_len[0], &obj_len, NULL);
	free(man);

	ret = apply_verify_cycle(vs, 1);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -EPROTO || ret == -ENOENT);
	return 0;
}
