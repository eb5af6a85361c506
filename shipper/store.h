/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Object store: named immutable objects under a store root.  Backends
 * (local directory now, Azure Blob later) implement struct store_ops; the
 * rest of cbtship never knows which one it talks to.  Object names are
 * relative paths with '/' separators, as in FORMAT.md.
 */
#ifndef CBTSHIP_STORE_H
#define CBTSHIP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remote-opts.h"

struct store;

struct store_ops {
	const char *name;
	/* Atomically create or replace an object: readers see all or nothing. */
	int (*put)(struct store *st, const char *name, const void *buf, size_t len);
	/* Read a whole object into a malloc'd buffer; -ENOENT if absent. */
	int (*get)(struct store *st, const char *name, void **buf, size_t *len);
	/* Call fn for each direct child name (not recursive) of prefix, in no order. */
	int (*list)(struct store *st, const char *prefix,
		    int (*fn)(void *arg, const char *child), void *arg);
	/* Remove an object or an (emptied) prefix; -ENOENT if absent. */
	int (*remove)(struct store *st, const char *name);
	void (*close)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	char *spec;	/* what the user gave, for messages */
};

/*
 * Open a store.  spec is a directory path (an URL scheme later selects other
 * backends).  With create, an absent or empty directory is initialised as a
 * store; anything else that is not a store is refused with -ENOTDIR
 * (logged: "DIR is not a cbtship store ...").
 */
int store_open(const char *spec, bool create, struct store **out);
/* The same, for specs that name a remote store (ro may be NULL for local ones). */
int store_open_opts(const char *spec, bool create, const struct remote_opts *ro,
		    struct store **out);
void store_close(struct store *st);

static inline int store_put(struct store *st, const char *name, const void *buf, size_t len)
{
	return st->ops->put(st, name, buf, len);
}

static inline int store_get(struct store *st, const char *name, void **buf, size_t *len)
{
	return st->ops->get(st, name, buf, len);
}

#endif
