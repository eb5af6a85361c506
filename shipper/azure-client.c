// SPDX-License-Identifier: GPL-2.0
/* Azure Blob Storage requests with signing and retries (see azure-client.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "azure-client.h"
#include "log.h"

#define STS_MAX		4096

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned int azure_backoff_ms(const struct azure_retry *r, unsigned int attempt, uint32_t rnd)
{
	uint64_t d = r->base_ms;

	for (unsigned int i = 1; i < attempt && d < r->max_ms; i++)
		d *= 2;
	if (d > r->max_ms)
		d = r->max_ms;
	/* "Equal jitter": half fixed, half random, so retries of many streams spread out. */
	return (unsigned int)(d / 2 + (d / 2 ? rnd % (d / 2 + 1) : 0));
}

bool azure_retryable(int err, long status)
{
	if (err)
		return err != -EPROTO && err != -EFBIG && err != -ENOMEM && err != -ECANCELED;
	return status == 408 || status == 429 || status >= 500;
}

int azure_status_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
	case 412:
		return -EEXIST;
	case 413:
		return -EFBIG;
	case 416:
		return -ERANGE;
	case 408:
		return -ETIMEDOUT;
	case 429:
	case 503:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

int azure_client_init(struct azure_client *c, const char *spec, const struct remote_opts *ro)
{
	struct http_opts ho = { 0 };
	int ret;

	memset(c, 0, sizeof(*c));
	c->retry = (struct azure_retry){ .attempts = 6, .base_ms = 250, .max_ms = 8000 };
	ret = azure_url_parse(spec, ro ? ro->endpoint : NULL, ro && ro->allow_http, false, &c->url);
	if (ret)
		return ret;
	snprintf(c->what, sizeof(c->what), "%s/%s%s%s", c->url.base, c->url.container,
		 c->url.path[0] ? "/" : "", c->url.path);
	ret = azure_cred_load(ro, &c->cred);
	if (ret)
		return ret;
	ho.ca_file = ro->ca_file;
	ho.allow_http = ro->allow_http;
	ret = http_new(&ho, &c->http);
	if (ret)
		azure_cred_wipe(&c->cred);
	return ret;
}

void azure_client_destroy(struct azure_client *c)
{
	for (unsigned int i = 0; i < c->nr_active; i++) {
		http_cancel(c->http, &c->active[i]->x);
		c->active[i]->state = AZURE_OP_DONE;
		c->active[i]->err = -ECANCELED;
	}
	c->nr_active = 0;
	http_free(c->http);
	c->http = NULL;
	azure_cred_wipe(&c->cred);
}

void azure_op_init(struct azure_op *op, const char *method, const char *blob)
{
	op->method = method;
	snprintf(op->blob, sizeof(op->blob), "%s", blob ? blob : "");
	op->nr_query = 0;
	op->nr_xms = 0;
	op->body = NULL;
	op->body_len = 0;
	op->md5 = false;
	op->resp_max = 64 * 1024;
	op->quiet_err = 0;
	op->state = AZURE_OP_IDLE;
	op->attempt = 0;
	op->err = 0;
	memset(&op->x, 0, sizeof(op->x));
}

void azure_op_release(struct azure_op *op)
{
	http_xfer_release(&op->x);
}

/* Append s percent-encoded (all but unreserved characters and '/'). */
static size_t url_escape(char *out, size_t cap, size_t len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s && len + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/') {
			out[len++] = (char)ch;
		} else {
			out[len++] = '%';
			out[len++] = hex[ch >> 4];
			out[len++] = hex[ch & 15];
		}
	}
	out[len] = '\0';
	return *s ? cap : len;
}

static int set_hdr(struct azure_op *op, unsigned int *n, const char *name, const char *value)
{
	int len = snprintf(op->hdr[*n], sizeof(op->hdr[*n]), "%s: %s", name, value);

	if (len < 0 || (size_t)len >= sizeof(op->hdr[*n]))
		return -ENAMETOOLONG;
	op->hdrp[*n] = op->hdr[*n];
	(*n)++;
	return 0;
}

