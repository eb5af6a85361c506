/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replica: the disk a volume is applied to on the target side.  Backends
 * (a regular file or block device; an Azure page blob) implement struct
 * replica_ops; apply, points and failover never know which one they write.
 * Offsets and lengths are in bytes; backends may require 512-byte alignment.
 */
#ifndef CBTSHIP_REPLICA_H
#define CBTSHIP_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remote-opts.h"

struct replica;

struct replica_ops {
	const char *name;
	/* Whole range or an error (negative errno); never a short count. */
	int (*pread)(struct replica *r, void *buf, size_t len, uint64_t off);
	int (*pwrite)(struct replica *r, const void *buf, size_t len, uint64_t off);
	/* Grow to at least size bytes (a file, a page blob); -ENOSPC if it cannot. */
	int (*resize)(struct replica *r, uint64_t size);
	/* Make everything written so far durable. */
	int (*sync)(struct replica *r);
	/*
	 * Optional (NULL: not supported): a read-only point-in-time copy, named
	 * in *id (malloc'd), e.g. Azure's Snapshot Blob.
	 */
	int (*snapshot)(struct replica *r, char **id);
	/*
	 * Optional (NULL: left in place): delete a replica this open created
	 * and nothing was applied to, so a failed first apply leaves no trace.
	 */
	int (*remove)(struct replica *r);
	void (*close)(struct replica *r);
};

struct replica {
	const struct replica_ops *ops;
	char *spec;		/* what the user gave, for messages */
	uint64_t size;		/* current size in bytes */
	bool created;		/* did not exist before replica_open() */
	bool fresh;		/* created and nothing written yet: reads as zeros */
};

/*
 * Open (creating if absent, where the backend can) and lock the replica
 * named by spec (a path, or an https:// or azure:// page-blob URL) for a
 * volume of size_bytes.  ro may be NULL for local replicas.
 */
int replica_open(const char *spec, uint64_t size_bytes, const struct remote_opts *ro,
		 struct replica **out);
void replica_close(struct replica *r);

/* Close r and, if replica_open() created it, delete it (errors logged). */
void replica_close_remove(struct replica *r);

/* Whether spec names a remote (URL) replica rather than a local path. */
bool replica_spec_is_remote(const char *spec);

/* Backends (replica-file.c, ...): called by replica_open(). */
int replica_file_open(const char *path, uint64_t size_bytes, struct replica **out);

#endif
