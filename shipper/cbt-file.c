// SPDX-License-Identifier: GPL-2.0
/*
 * The fake kernel: a volume that is a plain file, its tracking state a text
 * file (format in cbt-source.h).  Every operation reads the state file,
 * changes it and replaces it atomically, so a test can edit it between
 * operations ("dirty START COUNT" lines, in any order, overlaps allowed) and
 * a crash leaves either the old or the new state, like the real thing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbt-source.h"
#include "log.h"

struct cbt_file_source {
	struct cbt_source src;
	char *data_path;
	char *state_path;
	uint32_t block_size;
};

struct cbt_file_state {
	uint32_t block_size;
	uint64_t cycle;
	bool frozen;
	bool resync;			/* "resync 1": resync required */
	uint8_t id[16];
	struct cbt_extent_list dirty;
	struct cbt_extent_list frozen_ext;
};

static struct cbt_file_source *to_file(struct cbt_source *src)
{
	return (struct cbt_file_source *)src;
}

static void state_free(struct cbt_file_state *st)
{
	cbt_extent_list_free(&st->dirty);
	cbt_extent_list_free(&st->frozen_ext);
}

static int cmp_extent(const void *a, const void *b)
{
	const struct cbt_extent *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sort and merge overlapping or adjacent extents in place. */
static int extents_normalize(struct cbt_extent_list *l)
{
	struct cbt_extent_list out = { 0 };
	uint64_t s, e;
	size_t i;
	int err;

	if (l->nr < 2)
		return 0;
	qsort(l->ext, l->nr, sizeof(*l->ext), cmp_extent);
	s = l->ext[0].start;
	e = s + l->ext[0].count;
	for (i = 1; i <= l->nr; i++) {
		if (i < l->nr && l->ext[i].start <= e) {
			if (l->ext[i].start + l->ext[i].count > e)
				e = l->ext[i].start + l->ext[i].count;
			continue;
		}
		err = cbt_extent_list_add(&out, s, e - s);
		if (err) {
			cbt_extent_list_free(&out);
			return err;
		}
		if (i < l->nr) {
			s = l->ext[i].start;
			e = s + l->ext[i].count;
		}
	}
	cbt_extent_list_free(l);
	*l = out;
	return 0;
}

static int parse_hex_id(const char *s, uint8_t id[16])
{
	unsigned int b;
	int i;

	if (strlen(s) != 32)
		return -EINVAL;
	for (i = 0; i < 16; i++) {
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		id[i] = (uint8_t)b;
	}
	return 0;
}

static int state_load(const char *path, struct cbt_file_state *st)
{
	char line[256], key[32], val[64];
	unsigned long long a, b;
	unsigned int lineno = 0;
	bool seen_id = false;
	FILE *f;
	int err = 0;

	memset(st, 0, sizeof(*st));
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		if (err != -ENOENT)
			log_err("cannot open tracking state file %s: %s", path, strerror(errno));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%31s %llu %llu", key, &a, &b) == 3 &&
		    (!strcmp(key, "dirty") || !strcmp(key, "frozen_ext"))) {
			if (!b || a + b < a) {
				err = -EINVAL;
				break;
			}
			err = cbt_extent_list_push(!strcmp(key, "dirty") ? &st->dirty : &st->frozen_ext,
					   a, b);
			if (err)
				break;
		} else if (sscanf(line, "%31s %63s", key, val) == 2 && !strcmp(key, "id")) {
			err = parse_hex_id(val, st->id);
			if (err)
				break;
			seen_id = true;
		} else if (sscanf(line, "%31s %llu", key, &a) == 2 &&
			   !strcmp(key, "block_size") && a && a <= UINT32_MAX) {
			st->block_size = (uint32_t)a;
		} else if (sscanf(line, "%31s %llu", key, &a) == 2 && !strcmp(key, "cycle")) {
			st->cycle = a;
		} else if (sscanf(line, "%31s %llu", key, &a) == 2 && !strcmp(key, "frozen") &&
			   a <= 1) {
			st->frozen = a;
		} else if (sscanf(line, "%31s %llu", key, &a) == 2 && !strcmp(key, "resync") &&
			   a <= 1) {
			st->resync = a;
		} else {
			err = -EINVAL;
			break;
		}
	}
	if (!err && ferror(f))
		err = -EIO;
	fclose(f);
	if (!err && (!st->block_size || !seen_id))
		err = -EINVAL;
	if (!err)
		err = extents_normalize(&st->dirty);
	if (!err)
		err = extents_normalize(&st->frozen_ext);
	if (!err && !st->frozen && st->frozen_ext.nr)
		err = -EINVAL;
	if (err) {
		if (err == -EINVAL)
			log_err("tracking state file %s is malformed (line %u); fix or delete it",
				path, lineno);
		state_free(st);
	}
	return err;
}

static int write_extents(FILE *f, const char *key, const struct cbt_extent_list *l)
{
	size_t i;

	for (i = 0; i < l->nr; i++)
		if (fprintf(f, "%s %llu %llu\n", key, (unsigned long long)l->ext[i].start,
			    (unsigned long long)l->ext[i].count) < 0)
			return -EIO;
	return 0;
}