/* Build the URL and the signed headers for this attempt, and start it. */
static int op_send(struct azure_client *c, struct azure_op *op)
{
	struct azure_hdr xms[AZURE_OP_XMS + 2];
	char date[40], path[AZURE_PATH_MAX + 256], sts[STS_MAX], auth[AZURE_AUTH_MAX];
	struct azure_sign_req sr = { 0 };
	unsigned int nh = 0;
	size_t len;
	int ret;

	ret = snprintf(path, sizeof(path), "%s/%s%s%s", c->url.base_path, c->url.container,
		       op->blob[0] ? "/" : "", op->blob);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return -ENAMETOOLONG;
	len = (size_t)snprintf(op->url, sizeof(op->url), "%.*s%s",
			       (int)(c->url.base_path - c->url.base), c->url.base, path);
	for (unsigned int i = 0; i < op->nr_query && len < sizeof(op->url); i++) {
		const char *eq = strchr(op->query[i], '=');

		len += (size_t)snprintf(op->url + len, sizeof(op->url) - len, "%c%.*s=",
					i ? '&' : '?', (int)(eq - op->query[i]), op->query[i]);
		if (len < sizeof(op->url))
			len = url_escape(op->url, sizeof(op->url), len, eq + 1);
	}
	if (!c->cred.shared_key && len < sizeof(op->url))
		len += (size_t)snprintf(op->url + len, sizeof(op->url) - len, "%c%s",
					op->nr_query ? '&' : '?', c->cred.sas);
	if (len >= sizeof(op->url))
		return -ENAMETOOLONG;

	azure_http_date(time(NULL), date, sizeof(date));
	if (op->nr_xms)
		memcpy(xms, op->xms, op->nr_xms * sizeof(*xms));
	xms[op->nr_xms] = (struct azure_hdr){ "x-ms-date", date };
	xms[op->nr_xms + 1] = (struct azure_hdr){ "x-ms-version", AZURE_VERSION };
	for (unsigned int i = 0; i < op->nr_xms + 2; i++) {
		ret = set_hdr(op, &nh, xms[i].name, xms[i].value);
		if (ret)
			return ret;
	}
	if (op->md5) {
		ret = azure_content_md5(op->body, op->body_len, op->md5_b64);
		if (!ret)
			ret = set_hdr(op, &nh, "Content-MD5", op->md5_b64);
		if (ret)
			return ret;
	}
	if (c->cred.shared_key) {
		sr.method = op->method;
		sr.account = c->url.account;
		sr.path = path;
		sr.query = op->query;
		sr.nr_query = op->nr_query;
		sr.content_length = !strcmp(op->method, "PUT") ? op->body_len : 0;
		sr.content_md5 = op->md5 ? op->md5_b64 : NULL;
		sr.xms = xms;
		sr.nr_xms = op->nr_xms + 2;
		ret = azure_string_to_sign(&sr, sts, sizeof(sts));
		if (!ret)
			ret = azure_shared_key_auth(&c->cred, c->url.account, sts, auth);
		if (!ret)
			ret = set_hdr(op, &nh, "Authorization", auth);
		if (ret)
			return ret;
	}
	op->x.method = op->method;
	op->x.url = op->url;
	op->x.headers = op->hdrp;
	op->x.nr_headers = nh;
	op->x.body = op->body;
	op->x.body_len = op->body_len;
	op->x.resp_max = op->resp_max;
	op->x.priv = op;
	ret = http_start(c->http, &op->x);
	if (ret)
		return ret;
	op->state = AZURE_OP_RUNNING;
	op->attempt++;
	return 0;
}

static void op_what(struct azure_client *c, struct azure_op *op, char *out, size_t cap)
{
	snprintf(out, cap, "%s %s/%s%s%s", op->method, c->url.base, c->url.container,
		 op->blob[0] ? "/" : "", op->blob);
}

static void deactivate(struct azure_client *c, struct azure_op *op)
{
	for (unsigned int i = 0; i < c->nr_active; i++) {
		if (c->active[i] == op) {
			c->active[i] = c->active[--c->nr_active];
			return;
		}
	}
}

