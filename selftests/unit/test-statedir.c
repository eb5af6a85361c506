// SPDX-License-Identifier: GPL-2.0
/*
 * The state directory's saved change sets: what is saved is what is
 * loaded; a missing set is -ENOENT; a damaged or truncated one is refused
 * (-EBADMSG), never half used; files are private and replaced atomically.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "statedir.h"
#include "tap.h"
#include "tmpdir.h"

static void sample(struct statedir_set *s)
{
	memset(s, 0, sizeof(*s));
	memset(s->volume_id, 0xa5, sizeof(s->volume_id));
	memset(s->tracking_id, 0x3c, sizeof(s->tracking_id));
	snprintf(s->device, sizeof(s->device), "vol-1");
	s->size_bytes = 1ull << 40;
	s->block_size = 4096;
	s->after_cycle = 42;
	cbt_extent_list_add(&s->ext, 0, 1);
	cbt_extent_list_add(&s->ext, 7, 3);
	cbt_extent_list_add(&s->ext, 268435455ull, 1);
}

/* Write path with its contents replaced by text; then load must refuse it. */
static void check_refused(const char *text, const char *what)
{
	struct statedir_set s;

	test_write_file("sd/vol.changes", text, strlen(text), 0600);
	tap_eq(statedir_load("sd", "vol", &s), -EBADMSG, what);
}

/* The set file as a NUL-terminated string (malloc'd). */
static char *read_text(const char *path)
{
	size_t len;
	uint8_t *raw = test_read_file(path, &len);
	char *text = raw ? calloc(1, len + 1) : NULL;

	if (text)
		memcpy(text, raw, len);
	free(raw);
	return text;
}

int main(void)
{
	struct statedir_set a, b;
	struct stat st;
	char *text, *cut;

	test_dir_setup("statedir");
	test_quiet_logs();
	sample(&a);

	tap_eq(statedir_load("sd", "vol", &b), -ENOENT, "no saved set: -ENOENT");
	tap_eq(statedir_save("sd", "vol", &a), 0, "save creates the directory and the set");
	tap_ok(!stat("sd", &st) && (st.st_mode & 0777) == 0700, "state directory is 0700");
	tap_ok(!stat("sd/vol.changes", &st) && (st.st_mode & 0777) == 0600, "set file is 0600");
	tap_ok(stat("sd/.tmp-vol.changes", &st) && errno == ENOENT, "no temporary file left");

	tap_eq(statedir_load("sd", "vol", &b), 0, "load what was saved");
	tap_ok(!memcmp(a.volume_id, b.volume_id, 16) && !memcmp(a.tracking_id, b.tracking_id, 16) &&
	       !strcmp(a.device, b.device) && a.size_bytes == b.size_bytes &&
	       a.block_size == b.block_size && a.after_cycle == b.after_cycle,
	       "fields round-trip");
	tap_ok(b.ext.nr == 3 && b.ext.ext[1].start == 7 && b.ext.ext[1].count == 3 &&
	       b.ext.ext[2].start == 268435455ull && cbt_extent_list_blocks(&b.ext) == 5,
	       "extents round-trip");
	statedir_set_free(&b);

	/* An empty change set is a valid set (nothing to ship after attach). */
	cbt_extent_list_free(&a.ext);
	tap_eq(statedir_save("sd", "empty", &a), 0, "save an empty set");
	tap_ok(!statedir_load("sd", "empty", &b) && b.ext.nr == 0, "load an empty set");
	statedir_set_free(&b);
	sample(&a);

	/* Damage: every way of cutting or bending the file is refused. */
	statedir_save("sd", "vol", &a);
	text = read_text("sd/vol.changes");
	cut = strstr(text, "end\n");
	*cut = 0;
	check_refused(text, "truncated before the end line: refused");
	cut = strstr(text, "after_cycle");
	strcpy(cut, "end\n");
	check_refused(text, "missing fields: refused");
	check_refused("cbtship-changes 2\nend\n", "unknown version: refused");
	sample(&b);
	statedir_save("sd", "vol", &b);
	free(text);
	text = read_text("sd/vol.changes");
	cut = strstr(text, "extent 7 3");
	memcpy(cut, "extent 0 3", 10);	/* overlaps the first extent */
	check_refused(text, "overlapping extents: refused");
	cut = strstr(text, "extent 0 3");
	memcpy(cut, "extent 9 0", 10);
	check_refused(text, "empty extent: refused");
	free(text);
	statedir_set_free(&b);

	tap_eq(statedir_remove("sd", "vol"), 0, "remove");
	tap_eq(statedir_load("sd", "vol", &b), -ENOENT, "removed: -ENOENT");
	tap_eq(statedir_remove("sd", "vol"), 0, "removing a missing set is not an error");
	tap_ok(statedir_save("/proc/no-such-dir/x", "vol", &a) < 0,
	       "an unusable state directory is an error");
	statedir_set_free(&a);
	return tap_done();
}
