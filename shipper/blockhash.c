// SPDX-License-Identifier: GPL-2.0
/*
 * Block hash lists.  The target hashes its replica part by part and seals
 * each part into the store; the source reads one part at a time, hashes the
 * same blocks of its volume and collects the blocks whose hashes differ.
 * Memory is one part (BLOCKHASH_PART_BLOCKS hashes) on either side.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "blockhash.h"
#include "le.h"
#include "log.h"
#include "vstore-priv.h"

#define HASH_INDEX_BYTES	48
#define HASH_PART_HDR_BYTES	40
#define LIST_ID_BYTES		16

struct hash_index {
	uint8_t list_id[LIST_ID_BYTES];
	uint32_t block_size;
	uint32_t hash_bytes;
	uint64_t size_bytes;
	uint64_t created;
	uint32_t nr_parts;
	uint32_t part_blocks;
};

/* ---- names ---- */

static void path_hashes(const struct vstore *vs, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/hashes", vs->info.name);
}

static void path_index(const struct vstore *vs, uint64_t cycle, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/hashes/%020" PRIu64 "/index",
		 vs->info.name, cycle);
}

static void path_part(const struct vstore *vs, uint64_t cycle, uint32_t part, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/hashes/%020" PRIu64 "/part-%08" PRIu32,
		 vs->info.name, cycle, part);
}

/* ---- hashing ---- */

struct hash_ctx {
	EVP_MD_CTX *md;
	uint32_t block_size;
	uint64_t size_bytes;	/* the volume's: a bigger device's tail is not hashed */
	uint64_t first;		/* first block of out */
	uint64_t next;		/* next block expected */
	uint8_t *out;
};

static int hash_run(void *arg, uint64_t first, uint64_t nr, const void *data, size_t bytes)
{
	struct hash_ctx *c = arg;
	uint8_t digest[EVP_MAX_MD_SIZE];
	const uint8_t *p = data;
	unsigned int dlen;
	size_t off, len;
	uint64_t i;

	if (first != c->next)
		return -EIO;	/* the reader delivers in order; anything else is a bug */
	for (i = 0; i < nr; i++) {
		off = (size_t)(i * c->block_size);
		len = bytes - off < c->block_size ? bytes - off : c->block_size;
		if ((first + i) * c->block_size + len > c->size_bytes)
			len = (size_t)(c->size_bytes - (first + i) * c->block_size);
		if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(c->md, p + off, len) != 1 ||
		    EVP_DigestFinal_ex(c->md, digest, &dlen) != 1) {
			log_err("SHA-256 failed: %s", ERR_error_string(ERR_get_error(), NULL));
			return -EIO;
		}
		memcpy(c->out + (first + i - c->first) * BLOCKHASH_BYTES, digest,
		       BLOCKHASH_BYTES);
	}
	c->next = first + nr;
	return 0;
}

int blockhash_compute(struct block_reader *br, uint32_t block_size, uint64_t size_bytes,
		      uint64_t first, uint64_t nr, uint8_t *out)
{
	struct hash_ctx c = { .block_size = block_size, .size_bytes = size_bytes, .first = first,
			      .next = first, .out = out };
	struct cbt_extent ext = { .start = first, .count = nr };
	int err;

	if (!nr)
		return 0;
	if (block_reader_size(br) < size_bytes) {
		log_err("the device is %" PRIu64 " bytes, smaller than the volume's %" PRIu64 " bytes: it cannot be this volume's replica",
			block_reader_size(br), size_bytes);
		return -EINVAL;
	}
	c.md = EVP_MD_CTX_new();
	if (!c.md)
		return -ENOMEM;
	err = block_reader_read(br, block_size, &ext, 1, hash_run, &c);
	if (!err && c.next != first + nr)
		err = -EIO;
	EVP_MD_CTX_free(c.md);
	return err;
}

/* ---- objects ---- */

