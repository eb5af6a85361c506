// SPDX-License-Identifier: GPL-2.0
/* Azure Blob Storage store (see store-azure.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

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

/*
 * An I/O thread drives every transfer (so uploads go on while the caller is
 * busy elsewhere); callers start requests and wait for them.
 */
struct store_azure {
	struct store st;
	struct azure_client c;		/* protected by lock; driven by the I/O thread */
	pthread_mutex_t lock;		/* c, every op's state, up[], async_err, stopping */
	pthread_cond_t done_cv;		/* an op finished */
	pthread_cond_t work_cv;		/* an op was started, or stopping */
	pthread_mutex_t sync_lock;	/* one synchronous request (op) at a time */
	struct azure_op op;		/* the synchronous request; under sync_lock */
	struct upload *up;
	unsigned int streams;
	int async_err;			/* first failed put_async since the last flush */
	int wake[2];			/* a pipe that interrupts the I/O thread's select() */
	pthread_t io_thread;
	bool io_started;
	bool stopping;
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

static void wake_io(struct store_azure *sa)
{
	char c = 0;

	if (write(sa->wake[1], &c, 1) < 0 && errno != EAGAIN)
		log_warn("store %s: cannot wake the I/O thread: %s", sa->st.spec, strerror(errno));
	pthread_cond_signal(&sa->work_cv);
}

/* Start op and wait for the I/O thread to finish it.  Called with lock held. */
static int run_locked(struct store_azure *sa, struct azure_op *op)
{
	int ret = azure_op_start(&sa->c, op);

	if (ret)
		return ret;
	wake_io(sa);
	while (op->state != AZURE_OP_DONE)
		pthread_cond_wait(&sa->done_cv, &sa->lock);
	return op->err;
}

static void sync_lock(struct store_azure *sa)
{
	pthread_mutex_lock(&sa->sync_lock);
	pthread_mutex_lock(&sa->lock);
}

static void sync_unlock(struct store_azure *sa)
{
	azure_op_release(&sa->op);
	pthread_mutex_unlock(&sa->lock);
	pthread_mutex_unlock(&sa->sync_lock);
}

/* Take the locks and set up the synchronous op for object name (none taken on error). */
static int lock_op(struct store_azure *sa, const char *method, const char *name)
{
	char blob[AZURE_PATH_MAX];
	int ret = blob_name(sa, name, blob, sizeof(blob));

	if (ret)
		return ret;
	sync_lock(sa);
	azure_op_init(&sa->op, method, blob);
	return 0;
}

static int check_size(struct store_azure *sa, const char *name, size_t len)
{
	if (len <= AZURE_OBJECT_MAX)
		return 0;
	log_err("store %s: object %s is %zu bytes, more than the %u this store writes; use smaller segments",
		sa->st.spec, name, len, AZURE_OBJECT_MAX);
	return -EFBIG;
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

	ret = check_size(sa, name, len);
	if (ret)
		return ret;
	ret = lock_op(sa, "PUT", name);
	if (ret)
		return ret;
	setup_put(&sa->op, buf, len);
	ret = run_locked(sa, &sa->op);
	sync_unlock(sa);
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

	ret = check_size(sa, name, len);
	if (ret)
		return ret;
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
		pthread_cond_wait(&sa->done_cv, &sa->lock);	/* every stream busy: backpressure */
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
	if (!ret)
		wake_io(sa);
out:
	pthread_mutex_unlock(&sa->lock);
	return ret;
}

static int az_flush(struct store *st)
{
	struct store_azure *sa = to_az(st);
	bool busy;
	int ret;

	pthread_mutex_lock(&sa->lock);
	for (;;) {
		busy = false;
		for (unsigned int i = 0; i < sa->streams; i++) {
			reap(sa, &sa->up[i]);
			if (sa->up[i].op.state != AZURE_OP_IDLE)
				busy = true;
		}
		if (!busy)
			break;
		pthread_cond_wait(&sa->done_cv, &sa->lock);
	}
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
	ret = run_locked(sa, &sa->op);
	if (!ret) {
		*bufp = sa->op.x.resp ? sa->op.x.resp : malloc(1);
		*lenp = sa->op.x.resp_len;
		sa->op.x.resp = NULL;
		if (!*bufp)
			ret = -ENOMEM;
	}
	sync_unlock(sa);
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
		ret = run_locked(sa, &sa->op);
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

	sync_lock(sa);
	ret = list_prefix(sa, dir, &lc);
	sync_unlock(sa);
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
	ret = run_locked(sa, &sa->op);
	azure_op_release(&sa->op);
	if (ret == -ENOENT) {
		/* Not a blob: a prefix ("directory") goes away with its last blob. */
		int lret = list_prefix(sa, name, &lc);

		if (lret && lret != 1)
			ret = lret;
		else if (lc.nr)
			ret = -ENOTEMPTY;
	}
	sync_unlock(sa);
	return ret;
}

static void stop_io(struct store_azure *sa)
{
	if (!sa->io_started)
		return;
	pthread_mutex_lock(&sa->lock);
	sa->stopping = true;
	wake_io(sa);
	pthread_mutex_unlock(&sa->lock);
	pthread_join(sa->io_thread, NULL);
	sa->io_started = false;
}

static void store_azure_free(struct store_azure *sa)
{
	stop_io(sa);
	if (sa->c.http)
		azure_client_destroy(&sa->c);
	for (unsigned int i = 0; sa->up && i < sa->streams; i++)
		free(sa->up[i].buf);
	free(sa->up);
	if (sa->wake[0] >= 0)
		close(sa->wake[0]);
	if (sa->wake[1] >= 0)
		close(sa->wake[1]);
	pthread_cond_destroy(&sa->work_cv);
	pthread_cond_destroy(&sa->done_cv);
	pthread_mutex_destroy(&sa->sync_lock);
	pthread_mutex_destroy(&sa->lock);
	free(sa->st.spec);
	free(sa);
}

/* Fail every request in flight (the multi handle itself failed). */
static void fail_all(struct store_azure *sa, int err)
{
	while (sa->c.nr_active) {
		struct azure_op *op = sa->c.active[--sa->c.nr_active];

		http_cancel(sa->c.http, &op->x);
		op->state = AZURE_OP_DONE;
		op->err = err;
	}
}

static void *io_main(void *arg)
{
	struct store_azure *sa = arg;
	char drain[64];

	pthread_mutex_lock(&sa->lock);
	while (!sa->stopping || sa->c.nr_active) {
		unsigned int before = sa->c.nr_active;
		fd_set r, w, e;
		struct timeval tv;
		long ms;
		int maxfd, ret;

		if (!before) {
			pthread_cond_wait(&sa->work_cv, &sa->lock);
			continue;
		}
		ret = azure_client_pump(&sa->c, 0);
		FD_ZERO(&r);
		FD_ZERO(&w);
		FD_ZERO(&e);
		if (!ret)
			ret = azure_client_fdset(&sa->c, &r, &w, &e, &maxfd, 100, &ms);
		if (ret)
			fail_all(sa, ret);
		if (sa->c.nr_active < before)
			pthread_cond_broadcast(&sa->done_cv);
		if (!sa->c.nr_active)
			continue;
		/* Wait for the sockets, a timer or a new request, without the lock. */
		FD_SET(sa->wake[0], &r);
		if (sa->wake[0] > maxfd)
			maxfd = sa->wake[0];
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		pthread_mutex_unlock(&sa->lock);
		if (select(maxfd + 1, &r, &w, &e, &tv) > 0 && FD_ISSET(sa->wake[0], &r))
			while (read(sa->wake[0], drain, sizeof(drain)) > 0)
				;
		pthread_mutex_lock(&sa->lock);
	}
	pthread_mutex_unlock(&sa->lock);
	return NULL;
}

static int start_io(struct store_azure *sa)
{
	sigset_t all, old;
	int ret;

	if (pipe2(sa->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		sa->wake[0] = sa->wake[1] = -1;
		log_err("store %s: cannot make a pipe: %s", sa->st.spec, strerror(-ret));
		return ret;
	}
	if (sa->wake[0] >= FD_SETSIZE) {
		log_err("store %s: too many open files for select()", sa->st.spec);
		return -EMFILE;
	}
	/* Signals stay with the caller's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&sa->io_thread, NULL, io_main, sa);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		log_err("store %s: cannot start the I/O thread: %s", sa->st.spec, strerror(-ret));
		return ret;
	}
	sa->io_started = true;
	return 0;
}

static void az_close(struct store *st)
{
	struct store_azure *sa = to_az(st);
	int ret = az_flush(st);

	if (ret)
		log_warn("store %s: closing with failed uploads: %s", st->spec, strerror(-ret));
	store_azure_free(sa);
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
	bool no_container;
	void *buf = NULL;
	size_t len = 0;
	int ret;

	ret = lock_op(sa, "GET", STORE_MARKER);
	if (ret)
		return ret;
	sa->op.resp_max = 4096;
	sa->op.quiet_err = -ENOENT;
	ret = run_locked(sa, &sa->op);
	no_container = ret == -ENOENT && !strcmp(sa->op.x.error_code, "ContainerNotFound");
	if (!ret) {
		buf = sa->op.x.resp;
		len = sa->op.x.resp_len;
		sa->op.x.resp = NULL;
	}
	sync_unlock(sa);
	if (no_container && !create) {
		log_err("store %s: the container does not exist; check the URL (the source creates it)",
			sa->st.spec);
		return -ENOENT;
	}
	if (no_container) {
		/* Created only when absent: a SAS for one container need not allow it. */
		sync_lock(sa);
		azure_op_init(&sa->op, "PUT", "");
		sa->op.query[sa->op.nr_query++] = "restype=container";
		sa->op.quiet_err = -EEXIST;
		ret = run_locked(sa, &sa->op);
		sync_unlock(sa);
		if (ret && ret != -EEXIST)	/* created meanwhile by another source: fine */
			return ret;
		ret = -ENOENT;
	}
	if (ret == -ENOENT) {
		if (!create) {
			log_err("%s is not a cbtship store (no %s blob in it); check the URL",
				sa->st.spec, STORE_MARKER);
			return -ENOTDIR;
		}
		sync_lock(sa);
		ret = list_prefix(sa, "", &lc);
		sync_unlock(sa);
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
	pthread_mutex_init(&sa->sync_lock, NULL);
	pthread_cond_init(&sa->done_cv, NULL);
	pthread_cond_init(&sa->work_cv, NULL);
	sa->wake[0] = sa->wake[1] = -1;
	sa->st.ops = &azure_ops;
	sa->streams = ro->streams ? ro->streams : AZURE_DEFAULT_STREAMS;
	sa->up = calloc(sa->streams, sizeof(*sa->up));
	ret = azure_client_init(&sa->c, spec, ro);
	if (ret)
		goto out_free;
	sa->st.spec = strdup(sa->c.what);
	if (!sa->up || !sa->st.spec) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = start_io(sa);
	if (!ret)
		ret = check_marker(sa, create);
	if (ret)
		goto out_free;
	*out = &sa->st;
	return 0;

out_free:
	store_azure_free(sa);
	return ret;
}
