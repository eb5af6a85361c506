// SPDX-License-Identifier: GPL-2.0
/* Local store: marker, put/get/list/remove, batched puts, refusing non-stores. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"
#include "tap.h"
#include "tmpdir.h"

struct names {
	char list[16][64];
	int n;
};

static int collect(void *arg, const char *child)
{
	struct names *nm = arg;

	if (nm->n < 16)
		snprintf(nm->list[nm->n++], 64, "%s", child);
	return 0;
}

static int has(const struct names *nm, const char *name)
{
	for (int i = 0; i < nm->n; i++)
		if (!strcmp(nm->list[i], name))
			return 1;
	return 0;
}

/* Entries of a directory, hidden (temporary) ones included. */
static int dir_entries(const char *path)
{
	struct dirent *de;
	DIR *dir = opendir(path);
	int n = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(dir);
	return n;
}

/* Batched puts: invisible until flush, then all there; more than one batch's worth. */
static void test_put_async(struct store *st)
{
	char name[64], data[32];
	bool all = true;
	size_t len;
	void *buf;
	int ret = 0;

	for (int i = 0; i < 300 && !ret; i++) {
		snprintf(name, sizeof(name), "volumes/a/cycles/%d/seg-%d", i / 100, i);
		snprintf(data, sizeof(data), "object %d", i);
		ret = store_put_async(st, name, data, strlen(data));
	}
	tap_eq(ret, 0, "put_async takes 300 objects (more than one internal batch)");
	tap_eq(store_get(st, "volumes/a/cycles/2/seg-299", &buf, &len), -ENOENT,
	       "an object put_async wrote is not visible before flush");
	tap_eq(store_flush(st), 0, "flush makes them durable and visible");
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "volumes/a/cycles/%d/seg-%d", i / 100, i);
		snprintf(data, sizeof(data), "object %d", i);
		if (store_get(st, name, &buf, &len) || len != strlen(data) || memcmp(buf, data, len))
			all = false;
		free(buf);
		buf = NULL;
	}
	tap_ok(all, "after flush every object reads back as written");
	tap_eq(dir_entries("new/sub/volumes/a/cycles/2"), 100,
	       "and no temporary file is left next to them");
	tap_eq(store_flush(st), 0, "a flush with nothing pending is a no-op");
}

/* Closing without flush: nothing of the batch appears, no temporary files stay. */
static void test_put_async_discarded(void)
{
	struct store *st = NULL;
	void *buf;
	size_t len;

	tap_eq(store_open("new/sub", false, &st), 0, "reopen for the discard case");
	tap_eq(store_put_async(st, "volumes/b/cycles/1/seg-0", "lost", 4), 0,
	       "put_async without a flush");
	store_close(st);
	tap_eq(dir_entries("new/sub/volumes/b/cycles/1"), 0,
	       "close without flush removes the unflushed object's temporary file");
	tap_eq(store_open("new/sub", false, &st), 0, "reopen");
	tap_eq(store_get(st, "volumes/b/cycles/1/seg-0", &buf, &len), -ENOENT,
	       "and the object was never stored");
	store_close(st);
}

