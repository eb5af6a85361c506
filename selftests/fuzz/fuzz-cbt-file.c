// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the fake kernel's tracking state file (cbt-file.c): the input is the
 * state file of a 64-block volume.  A state that opens is driven through
 * info, freeze, changes, abort (merge back), freeze, commit; the changed
 * blocks handed out must be what info said was dirty.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cbt-source.h"
#include "fuzz.h"

#define BS		512u
#define NBLK		64u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char vol[300], state[300];
	static uint8_t zeros[BS * NBLK];
	struct cbt_extent_list l = { 0 };
	struct cbt_volume_info info;
	struct cbt_source *src;
	uint64_t cycle, dirty;

	if (!vol[0]) {
		snprintf(vol, sizeof(vol), "%s/vol", fuzz_setup());
		snprintf(state, sizeof(state), "%s/state", fuzz_setup());
		fuzz_write_file(vol, zeros, sizeof(zeros), 0600);
	}
	fuzz_write_file(state, data, size, 0600);
	if (cbt_source_open_file(vol, state, 0, &src))
		return 0;
	if (src->ops->info(src, &info))
		goto out;
	FUZZ_CHECK(info.block_size > 0 && info.nr_blocks > 0);
	if (info.frozen) {
		/* A frozen cycle left over: its changes, then give it back. */
		if (src->ops->changes(src, info.cycle, &l) == 0)
			FUZZ_CHECK(cbt_extent_list_blocks(&l) == info.frozen_blocks);
		if (src->ops->abort(src, info.cycle))
			goto out;
		FUZZ_CHECK(src->ops->info(src, &info) == 0 && !info.frozen);
	}
	dirty = info.dirty_blocks;
	if (src->ops->freeze(src, &cycle))
		goto out;
	FUZZ_CHECK(cycle == info.cycle + 1);
	FUZZ_CHECK(src->ops->changes(src, cycle, &l) == 0);
	FUZZ_CHECK(cbt_extent_list_blocks(&l) == dirty);
	for (size_t i = 1; i < l.nr; i++)
		FUZZ_CHECK(l.ext[i].start > l.ext[i - 1].start + l.ext[i - 1].count);
	/* Aborting merges the blocks back: the next cycle has them all again. */
	FUZZ_CHECK(src->ops->abort(src, cycle) == 0);
	FUZZ_CHECK(src->ops->freeze(src, &cycle) == 0);
	FUZZ_CHECK(src->ops->changes(src, cycle, &l) == 0);
	FUZZ_CHECK(cbt_extent_list_blocks(&l) == dirty);
	FUZZ_CHECK(src->ops->commit(src, cycle) == 0);
	FUZZ_CHECK(src->ops->info(src, &info) == 0 && info.dirty_blocks == 0 && !info.frozen);
out:
	cbt_extent_list_free(&l);
	cbt_source_close(src);
	return 0;
}
