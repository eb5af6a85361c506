/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Azure Blob Storage locations: a store (ACCOUNT, CONTAINER and an optional
 * prefix) or a page blob (ACCOUNT, CONTAINER, BLOB), given as
 *
 *   azure://ACCOUNT/CONTAINER[/PATH]          (blob endpoint: --endpoint, or
 *                                              https://ACCOUNT.blob.core.windows.net)
 *   https://ACCOUNT.blob.core.windows.net/CONTAINER[/PATH]   (virtual-host style)
 *   https://HOST[:PORT]/ACCOUNT/CONTAINER[/PATH]  (path style: an IP address or
 *                                              localhost, as Azurite serves)
 *
 * http:// only with allow_http.  No query strings: a SAS token belongs in a
 * file (--azure-sas-file), never in a URL on the command line.
 */
#ifndef CBTSHIP_AZURE_URL_H
#define CBTSHIP_AZURE_URL_H

#include <stdbool.h>

#define AZURE_ACCOUNT_MAX	24
#define AZURE_CONTAINER_MAX	63
#define AZURE_BASE_MAX		512
#define AZURE_PATH_MAX		1024

struct azure_url {
	char account[AZURE_ACCOUNT_MAX + 1];
	/* The blob service endpoint, scheme://host[:port][/path], no trailing '/'. */
	char base[AZURE_BASE_MAX];
	/* The path part of base ("" or "/devstoreaccount1"): signed with the request. */
	const char *base_path;
	char container[AZURE_CONTAINER_MAX + 1];
	char path[AZURE_PATH_MAX];	/* prefix or blob name; no leading or trailing '/' */
	bool https;
};

/* Does spec name an Azure location rather than a local path? */
bool azure_url_is_azure(const char *spec);

/*
 * Parse spec (and endpoint, NULL for the default) into u.  -EINVAL with a
 * message on anything malformed, -EPROTO for http:// without allow_http.
 * quiet: no messages (the fuzzer).
 */
int azure_url_parse(const char *spec, const char *endpoint, bool allow_http, bool quiet,
		    struct azure_url *u);

/* Is name usable as (part of) a blob name without escaping? */
bool azure_name_ok(const char *name);

#endif
