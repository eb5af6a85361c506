// SPDX-License-Identifier: GPL-2.0
/*
 * A volume in a store: its header, its cycles, the replica-applied record.
 * Every object is authenticated before any of its content is used.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "vstore-priv.h"

#define CYCLE_DIGITS	20

/* ---- names ---- */

void vstore_path_volume(const struct vstore *vs, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/volume", vs->info.name);
}

void vstore_path_cycles(const struct vstore *vs, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/cycles", vs->info.name);
}

void vstore_path_cycle(const struct vstore *vs, uint64_t cycle, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/cycles/%020" PRIu64, vs->info.name, cycle);
}

void vstore_path_segment(const struct vstore *vs, uint64_t cycle, uint32_t index, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/cycles/%020" PRIu64 "/seg-%08" PRIu32,
		 vs->info.name, cycle, index);
}

void vstore_path_manifest(const struct vstore *vs, uint64_t cycle, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/cycles/%020" PRIu64 "/manifest",
		 vs->info.name, cycle);
}

void vstore_path_applied(const struct vstore *vs, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/replica-applied", vs->info.name);
}

int vstore_sha256(const void *buf, size_t len, uint8_t out[FMT_SHA256_BYTES])
{
	if (EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL) != 1) {
		log_err("SHA-256 failed: %s", ERR_error_string(ERR_get_error(), NULL));
		return -EIO;
	}
	return 0;
}

/* ---- volume header ---- */

static int vstore_alloc(struct store *st, const char *volume, const struct cbt_key *key,
			struct vstore **out)
{
	struct vstore *vs;

	*out = NULL;
	if (!fmt_volume_name_ok(volume)) {
		log_err("\"%s\" is not a valid volume name: use letters, digits, '.', '_' and '-', at most %d bytes, not starting with '.'",
			volume, VSTORE_NAME_MAX);
		return -EINVAL;
	}
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->st = st;
	vs->key = *key;
	strcpy(vs->info.name, volume);
	*out = vs;
	return 0;
}

void vstore_close(struct vstore *vs)
{
	if (!vs)
		return;
	key_wipe(&vs->key);
	free(vs);
}

const struct vstore_volume_info *vstore_info(const struct vstore *vs)
{
	return &vs->info;
}

int vstore_open(struct store *st, const char *volume, const struct cbt_key *key,
		struct vstore **out)
{
	struct env_meta expect = { .type = ENV_VOLUME }, got;
	char path[VSTORE_PATH_MAX], what[VSTORE_PATH_MAX + 512];
	struct fmt_volume v;
	struct vstore *vs;
	uint8_t *obj = NULL, *plain = NULL;
	size_t len, plain_len;
	int ret;

	ret = vstore_alloc(st, volume, key, &vs);
	if (ret)
		return ret;
	vstore_path_volume(vs, path);
	snprintf(what, sizeof(what), "%s/%s", st->spec, path);
	ret = store_get(st, path, (void **)&obj, &len);
	if (ret)
		goto out_err;
	plain = malloc(len);
	if (!plain) {
		ret = -ENOMEM;
		goto out_err;
	}
	ret = envelope_open(key, what, obj, len, &expect, true, &got, plain, &plain_len);
	if (ret)
		goto out_err;
	ret = fmt_volume_decode(what, plain, plain_len, &v);
	if (ret)
		goto out_err;
	if (strcmp(v.name, volume)) {
		log_err("%s is the header of volume \"%s\", not \"%s\": the store was rearranged",
			what, v.name, volume);
		ret = -EBADMSG;
		goto out_err;
	}
	memcpy(vs->info.volume_id, got.volume_id, VSTORE_ID_BYTES);
	vs->info.block_size = v.block_size;
	vs->info.size_bytes = v.size_bytes;
	vs->info.created = v.created;
	free(plain);
	free(obj);
	*out = vs;
	return 0;

out_err:
	free(plain);
	free(obj);
	vstore_close(vs);
	return ret;
}

