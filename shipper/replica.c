// SPDX-License-Identifier: GPL-2.0
/*
 * Replica dispatch: a spec with "://" is a remote replica (an Azure page
 * blob), anything else a local path (regular file or block device).
 */
#include <errno.h>
#include <string.h>

#include "azure-url.h"
#include "log.h"
#include "replica.h"
#include "replica-azure.h"

bool replica_spec_is_remote(const char *spec)
{
	return strstr(spec, "://") != NULL;
}

int replica_open(const char *spec, uint64_t size_bytes, const struct remote_opts *ro,
		 struct replica **out)
{
	*out = NULL;
	if (!*spec) {
		log_err("empty replica name: give a file, a block device or a page-blob URL");
		return -EINVAL;
	}
	if (replica_spec_is_remote(spec)) {
		if (azure_url_is_azure(spec))
			return replica_azure_open(spec, size_bytes, ro, out);
		log_err("replica %s: unknown scheme; give a local file, a block device or a page-blob URL (azure://ACCOUNT/CONTAINER/BLOB)",
			spec);
		return -EPROTONOSUPPORT;
	}
	return replica_file_open(spec, size_bytes, out);
}

void replica_close(struct replica *r)
{
	if (r)
		r->ops->close(r);
}

void replica_close_remove(struct replica *r)
{
	if (!r)
		return;
	if (r->created && r->ops->remove)
		r->ops->remove(r);
	r->ops->close(r);
}
