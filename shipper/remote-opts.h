/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Options for stores and replicas that live behind a network endpoint
 * (Azure Blob Storage), as given on the command line or in the config file.
 * Secrets are never here: only the names of files that hold them.
 */
#ifndef CBTSHIP_REMOTE_OPTS_H
#define CBTSHIP_REMOTE_OPTS_H

#include <stdbool.h>

struct remote_opts {
	const char *key_file;	/* Shared Key: the account key (base64) in a 0600 file */
	const char *sas_file;	/* or a SAS token in a 0600 file */
	const char *ca_file;	/* extra CA bundle, for private endpoints and tests */
	const char *endpoint;	/* blob endpoint URL overriding the account's default */
	bool allow_http;	/* plain HTTP: only when asked for explicitly (tests) */
	unsigned int streams;	/* parallel uploads per volume; 0 = default (4), max 32 */
};

#endif
