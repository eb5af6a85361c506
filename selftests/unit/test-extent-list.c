// SPDX-License-Identifier: GPL-2.0
/*
 * cbt_extent_list helpers and the file-backed fake dm-cbt (cbt-file.c):
 * the cycle protocol (freeze, changes, commit, abort merging back, mark)
 * with exact expected extents.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbt-source.h"
#include "log.h"
#include "tap.h"

static int list_is(const struct cbt_extent_list *l, const uint64_t *want, size_t n)
{
	size_t i;

	if (l->nr != n)
		return 0;
	for (i = 0; i < n; i++)
		if (l->ext[i].start != want[2 * i] || l->ext[i].count != want[2 * i + 1])
			return 0;
	return 1;
}

static void test_list(void)
{
	struct cbt_extent_list l = { 0 };
	uint64_t i;
	int ret;

	ret = cbt_extent_list_add(&l, 10, 5);
	tap_eq(ret, 0, "add first extent");
	ret = cbt_extent_list_add(&l, 15, 1);
	tap_eq(ret, 0, "add adjacent extent");
	tap_ok(list_is(&l, (uint64_t[]){ 10, 6 }, 1), "adjacent extents merged into [10,+6)");
	ret = cbt_extent_list_add(&l, 15, 3);
	tap_eq(ret, -EINVAL, "overlapping extent refused");
	ret = cbt_extent_list_add(&l, 2, 1);
	tap_eq(ret, -EINVAL, "extent before the last refused");
	ret = cbt_extent_list_add(&l, 30, 0);
	tap_eq(ret, -EINVAL, "empty extent refused");
	ret = cbt_extent_list_add(&l, UINT64_MAX - 1, 5);
	tap_eq(ret, -EINVAL, "wrapping extent refused");
	for (i = 0; i < 1000; i++)
		if (cbt_extent_list_add(&l, 100 + 2 * i, 1))
			break;
	tap_eq(l.nr, 1001, "list grows past its first allocation");
	tap_eq(cbt_extent_list_blocks(&l), 1006, "block count");
	cbt_extent_list_free(&l);
	tap_ok(l.nr == 0 && !l.ext, "free empties the list");
}

static int append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_file_source(void)
{
	char dir[] = "/tmp/cbt-el-XXXXXX", data[64], state[64];
	struct cbt_extent_list l = { 0 };
	struct cbt_volume_info info, info2;
	struct cbt_source *src, *src2;
	struct cbt_extent mark = { .start = 0, .count = 1 };
	uint64_t cycle = 0;
	int fd, ret;

	if (!mkdtemp(dir)) {
		tap_ok(0, "mkdtemp");
		return;
	}
	snprintf(data, sizeof(data), "%s/vol", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	fd = open(data, O_CREAT | O_WRONLY, 0600);
	tap_ok(fd >= 0 && ftruncate(fd, 10 * 4096 + 1024) == 0, "create 10.25-block volume");
	close(fd);

	ret = cbt_source_open_file(data, state, 4096, &src);
	tap_eq(ret, 0, "open creates the state file");
	if (ret)
		return;
	ret = src->ops->info(src, &info);
	tap_eq(ret, 0, "info");
	tap_eq(info.nr_blocks, 11, "partial last block counted");
	tap_eq(info.size_bytes, 10 * 4096 + 1024, "size in bytes");
	tap_ok(info.cycle == 0 && !info.frozen && info.dirty_blocks == 0, "fresh state: cycle 0, clean");
	tap_ok(!strcmp(info.name, "vol") && !strcmp(info.data_path, data), "name and data path");

	/* Unsorted, overlapping, adjacent lines as a test would append them. */
	append(state, "dirty 5 2\ndirty 1 1\ndirty 6 3\ndirty 9 1\n");
	ret = src->ops->info(src, &info2);
	tap_eq(info2.dirty_blocks, 6, "dirty lines normalised: [1,+1) [5,+5)");
	tap_ok(!memcmp(info.tracking_id, info2.tracking_id, 16), "tracking id persists");

	ret = src->ops->freeze(src, &cycle);
	tap_ok(ret == 0 && cycle == 1, "freeze gives cycle 1");
	ret = src->ops->freeze(src, &cycle);
	tap_eq(ret, -EBUSY, "second freeze is busy");
	ret = src->ops->changes(src, 1, &l);
	tap_eq(ret, 0, "changes of cycle 1");
	tap_ok(list_is(&l, (uint64_t[]){ 1, 1, 5, 5 }, 2), "changes are [1,+1) [5,+5)");
	ret = src->ops->changes(src, 2, &l);
	tap_eq(ret, -ESTALE, "changes of a cycle that is not frozen");
	ret = src->ops->commit(src, 7);
	tap_eq(ret, -ESTALE, "commit of the wrong cycle refused");

	ret = src->ops->mark_dirty(src, &mark, 1);
	tap_eq(ret, 0, "mark block 0 while frozen");
	ret = src->ops->abort(src, 1);
	tap_eq(ret, 0, "abort cycle 1");
	ret = src->ops->info(src, &info);
	tap_ok(!info.frozen && info.frozen_blocks == 0 && info.dirty_blocks == 7,
	       "abort merges back: 7 dirty, nothing frozen (got %llu dirty)",
	       (unsigned long long)info.dirty_blocks);

	ret = src->ops->freeze(src, &cycle);
	tap_ok(ret == 0 && cycle == 2, "freeze gives cycle 2");
	ret = src->ops->changes(src, 2, &l);
	tap_ok(ret == 0 && list_is(&l, (uint64_t[]){ 0, 2, 5, 5 }, 2),
	       "merged set is [0,+2) [5,+5)");
	append(state, "dirty 10 1\n");	/* a write after the freeze */
	ret = src->ops->commit(src, 2);
	tap_eq(ret, 0, "commit cycle 2");
	ret = src->ops->info(src, &info);
	tap_ok(!info.frozen && info.cycle == 2 && info.dirty_blocks == 1,
	       "after commit: cycle 2, only the later write dirty");

	ret = cbt_source_open_file(data, state, 8192, &src2);
	tap_eq(ret, -EINVAL, "reopen with another block size refused");
	ret = cbt_source_open_file(data, state, 0, &src2);
	tap_eq(ret, 0, "reopen with block size 0 takes the file's");
	if (!ret)
		cbt_source_close(src2);

	append(state, "dirty 11 1\n");
	ret = src->ops->info(src, &info);
	tap_eq(ret, -EINVAL, "dirty block beyond the volume is an error");

	cbt_extent_list_free(&l);
	cbt_source_close(src);
	unlink(state);
	unlink(data);
	rmdir(dir);
}

int main(void)
{
	log_init("test-extent-list", false);
	test_list();
	test_file_source();
	return tap_done();
}
