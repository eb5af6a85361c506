/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Azure Blob Storage REST requests: signing (Shared Key or SAS), retries
 * with exponential backoff and jitter on timeouts, connection failures, 5xx
 * and throttling (408/429/503), and up to AZURE_MAX_ACTIVE requests in
 * flight on one libcurl multi handle.  One thread at a time drives a client.
 */
#ifndef CBTSHIP_AZURE_CLIENT_H
#define CBTSHIP_AZURE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "azure-auth.h"
#include "azure-url.h"
#include "http.h"
#include "remote-opts.h"

#define AZURE_VERSION		"2021-08-06"	/* x-ms-version, pinned */
#define AZURE_MAX_ACTIVE	33		/* 32 uploads and one other request */
#define AZURE_MAX_STREAMS	32
#define AZURE_DEFAULT_STREAMS	4
#define AZURE_OP_XMS		6
#define AZURE_OP_QUERY		6

struct azure_retry {
	unsigned int attempts;		/* tries in all, >= 1 */
	unsigned int base_ms;		/* first backoff */
	unsigned int max_ms;		/* backoff cap */
};

struct azure_client {
	struct azure_url url;
	struct azure_cred cred;
	struct http *http;
	struct azure_retry retry;
	char what[AZURE_BASE_MAX + AZURE_CONTAINER_MAX + AZURE_PATH_MAX + 4];	/* for messages */
	struct azure_op *active[AZURE_MAX_ACTIVE];
	unsigned int nr_active;
};

enum azure_op_state { AZURE_OP_IDLE, AZURE_OP_RUNNING, AZURE_OP_BACKOFF, AZURE_OP_DONE };

struct azure_op {
	/* Request. */
	const char *method;
	char blob[AZURE_PATH_MAX];	/* "" for the container itself */
	const char *query[AZURE_OP_QUERY];	/* "name=value", value unescaped */
	unsigned int nr_query;
	struct azure_hdr xms[AZURE_OP_XMS];	/* extra x-ms-* headers */
	unsigned int nr_xms;
	const void *body;
	size_t body_len;
	bool md5;			/* send Content-MD5 of the body */
	size_t resp_max;
	int quiet_err;			/* an answer, not an error to log: -ENOENT, -EEXIST */

	/* State and result. */
	enum azure_op_state state;
	unsigned int attempt;
	uint64_t retry_at_ns;
	int err;			/* once DONE: 0 or -errno */
	struct http_xfer x;		/* x.resp, x.snapshot, ... once DONE */

	/* Request buffers. */
	char url[AZURE_BASE_MAX + AZURE_PATH_MAX + 2 * AZURE_SAS_MAX];
	char hdr[AZURE_OP_XMS + 5][AZURE_PATH_MAX / 4];
	const char *hdrp[AZURE_OP_XMS + 5];
	char md5_b64[25];
};

/* Parse spec, load credentials, set up HTTP.  spec: see azure-url.h. */
int azure_client_init(struct azure_client *c, const char *spec, const struct remote_opts *ro);
void azure_client_destroy(struct azure_client *c);

/* Reset op for a new request (keeps nothing from the last one). */
void azure_op_init(struct azure_op *op, const char *method, const char *blob);
/* Start op; drive it with azure_client_pump() until op->state == AZURE_OP_DONE. */
int azure_op_start(struct azure_client *c, struct azure_op *op);
/* Move every started op on, waiting at most max_wait_ms (and ~100 ms) for progress. */
int azure_client_pump(struct azure_client *c, int max_wait_ms);
/*
 * For a thread that waits itself: the sockets to select() on and the time
 * (ms, at most max_ms) until the next timer or retry; then pump with 0.
 */
int azure_client_fdset(struct azure_client *c, fd_set *r, fd_set *w, fd_set *e, int *maxfd,
		       long max_ms, long *timeout_ms);
/* Start op and drive everything until op is done; returns op->err. */
int azure_op_run(struct azure_client *c, struct azure_op *op);
/* Free the response of a done op. */
void azure_op_release(struct azure_op *op);

/* Retry policy, exported for tests: the delay before retry number attempt (1..). */
unsigned int azure_backoff_ms(const struct azure_retry *r, unsigned int attempt, uint32_t rnd);
/* Is a finished transfer worth another try? */
bool azure_retryable(int err, long status);
/* -errno for an HTTP status (0 for 2xx). */
int azure_status_errno(long status);

#endif
