// SPDX-License-Identifier: GPL-2.0
/* Growable, sorted, non-overlapping extent arrays (struct cbt_extent_list). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "cbt-source.h"

void cbt_extent_list_free(struct cbt_extent_list *l)
{
	free(l->ext);
	l->ext = NULL;
	l->nr = 0;
	l->alloc = 0;
}

int cbt_extent_list_add(struct cbt_extent_list *l, uint64_t start, uint64_t count)
{
	struct cbt_extent *last;

	if (!count || start + count < start)
		return -EINVAL;
	if (l->nr) {
		last = &l->ext[l->nr - 1];
		/* Callers build lists in order; anything else is a bug or bad input. */
		if (start < last->start + last->count)
			return -EINVAL;
		if (start == last->start + last->count) {
			last->count += count;
			return 0;
		}
	}
	return cbt_extent_list_push(l, start, count);
}

int cbt_extent_list_push(struct cbt_extent_list *l, uint64_t start, uint64_t count)
{
	if (l->nr == l->alloc) {
		size_t alloc = l->alloc ? 2 * l->alloc : 64;
		struct cbt_extent *ext;

		if (alloc > SIZE_MAX / sizeof(*ext))
			return -ENOMEM;
		ext = realloc(l->ext, alloc * sizeof(*ext));
		if (!ext)
			return -ENOMEM;
		l->ext = ext;
		l->alloc = alloc;
	}
	l->ext[l->nr].start = start;
	l->ext[l->nr].count = count;
	l->nr++;
	return 0;
}

uint64_t cbt_extent_list_blocks(const struct cbt_extent_list *l)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < l->nr; i++)
		n += l->ext[i].count;
	return n;
}
