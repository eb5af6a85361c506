// SPDX-License-Identifier: GPL-2.0
/*
 * Local store, O_DIRECT writes: a large object in a page-aligned buffer is
 * written past the page cache except its partial last page, and reads back
 * byte for byte; an unaligned buffer goes through the page cache.  Which
 * path was taken shows in the page cache (mincore of the stored file before
 * anything reads it): the unaligned object is the negative control.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "log.h"
#include "store.h"
#include "tap.h"
#include "tmpdir.h"

#define PAGE	4096u

/* Pages of the file at path in the page cache, or -1. */
static int resident_pages(const char *path, size_t len, bool *last)
{
	size_t pages = (len + PAGE - 1) / PAGE;
	unsigned char vec[64];
	int fd, n = 0;
	void *map;

	if (pages > sizeof(vec))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	if (mincore(map, len, vec)) {
		munmap(map, len);
		return -1;
	}
	munmap(map, len);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	*last = vec[pages - 1] & 1;
	return n;
}

/* put_async + flush of len bytes at buf, then compare what get returns. */
static bool put_and_get(struct store *st, const char *name, const uint8_t *buf, size_t len)
{
	size_t got_len = 0;
	void *got = NULL;
	bool ok;

	ok = !store_put_async(st, name, buf, len) && !store_flush(st) &&
	     !store_get(st, name, &got, &got_len) && got_len == len && !memcmp(got, buf, len);
	free(got);
	return ok;
}

int main(void)
{
	const size_t len = 5 * PAGE + 1000;	/* 5 whole pages and a partial one */
	uint8_t *buf = NULL;
	struct store *st;
	struct statfs sfs;
	bool last = false;
	int n;

	test_quiet_logs();
	test_dir_setup("test-store-direct");
	if (posix_memalign((void **)&buf, PAGE, len + 1)) {
		tap_ok(0, "aligned buffer");
		return tap_done();
	}
	test_fill_random(buf, len + 1, 42);
	tap_eq(store_open("store", true, &st), 0, "store created");

	/* Stored before anything reads them, so mincore sees the writer's pages only. */
	tap_ok(put_and_get(st, "a/direct", buf, len), "aligned object (%zu bytes) reads back", len);
	tap_ok(put_and_get(st, "a/unaligned", buf + 1, len), "unaligned object reads back");
	tap_ok(put_and_get(st, "a/page", buf, PAGE), "one whole page reads back");
	tap_ok(put_and_get(st, "a/small", buf, 100), "a small object reads back");

	if (statfs("store", &sfs) || sfs.f_type == TMPFS_MAGIC) {
		tap_ok(1, "# SKIP the store is on tmpfs: everything lives in the page cache");
		tap_ok(1, "# SKIP");
	} else {
		/* New objects nothing has read yet. */
		n = -1;
		if (!store_put_async(st, "c/direct", buf, len) && !store_flush(st))
			n = resident_pages("store/c/direct", len, &last);
		tap_ok(n == 1 && last,
		       "aligned object: only its partial last page went through the page cache (%d of 6 resident)",
		       n);
		n = -1;
		if (!store_put_async(st, "c/unaligned", buf + 1, len) && !store_flush(st))
			n = resident_pages("store/c/unaligned", len, &last);
		tap_ok(n == 6, "unaligned object: all 6 pages through the page cache (%d resident; the check can fail)",
		       n);
	}
	store_close(st);
	free(buf);
	return tap_done();
}
