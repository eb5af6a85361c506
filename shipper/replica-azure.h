/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Page blob replica: a volume applied to an Azure page blob (the cloud's
 * managed-disk format).  Writes are Put Page requests of 512-byte aligned
 * ranges, at most 4 MiB each (all-zero ranges are cleared instead of sent);
 * the snapshot op is Snapshot Blob, for test failover.  While open, the blob
 * is leased (60 s, renewed as it is written, released at close), so a
 * second apply to the same blob is refused with -EBUSY.
 */
#ifndef CBTSHIP_REPLICA_AZURE_H
#define CBTSHIP_REPLICA_AZURE_H

#include <stdint.h>

#include "replica.h"

#define AZURE_PAGE		512u
#define AZURE_PUT_PAGE_MAX	(4u << 20)

/*
 * Open the page blob named by url (azure://ACCOUNT/CONTAINER/BLOB or an
 * https URL, see azure-url.h), creating it with size bytes (rounded up to
 * 512) if absent, growing it if smaller.
 */
int replica_azure_open(const char *url, uint64_t size, const struct remote_opts *ro,
		       struct replica **out);

/*
 * Test failover: take a Snapshot Blob of the page blob url (no lease needed:
 * an apply may hold it) and make out_url, a new page blob in the same
 * account, from it with Copy Blob (waiting until the copy is done).
 * *snap (malloc'd) names the snapshot; the caller records it for
 * replica_azure_drop_copy().  -EEXIST if out_url exists.  On error nothing
 * is left behind.
 */
int replica_azure_snapshot_copy(const char *url, const char *out_url, const struct remote_opts *ro,
				char **snap);

/* Delete the copy out_url and the snapshot snap of url; either missing is fine. */
int replica_azure_drop_copy(const char *url, const char *snap, const char *out_url,
			    const struct remote_opts *ro);

#endif