static void op_finished(void *arg, struct http_xfer *x)
{
	struct azure_client *c = arg;
	struct azure_op *op = x->priv;
	char what[AZURE_BASE_MAX + AZURE_CONTAINER_MAX + AZURE_PATH_MAX + 16];
	uint32_t rnd = 0;

	op_what(c, op, what, sizeof(what));
	if (azure_retryable(x->err, x->status) && op->attempt < c->retry.attempts) {
		unsigned int ms;

		RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
		ms = azure_backoff_ms(&c->retry, op->attempt, rnd);
		if (x->err)
			log_warn("azure: %s: %s; retry %u of %u in %u ms", what, x->what,
				 op->attempt, c->retry.attempts - 1, ms);
		else
			log_warn("azure: %s: HTTP %ld %s; retry %u of %u in %u ms", what, x->status,
				 x->error_code, op->attempt, c->retry.attempts - 1, ms);
		http_xfer_release(x);
		op->state = AZURE_OP_BACKOFF;
		op->retry_at_ns = mono_ns() + (uint64_t)ms * 1000000u;
		return;
	}
	deactivate(c, op);
	op->state = AZURE_OP_DONE;
	if (x->err == -EPROTO) {
		op->err = x->err;
		log_err("azure: %s: %s; the endpoint's certificate does not verify or the protocol is refused: give its CA with --ca-file, or check the URL",
			what, x->what);
	} else if (x->err == -EFBIG) {
		op->err = x->err;
		log_err("azure: %s: the answer is larger than the %zu bytes accepted; this is not an object cbtship wrote",
			what, op->resp_max);
	} else if (x->err) {
		op->err = x->err;
		log_err("azure: %s: %s (after %u tries); check that the endpoint is reachable",
			what, x->what, op->attempt);
	} else {
		op->err = azure_status_errno(x->status);
		if (op->err == -EACCES)
			log_err("azure: %s: HTTP %ld %s: the storage service refused the credentials; check the account key (--azure-key-file) or the SAS token (--azure-sas-file) and its permissions and expiry",
				what, x->status, x->error_code);
		else if (op->err && op->err != op->quiet_err)
			log_err("azure: %s: HTTP %ld %s%s", what, x->status, x->error_code,
				op->attempt > 1 ? " (after retries)" : "");
	}
}

int azure_op_start(struct azure_client *c, struct azure_op *op)
{
	int ret;

	if (c->nr_active == AZURE_MAX_ACTIVE)
		return -EBUSY;
	op->attempt = 0;
	op->err = 0;
	ret = op_send(c, op);
	if (ret) {
		op->state = AZURE_OP_DONE;
		op->err = ret;
		return ret;
	}
	c->active[c->nr_active++] = op;
	return 0;
}

int azure_client_pump(struct azure_client *c, int max_wait_ms)
{
	uint64_t now = mono_ns(), next = now + (uint64_t)(max_wait_ms < 100 ? max_wait_ms : 100) * 1000000u;
	bool running = false;
	int ret;

	for (unsigned int i = 0; i < c->nr_active; i++) {
		struct azure_op *op = c->active[i];

		if (op->state == AZURE_OP_RUNNING)
			running = true;
		else if (op->state == AZURE_OP_BACKOFF && op->retry_at_ns < next)
			next = op->retry_at_ns;
	}
	if (running) {
		ret = http_poll(c->http, (int)((next > now ? next - now : 0) / 1000000u), op_finished, c);
		if (ret < 0)
			return ret;
	} else if (next > now) {
		struct timespec ts = { .tv_sec = (time_t)((next - now) / 1000000000u),
				       .tv_nsec = (long)((next - now) % 1000000000u) };

		nanosleep(&ts, NULL);
	}
	now = mono_ns();
	for (unsigned int i = 0; i < c->nr_active; i++) {
		struct azure_op *op = c->active[i];

		if (op->state != AZURE_OP_BACKOFF || op->retry_at_ns > now)
			continue;
		ret = op_send(c, op);
		if (ret) {
			op->state = AZURE_OP_DONE;
			op->err = ret;
			deactivate(c, op);
			i--;
		}
	}
	return 0;
}

int azure_client_fdset(struct azure_client *c, fd_set *r, fd_set *w, fd_set *e, int *maxfd,
		       long max_ms, long *timeout_ms)
{
	uint64_t now = mono_ns();
	long t = -1;
	int ret;

	*maxfd = -1;
	ret = http_fdset(c->http, r, w, e, maxfd, &t);
	if (ret)
		return ret;
	if (t < 0 || t > max_ms)
		t = max_ms;
	for (unsigned int i = 0; i < c->nr_active; i++) {
		struct azure_op *op = c->active[i];

		if (op->state == AZURE_OP_BACKOFF) {
			long left = op->retry_at_ns > now ? (long)((op->retry_at_ns - now) / 1000000u) : 0;

			if (left < t)
				t = left;
		}
	}
	*timeout_ms = t;
	return 0;
}

int azure_op_run(struct azure_client *c, struct azure_op *op)
{
	int ret = azure_op_start(c, op);

	if (ret)
		return ret;
	while (op->state != AZURE_OP_DONE) {
		ret = azure_client_pump(c, 100);
		if (ret) {
			http_cancel(c->http, &op->x);
			deactivate(c, op);
			op->state = AZURE_OP_DONE;
			op->err = ret;
			break;
		}
	}
	return op->err;
}