int main(void)
{
	struct store *st = NULL, *st2 = NULL;
	struct names nm = { 0 };
	size_t len;
	void *buf;
	uint8_t *file;
	int ret;

	test_dir_setup("store");
	test_quiet_logs();

	ret = store_open("absent", false, &st);
	tap_ok(ret == -ENOENT && !st, "opening an absent store without create is -ENOENT");
	ret = store_open("new/sub", true, &st);
	tap_ok(ret == 0 && st, "create makes an absent directory (and its parents) a store");
	file = test_read_file("new/sub/cbtship-store", &len);
	tap_ok(file && len == 16 && !memcmp(file, "cbtship-store 1\n", 16),
	       "the marker file says \"cbtship-store 1\"");
	free(file);

	ret = store_put(st, "volumes/v/cycles/1/seg-0", "hello", 5);
	tap_eq(ret, 0, "put creates parent directories");
	ret = store_get(st, "volumes/v/cycles/1/seg-0", &buf, &len);
	tap_ok(ret == 0 && len == 5 && !memcmp(buf, "hello", 5), "get returns what put wrote");
	free(buf);
	ret = store_put(st, "volumes/v/cycles/1/seg-0", "bye", 3);
	ret = ret ?: store_get(st, "volumes/v/cycles/1/seg-0", &buf, &len);
	tap_ok(ret == 0 && len == 3 && !memcmp(buf, "bye", 3), "put replaces an object");
	free(buf);
	ret = store_put(st, "volumes/v/cycles/1/empty", "", 0);
	ret = ret ?: store_get(st, "volumes/v/cycles/1/empty", &buf, &len);
	tap_ok(ret == 0 && len == 0, "an empty object");
	free(buf);
	ret = store_get(st, "volumes/v/cycles/1/nothing", &buf, &len);
	tap_eq(ret, -ENOENT, "get of an absent object is -ENOENT");

	/* A temporary file left by a crashed writer is not listed. */
	test_write_file("new/sub/volumes/v/cycles/1/.tmp-1-deadbeef", "x", 1, 0644);
	ret = st->ops->list(st, "volumes/v/cycles/1", collect, &nm);
	tap_ok(ret == 0 && nm.n == 2 && has(&nm, "seg-0") && has(&nm, "empty"),
	       "list names the children, not temporary files");
	nm.n = 0;
	ret = st->ops->list(st, "volumes/v", collect, &nm);
	tap_ok(ret == 0 && nm.n == 1 && has(&nm, "cycles"), "list of a prefix gives directories");
	ret = st->ops->list(st, "volumes/none", collect, &nm);
	tap_eq(ret, -ENOENT, "list of an absent prefix is -ENOENT");

	tap_eq(st->ops->remove(st, "volumes/v/cycles/1/seg-0"), 0, "remove an object");
	ret = store_get(st, "volumes/v/cycles/1/seg-0", &buf, &len);
	tap_eq(ret, -ENOENT, "it is gone");
	tap_eq(st->ops->remove(st, "volumes/v/cycles/1/seg-0"), -ENOENT,
	       "removing it again is -ENOENT");
	tap_eq(st->ops->remove(st, "volumes/v/cycles/1/empty"), 0, "remove the other");
	tap_eq(st->ops->remove(st, "volumes/v/cycles/1"), 0,
	       "remove the emptied prefix (a crashed writer's temporary file too)");
	nm.n = 0;
	ret = st->ops->list(st, "volumes/v/cycles", collect, &nm);
	tap_ok(ret == 0 && nm.n == 0, "the prefix is gone");

	tap_eq(store_put(st, "../escape", "x", 1), -EINVAL, "\"..\" in a name is refused");
	tap_eq(store_put(st, "/abs", "x", 1), -EINVAL, "an absolute name is refused");
	tap_eq(store_put(st, "a//b", "x", 1), -EINVAL, "an empty component is refused");
	tap_eq(store_put(st, ".hidden", "x", 1), -EINVAL, "a hidden name is refused");
	test_put_async(st);
	store_close(st);
	test_put_async_discarded();

	ret = store_open("new/sub", false, &st2);
	tap_ok(ret == 0 && st2, "an existing store opens without create");
	store_close(st2);

	mkdir("empty", 0755);
	ret = store_open("empty", false, &st2);
	tap_eq(ret, -ENOTDIR, "an empty directory is not a store without create");
	ret = store_open("empty", true, &st2);
	tap_ok(ret == 0 && st2, "an empty directory becomes a store with create");
	store_close(st2);

	mkdir("full", 0755);
	test_write_file("full/precious", "data", 4, 0644);
	ret = store_open("full", true, &st2);
	tap_eq(ret, -ENOTDIR, "a non-empty directory without the marker is refused");
	file = test_read_file("full/precious", &len);
	tap_ok(file && len == 4 && test_read_file("full/cbtship-store", &len) == NULL,
	       "and left alone");
	free(file);

	mkdir("dotonly", 0755);
	test_write_file("dotonly/.profile", "x", 1, 0644);
	tap_eq(store_open("dotonly", true, &st2), -ENOTDIR,
	       "a directory holding only a hidden file is not empty: refused");

	mkdir("v2", 0755);
	test_write_file("v2/cbtship-store", "cbtship-store 2\n", 16, 0644);
	tap_eq(store_open("v2", true, &st2), -EPROTO, "a version 2 store is refused (-EPROTO)");
	mkdir("junk", 0755);
	test_write_file("junk/cbtship-store", "hello\n", 6, 0644);
	tap_eq(store_open("junk", true, &st2), -ENOTDIR, "a damaged marker is refused");
	test_write_file("afile", "x", 1, 0644);
	tap_eq(store_open("afile", true, &st2), -ENOTDIR, "a regular file is not a store");
	return tap_done();
}
