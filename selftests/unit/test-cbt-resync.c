// SPDX-License-Identifier: GPL-2.0
/*
 * The "resync required" flag of the file-backed fake dm-cbt (cbt-file.c):
 * a state file it creates starts with resync required, like a new dm-cbt
 * volume; clear_resync clears it and it survives the other operations; a
 * hand-written state file without the line is not resync required; a bad
 * value is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cbt-source.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int state_has_line(const char *path, const char *line)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(buf, sizeof(buf), f))
		found = !strncmp(buf, line, strlen(line)) && buf[strlen(line)] == '\n';
	fclose(f);
	return found;
}

static void test_created_state(void)
{
	struct cbt_volume_info info;
	struct cbt_source *src;
	uint64_t cycle;
	int ret;

	tap_eq(write_file("vol", "0123456789abcdef"), 0, "create a 16-byte volume");
	ret = cbt_source_open_file("vol", "state", 4096, &src);
	tap_eq(ret, 0, "open creates the state file");
	if (ret)
		return;
	ret = src->ops->info(src, &info);
	tap_ok(ret == 0 && info.resync_required, "a new tracking state is resync required");
	tap_ok(state_has_line("state", "resync 1"), "state file says \"resync 1\"");

	ret = src->ops->freeze(src, &cycle);
	tap_eq(ret, 0, "freeze");
	ret = src->ops->commit(src, cycle);
	tap_eq(ret, 0, "commit");
	ret = src->ops->info(src, &info);
	tap_ok(ret == 0 && info.resync_required, "a cycle does not clear resync required");

	ret = src->ops->clear_resync(src);
	tap_eq(ret, 0, "clear_resync");
	ret = src->ops->info(src, &info);
	tap_ok(ret == 0 && !info.resync_required, "resync required is cleared");
	tap_ok(state_has_line("state", "resync 0"), "state file says \"resync 0\"");
	ret = src->ops->clear_resync(src);
	tap_eq(ret, 0, "clear_resync again is harmless");
	cbt_source_close(src);
}

static void test_written_state(void)
{
	struct cbt_volume_info info;
	struct cbt_source *src;
	int ret;

	/* The format before the flag existed: no "resync" line. */
	tap_eq(write_file("old", "block_size 4096\ncycle 3\nfrozen 0\n"
			  "id 00112233445566778899aabbccddeeff\ndirty 0 1\n"), 0,
	       "write a state file without a resync line");
	ret = cbt_source_open_file("vol", "old", 0, &src);
	tap_eq(ret, 0, "open it");
	if (!ret) {
		ret = src->ops->info(src, &info);
		tap_ok(ret == 0 && !info.resync_required && info.cycle == 3,
		       "no resync line: not resync required");
		cbt_source_close(src);
	}

	tap_eq(write_file("bad", "block_size 4096\ncycle 0\nfrozen 0\nresync 2\n"
			  "id 00112233445566778899aabbccddeeff\n"), 0,
	       "write a state file with resync 2");
	ret = cbt_source_open_file("vol", "bad", 0, &src);
	tap_eq(ret, -EINVAL, "resync 2 is refused as malformed");
	if (!ret)
		cbt_source_close(src);
}

int main(void)
{
	log_init("test-cbt-resync", false);
	test_quiet_logs();
	if (!test_dir_setup("cbt-resync"))
		return 1;
	test_created_state();
	test_written_state();
	return tap_done();
}