static int seal_put(struct vstore *vs, const char *path, enum env_type type, uint64_t cycle,
		    uint32_t part, const uint8_t *payload, size_t len, uint64_t *bytes)
{
	struct env_meta meta = { .type = type, .cycle = cycle, .segment = part };
	size_t olen = envelope_size(len);
	uint8_t *obj;
	int err;

	memcpy(meta.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	obj = malloc(olen);
	if (!obj)
		return -ENOMEM;
	err = envelope_seal(&vs->key, &meta, payload, len, obj);
	if (!err)
		err = store_put(vs->st, path, obj, olen);
	if (err)
		log_err("cannot write %s/%s: %s", vs->st->spec, path, strerror(-err));
	else
		*bytes += olen;
	free(obj);
	return err;
}

/* Get and authenticate an object; *plain malloc'd.  -ENOENT is not logged. */
static int get_open(struct vstore *vs, const char *path, enum env_type type, uint64_t cycle,
		    uint32_t part, uint8_t **plain, size_t *plen, uint64_t *bytes)
{
	struct env_meta expect = { .type = type, .cycle = cycle, .segment = part }, got;
	char what[VSTORE_PATH_MAX + 512];
	uint8_t *obj = NULL;
	size_t len;
	int err;

	memcpy(expect.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	snprintf(what, sizeof(what), "%s/%s", vs->st->spec, path);
	*plain = NULL;
	err = store_get(vs->st, path, (void **)&obj, &len);
	if (err) {
		if (err != -ENOENT)
			log_err("cannot read %s: %s", what, strerror(-err));
		return err;
	}
	*bytes += len;
	*plain = malloc(len ? len : 1);
	if (!*plain) {
		err = -ENOMEM;
		goto out;
	}
	err = envelope_open(&vs->key, what, obj, len, &expect, false, &got, *plain, plen);
	if (err) {
		free(*plain);
		*plain = NULL;
	}
out:
	free(obj);
	return err;
}

static void encode_index(const struct hash_index *ix, uint8_t *p)
{
	memset(p, 0, HASH_INDEX_BYTES);
	memcpy(p, ix->list_id, LIST_ID_BYTES);
	put_le32(p + 16, ix->block_size);
	put_le32(p + 20, ix->hash_bytes);
	put_le64(p + 24, ix->size_bytes);
	put_le64(p + 32, ix->created);
	put_le32(p + 40, ix->nr_parts);
	put_le32(p + 44, ix->part_blocks);
}

static uint64_t volume_blocks(const struct vstore *vs)
{
	return (vs->info.size_bytes + vs->info.block_size - 1) / vs->info.block_size;
}

static int read_index(struct vstore *vs, uint64_t cycle, struct hash_index *ix, uint64_t *bytes)
{
	char path[VSTORE_PATH_MAX];
	uint64_t nr_blocks = volume_blocks(vs);
	uint8_t *p;
	size_t len;
	int err;

	path_index(vs, cycle, path);
	err = get_open(vs, path, ENV_HASH_INDEX, cycle, 0, &p, &len, bytes);
	if (err == -ENOENT)
		log_err("volume %s: no block hash list for cycle %" PRIu64 " in store %s; on the target, bring the replica to cycle %" PRIu64 " (cbtship apply) and publish one (cbtship verify --publish --replica PATH)",
			vs->info.name, cycle, vs->st->spec, cycle);
	if (err)
		return err;
	err = -EBADMSG;
	if (len != HASH_INDEX_BYTES) {
		log_err("volume %s: hash list index of cycle %" PRIu64 " is %zu bytes, expected %d; publish the list again",
			vs->info.name, cycle, len, HASH_INDEX_BYTES);
		goto out;
	}
	memcpy(ix->list_id, p, LIST_ID_BYTES);
	ix->block_size = get_le32(p + 16);
	ix->hash_bytes = get_le32(p + 20);
	ix->size_bytes = get_le64(p + 24);
	ix->created = get_le64(p + 32);
	ix->nr_parts = get_le32(p + 40);
	ix->part_blocks = get_le32(p + 44);
	if (ix->block_size != vs->info.block_size || ix->size_bytes != vs->info.size_bytes ||
	    ix->hash_bytes != BLOCKHASH_BYTES || !ix->part_blocks ||
	    ix->part_blocks > BLOCKHASH_PART_MAX ||
	    ix->nr_parts != (nr_blocks + ix->part_blocks - 1) / ix->part_blocks) {
		log_err("volume %s: hash list of cycle %" PRIu64 " does not describe this volume (%u-byte blocks, %" PRIu64 " bytes, %u-byte hashes, %u parts of %u blocks); publish it again with this version of cbtship",
			vs->info.name, cycle, ix->block_size, ix->size_bytes, ix->hash_bytes,
			ix->nr_parts, ix->part_blocks);
		goto out;
	}
	err = 0;
out:
	free(p);
	return err;
}

/* ---- publish ---- */

struct rm_ctx {
	struct store *st;
	char dir[VSTORE_PATH_MAX];
	uint64_t keep;
};

static int rm_object(void *arg, const char *child)
{
	struct rm_ctx *c = arg;
	char path[2 * VSTORE_PATH_MAX + 2];

	snprintf(path, sizeof(path), "%s/%s", c->dir, child);
	c->st->ops->remove(c->st, path);
	return 0;
}

/* Remove the lists of cycles other than keep; best effort (stale lists are harmless). */
static int rm_list(void *arg, const char *child)
{
	struct rm_ctx *c = arg, sub;
	char *end;
	uint64_t cycle;

	errno = 0;
	cycle = strtoull(child, &end, 10);
	if (errno || *end || end - child != 20 || cycle == c->keep)
		return 0;
	sub = *c;
	snprintf(sub.dir, sizeof(sub.dir), "%.*s/%s", VSTORE_PATH_MAX / 2, c->dir, child);
	c->st->ops->list(c->st, sub.dir, rm_object, &sub);
	c->st->ops->remove(c->st, sub.dir);
	return 0;
}

int blockhash_publish(struct vstore *vs, const char *replica_path, uint64_t cycle,
		      uint32_t part_blocks, struct blockhash_stats *stats)
{
	struct hash_index ix = { .block_size = vs->info.block_size, .hash_bytes = BLOCKHASH_BYTES,
				 .size_bytes = vs->info.size_bytes,
				 .part_blocks = part_blocks ? part_blocks : BLOCKHASH_PART_BLOCKS };
	uint64_t nr_blocks = volume_blocks(vs), first, nr;
	uint8_t index[HASH_INDEX_BYTES], *part = NULL;
	struct block_reader *br = NULL;
	char path[VSTORE_PATH_MAX];
	struct rm_ctx rm = { .st = vs->st, .keep = cycle };
	uint32_t i;
	int err;

	memset(stats, 0, sizeof(*stats));
	if (ix.part_blocks > BLOCKHASH_PART_MAX)
		return -EINVAL;
	ix.nr_parts = (uint32_t)((nr_blocks + ix.part_blocks - 1) / ix.part_blocks);
	ix.created = (uint64_t)time(NULL);
	if (getrandom(ix.list_id, sizeof(ix.list_id), 0) != sizeof(ix.list_id))
		return -errno;
	err = block_reader_open(replica_path, NULL, &br);
	if (err)
		return err;
	part = malloc(HASH_PART_HDR_BYTES + (size_t)ix.part_blocks * BLOCKHASH_BYTES);
	if (!part) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ix.nr_parts; i++) {
		first = (uint64_t)i * ix.part_blocks;
		nr = nr_blocks - first < ix.part_blocks ? nr_blocks - first : ix.part_blocks;
		memset(part, 0, HASH_PART_HDR_BYTES);
		memcpy(part, ix.list_id, LIST_ID_BYTES);
		put_le32(part + 16, i);
		put_le32(part + 20, BLOCKHASH_BYTES);
		put_le64(part + 24, first);
		put_le64(part + 32, nr);
		err = blockhash_compute(br, vs->info.block_size, vs->info.size_bytes, first, nr,
					part + HASH_PART_HDR_BYTES);
		if (err)
			goto out;
		stats->blocks += nr;
		path_part(vs, cycle, i, path);
		err = seal_put(vs, path, ENV_HASH_PART, cycle, i, part,
			       HASH_PART_HDR_BYTES + nr * BLOCKHASH_BYTES, &stats->list_bytes);
		if (err)
			goto out;
	}
	stats->bytes_read = vs->info.size_bytes;
	encode_index(&ix, index);
	path_index(vs, cycle, path);
	err = seal_put(vs, path, ENV_HASH_INDEX, cycle, 0, index, sizeof(index),
		       &stats->list_bytes);
	if (err)
		goto out;
	path_hashes(vs, rm.dir);
	vs->st->ops->list(vs->st, rm.dir, rm_list, &rm);
out:
	free(part);
	block_reader_close(br);
	return err;
}

/* ---- compare ---- */

static int check_part(struct vstore *vs, uint64_t cycle, const struct hash_index *ix,
		      uint32_t i, uint64_t first, uint64_t nr, const uint8_t *p, size_t len)
{
	if (len == HASH_PART_HDR_BYTES + nr * BLOCKHASH_BYTES &&
	    !memcmp(p, ix->list_id, LIST_ID_BYTES) && get_le32(p + 16) == i &&
	    get_le32(p + 20) == BLOCKHASH_BYTES && get_le64(p + 24) == first &&
	    get_le64(p + 32) == nr)
		return 0;
	log_err("volume %s: part %u of the hash list of cycle %" PRIu64 " does not belong to its index (an interrupted publish?); publish the list again",
		vs->info.name, i, cycle);
	return -EBADMSG;
}

int blockhash_compare(struct vstore *vs, uint64_t cycle, struct block_reader *br,
		      struct cbt_extent_list *diff, struct blockhash_stats *stats)
{
	uint64_t nr_blocks = volume_blocks(vs), first, nr, b, bytes;
	uint32_t bs = vs->info.block_size, i;
	char path[VSTORE_PATH_MAX];
	struct hash_index ix;
	uint8_t *mine = NULL, *theirs = NULL;
	size_t len;
	int err;

	memset(stats, 0, sizeof(*stats));
	err = read_index(vs, cycle, &ix, &stats->list_bytes);
	if (err)
		return err;
	mine = malloc((size_t)ix.part_blocks * BLOCKHASH_BYTES);
	if (!mine)
		return -ENOMEM;
	for (i = 0; i < ix.nr_parts; i++) {
		first = (uint64_t)i * ix.part_blocks;
		nr = nr_blocks - first < ix.part_blocks ? nr_blocks - first : ix.part_blocks;
		path_part(vs, cycle, i, path);
		err = get_open(vs, path, ENV_HASH_PART, cycle, i, &theirs, &len,
			       &stats->list_bytes);
		if (err == -ENOENT)
			log_err("volume %s: part %u of the hash list of cycle %" PRIu64 " is missing; publish the list again",
				vs->info.name, i, cycle);
		if (err)
			goto out;
		err = check_part(vs, cycle, &ix, i, first, nr, theirs, len);
		if (err)
			goto out;
		err = blockhash_compute(br, bs, vs->info.size_bytes, first, nr, mine);
		if (err)
			goto out;
		stats->blocks += nr;
		for (b = 0; b < nr; b++) {
			if (!memcmp(mine + b * BLOCKHASH_BYTES,
				    theirs + HASH_PART_HDR_BYTES + b * BLOCKHASH_BYTES,
				    BLOCKHASH_BYTES))
				continue;
			err = cbt_extent_list_add(diff, first + b, 1);
			if (err)
				goto out;
			bytes = first + b == nr_blocks - 1 ? vs->info.size_bytes - (first + b) * bs : bs;
			stats->diff_blocks++;
			stats->diff_bytes += bytes;
		}
		free(theirs);
		theirs = NULL;
	}
	stats->bytes_read = vs->info.size_bytes;
out:
	free(theirs);
	free(mine);
	return err;
}

int blockhash_extents_union(const struct cbt_extent_list *a, const struct cbt_extent_list *b,
			    struct cbt_extent_list *out)
{
	size_t i = 0, j = 0;
	uint64_t s, e;
	const struct cbt_extent *x;
	int err;

	memset(out, 0, sizeof(*out));
	while (i < a->nr || j < b->nr) {
		if (j >= b->nr || (i < a->nr && a->ext[i].start <= b->ext[j].start))
			x = &a->ext[i++];
		else
			x = &b->ext[j++];
		s = x->start;
		e = s + x->count;
		if (out->nr && s <= out->ext[out->nr - 1].start + out->ext[out->nr - 1].count) {
			struct cbt_extent *last = &out->ext[out->nr - 1];

			if (e > last->start + last->count)
				last->count = e - last->start;
			continue;
		}
		err = cbt_extent_list_add(out, s, e - s);
		if (err) {
			cbt_extent_list_free(out);
			return err;
		}
	}
	return 0;
}
