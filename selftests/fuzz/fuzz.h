/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the libFuzzer targets (selftests/fuzz/fuzz-*.c): quiet logs,
 * a private scratch directory (tmpfs when there is one), the fixed key of
 * the unit test vectors, and an in-memory store so whole objects can be
 * sealed and read back without touching a disk.
 *
 * A target asserts with FUZZ_CHECK: a broken property aborts, which
 * libFuzzer reports as a crash with the input that caused it.
 */
#ifndef CBTSHIP_FUZZ_H
#define CBTSHIP_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"
#include "log.h"
#include "store.h"

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property failed: %s\n",	\
			__FILE__, __LINE__, #cond);			\
		abort();						\
	}								\
} while (0)

/* The key of selftests/unit/test-vectors.c, so its objects open here too. */
#define FUZZ_KEY_HEX \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"

static char fuzz_dir[256];

static int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fuzz_dir_cleanup(void)
{
	if (fuzz_dir[0])
		nftw(fuzz_dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Quiet logs (FUZZ_VERBOSE=1 shows them) and a scratch dir removed at exit. */
__attribute__((unused))
static const char *fuzz_setup(void)
{
	const char *base = getenv("TMPDIR");

	if (fuzz_dir[0])
		return fuzz_dir;
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_DEBUG : LOG_EMERG);
	if (!base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/cbtship-fuzz-XXXXXX", base);
	if (!mkdtemp(fuzz_dir)) {
		perror("fuzz scratch dir");
		abort();
	}
	atexit(fuzz_dir_cleanup);
	return fuzz_dir;
}

/* Replace the file at path with buf, mode `mode`; aborts on failure (not the input's fault). */
__attribute__((unused))
static void fuzz_write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || fchmod(fd, mode) < 0 ||
	    (len && write(fd, buf, len) != (ssize_t)len) || close(fd) < 0) {
		perror(path);
		abort();
	}
}

/* The fixed key, loaded through key_load() like the CLI does. */
__attribute__((unused))
static const struct cbt_key *fuzz_key(void)
{
	static struct cbt_key key;
	static int loaded;
	char path[300];

	if (loaded)
		return &key;
	snprintf(path, sizeof(path), "%s/fixed.key", fuzz_setup());
	fuzz_write_file(path, FUZZ_KEY_HEX, strlen(FUZZ_KEY_HEX), 0600);
	FUZZ_CHECK(key_load(path, &key) == 0);
	loaded = 1;
	return &key;
}

/* ---- an in-memory store: a few named objects ---- */

#define MEM_OBJECTS	64

struct mem_obj {
	char *name;
	uint8_t *buf;
	size_t len;
};

struct mem_store {
	struct store st;
	struct mem_obj obj[MEM_OBJECTS];
};

static struct mem_obj *mem_find(struct store *st, const char *name)
{
	struct mem_store *ms = (struct mem_store *)st;

	for (int i = 0; i < MEM_OBJECTS; i++)
		if (ms->obj[i].name && !strcmp(ms->obj[i].name, name))
			return &ms->obj[i];
	return NULL;
}

static int mem_put(struct store *st, const char *name, const void *buf, size_t len)
{
	struct mem_store *ms = (struct mem_store *)st;
	struct mem_obj *o = mem_find(st, name);
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	for (int i = 0; !o && i < MEM_OBJECTS; i++) {
		if (!ms->obj[i].name) {
			o = &ms->obj[i];
			o->name = strdup(name);
			if (!o->name) {
				free(copy);
				return -ENOMEM;
			}
		}
	}
	if (!o) {
		free(copy);
		return -ENOSPC;
	}
	free(o->buf);
	o->buf = copy;
	o->len = len;
	return 0;
}

static int mem_get(struct store *st, const char *name, void **buf, size_t *len)
{
	struct mem_obj *o = mem_find(st, name);

	if (!o)
		return -ENOENT;
	*buf = malloc(o->len ? o->len : 1);
	if (!*buf)
		return -ENOMEM;
	memcpy(*buf, o->buf, o->len);
	*len = o->len;
	return 0;
}

static int mem_remove(struct store *st, const char *name)
{
	struct mem_obj *o = mem_find(st, name);

	if (!o)
		return -ENOENT;
	free(o->name);
	free(o->buf);
	memset(o, 0, sizeof(*o));
	return 0;
}

/* Direct children of prefix (a child may be reported more than once; callers here don't mind). */
static int mem_list(struct store *st, const char *prefix,
		    int (*fn)(void *arg, const char *child), void *arg)
{
	struct mem_store *ms = (struct mem_store *)st;
	size_t n = strlen(prefix);
	int found = 0;

	for (int i = 0; i < MEM_OBJECTS; i++) {
		const char *name = ms->obj[i].name;
		char child[256];
		int ret;

		if (!name || strncmp(name, prefix, n) || name[n] != '/')
			continue;
		snprintf(child, sizeof(child), "%s", name + n + 1);
		child[strcspn(child, "/")] = '\0';
		ret = fn(arg, child);
		if (ret)
			return ret;
		found = 1;
	}
	return found ? 0 : -ENOENT;
}

static void mem_close(struct store *st)
{
	struct mem_store *ms = (struct mem_store *)st;

	for (int i = 0; i < MEM_OBJECTS; i++) {
		free(ms->obj[i].name);
		free(ms->obj[i].buf);
	}
	memset(ms->obj, 0, sizeof(ms->obj));
}

static const struct store_ops mem_ops = {
	.name = "memory",
	.put = mem_put,
	.get = mem_get,
	.list = mem_list,
	.remove = mem_remove,
	.close = mem_close,
};

/* One store per process. */
__attribute__((unused))
static struct store *fuzz_mem_store(void)
{
	static struct mem_store ms = { .st = { .ops = &mem_ops, .spec = (char *)"mem:" } };

	return &ms.st;
}

#endif
