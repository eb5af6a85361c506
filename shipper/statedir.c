// SPDX-License-Identifier: GPL-2.0
/*
 * Saved change sets.  The file is text, one field a line, then the extents,
 * then "end": a set is used only if it was read to its end line and every
 * field parsed (the rename makes a torn file unlikely; the end line makes
 * it detectable anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"
#include "log.h"
#include "statedir.h"

#define STATEDIR_MAGIC	"cbtship-changes 1"

#define STATEDIR_INITIAL_MAGIC	"cbtship-initial 1"

static void set_path(const char *dir, const char *volume, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.changes", dir, volume);
}

static void initial_path(const char *dir, const char *volume, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.initial", dir, volume);
}

static int unhex(const char *s, uint8_t *b, size_t n)
{
	unsigned int v;
	size_t i;

	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		b[i] = (uint8_t)v;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/*
 * Write DIR/VOLUME.SUFFIX durably: fill() writes the text to a temporary
 * file, which is synced, renamed and the directory synced.  Not logged.
 */
static int write_durable(const char *dir, const char *volume, const char *suffix,
			 void (*fill)(FILE *f, const void *arg), const void *arg)
{
	char path[4096], tmp[4200];
	FILE *f = NULL;
	int fd, err = 0;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s.%s", dir, volume, suffix);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s.%s", dir, volume, suffix);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	fill(f, arg);
	if (fflush(f) || fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (!err)
		err = sync_dir(dir);
	if (err)
		unlink(tmp);
	return err;
}

static void fill_set(FILE *f, const void *arg)
{
	const struct statedir_set *s = arg;
	char vid[33], tid[33];
	size_t i;

	hex_encode(s->volume_id, sizeof(s->volume_id), vid);
	hex_encode(s->tracking_id, sizeof(s->tracking_id), tid);
	fprintf(f, STATEDIR_MAGIC "\nvolume_id %s\ndevice %s\nsize %" PRIu64 "\nblock_size %u\ntracking_id %s\nafter_cycle %" PRIu64 "\n",
		vid, s->device, s->size_bytes, s->block_size, tid, s->after_cycle);
	for (i = 0; i < s->ext.nr; i++)
		fprintf(f, "extent %" PRIu64 " %" PRIu64 "\n", (uint64_t)s->ext.ext[i].start,
			(uint64_t)s->ext.ext[i].count);
	fprintf(f, "end\n");
}

int statedir_save(const char *dir, const char *volume, const struct statedir_set *s)
{
	int err = write_durable(dir, volume, "changes", fill_set, s);

	if (err)
		log_err("cannot save the change set of volume %s in %s: %s; check the state directory's space and permissions, or give another --state-dir",
			volume, dir, strerror(-err));
	return err;
}

void statedir_set_free(struct statedir_set *s)
{
	cbt_extent_list_free(&s->ext);
}

int statedir_load(const char *dir, const char *volume, struct statedir_set *s)
{
	char path[4096], line[512], key[32], val[160];
	unsigned long long a, b, prev_end = 0;
	unsigned int seen = 0;
	bool end = false;
	FILE *f;
	int err = 0;

	memset(s, 0, sizeof(*s));
	set_path(dir, volume, path, sizeof(path));
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		if (err != -ENOENT)
			log_err("cannot read saved change set %s: %s", path, strerror(errno));
		return err;
	}
	if (!fgets(line, sizeof(line), f) || strcmp(line, STATEDIR_MAGIC "\n"))
		err = -EBADMSG;
	while (!err && !end && fgets(line, sizeof(line), f)) {
		if (!strcmp(line, "end\n")) {
			end = true;
		} else if (sscanf(line, "extent %llu %llu", &a, &b) == 2) {
			if (!b || a + b < a || a < prev_end)
				err = -EBADMSG;
			else
				err = cbt_extent_list_add(&s->ext, a, b);
			prev_end = a + b;
		} else if (sscanf(line, "%31s %159s", key, val) == 2) {
			if (!strcmp(key, "volume_id"))
				err = unhex(val, s->volume_id, sizeof(s->volume_id)), seen |= 1;
			else if (!strcmp(key, "tracking_id"))
				err = unhex(val, s->tracking_id, sizeof(s->tracking_id)), seen |= 2;
			else if (!strcmp(key, "device") && strlen(val) < sizeof(s->device))
				strcpy(s->device, val), seen |= 4;
			else if (!strcmp(key, "size") && sscanf(val, "%llu", &a) == 1)
				s->size_bytes = a, seen |= 8;
			else if (!strcmp(key, "block_size") && sscanf(val, "%llu", &a) == 1 &&
				 a && a <= UINT32_MAX)
				s->block_size = (uint32_t)a, seen |= 16;
			else if (!strcmp(key, "after_cycle") && sscanf(val, "%llu", &a) == 1)
				s->after_cycle = a, seen |= 32;
			else
				err = -EBADMSG;
		} else {
			err = -EBADMSG;
		}
		if (err == -EINVAL)
			err = -EBADMSG;
	}
	fclose(f);
	if (!err && (!end || seen != 63))
		err = -EBADMSG;
	if (err) {
		log_err("saved change set %s is damaged (%s): ignoring it; the volume needs a checksum resync (cbtship resync)",
			path, strerror(-err));
		statedir_set_free(s);
	}
	return err;
}

static int remove_file(const char *dir, const char *path)
{
	int err;

	if (unlink(path)) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		log_err("cannot remove %s: %s; remove it by hand, it is out of date",
			path, strerror(errno));
		return err;
	}
	return sync_dir(dir);
}

int statedir_remove(const char *dir, const char *volume)
{
	char path[4096];

	set_path(dir, volume, path, sizeof(path));
	return remove_file(dir, path);
}

static void initial_text(char *buf, size_t len, const uint8_t volume_id[16],
			 const uint8_t tracking_id[16])
{
	char vid[33], tid[33];

	hex_encode(volume_id, 16, vid);
	hex_encode(tracking_id, 16, tid);
	snprintf(buf, len, STATEDIR_INITIAL_MAGIC "\nvolume_id %s\ntracking_id %s\nend\n", vid, tid);
}

static void fill_text(FILE *f, const void *arg)
{
	fputs(arg, f);
}

int statedir_initial_save(const char *dir, const char *volume, const uint8_t volume_id[16],
			  const uint8_t tracking_id[16])
{
	char text[256];

	initial_text(text, sizeof(text), volume_id, tracking_id);
	return write_durable(dir, volume, "initial", fill_text, text);
}

int statedir_initial_match(const char *dir, const char *volume, const uint8_t volume_id[16],
			   const uint8_t tracking_id[16])
{
	char path[4096], buf[256], want[256];
	size_t n;
	FILE *f;

	initial_path(dir, volume, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	initial_text(want, sizeof(want), volume_id, tracking_id);
	/* Byte for byte: a NUL and anything after it is not the checkpoint. */
	return n == strlen(want) && !memcmp(buf, want, n);
}

int statedir_initial_remove(const char *dir, const char *volume)
{
	char path[4096];

	initial_path(dir, volume, path, sizeof(path));
	return remove_file(dir, path);
}
