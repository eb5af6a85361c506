// SPDX-License-Identifier: GPL-2.0
/* HTTP transfers on libcurl's multi interface (see http.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"

struct http {
	CURLM *multi;
	struct http_opts o;
	char *ca_file;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_ret;

static void global_init(void)
{
	global_ret = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_new(const struct http_opts *o, struct http **out)
{
	struct http *h;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_ret != CURLE_OK) {
		log_err("cannot initialise libcurl: %s", curl_easy_strerror(global_ret));
		return -EIO;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->o = *o;
	if (!h->o.connect_timeout_s)
		h->o.connect_timeout_s = 15;
	if (!h->o.stall_timeout_s)
		h->o.stall_timeout_s = 60;
	if (o->ca_file) {
		h->ca_file = strdup(o->ca_file);
		if (!h->ca_file)
			goto out_free;
	}
	h->o.ca_file = h->ca_file;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto out_free;
	*out = h;
	return 0;
out_free:
	free(h->ca_file);
	free(h);
	return -ENOMEM;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	curl_multi_cleanup(h->multi);
	free(h->ca_file);
	free(h);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	size_t n = size * nmemb;

	if (n > x->resp_max || x->resp_len > x->resp_max - n)
		return 0;	/* CURLE_WRITE_ERROR: more than the caller accepts */
	if (x->resp_len + n + 1 > x->resp_cap) {
		/* Grow geometrically up to the bound, never from a header's promise. */
		size_t ncap = x->resp_len + n + 1 < 4096 ? 4096 : 2 * (x->resp_len + n + 1);
		char *p;

		if (ncap > x->resp_max + 1)
			ncap = x->resp_max + 1;
		p = realloc(x->resp, ncap);
		if (!p)
			return 0;
		x->resp = p;
		x->resp_cap = ncap;
	}
	memcpy(x->resp + x->resp_len, data, n);
	x->resp_len += n;
	x->resp[x->resp_len] = '\0';
	return n;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t len)
{
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	while (len && *v == ' ') {
		v++;
		len--;
	}
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	size_t n = size * nmemb;
	const char *colon = memchr(data, ':', n);
	size_t nlen;

	if (!colon)
		return n;
	nlen = (size_t)(colon - data);
	if (nlen == 15 && !strncasecmp(data, "x-ms-error-code", 15)) {
		copy_value(x->error_code, sizeof(x->error_code), colon + 1, n - nlen - 1);
	} else if (nlen == 13 && !strncasecmp(data, "x-ms-snapshot", 13)) {
		copy_value(x->snapshot, sizeof(x->snapshot), colon + 1, n - nlen - 1);
	} else if (nlen == 14 && !strncasecmp(data, "x-ms-blob-type", 14)) {
		copy_value(x->blob_type, sizeof(x->blob_type), colon + 1, n - nlen - 1);
	} else if (nlen == 16 && !strncasecmp(data, "x-ms-copy-status", 16)) {
		copy_value(x->copy_status, sizeof(x->copy_status), colon + 1, n - nlen - 1);
	} else if (nlen == 14 && !strncasecmp(data, "content-length", 14)) {
		char v[32], *end;
		unsigned long long len;

		copy_value(v, sizeof(v), colon + 1, n - nlen - 1);
		errno = 0;
		len = strtoull(v, &end, 10);
		if (!errno && end != v && !*end)
			x->content_length = len;
	}
	return n;
}

static int map_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_WRITE_ERROR:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;	/* resets, TLS handshake aborts: worth a retry */
	}
}

#define SETOPT(e, opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) goto out_fail; } while (0)

