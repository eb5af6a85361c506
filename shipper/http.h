/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small HTTP client on libcurl's multi interface: many transfers in flight
 * on kept-alive connections, driven by http_poll() from one thread at a time.
 * TLS 1.2 or newer with certificate and host verification always on (ca_file
 * adds a CA bundle); plain http only when allowed.  Response bodies are
 * bounded by the caller (resp_max): a larger answer fails with -EFBIG.
 */
#ifndef CBTSHIP_HTTP_H
#define CBTSHIP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>

#define HTTP_ERRCODE_MAX	64
#define HTTP_SNAPSHOT_MAX	64

struct http_opts {
	const char *ca_file;
	bool allow_http;
	unsigned int connect_timeout_s;	/* 0: 15 s */
	unsigned int stall_timeout_s;	/* below 1 KiB/s this long fails; 0: 60 s */
};

struct http;

struct http_xfer {
	/* Request: set by the caller before http_start(). */
	const char *method;		/* GET, HEAD, PUT, DELETE */
	const char *url;
	const char *const *headers;	/* "Name: value" */
	unsigned int nr_headers;
	const void *body;		/* PUT body (not copied: keep it until done) */
	size_t body_len;
	size_t resp_max;		/* largest response body accepted */
	void *priv;			/* the caller's */

	/* Result, once done. */
	bool done;
	int err;			/* 0, or a transport failure (-ECONNREFUSED, -ETIMEDOUT, -EPROTO for TLS, -EFBIG) */
	long status;			/* HTTP status when err == 0 */
	char *resp;			/* malloc'd body, NUL-terminated; http_xfer_release() frees */
	size_t resp_len;
	char error_code[HTTP_ERRCODE_MAX];	/* x-ms-error-code */
	char snapshot[HTTP_SNAPSHOT_MAX];	/* x-ms-snapshot */
	uint64_t content_length;	/* Content-Length (of HEAD too), or UINT64_MAX */
	char blob_type[16];		/* x-ms-blob-type */
	char copy_status[16];		/* x-ms-copy-status (Copy Blob, HEAD) */
	char what[256];			/* transport error text, for messages */

	size_t resp_cap;		/* internal */
	void *easy;			/* internal */
	void *slist;			/* internal */
};

int http_new(const struct http_opts *o, struct http **out);
void http_free(struct http *h);
/* Start a transfer; its result fields are reset. */
int http_start(struct http *h, struct http_xfer *x);
/*
 * Move transfers on for up to timeout_ms (returning earlier once one
 * finishes); each finished transfer gets done = true and is passed to fn.
 */
int http_poll(struct http *h, int timeout_ms, void (*fn)(void *arg, struct http_xfer *x),
	      void *arg);
/*
 * For callers that wait themselves (select): the transfers' sockets and how
 * long curl may wait (ms; -1: no timer).  Then http_poll(h, 0, ...).
 */
int http_fdset(struct http *h, fd_set *r, fd_set *w, fd_set *e, int *maxfd, long *timeout_ms);
/* Cancel a transfer in flight (not done): it never reaches fn. */
void http_cancel(struct http *h, struct http_xfer *x);
/* Free what a finished transfer holds (the response). */
void http_xfer_release(struct http_xfer *x);

#endif
