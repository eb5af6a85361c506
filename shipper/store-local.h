/* SPDX-License-Identifier: GPL-2.0 */
/* The local-directory store backend (see store.h for the semantics). */
#ifndef CBTSHIP_STORE_LOCAL_H
#define CBTSHIP_STORE_LOCAL_H

#include <stdbool.h>

#include "store.h"

#define STORE_MARKER		"cbtship-store"
#define STORE_MARKER_TEXT	"cbtship-store 1\n"
#define STORE_VERSION		1

int store_local_open(const char *path, bool create, struct store **out);

#endif
