// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz block hash lists (blockhash.c), which cbtship verify and resync read
 * from the store: the list's index and parts, sealed with the store's key by
 * the harness (so what is fuzzed is what lies behind authentication),
 * compared with a 48-block volume of 512-byte blocks whose every block
 * differs.  Input: a flags byte, the 48-byte index, then parts, each a
 * 16-bit little-endian length and that many bytes.  Flags: bit 0 makes the
 * index describe this volume (keeping the input's part size), bit 1 makes
 * each part's header and length what the index asks for, so that the
 * comparison behind those checks is reached.
 *
 * Properties: only 0, -EBADMSG and -ENOENT come back; on 0 the differing
 * blocks are exactly the blocks whose hash in the list is not the SHA-256
 * prefix of the volume's block, each once, in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "blockhash.h"
#include "envelope.h"
#include "fuzz.h"
#include "le.h"
#include "vstore-priv.h"

#define BS		512u
#define NBLK		48u
#define CYCLE		3u
#define IDX_BYTES	48
#define HDR_BYTES	40
#define MAX_PARTS	50	/* the in-memory store holds 64 objects */

static uint8_t truth[NBLK][BLOCKHASH_BYTES];
static uint8_t theirs[NBLK][BLOCKHASH_BYTES];
static uint8_t obj[HDR_BYTES + 65536 + 256];

static void seal(struct vstore *vs, enum env_type type, uint32_t part, const uint8_t *p,
		 size_t len, const char *path)
{
	struct env_meta meta = { .type = type, .cycle = CYCLE, .segment = part };

	memcpy(meta.volume_id, vs->info.volume_id, sizeof(meta.volume_id));
	FUZZ_CHECK(envelope_seal(fuzz_key(), &meta, p, len, obj) == 0);
	FUZZ_CHECK(store_put(vs->st, path, obj, envelope_size(len)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vstore *vs;
	static struct block_reader *br;
	static uint8_t part[HDR_BYTES + 65536];
	uint8_t ix[IDX_BYTES];
	struct cbt_extent_list diff = { 0 };
	struct blockhash_stats stats;
	uint32_t pb, nparts = 0;
	uint64_t want = 0, got = 0, next = 0;
	char path[VSTORE_PATH_MAX];
	bool fix_ix, fix_parts;
	size_t off;
	int ret;

	if (!vs) {
		static uint8_t vol[BS * NBLK];
		char file[300];

		for (uint32_t b = 0; b < NBLK; b++) {
			memset(vol + b * BS, (int)b + 1, BS);
			SHA256(vol + b * BS, BS, part);
			memcpy(truth[b], part, BLOCKHASH_BYTES);
		}
		snprintf(file, sizeof(file), "%s/volume", fuzz_setup());
		fuzz_write_file(file, vol, sizeof(vol), 0600);
		FUZZ_CHECK(block_reader_open(file, NULL, &br) == 0);
		FUZZ_CHECK(vstore_create(fuzz_mem_store(), "vol", fuzz_key(), BS, BS * NBLK,
					 &vs) == 0);
	}
	if (size < 1 + IDX_BYTES)
		return 0;
	fix_ix = data[0] & 1;
	fix_parts = data[0] & 2;
	memcpy(ix, data + 1, IDX_BYTES);
	off = 1 + IDX_BYTES;
	pb = get_le32(ix + 44);
	if (fix_ix) {
		pb = pb % NBLK + 1;
		put_le32(ix + 16, BS);
		put_le32(ix + 20, BLOCKHASH_BYTES);
		put_le64(ix + 24, BS * NBLK);
		put_le32(ix + 40, (NBLK + pb - 1) / pb);
		put_le32(ix + 44, pb);
	}
	snprintf(path, sizeof(path), "volumes/vol/hashes/%020u/index", CYCLE);
	seal(vs, ENV_HASH_INDEX, 0, ix, sizeof(ix), path);

	memset(theirs, 0, sizeof(theirs));
	for (uint32_t i = 0; i < MAX_PARTS && off + 2 <= size; i++) {
		size_t len = get_le16(data + off);

		off += 2;
		if (len > size - off)
			len = size - off;
		memcpy(part, data + off, len);
		off += len;
		if (fix_parts && pb && pb <= NBLK) {
			uint64_t first = (uint64_t)i * pb;
			uint64_t nr = first >= NBLK ? 0 : NBLK - first < pb ? NBLK - first : pb;

			if (len < HDR_BYTES + nr * BLOCKHASH_BYTES)
				memset(part + len, 0, HDR_BYTES + nr * BLOCKHASH_BYTES - len);
			len = HDR_BYTES + nr * BLOCKHASH_BYTES;
			memcpy(part, ix, 16);
			put_le32(part + 16, i);
			put_le32(part + 20, BLOCKHASH_BYTES);
			put_le64(part + 24, first);
			put_le64(part + 32, nr);
		}
		/* What a successful compare must have read: the hashes of a part it used. */
		if (i < get_le32(ix + 40) && len >= HDR_BYTES && get_le64(part + 24) < NBLK &&
		    get_le64(part + 32) <= NBLK - get_le64(part + 24) &&
		    len == HDR_BYTES + get_le64(part + 32) * BLOCKHASH_BYTES)
			memcpy(theirs[get_le64(part + 24)], part + HDR_BYTES,
			       len - HDR_BYTES);
		snprintf(path, sizeof(path), "volumes/vol/hashes/%020u/part-%08u", CYCLE, i);
		seal(vs, ENV_HASH_PART, i, part, len, path);
		nparts++;
	}

	ret = blockhash_compare(vs, CYCLE, br, &diff, &stats);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -ENOENT);
	if (ret == 0) {
		for (uint32_t b = 0; b < NBLK; b++)
			want += memcmp(truth[b], theirs[b], BLOCKHASH_BYTES) != 0;
		for (size_t e = 0; e < diff.nr; e++) {
			FUZZ_CHECK(diff.ext[e].start >= next && diff.ext[e].count > 0);
			FUZZ_CHECK(diff.ext[e].start + diff.ext[e].count <= NBLK);
			for (uint64_t b = diff.ext[e].start; b < diff.ext[e].start + diff.ext[e].count; b++)
				FUZZ_CHECK(memcmp(truth[b], theirs[b], BLOCKHASH_BYTES));
			got += diff.ext[e].count;
			next = diff.ext[e].start + diff.ext[e].count;
		}
		FUZZ_CHECK(got == want && stats.diff_blocks == want);
	}
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "compare: %d, %llu blocks differ\n", ret, (unsigned long long)got);
	cbt_extent_list_free(&diff);
	/* The next input starts from an empty list. */
	for (uint32_t i = 0; i < nparts; i++) {
		snprintf(path, sizeof(path), "volumes/vol/hashes/%020u/part-%08u", CYCLE, i);
		vs->st->ops->remove(vs->st, path);
	}
	return 0;
}