int http_start(struct http *h, struct http_xfer *x)
{
	struct curl_slist *sl = NULL, *t;
	CURL *e;

	x->done = false;
	x->err = 0;
	x->status = 0;
	x->resp = NULL;
	x->resp_len = 0;
	x->resp_cap = 0;
	x->error_code[0] = '\0';
	x->snapshot[0] = '\0';
	x->what[0] = '\0';
	x->content_length = UINT64_MAX;
	x->blob_type[0] = '\0';
	x->copy_status[0] = '\0';
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	/* No "Expect: 100-continue" round trip, and no default Content-Type. */
	t = curl_slist_append(sl, "Expect:");
	if (!t)
		goto out_fail;
	sl = t;
	t = curl_slist_append(sl, "Content-Type:");
	if (!t)
		goto out_fail;
	sl = t;
	for (unsigned int i = 0; i < x->nr_headers; i++) {
		t = curl_slist_append(sl, x->headers[i]);
		if (!t)
			goto out_fail;
		sl = t;
	}
	SETOPT(e, CURLOPT_URL, x->url);
	SETOPT(e, CURLOPT_PROTOCOLS_STR, h->o.allow_http ? "http,https" : "https");
	SETOPT(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->o.ca_file)
		SETOPT(e, CURLOPT_CAINFO, h->o.ca_file);
	SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(e, CURLOPT_CONNECTTIMEOUT, (long)h->o.connect_timeout_s);
	SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	SETOPT(e, CURLOPT_LOW_SPEED_TIME, (long)h->o.stall_timeout_s);
	SETOPT(e, CURLOPT_HTTPHEADER, sl);
	SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(e, CURLOPT_WRITEDATA, x);
	SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(e, CURLOPT_HEADERDATA, x);
	SETOPT(e, CURLOPT_PRIVATE, x);
	SETOPT(e, CURLOPT_ERRORBUFFER, x->what);
	if (!strcmp(x->method, "HEAD")) {
		SETOPT(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(x->method, "PUT")) {
		/* POSTFIELDS with a custom verb: the body is sent from memory, as is. */
		SETOPT(e, CURLOPT_CUSTOMREQUEST, "PUT");
		SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
		SETOPT(e, CURLOPT_POSTFIELDS, x->body_len ? x->body : "");
	} else if (strcmp(x->method, "GET")) {
		SETOPT(e, CURLOPT_CUSTOMREQUEST, x->method);
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		goto out_fail;
	x->easy = e;
	x->slist = sl;
	return 0;

out_fail:
	curl_slist_free_all(sl);
	curl_easy_cleanup(e);
	return -ENOMEM;
}

static void finish(struct http *h, struct http_xfer *x)
{
	curl_multi_remove_handle(h->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->slist);
	x->easy = NULL;
	x->slist = NULL;
	x->done = true;
}

void http_cancel(struct http *h, struct http_xfer *x)
{
	if (!x->easy)
		return;
	finish(h, x);
	http_xfer_release(x);
	x->err = -ECANCELED;
}

int http_poll(struct http *h, int timeout_ms, void (*fn)(void *arg, struct http_xfer *x),
	      void *arg)
{
	int running, left, nfinished = 0;
	struct CURLMsg *m;
	CURLMcode mc;

	mc = curl_multi_perform(h->multi, &running);
	if (mc == CURLM_OK && running)
		mc = curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
	if (mc == CURLM_OK)
		mc = curl_multi_perform(h->multi, &running);
	if (mc != CURLM_OK) {
		log_err("HTTP: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct http_xfer *x;
		char *priv;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		x = (struct http_xfer *)priv;
		x->err = map_curl(m->data.result);
		if (!x->err)
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &x->status);
		else if (!x->what[0])
			snprintf(x->what, sizeof(x->what), "%s", curl_easy_strerror(m->data.result));
		finish(h, x);
		nfinished++;
		fn(arg, x);
	}
	return nfinished;
}

int http_fdset(struct http *h, fd_set *r, fd_set *w, fd_set *e, int *maxfd, long *timeout_ms)
{
	CURLMcode mc = curl_multi_fdset(h->multi, r, w, e, maxfd);

	if (mc == CURLM_OK)
		mc = curl_multi_timeout(h->multi, timeout_ms);
	if (mc != CURLM_OK) {
		log_err("HTTP: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	return 0;
}

void http_xfer_release(struct http_xfer *x)
{
	free(x->resp);
	x->resp = NULL;
	x->resp_len = 0;
	x->resp_cap = 0;
}
