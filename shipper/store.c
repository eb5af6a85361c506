// SPDX-License-Identifier: GPL-2.0
/* Store front end: picks the backend for a store spec. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "azure-url.h"
#include "log.h"
#include "store-azure.h"
#include "store-local.h"

int store_open(const char *spec, bool create, struct store **out)
{
	return store_open_opts(spec, create, NULL, out);
}

int store_open_opts(const char *spec, bool create, const struct remote_opts *ro,
		    struct store **out)
{
	*out = NULL;
	if (!spec || !*spec) {
		log_err("no store given; pass a directory with --store");
		return -EINVAL;
	}
	if (azure_url_is_azure(spec))
		return store_azure_open(spec, create, ro, out);
	/* Other "scheme://" are reserved for other backends. */
	if (strstr(spec, "://")) {
		log_err("store %s: unknown scheme; use a directory or azure://ACCOUNT/CONTAINER[/PREFIX]",
			spec);
		return -EPROTONOSUPPORT;
	}
	return store_local_open(spec, create, out);
}

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}