/* Write to PATH.tmp, fsync, rename over PATH. */
static int state_save(const char *path, const struct cbt_file_state *st)
{
	char *tmp;
	FILE *f;
	int err = 0, i;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	f = fopen(tmp, "we");
	if (!f) {
		err = -errno;
		log_err("cannot write tracking state %s: %s", tmp, strerror(errno));
		goto out_free;
	}
	fprintf(f, "block_size %u\ncycle %" PRIu64 "\nfrozen %d\nresync %d\nid ",
		st->block_size, st->cycle, st->frozen ? 1 : 0, st->resync ? 1 : 0);
	for (i = 0; i < 16; i++)
		fprintf(f, "%02x", st->id[i]);
	fputc('\n', f);
	err = write_extents(f, "dirty", &st->dirty);
	if (!err)
		err = write_extents(f, "frozen_ext", &st->frozen_ext);
	if (fflush(f) || fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		log_err("cannot write tracking state %s: %s", path, strerror(-err));
		unlink(tmp);
	}
out_free:
	free(tmp);
	return err;
}

static int file_nr_blocks(struct cbt_file_source *s, uint64_t *size, uint64_t *nr)
{
	struct stat st;

	if (stat(s->data_path, &st) < 0) {
		int err = -errno;

		log_err("cannot stat %s: %s", s->data_path, strerror(errno));
		return err;
	}
	*size = (uint64_t)st.st_size;
	*nr = *size / s->block_size + (*size % s->block_size != 0);
	return 0;
}

/* Load, check the extents fit the volume. */
static int file_load(struct cbt_file_source *s, struct cbt_file_state *st, uint64_t *size,
		     uint64_t *nr)
{
	const struct cbt_extent_list *lists[2] = { &st->dirty, &st->frozen_ext };
	int err, i;

	err = state_load(s->state_path, st);
	if (err == -ENOENT)
		log_err("tracking state file %s is gone", s->state_path);
	if (err)
		return err;
	err = file_nr_blocks(s, size, nr);
	if (err)
		goto out_free;
	for (i = 0; i < 2; i++) {
		const struct cbt_extent_list *l = lists[i];

		if (l->nr && l->ext[l->nr - 1].start + l->ext[l->nr - 1].count > *nr) {
			log_err("tracking state %s names blocks beyond the %" PRIu64 "-block volume",
				s->state_path, *nr);
			err = -EINVAL;
			goto out_free;
		}
	}
	return 0;
out_free:
	state_free(st);
	return err;
}

static int file_info(struct cbt_source *src, struct cbt_volume_info *info)
{
	struct cbt_file_source *s = to_file(src);
	struct cbt_file_state st;
	char *copy;
	int err;

	memset(info, 0, sizeof(*info));
	err = file_load(s, &st, &info->size_bytes, &info->nr_blocks);
	if (err)
		return err;
	copy = strdup(s->data_path);
	if (!copy) {
		state_free(&st);
		return -ENOMEM;
	}
	snprintf(info->name, sizeof(info->name), "%s", basename(copy));
	free(copy);
	snprintf(info->data_path, sizeof(info->data_path), "%s", s->data_path);
	info->block_size = s->block_size;
	info->dirty_blocks = cbt_extent_list_blocks(&st.dirty);
	info->frozen_blocks = cbt_extent_list_blocks(&st.frozen_ext);
	info->cycle = st.cycle;
	info->frozen = st.frozen;
	info->resync_required = st.resync;
	memcpy(info->tracking_id, st.id, 16);
	state_free(&st);
	return 0;
}

static int file_freeze(struct cbt_source *src, uint64_t *cycle)
{
	struct cbt_file_source *s = to_file(src);
	struct cbt_file_state st;
	uint64_t size, nr;
	int err;

	err = file_load(s, &st, &size, &nr);
	if (err)
		return err;
	if (st.frozen) {
		log_err("%s: cycle %" PRIu64 " is already frozen; commit or abort it first",
			s->state_path, st.cycle);
		err = -EBUSY;
		goto out;
	}
	st.frozen_ext = st.dirty;
	memset(&st.dirty, 0, sizeof(st.dirty));
	st.frozen = true;
	st.cycle++;
	err = state_save(s->state_path, &st);
	if (!err)
		*cycle = st.cycle;
out:
	state_free(&st);
	return err;
}

static int file_check_frozen(struct cbt_file_source *s, const struct cbt_file_state *st,
			     uint64_t cycle)
{
	if (!st->frozen || st->cycle != cycle) {
		log_err("%s: cycle %" PRIu64 " is not the frozen cycle (state: cycle %" PRIu64 ", %s)",
			s->state_path, cycle, st->cycle, st->frozen ? "frozen" : "not frozen");
		return -ESTALE;
	}
	return 0;
}

