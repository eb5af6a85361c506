// SPDX-License-Identifier: GPL-2.0
/* Azure Blob Storage store (see store-azure.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure-client.h"
#include "log.h"
#include "store-azure.h"
#include "store-local.h"

#define LIST_PAGE_MAX	(16u << 20)	/* one List Blobs answer */

struct upload {
	struct azure_op op;
	void *buf;
	size_t cap;
};

struct store_azure {
	struct store st;
	struct azure_client c;
	pthread_mutex_t lock;		/* callers may be the store thread and the main thread */
	struct azure_op op;		/* for synchronous requests */
	struct upload *up;
	unsigned int streams;
	int async_err;			/* first failed put_async since the last flush */
};

static struct store_azure *to_az(struct store *st)
{
	return (struct store_azure *)st;
}

static int blob_name(struct store_azure *sa, const char *name, char *out, size_t cap)
{
	const char *pfx = sa->c.url.path;
	int n;

	if (*name && !azure_name_ok(name)) {
		log_err("store %s: invalid object name \"%s\"", sa->st.spec, name);
		return -EINVAL;
	}
	n = snprintf(out, cap, "%s%s%s", pfx, *pfx && *name ? "/" : "", name);
	if (n < 0 || (size_t)n >= cap) {
		log_err("store %s: object name %s too long", sa->st.spec, name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Take the lock and set up the synchronous op for object name (unlocked on error). */
static int lock_op(struct store_azure *sa, const char *method, const char *name)
{
	char blob[AZURE_PATH_MAX];
	int ret = blob_name(sa, name, blob, sizeof(blob));

	if (ret)
		return ret;
	pthread_mutex_lock(&sa->lock);
	azure_op_init(&sa->op, method, blob);
	return 0;
}

static void setup_put(struct azure_op *op, const void *buf, size_t len)
{
	op->xms[op->nr_xms++] = (struct azure_hdr){ "x-ms-blob-type", "BlockBlob" };
	op->body = buf;
	op->body_len = len;
	op->md5 = true;
}

static int az_put(struct store *st, const char *name, const void *buf, size_t len)
{
	struct store_azure *sa = to_az(st);
	int ret;

	if (len > AZURE_OBJECT_MAX)
		return -EFBIG;
	ret = lock_op(sa, "PUT", name);
	if (ret)
		return ret;
	setup_put(&sa->op, buf, len);
	ret = azure_op_run(&sa->c, &sa->op);
	azure_op_release(&sa->op);
	pthread_mutex_unlock(&sa->lock);
	return ret;
}

/* Collect the result of a finished upload slot. */
static void reap(struct store_azure *sa, struct upload *u)
{
	if (u->op.state != AZURE_OP_DONE)
		return;
	if (u->op.err && !sa->async_err)
		sa->async_err = u->op.err;
	azure_op_release(&u->op);
	u->op.state = AZURE_OP_IDLE;
}

static int az_put_async(struct store *st, const char *name, const void *buf, size_t len)
{
	struct store_azure *sa = to_az(st);
	char blob[AZURE_PATH_MAX];
	struct upload *u = NULL;
	int ret;

	if (len > AZURE_OBJECT_MAX)
		return -EFBIG;
	ret = blob_name(sa, name, blob, sizeof(blob));
	if (ret)
		return ret;
	pthread_mutex_lock(&sa->lock);
	for (;;) {
		for (unsigned int i = 0; i < sa->streams; i++) {
			reap(sa, &sa->up[i]);
			if (!u && sa->up[i].op.state == AZURE_OP_IDLE)
				u = &sa->up[i];
		}
		ret = sa->async_err;
		if (u || ret)
			break;
		ret = azure_client_pump(&sa->c);	/* every stream busy: backpressure */
		if (ret)
			break;
	}
	if (ret)
		goto out;
	if (u->cap < len) {
		void *p = realloc(u->buf, len);

		if (!p) {
			ret = -ENOMEM;
			goto out;
		}
		u->buf = p;
		u->cap = len;
	}
	memcpy(u->buf, buf, len);
	azure_op_init(&u->op, "PUT", blob);
	setup_put(&u->op, u->buf, len);
	ret = azure_op_start(&sa->c, &u->op);
	/* Move it on now: uploads progress while the caller prepares the next. */
	if (!ret)
		ret = azure_client_pump(&sa->c);
out:
	pthread_mutex_unlock(&sa->lock);
	return ret;
}

static int az_flush(struct store *st)
{
	struct store_azure *sa = to_az(st);
	bool busy;
	int ret = 0;

	pthread_mutex_lock(&sa->lock);
	do {
		busy = false;
		for (unsigned int i = 0; i < sa->streams; i++) {
			reap(sa, &sa->up[i]);
			if (sa->up[i].op.state != AZURE_OP_IDLE)
				busy = true;
		}
		if (busy)
			ret = azure_client_pump(&sa->c);
	} while (busy && !ret);
	if (!ret)
		ret = sa->async_err;
	sa->async_err = 0;
	pthread_mutex_unlock(&sa->lock);
	return ret;
}

static int az_get(struct store *st, const char *name, void **bufp, size_t *lenp)
{
	struct store_azure *sa = to_az(st);
	int ret;

	*bufp = NULL;
	*lenp = 0;
	ret = lock_op(sa, "GET", name);
	if (ret)
		return ret;
	sa->op.resp_max = AZURE_OBJECT_MAX;
	sa->op.quiet_err = -ENOENT;	/* the caller decides if absence is an error */
	ret = azure_op_run(&sa->c, &sa->op);
	if (!ret) {
		*bufp = sa->op.x.resp ? sa->op.x.resp : malloc(1);
		*lenp = sa->op.x.resp_len;
		sa->op.x.resp = NULL;
		if (!*bufp)
			ret = -ENOMEM;
	}
	azure_op_release(&sa->op);
	pthread_mutex_unlock(&sa->lock);
	return ret;
}

/* Decode the XML entities of s[0..len) into out; false if not a plain name. */
static bool xml_text(const char *s, size_t len, char *out, size_t cap)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
	};
	size_t n = 0;

	for (size_t i = 0; i < len; ) {
		bool found = false;

		if (n + 1 >= cap)
			return false;
		if (s[i] == '&') {
			for (size_t e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
				size_t el = strlen(ents[e].ent);

				if (len - i >= el && !memcmp(s + i, ents[e].ent, el)) {
					out[n++] = ents[e].c;
					i += el;
					found = true;
					break;
				}
			}
			if (!found)
				return false;
			continue;
		}
		out[n++] = s[i++];
	}
	out[n] = '\0';
	return true;
}

/* The text of the first <tag>...</tag> in [p, end), or NULL. */
static const char *xml_find(const char *p, const char *end, const char *tag, size_t *len)
{
	char open[32], close[32];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(p, (size_t)(end - p), open, strlen(open));
	if (!a)
		return NULL;
	a += strlen(open);
	b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (!b)
		return NULL;
	*len = (size_t)(b - a);
	return a;
}

struct list_ctx {
	int (*fn)(void *arg, const char *child);
	void *arg;
	size_t nr;
};

/* Call fn for each <Blob> and <BlobPrefix> name in the page; the next marker in *marker. */
static int parse_page(struct store_azure *sa, const char *xml, size_t xlen, const char *prefix,
		      struct list_ctx *lc, char *marker, size_t mcap)
{
	const char *end = xml + xlen, *p = xml, *blobs, *t;
	size_t len, plen = strlen(prefix);
	char name[AZURE_PATH_MAX];
	int ret;

	marker[0] = '\0';
	if (!memmem(xml, xlen, "<EnumerationResults", 19)) {
		log_err("store %s: unexpected List Blobs answer (no <EnumerationResults>)",
			sa->st.spec);
		return -EPROTO;
	}
	blobs = memmem(xml, xlen, "<Blobs>", 7);
	if (!blobs)
		return 0;	/* "<Blobs />": nothing here */
	t = xml_find(xml, end, "NextMarker", &len);
	if (t && !xml_text(t, len, marker, mcap)) {
		log_err("store %s: unexpected List Blobs marker", sa->st.spec);
		return -EPROTO;
	}
	for (p = blobs; p < end; ) {
		const char *b = memmem(p, (size_t)(end - p), "<Blob", 5), *e;

		if (!b)
			break;
		e = memmem(b, (size_t)(end - b), b[5] == 'P' ? "</BlobPrefix>" : "</Blob>",
			   b[5] == 'P' ? 13 : 7);
		if (b[5] == 's') {	/* "<Blobs>" itself */
			p = b + 7;
			continue;
		}
		if (!e)
			break;
		t = xml_find(b, e, "Name", &len);
		p = e + 1;
		if (!t || !xml_text(t, len, name, sizeof(name)) || strncmp(name, prefix, plen))
			continue;
		memmove(name, name + plen, strlen(name + plen) + 1);
		len = strlen(name);
		if (len && name[len - 1] == '/')
			name[--len] = '\0';
		/* Only names we could have written; anything else is not ours. */
		if (!len || strchr(name, '/') || !azure_name_ok(name) || name[0] == '.')
			continue;
		lc->nr++;
		ret = lc->fn(lc->arg, name);
		if (ret)
			return ret;
	}
	return 0;
}

static int list_prefix(struct store_azure *sa, const char *dir, struct list_ctx *lc)
{
	char prefix[AZURE_PATH_MAX + 1], marker[1024] = "", q_prefix[AZURE_PATH_MAX + 16],
	     q_marker[1100];
	int ret;

	ret = blob_name(sa, dir, prefix, sizeof(prefix) - 1);
	if (ret)
		return ret;
	if (*prefix)
		strcat(prefix, "/");
	snprintf(q_prefix, sizeof(q_prefix), "prefix=%s", prefix);
	do {
		azure_op_init(&sa->op, "GET", "");
		sa->op.query[sa->op.nr_query++] = "restype=container";
		sa->op.query[sa->op.nr_query++] = "comp=list";
		sa->op.query[sa->op.nr_query++] = "delimiter=/";
		sa->op.query[sa->op.nr_query++] = q_prefix;
		if (marker[0]) {
			snprintf(q_marker, sizeof(q_marker), "marker=%s", marker);
			sa->op.query[sa->op.nr_query++] = q_marker;
		}
		sa->op.resp_max = LIST_PAGE_MAX;
		ret = azure_op_run(&sa->c, &sa->op);
		if (!ret)
			ret = parse_page(sa, sa->op.x.resp ? sa->op.x.resp : "", sa->op.x.resp_len,
					 prefix, lc, marker, sizeof(marker));
		azure_op_release(&sa->op);
	} while (!ret && marker[0]);
	return ret;
}

static int az_list(struct store *st, const char *dir,
		   int (*fn)(void *arg, const char *child), void *arg)
{
	struct store_azure *sa = to_az(st);
	struct list_ctx lc = { .fn = fn, .arg = arg };
	int ret;

	pthread_mutex_lock(&sa->lock);
	ret = list_prefix(sa, dir, &lc);
	pthread_mutex_unlock(&sa->lock);
	/* A prefix without blobs is a directory that does not exist. */
	if (!ret && !lc.nr && *dir)
		ret = -ENOENT;
	return ret;
}

static int count_child(void *arg, const char *child)
{
	(void)arg;
	(void)child;
	return 1;	/* one is enough */
}

static int az_remove(struct store *st, const char *name)
{
	struct store_azure *sa = to_az(st);
	struct list_ctx lc = { .fn = count_child };
	int ret;

	ret = lock_op(sa, "DELETE", name);
	if (ret)
		return ret;
	sa->op.quiet_err = -ENOENT;
	ret = azure_op_run(&sa->c, &sa->op);
	azure_op_release(&sa->op);
	if (ret == -ENOENT) {
		/* Not a blob: a prefix ("directory") goes away with its last blob. */
		int lret = list_prefix(sa, name, &lc);

		if (lret && lret != 1)
			ret = lret;
		else if (lc.nr)
			ret = -ENOTEMPTY;
	}
	pthread_mutex_unlock(&sa->lock);
	return ret;
}

static void az_close(struct store *st)
{
	struct store_azure *sa = to_az(st);
	int ret = az_flush(st);

	if (ret)
		log_warn("store %s: closing with failed uploads: %s", st->spec, strerror(-ret));
	azure_client_destroy(&sa->c);
	for (unsigned int i = 0; i < sa->streams; i++)
		free(sa->up[i].buf);
	free(sa->up);
	pthread_mutex_destroy(&sa->lock);
	free(st->spec);
	free(sa);
}

static const struct store_ops azure_ops = {
	.name = "azure",
	.put = az_put,
	.get = az_get,
	.list = az_list,
	.remove = az_remove,
	.close = az_close,
	.put_async = az_put_async,
	.flush = az_flush,
};

static int check_marker(struct store_azure *sa, bool create)
{
	struct list_ctx lc = { .fn = count_child };
	void *buf = NULL;
	size_t len;
	int ret;

	if (create) {
		azure_op_init(&sa->op, "PUT", "");
		sa->op.query[sa->op.nr_query++] = "restype=container";
		sa->op.quiet_err = -EEXIST;
		ret = azure_op_run(&sa->c, &sa->op);
		azure_op_release(&sa->op);
		if (ret && ret != -EEXIST)	/* 409 ContainerAlreadyExists is fine */
			return ret;
	}
	ret = az_get(&sa->st, STORE_MARKER, &buf, &len);
	if (ret == -ENOENT) {
		if (!strcmp(sa->op.x.error_code, "ContainerNotFound")) {
			log_err("store %s: the container does not exist; check the URL (the source creates it)",
				sa->st.spec);
			return -ENOENT;
		}
		if (!create) {
			log_err("%s is not a cbtship store (no %s blob in it); check the URL",
				sa->st.spec, STORE_MARKER);
			return -ENOTDIR;
		}
		ret = list_prefix(sa, "", &lc);
		if (ret && ret != 1)
			return ret;
		if (lc.nr) {
			log_err("%s is not a cbtship store (no %s blob, but other blobs); give an empty container or another prefix",
				sa->st.spec, STORE_MARKER);
			return -ENOTDIR;
		}
		return az_put(&sa->st, STORE_MARKER, STORE_MARKER_TEXT, strlen(STORE_MARKER_TEXT));
	}
	if (ret)
		return ret;
	if (len == strlen(STORE_MARKER_TEXT) && !memcmp(buf, STORE_MARKER_TEXT, len)) {
		ret = 0;
	} else {
		log_err("%s is not a cbtship store of this version (its %s blob says otherwise); upgrade cbtship or check the URL",
			sa->st.spec, STORE_MARKER);
		ret = -EPROTO;
	}
	free(buf);
	return ret;
}

int store_azure_open(const char *spec, bool create, const struct remote_opts *ro,
		     struct store **out)
{
	struct remote_opts none = { 0 };
	struct store_azure *sa;
	int ret;

	*out = NULL;
	if (!ro)
		ro = &none;
	if (ro->streams > AZURE_MAX_STREAMS) {
		log_err("--streams %u: at most %d parallel uploads", ro->streams, AZURE_MAX_STREAMS);
		return -EINVAL;
	}
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	pthread_mutex_init(&sa->lock, NULL);
	sa->st.ops = &azure_ops;
	sa->streams = ro->streams ? ro->streams : AZURE_DEFAULT_STREAMS;
	sa->up = calloc(sa->streams, sizeof(*sa->up));
	ret = azure_client_init(&sa->c, spec, ro);
	if (ret)
		goto out_free;
	sa->st.spec = strdup(sa->c.what);
	if (!sa->up || !sa->st.spec) {
		ret = -ENOMEM;
		goto out_client;
	}
	ret = check_marker(sa, create);
	if (ret)
		goto out_client;
	*out = &sa->st;
	return 0;

out_client:
	azure_client_destroy(&sa->c);
out_free:
	free(sa->st.spec);
	free(sa->up);
	pthread_mutex_destroy(&sa->lock);
	free(sa);
	return ret;
}
