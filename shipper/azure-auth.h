/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Azure Storage authentication: Shared Key (HMAC-SHA256 of the canonical
 * request with the account key) or a SAS token appended to each URL.  Both
 * come from files that only their owner can read (as encryption keys do);
 * neither is ever logged.
 */
#ifndef CBTSHIP_AZURE_AUTH_H
#define CBTSHIP_AZURE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "remote-opts.h"

#define AZURE_KEY_MAX		64	/* decoded account key bytes (64 in practice) */
#define AZURE_SAS_MAX		2048
#define AZURE_AUTH_MAX		160	/* "SharedKey ACCOUNT:BASE64SIG" */

struct azure_cred {
	bool shared_key;
	uint8_t key[AZURE_KEY_MAX];
	size_t key_len;
	char sas[AZURE_SAS_MAX];	/* without the leading '?' */
};

/* One x-ms-* header: lowercase name, value. */
struct azure_hdr {
	const char *name;
	const char *value;
};

/* What Shared Key signs of a request (see the "Authorize with Shared Key" docs). */
struct azure_sign_req {
	const char *method;
	const char *account;
	const char *path;		/* the URL's path as sent: "/[emulator-account/]container/blob" */
	const char *const *query;	/* "name=value", values needing no escaping */
	unsigned int nr_query;
	uint64_t content_length;
	const char *content_md5;	/* base64, or NULL */
	const char *content_type;	/* or NULL */
	const char *range;		/* Range header, or NULL */
	const struct azure_hdr *xms;	/* every x-ms-* header sent, any order */
	unsigned int nr_xms;
};

/*
 * Load the credentials named by ro (exactly one of key_file and sas_file).
 * -EINVAL none or both, or malformed; -EPERM unsafe permissions; -ENOENT.
 */
int azure_cred_load(const struct remote_opts *ro, struct azure_cred *c);
/* Parse a base64 account key (tests and azure_cred_load). */
int azure_cred_set_key(struct azure_cred *c, const char *b64, size_t len);
void azure_cred_wipe(struct azure_cred *c);

/* The string to sign; -ENAMETOOLONG if cap is too small. */
int azure_string_to_sign(const struct azure_sign_req *r, char *out, size_t cap);
/* "SharedKey ACCOUNT:SIGNATURE" for string_to_sign, in out[AZURE_AUTH_MAX]. */
int azure_shared_key_auth(const struct azure_cred *c, const char *account,
			  const char *string_to_sign, char *out);

/* x-ms-date format: "Sun, 06 Nov 1994 08:49:37 GMT" (out: at least 32 bytes). */
void azure_http_date(time_t t, char *out, size_t cap);
/* base64 of the MD5 of buf, in out[25]. */
int azure_content_md5(const void *buf, size_t len, char out[25]);

#endif
