/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Azure Blob Storage store: each object a block blob named PREFIX/NAME in
 * one container, written with Put Blob and Content-MD5.  Puts replace whole
 * blobs, so a retried or repeated upload of the same name leaves one copy of
 * the same bytes.  put_async keeps up to ro->streams uploads in flight.
 */
#ifndef CBTSHIP_STORE_AZURE_H
#define CBTSHIP_STORE_AZURE_H

#include <stdbool.h>

#include "store.h"

/* Largest object read or written (objects are at most a segment plus headers). */
#define AZURE_OBJECT_MAX	(256u << 20)

int store_azure_open(const char *spec, bool create, const struct remote_opts *ro,
		     struct store **out);

#endif
