// SPDX-License-Identifier: GPL-2.0
/* The options target-side commands share (see target-opts.h). */
#include <stddef.h>

#include "target-opts.h"

int target_opt(int c, const char *arg, const struct target_args *ta)
{
	const char **dst;

	switch (c) {
	case 's':
		dst = ta->store;
		break;
	case 'k':
		dst = ta->key_path;
		break;
	case 'n':
		dst = ta->volume;
		break;
	case 'r':
		dst = ta->replica;
		break;
	case 'S':
		dst = ta->state_dir;
		break;
	default:
		return 0;
	}
	if (!dst)
		return 0;
	*dst = arg;
	return 1;
}
