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
	/*
	 * Optional (NULL: put is used): start a put and return once buf may be
	 * reused; the object is stored only after a successful flush.  Errors
	 * show up here or at the next flush.  Remote stores keep several in
	 * flight this way.
	 */
	int (*put_async)(struct store *st, const char *name, const void *buf, size_t len);
	/* Optional: wait for every put_async so far; the first error. */
	int (*flush)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	char *spec;	/* what the user gave, for messages */
};

/*
 * Open a store.  spec is a directory path, or an Azure Blob Storage URL
 * (azure://ACCOUNT/CONTAINER[/PREFIX] or https://..., see azure-url.h).  With create, an absent or empty directory is initialised as a
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

/* Start a put (or do it, for stores without put_async); store_flush() completes it. */
static inline int store_put_async(struct store *st, const char *name, const void *buf,
				  size_t len)
{
	if (st->ops->put_async)
		return st->ops->put_async(st, name, buf, len);
	return st->ops->put(st, name, buf, len);
}

static inline int store_flush(struct store *st)
{
	return st->ops->flush ? st->ops->flush(st) : 0;
}

#endif