static int file_changes(struct cbt_source *src, uint64_t cycle, struct cbt_extent_list *out)
{
	struct cbt_file_source *s = to_file(src);
	struct cbt_file_state st;
	uint64_t size, nr;
	int err;

	err = file_load(s, &st, &size, &nr);
	if (err)
		return err;
	err = file_check_frozen(s, &st, cycle);
	if (!err) {
		cbt_extent_list_free(out);
		*out = st.frozen_ext;
		memset(&st.frozen_ext, 0, sizeof(st.frozen_ext));
	}
	state_free(&st);
	return err;
}

static int file_end_cycle(struct cbt_file_source *s, uint64_t cycle, bool merge_back)
{
	struct cbt_file_state st;
	uint64_t size, nr;
	size_t i;
	int err;

	err = file_load(s, &st, &size, &nr);
	if (err)
		return err;
	err = file_check_frozen(s, &st, cycle);
	if (err)
		goto out;
	for (i = 0; merge_back && i < st.frozen_ext.nr; i++) {
		err = cbt_extent_list_push(&st.dirty, st.frozen_ext.ext[i].start,
				   st.frozen_ext.ext[i].count);
		if (err)
			goto out;
	}
	err = extents_normalize(&st.dirty);
	if (err)
		goto out;
	cbt_extent_list_free(&st.frozen_ext);
	st.frozen = false;
	err = state_save(s->state_path, &st);
out:
	state_free(&st);
	return err;
}

static int file_commit(struct cbt_source *src, uint64_t cycle)
{
	return file_end_cycle(to_file(src), cycle, false);
}

static int file_abort(struct cbt_source *src, uint64_t cycle)
{
	return file_end_cycle(to_file(src), cycle, true);
}

static int file_mark_dirty(struct cbt_source *src, const struct cbt_extent *ext, size_t n)
{
	struct cbt_file_source *s = to_file(src);
	struct cbt_file_state st;
	uint64_t size, nr;
	size_t i;
	int err;

	err = file_load(s, &st, &size, &nr);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (!ext[i].count || ext[i].start >= nr || ext[i].count > nr - ext[i].start) {
			log_err("mark: extent [%llu, +%llu) is outside the %" PRIu64 "-block volume",
				(unsigned long long)ext[i].start,
				(unsigned long long)ext[i].count, nr);
			err = -EINVAL;
			goto out;
		}
		err = cbt_extent_list_push(&st.dirty, ext[i].start, ext[i].count);
		if (err)
			goto out;
	}
	err = extents_normalize(&st.dirty);
	if (!err)
		err = state_save(s->state_path, &st);
out:
	state_free(&st);
	return err;
}

static int file_clear_resync(struct cbt_source *src)
{
	struct cbt_file_source *s = to_file(src);
	struct cbt_file_state st;
	uint64_t size, nr;
	int err;

	err = file_load(s, &st, &size, &nr);
	if (err)
		return err;
	st.resync = false;
	err = state_save(s->state_path, &st);
	state_free(&st);
	return err;
}

static void file_close(struct cbt_source *src)
{
	struct cbt_file_source *s = to_file(src);

	free(s->data_path);
	free(s->state_path);
	free(s);
}

static const struct cbt_source_ops cbt_file_ops = {
	.name = "file",
	.info = file_info,
	.freeze = file_freeze,
	.changes = file_changes,
	.commit = file_commit,
	.abort = file_abort,
	.mark_dirty = file_mark_dirty,
	.clear_resync = file_clear_resync,
	.close = file_close,
};

/*
 * A missing state file is created (random id, nothing dirty, resync
 * required like a new dm-cbt volume) with block_size, which must then be
 * non-zero; an existing one keeps its own block size and a non-zero
 * block_size must match it.
 */
int cbt_source_open_file(const char *data_path, const char *state_path,
			 uint32_t block_size, struct cbt_source **out)
{
	struct cbt_file_source *s;
	struct cbt_file_state st;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->src.ops = &cbt_file_ops;
	s->data_path = strdup(data_path);
	s->state_path = strdup(state_path);
	if (!s->data_path || !s->state_path) {
		err = -ENOMEM;
		goto out_free;
	}
	if (access(data_path, R_OK) < 0) {
		err = -errno;
		log_err("cannot read volume file %s: %s", data_path, strerror(errno));
		goto out_free;
	}
	err = state_load(state_path, &st);
	if (err == -ENOENT) {
		if (!block_size || block_size % 512) {
			log_err("%s does not exist and no valid block size was given to create it",
				state_path);
			err = -EINVAL;
			goto out_free;
		}
		memset(&st, 0, sizeof(st));
		st.block_size = block_size;
		st.resync = true;
		if (getrandom(st.id, sizeof(st.id), 0) != sizeof(st.id)) {
			err = -EIO;
			goto out_free;
		}
		err = state_save(state_path, &st);
	}
	if (err)
		goto out_free;
	if (block_size && st.block_size != block_size) {
		log_err("%s tracks %u-byte blocks, not %u", state_path, st.block_size, block_size);
		err = -EINVAL;
		state_free(&st);
		goto out_free;
	}
	s->block_size = st.block_size;
	state_free(&st);
	*out = &s->src;
	return 0;

out_free:
	free(s->data_path);
	free(s->state_path);
	free(s);
	return err;
}
