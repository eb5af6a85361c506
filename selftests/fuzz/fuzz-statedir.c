// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the source side's state directory (statedir.c): the change set a
 * clean detach saves (DIR/VOLUME.changes), which replicate merges into the
 * next cycle, and the initial replication checkpoint (DIR/VOLUME.initial).
 * The input is tried as both files.
 *
 * Properties: a change set that loads has every field, a block size, and
 * sorted, disjoint, non-empty extents that do not wrap around; saving it
 * and loading it again gives the same set.  A checkpoint matches only if
 * it is byte for byte what statedir_initial_save() writes for those ids.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "statedir.h"

static const uint8_t vid[16] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00 };
static const uint8_t tid[16] = { 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
				 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };

/* Read a small file whole; its length, or -1. */
static long slurp(const char *path, char *buf, size_t room)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, room, f);
	fclose(f);
	return (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[300], changes[400], initial[400], want_path[400];
	static char want[512];
	static long want_len;
	struct statedir_set s, t;
	int ret;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/state", fuzz_setup());
		snprintf(changes, sizeof(changes), "%s/vol.changes", dir);
		snprintf(initial, sizeof(initial), "%s/vol.initial", dir);
		snprintf(want_path, sizeof(want_path), "%s/ref.initial", dir);
		FUZZ_CHECK(statedir_initial_save(dir, "ref", vid, tid) == 0);
		want_len = slurp(want_path, want, sizeof(want));
		FUZZ_CHECK(want_len > 0);
	}

	fuzz_write_file(changes, data, size, 0600);
	ret = statedir_load(dir, "vol", &s);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -ENOMEM);
	if (ret == 0) {
		FUZZ_CHECK(s.block_size > 0);
		FUZZ_CHECK(memchr(s.device, 0, sizeof(s.device)) && s.device[0]);
		for (size_t i = 0; i < s.ext.nr; i++) {
			FUZZ_CHECK(s.ext.ext[i].count > 0);
			FUZZ_CHECK(s.ext.ext[i].start + s.ext.ext[i].count > s.ext.ext[i].start);
			if (i)
				FUZZ_CHECK(s.ext.ext[i].start >
					   s.ext.ext[i - 1].start + s.ext.ext[i - 1].count);
		}
		FUZZ_CHECK(statedir_save(dir, "vol", &s) == 0);
		FUZZ_CHECK(statedir_load(dir, "vol", &t) == 0);
		FUZZ_CHECK(!memcmp(t.volume_id, s.volume_id, sizeof(s.volume_id)) &&
			   !memcmp(t.tracking_id, s.tracking_id, sizeof(s.tracking_id)) &&
			   !strcmp(t.device, s.device) && t.size_bytes == s.size_bytes &&
			   t.block_size == s.block_size && t.after_cycle == s.after_cycle &&
			   t.ext.nr == s.ext.nr);
		FUZZ_CHECK(!s.ext.nr ||
			   !memcmp(t.ext.ext, s.ext.ext, s.ext.nr * sizeof(s.ext.ext[0])));
		statedir_set_free(&t);
		statedir_set_free(&s);
	}

	fuzz_write_file(initial, data, size, 0600);
	ret = statedir_initial_match(dir, "vol", vid, tid);
	FUZZ_CHECK(ret == 0 || ret == 1);
	if (ret == 1)
		FUZZ_CHECK(size == (size_t)want_len && !memcmp(data, want, size));
	return 0;
}
