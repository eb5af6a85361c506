// SPDX-License-Identifier: GPL-2.0
/* Store front end: picks the backend for a store spec. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store-local.h"

int store_open(const char *spec, bool create, struct store **out)
{
	return store_open_opts(spec, create, NULL, out);
}

int store_open_opts(const char *spec, bool create, const struct remote_opts *ro,
		    struct store **out)
{
	(void)ro;	/* local directories need none */
	*out = NULL;
	if (!spec || !*spec) {
		log_err("no store given; pass a directory with --store");
		return -EINVAL;
	}
	/* Only local directories so far; "scheme://" is reserved for others. */
	if (strstr(spec, "://")) {
		log_err("store %s: this cbtship supports local directories only", spec);
		return -EPROTONOSUPPORT;
	}
	return store_local_open(spec, create, out);
}

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}