int vstore_create(struct store *st, const char *volume, const struct cbt_key *key,
		  uint32_t block_size, uint64_t size_bytes, struct vstore **out)
{
	struct env_meta meta = { .type = ENV_VOLUME };
	uint8_t payload[FMT_VOLUME_BYTES], *obj = NULL;
	char path[VSTORE_PATH_MAX];
	struct fmt_volume v = { 0 };
	struct vstore *vs;
	void *old;
	size_t old_len;
	int ret;

	ret = vstore_alloc(st, volume, key, &vs);
	if (ret)
		return ret;
	if (!fmt_block_size_ok(block_size) || size_bytes == 0) {
		log_err("volume %s: block size %u or size %" PRIu64 " bytes is not usable (block size: a power of two from 512 bytes to 64 MiB)",
			volume, block_size, size_bytes);
		ret = -EINVAL;
		goto out_err;
	}
	vstore_path_volume(vs, path);
	ret = store_get(st, path, &old, &old_len);
	if (ret == 0) {
		free(old);
		log_err("store %s already holds a volume %s", st->spec, volume);
		ret = -EEXIST;
		goto out_err;
	}
	if (ret != -ENOENT)
		goto out_err;
	if (RAND_bytes(vs->info.volume_id, VSTORE_ID_BYTES) != 1) {
		log_err("cannot get random bytes for a volume id: %s",
			ERR_error_string(ERR_get_error(), NULL));
		ret = -EIO;
		goto out_err;
	}
	vs->info.block_size = block_size;
	vs->info.size_bytes = size_bytes;
	vs->info.created = (uint64_t)time(NULL);

	v.block_size = block_size;
	v.size_bytes = size_bytes;
	v.created = vs->info.created;
	strcpy(v.name, volume);
	fmt_volume_encode(&v, payload);
	memcpy(meta.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	obj = malloc(envelope_size(sizeof(payload)));
	if (!obj) {
		ret = -ENOMEM;
		goto out_err;
	}
	ret = envelope_seal(key, &meta, payload, sizeof(payload), obj);
	if (ret)
		goto out_err;
	ret = store_put(st, path, obj, envelope_size(sizeof(payload)));
	if (ret)
		goto out_err;
	free(obj);
	*out = vs;
	return 0;

out_err:
	free(obj);
	vstore_close(vs);
	return ret;
}

/* ---- cycles ---- */

struct cycle_list {
	uint64_t *v;
	size_t nr, alloc;
};

static int collect_cycle(void *arg, const char *child)
{
	struct cycle_list *l = arg;
	uint64_t c = 0;

	/* Only 20-digit names are cycles; ignore anything else. */
	if (strlen(child) != CYCLE_DIGITS)
		return 0;
	for (int i = 0; i < CYCLE_DIGITS; i++) {
		if (child[i] < '0' || child[i] > '9')
			return 0;
		if (c > (UINT64_MAX - (uint64_t)(child[i] - '0')) / 10)
			return 0;
		c = c * 10 + (uint64_t)(child[i] - '0');
	}
	if (c == 0)
		return 0;
	if (l->nr == l->alloc) {
		size_t n = l->alloc ? 2 * l->alloc : 64;
		uint64_t *v = realloc(l->v, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->alloc = n;
	}
	l->v[l->nr++] = c;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int vstore_list_cycles(struct vstore *vs, uint64_t **out, size_t *nr)
{
	struct cycle_list l = { 0 };
	char path[VSTORE_PATH_MAX];
	int ret;

	*out = NULL;
	*nr = 0;
	vstore_path_cycles(vs, path);
	ret = vs->st->ops->list(vs->st, path, collect_cycle, &l);
	if (ret == -ENOENT)
		ret = 0;
	if (ret) {
		free(l.v);
		return ret;
	}
	if (l.nr)
		qsort(l.v, l.nr, sizeof(*l.v), cmp_u64);
	*out = l.v;
	*nr = l.nr;
	return 0;
}

int vstore_read_manifest(struct vstore *vs, uint64_t cycle, struct fmt_manifest *m)
{
	struct env_meta expect = { .type = ENV_MANIFEST, .cycle = cycle }, got;
	char path[VSTORE_PATH_MAX], what[VSTORE_PATH_MAX + 512];
	uint8_t *obj = NULL, *plain = NULL;
	size_t len, plain_len;
	int ret;

	memset(m, 0, sizeof(*m));
	memcpy(expect.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	vstore_path_manifest(vs, cycle, path);
	snprintf(what, sizeof(what), "%s/%s", vs->st->spec, path);
	ret = store_get(vs->st, path, (void **)&obj, &len);
	if (ret)
		return ret;
	plain = malloc(len);
	if (!plain) {
		ret = -ENOMEM;
		goto out;
	}
	ret = envelope_open(&vs->key, what, obj, len, &expect, false, &got, plain, &plain_len);
	if (ret)
		goto out;
	ret = fmt_manifest_decode(what, got.version, plain, plain_len, m);
	if (ret)
		goto out;
	if (m->block_size != vs->info.block_size || m->size_bytes != vs->info.size_bytes) {
		log_err("%s describes a volume of %" PRIu64 " bytes in %u-byte blocks, but the volume header says %" PRIu64 " bytes in %u-byte blocks: a changed volume size is not supported by format 1",
			what, m->size_bytes, m->block_size, vs->info.size_bytes,
			vs->info.block_size);
		fmt_manifest_free(m);
		ret = -EBADMSG;
	}
out:
	free(plain);
	free(obj);
	return ret;
}

int vstore_read_segment(struct vstore *vs, uint64_t cycle, const struct fmt_manifest_seg *seg,
			uint8_t **payload, size_t *plen, unsigned int *codec)
{
	struct env_meta expect = { .type = ENV_SEGMENT, .cycle = cycle, .segment = seg->index };
	char path[VSTORE_PATH_MAX], what[VSTORE_PATH_MAX + 512];
	uint8_t sha[FMT_SHA256_BYTES], *obj = NULL, *plain = NULL;
	struct env_meta got;
	size_t len;
	int ret;

	*payload = NULL;
	memcpy(expect.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	vstore_path_segment(vs, cycle, seg->index, path);
	snprintf(what, sizeof(what), "%s/%s", vs->st->spec, path);
	ret = store_get(vs->st, path, (void **)&obj, &len);
	if (ret == -ENOENT)
		log_err("%s is missing, but the manifest of cycle %" PRIu64 " lists it",
			what, cycle);
	if (ret)
		return ret;
	if (len != seg->object_bytes) {
		log_err("%s is %zu bytes, but the manifest says %" PRIu64 ": it was modified or damaged",
			what, len, seg->object_bytes);
		ret = -EBADMSG;
		goto out;
	}
	/*
	 * Version 2 manifests record the object's GCM tag: with the tag check
	 * of envelope_open below, only the object sealed for this manifest
	 * passes (another one, e.g. an interrupted attempt's, has its own
	 * salt, so its own tag).  Version 1 recorded a SHA-256 of the object.
	 */
	if (seg->has_sha256) {
		ret = vstore_sha256(obj, len, sha);
		if (ret)
			goto out;
	}
	if (seg->has_sha256 ? memcmp(sha, seg->sha256, sizeof(sha)) :
	    len < ENV_TAG_BYTES || memcmp(obj + len - ENV_TAG_BYTES, seg->tag, ENV_TAG_BYTES)) {
		log_err("%s does not match the %s in the manifest of cycle %" PRIu64 ": it was modified, damaged or replaced",
			what, seg->has_sha256 ? "SHA-256" : "tag", cycle);
		ret = -EBADMSG;
		goto out;
	}
	plain = malloc(len);
	if (!plain) {
		ret = -ENOMEM;
		goto out;
	}
	ret = envelope_open(&vs->key, what, obj, len, &expect, false, &got, plain, plen);
	if (ret)
		goto out;
	*codec = got.codec;
	*payload = plain;
	plain = NULL;
out:
	free(plain);
	free(obj);
	return ret;
}

int vstore_last_cycle(struct vstore *vs, struct vstore_cycle_info *info)
{
	struct fmt_manifest m;
	uint64_t *cycles;
	size_t nr;
	int ret;

	ret = vstore_list_cycles(vs, &cycles, &nr);
	if (ret)
		return ret;
	ret = -ENOENT;
	/*
	 * Newest first.  A cycle without a manifest is residue and skipped; a
	 * manifest that fails to authenticate is an error, never skipped: a
	 * damaged store needs a human, not a writer that builds on top of it.
	 */
	while (nr--) {
		ret = vstore_read_manifest(vs, cycles[nr], &m);
		if (ret == -ENOENT)
			continue;
		if (ret)
			break;
		memset(info, 0, sizeof(*info));
		info->cycle = cycles[nr];
		info->kind = m.kind;
		info->created = m.created;
		info->tracking_cycle = m.tracking_cycle;
		memcpy(info->tracking_id, m.tracking_id, sizeof(info->tracking_id));
		info->blocks_sent = m.blocks_sent;
		info->nr_segments = m.nr_segments;
		info->nr_extents = m.nr_extents;
		fmt_manifest_free(&m);
		break;
	}
	free(cycles);
	return ret;
}

/* ---- replica-applied record ---- */

int vstore_get_applied(struct vstore *vs, uint64_t *cycle)
{
	char path[VSTORE_PATH_MAX], text[32];
	char *buf, *end;
	size_t len;
	int ret;

	*cycle = 0;
	vstore_path_applied(vs, path);
	ret = store_get(vs->st, path, (void **)&buf, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	ret = -EBADMSG;
	if (len > 0 && len < sizeof(text) && buf[len - 1] == '\n') {
		memcpy(text, buf, len - 1);
		text[len - 1] = '\0';
		errno = 0;
		*cycle = strtoull(text, &end, 10);
		/* end must be the newline's place: a NUL inside is not a number. */
		if (!errno && end == text + len - 1 && text[0] >= '0' && text[0] <= '9')
			ret = 0;
	}
	if (ret)
		log_err("%s/%s does not hold a cycle number: fix or remove it (removing it re-applies every cycle)",
			vs->st->spec, path);
	free(buf);
	return ret;
}

int vstore_set_applied(struct vstore *vs, uint64_t cycle)
{
	char path[VSTORE_PATH_MAX], text[32];
	int n;

	vstore_path_applied(vs, path);
	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", cycle);
	return store_put(vs->st, path, text, (size_t)n);
}
