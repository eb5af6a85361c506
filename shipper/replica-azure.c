// SPDX-License-Identifier: GPL-2.0
/* Azure page blob replica (see replica-azure.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "azure-client.h"
#include "log.h"
#include "replica-azure.h"

#define LEASE_SECONDS	"60"	/* a crashed apply's lease lapses after this */
#define LEASE_RENEW_NS	(20 * 1000000000ull)

struct replica_azure {
	struct replica r;
	struct azure_client c;
	struct azure_op op;
	char lease_id[40];		/* ours while open: writes carry it */
	uint64_t lease_ns;		/* when it was acquired or last renewed */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Lease Blob: acquire, renew or release our lease. */
static int lease(struct replica_azure *ra, const char *action)
{
	int ret;

	azure_op_init(&ra->op, "PUT", ra->c.url.path);
	ra->op.query[ra->op.nr_query++] = "comp=lease";
	ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-lease-action", action };
	if (!strcmp(action, "acquire")) {
		ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-lease-duration", LEASE_SECONDS };
		ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-proposed-lease-id", ra->lease_id };
		ra->op.quiet_err = -EEXIST;
	} else {
		ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-lease-id", ra->lease_id };
	}
	ret = azure_op_run(&ra->c, &ra->op);
	azure_op_release(&ra->op);
	if (!ret)
		ra->lease_ns = mono_ns();
	return ret;
}

/* Renew the lease well before it lapses; called before each change. */
static int keep_lease(struct replica_azure *ra)
{
	if (mono_ns() - ra->lease_ns < LEASE_RENEW_NS)
		return 0;
	return lease(ra, "renew");
}

static void add_lease(struct replica_azure *ra)
{
	ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-lease-id", ra->lease_id };
}

static struct replica_azure *to_ra(struct replica *r)
{
	return (struct replica_azure *)r;
}

static bool aligned(uint64_t off, size_t len)
{
	return !(off % AZURE_PAGE) && !(len % AZURE_PAGE);
}

static bool is_zero(const uint8_t *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

static int check_range(struct replica *r, size_t len, uint64_t off)
{
	if (!aligned(off, len)) {
		log_err("replica %s: %zu bytes at %" PRIu64 " are not 512-byte aligned, as page blobs need",
			r->spec, len, off);
		return -EINVAL;
	}
	if (off > r->size || len > r->size - off) {
		log_err("replica %s: %zu bytes at %" PRIu64 " are past its end (%" PRIu64 " bytes)",
			r->spec, len, off, r->size);
		return -ENOSPC;
	}
	return 0;
}

static int ra_pwrite(struct replica *r, const void *buf, size_t len, uint64_t off)
{
	struct replica_azure *ra = to_ra(r);
	const uint8_t *p = buf;
	char range[64];
	int ret;

	ret = check_range(r, len, off);
	while (!ret && len) {
		size_t n = len > AZURE_PUT_PAGE_MAX ? AZURE_PUT_PAGE_MAX : len;
		bool zero = is_zero(p, n);

		ret = keep_lease(ra);
		if (ret)
			break;

		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + n - 1);
		azure_op_init(&ra->op, "PUT", ra->c.url.path);
		ra->op.query[ra->op.nr_query++] = "comp=page";
		ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-range", range };
		add_lease(ra);
		/* A fresh blob already reads as zeros; elsewhere zeros are a clear, not an upload. */
		if (zero) {
			ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-page-write", "clear" };
		} else {
			ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-page-write", "update" };
			ra->op.body = p;
			ra->op.body_len = n;
			ra->op.md5 = true;
		}
		if (!(zero && r->fresh)) {
			ret = azure_op_run(&ra->c, &ra->op);
			r->fresh = false;
		}
		azure_op_release(&ra->op);
		p += n;
		off += n;
		len -= n;
	}
	return ret;
}

static int ra_pread(struct replica *r, void *buf, size_t len, uint64_t off)
{
	struct replica_azure *ra = to_ra(r);
	uint8_t *p = buf;
	char range[64];
	int ret;

	ret = check_range(r, len, off);
	while (!ret && len) {
		size_t n = len > AZURE_PUT_PAGE_MAX ? AZURE_PUT_PAGE_MAX : len;

		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + n - 1);
		azure_op_init(&ra->op, "GET", ra->c.url.path);
		ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-range", range };
		ra->op.resp_max = n;
		ret = azure_op_run(&ra->c, &ra->op);
		if (!ret && ra->op.x.resp_len != n) {
			log_err("replica %s: read %zu bytes at %" PRIu64 ", got %zu",
				r->spec, n, off, ra->op.x.resp_len);
			ret = -EIO;
		}
		if (!ret)
			memcpy(p, ra->op.x.resp, n);
		azure_op_release(&ra->op);
		p += n;
		off += n;
		len -= n;
	}
	return ret;
}

/* Set Blob Properties with a new x-ms-blob-content-length. */
static int set_length(struct replica_azure *ra, uint64_t size)
{
	char len[32];
	int ret;

	snprintf(len, sizeof(len), "%" PRIu64, size);
	ret = keep_lease(ra);
	if (ret)
		return ret;
	azure_op_init(&ra->op, "PUT", ra->c.url.path);
	ra->op.query[ra->op.nr_query++] = "comp=properties";
	ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-blob-content-length", len };
	add_lease(ra);
	ret = azure_op_run(&ra->c, &ra->op);
	azure_op_release(&ra->op);
	return ret;
}

static uint64_t round_page(uint64_t size)
{
	return (size + AZURE_PAGE - 1) / AZURE_PAGE * AZURE_PAGE;
}

static int ra_resize(struct replica *r, uint64_t size)
{
	struct replica_azure *ra = to_ra(r);
	int ret;

	size = round_page(size);
	if (size <= r->size)
		return 0;
	ret = set_length(ra, size);
	if (ret) {
		log_err("replica %s: cannot grow the page blob to %" PRIu64 " bytes", r->spec, size);
		return ret == -EINVAL ? -ENOSPC : ret;
	}
	r->size = size;
	return 0;
}

static int ra_sync(struct replica *r)
{
	(void)r;	/* a Put Page is durable once acknowledged */
	return 0;
}

static int ra_snapshot(struct replica *r, char **id)
{
	struct replica_azure *ra = to_ra(r);
	int ret;

	*id = NULL;
	ret = keep_lease(ra);
	if (ret)
		return ret;
	azure_op_init(&ra->op, "PUT", ra->c.url.path);
	ra->op.query[ra->op.nr_query++] = "comp=snapshot";
	add_lease(ra);
	ret = azure_op_run(&ra->c, &ra->op);
	if (!ret && !ra->op.x.snapshot[0]) {
		log_err("replica %s: Snapshot Blob answered without a snapshot time", r->spec);
		ret = -EPROTO;
	}
	if (!ret) {
		*id = strdup(ra->op.x.snapshot);
		if (!*id)
			ret = -ENOMEM;
	}
	azure_op_release(&ra->op);
	return ret;
}

/* Delete the blob this open created (nothing was applied to it), lease and all. */
static int ra_remove(struct replica *r)
{
	struct replica_azure *ra = to_ra(r);
	int ret;

	azure_op_init(&ra->op, "DELETE", ra->c.url.path);
	ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-delete-snapshots", "include" };
	add_lease(ra);
	ret = azure_op_run(&ra->c, &ra->op);
	azure_op_release(&ra->op);
	if (!ret)
		ra->lease_id[0] = '\0';	/* gone with the blob */
	else
		log_err("cannot remove page blob %s, which this run created; delete it by hand",
			r->spec);
	return ret;
}

static void ra_close(struct replica *r)
{
	struct replica_azure *ra = to_ra(r);

	/* Let the next apply in now rather than when the lease lapses. */
	if (ra->lease_id[0] && lease(ra, "release"))
		log_warn("replica %s: could not release its lease; it lapses in %s s",
			 r->spec, LEASE_SECONDS);

	azure_client_destroy(&ra->c);
	free(r->spec);
	free(ra);
}

static const struct replica_ops azure_replica_ops = {
	.name = "azure-page-blob",
	.pread = ra_pread,
	.pwrite = ra_pwrite,
	.resize = ra_resize,
	.sync = ra_sync,
	.snapshot = ra_snapshot,
	.remove = ra_remove,
	.close = ra_close,
};

/* Create the page blob, or learn the size of the existing one. */
static int open_blob(struct replica_azure *ra, uint64_t size)
{
	char len[32];
	int ret;

	azure_op_init(&ra->op, "HEAD", ra->c.url.path);
	ra->op.quiet_err = -ENOENT;
	ret = azure_op_run(&ra->c, &ra->op);
	if (!ret) {
		if (strcmp(ra->op.x.blob_type, "PageBlob") ||
		    ra->op.x.content_length == UINT64_MAX || ra->op.x.content_length % AZURE_PAGE) {
			log_err("replica %s is not a page blob; give a page blob or a new name",
				ra->r.spec);
			return -EINVAL;
		}
		ra->r.size = ra->op.x.content_length;
		return 0;
	}
	if (ret == -ENOENT) {
		/* HEAD has no body: a missing container shows only as 404 on create. */
		snprintf(len, sizeof(len), "%" PRIu64, round_page(size));
		azure_op_init(&ra->op, "PUT", ra->c.url.path);
		ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-blob-type", "PageBlob" };
		ra->op.xms[ra->op.nr_xms++] = (struct azure_hdr){ "x-ms-blob-content-length", len };
		ret = azure_op_run(&ra->c, &ra->op);
		azure_op_release(&ra->op);
		if (ret == -ENOENT)
			log_err("replica %s: the container does not exist; create it first", ra->r.spec);
		if (ret)
			return ret;
		ra->r.size = round_page(size);
		ra->r.created = true;
		ra->r.fresh = true;
	}
	return ret;
}

static int new_lease_id(char out[40])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (b[6] & 0x0f) | 0x40;	/* a version 4 UUID */
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

int replica_azure_open(const char *url, uint64_t size, const struct remote_opts *ro,
		       struct replica **out)
{
	struct replica_azure *ra;
	int ret;

	*out = NULL;
	ra = calloc(1, sizeof(*ra));
	if (!ra)
		return -ENOMEM;
	ra->r.ops = &azure_replica_ops;
	ret = azure_client_init(&ra->c, url, ro);
	if (ret)
		goto out_free;
	if (!ra->c.url.path[0]) {
		log_err("%s: no blob name; use azure://ACCOUNT/CONTAINER/BLOB", url);
		ret = -EINVAL;
		goto out_client;
	}
	ra->r.spec = strdup(ra->c.what);
	if (!ra->r.spec) {
		ret = -ENOMEM;
		goto out_client;
	}
	ret = open_blob(ra, size);
	if (ret)
		goto out_client;
	ret = new_lease_id(ra->lease_id);
	if (!ret)
		ret = lease(ra, "acquire");
	if (ret == -EEXIST) {
		log_err("replica %s is in use: another apply holds its lease (one that crashed lets go within %s s)",
			ra->r.spec, LEASE_SECONDS);
		ret = -EBUSY;
	}
	if (ret)
		goto out_client;
	ret = ra_resize(&ra->r, size);	/* an existing, smaller blob grows */
	if (ret)
		goto out_lease;
	*out = &ra->r;
	return 0;

out_lease:
	lease(ra, "release");
out_client:
	azure_client_destroy(&ra->c);
out_free:
	free(ra->r.spec);
	free(ra);
	return ret;
}

#define COPY_POLL_NS	(1000 * 1000000ull)

/* Delete Blob: the blob itself (snap NULL) or one snapshot of it; missing is fine. */
static int delete_blob(struct azure_client *c, struct azure_op *op, const char *snap)
{
	char q[24 + HTTP_SNAPSHOT_MAX];
	int ret;

	azure_op_init(op, "DELETE", c->url.path);
	if (snap) {
		snprintf(q, sizeof(q), "snapshot=%s", snap);
		op->query[op->nr_query++] = q;
	} else {
		op->xms[op->nr_xms++] = (struct azure_hdr){ "x-ms-delete-snapshots", "include" };
	}
	op->quiet_err = -ENOENT;
	ret = azure_op_run(c, op);
	azure_op_release(op);
	if (ret == -ENOENT)
		ret = 0;
	if (ret)
		log_err("cannot delete %s%s%s; delete it by hand (Delete Blob)", c->what,
			snap ? " snapshot " : "", snap ? snap : "");
	return ret;
}

/* Snapshot Blob without a lease: consistent at once, whoever writes the blob. */
static int take_snapshot(struct azure_client *c, struct azure_op *op, char **snap)
{
	int ret;

	azure_op_init(op, "PUT", c->url.path);
	op->query[op->nr_query++] = "comp=snapshot";
	ret = azure_op_run(c, op);
	if (!ret && !op->x.snapshot[0]) {
		log_err("replica %s: Snapshot Blob answered without a snapshot time", c->what);
		ret = -EPROTO;
	}
	if (!ret) {
		*snap = strdup(op->x.snapshot);
		if (!*snap)
			ret = -ENOMEM;
	}
	azure_op_release(op);
	return ret;
}

/* The URL of snapshot snap of the blob src names, for x-ms-copy-source. */
static int snapshot_url(const struct azure_client *src, const char *snap, char *out, size_t cap)
{
	size_t len;
	int n;

	n = snprintf(out, cap, "%s/%s/%s?snapshot=", src->url.base, src->url.container,
		     src->url.path);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	len = (size_t)n;
	/* A snapshot time is digits, '-', 'T', ':', '.' and 'Z': only ':' needs escaping. */
	for (const char *s = snap; *s; s++) {
		if (len + 4 >= cap)
			return -ENAMETOOLONG;
		if (*s == ':') {
			memcpy(out + len, "%3A", 3);
			len += 3;
		} else {
			out[len++] = *s;
		}
	}
	out[len] = '\0';
	/* With a SAS token the source is authorized by the same token. */
	if (!src->cred.shared_key) {
		n = snprintf(out + len, cap - len, "&%s", src->cred.sas);
		if (n < 0 || (size_t)n >= cap - len)
			return -ENAMETOOLONG;
	}
	return 0;
}

/* Copy Blob from src_url to the blob of c, and wait until the copy is done. */
static int copy_blob(struct azure_client *c, struct azure_op *op, const char *src_url)
{
	int ret;

	azure_op_init(op, "PUT", c->url.path);
	op->xms[op->nr_xms++] = (struct azure_hdr){ "x-ms-copy-source", src_url };
	ret = azure_op_run(c, op);
	for (;;) {
		char status[sizeof(op->x.copy_status)];

		memcpy(status, op->x.copy_status, sizeof(status));
		azure_op_release(op);
		if (ret)
			return ret;
		if (!strcmp(status, "success"))
			return 0;
		if (strcmp(status, "pending")) {
			log_err("Copy Blob to %s ended with status '%s'; run test-failover again",
				c->what, status);
			return -EIO;
		}
		/* A service that copies in the background: ask until it is done. */
		nanosleep(&(struct timespec){ .tv_sec = COPY_POLL_NS / 1000000000ull }, NULL);
		azure_op_init(op, "HEAD", c->url.path);
		ret = azure_op_run(c, op);
	}
}

/* A client for the blob url and one request on it, for one-off operations. */
struct blob_req {
	struct azure_client c;
	struct azure_op op;
};

static int blob_req_new(const char *url, const struct remote_opts *ro, struct blob_req **out)
{
	struct blob_req *q = calloc(1, sizeof(*q));
	int ret;

	*out = NULL;
	if (!q)
		return -ENOMEM;
	ret = azure_client_init(&q->c, url, ro);
	if (ret) {
		free(q);
		return ret;
	}
	if (!q->c.url.path[0]) {
		log_err("%s: no blob name; use azure://ACCOUNT/CONTAINER/BLOB", url);
		azure_client_destroy(&q->c);
		free(q);
		return -EINVAL;
	}
	*out = q;
	return 0;
}

static void blob_req_free(struct blob_req *q)
{
	if (!q)
		return;
	azure_client_destroy(&q->c);
	free(q);
}

int replica_azure_snapshot_copy(const char *url, const char *out_url, const struct remote_opts *ro,
				char **snap)
{
	struct blob_req *src = NULL, *dst = NULL;
	char src_url[AZURE_PATH_MAX / 4];
	int ret;

	*snap = NULL;
	ret = blob_req_new(url, ro, &src);
	if (!ret)
		ret = blob_req_new(out_url, ro, &dst);
	if (ret)
		goto out;
	if (strcmp(src->c.url.base, dst->c.url.base) || strcmp(src->c.url.account, dst->c.url.account)) {
		log_err("test failover copy %s: give a blob URL in the replica's storage account", out_url);
		ret = -EINVAL;
		goto out;
	}
	azure_op_init(&dst->op, "HEAD", dst->c.url.path);
	dst->op.quiet_err = -ENOENT;
	ret = azure_op_run(&dst->c, &dst->op);
	azure_op_release(&dst->op);
	if (!ret) {
		log_err("%s exists; give a new name, or clean the old test failover up", dst->c.what);
		ret = -EEXIST;
		goto out;
	}
	if (ret != -ENOENT)
		goto out;
	ret = take_snapshot(&src->c, &src->op, snap);
	if (ret)
		goto out;
	ret = snapshot_url(&src->c, *snap, src_url, sizeof(src_url));
	if (ret) {
		log_err("the snapshot URL of %s is too long for a Copy Blob header; use a shorter name or Shared Key",
			src->c.what);
		goto out_snap;
	}
	ret = copy_blob(&dst->c, &dst->op, src_url);
	if (!ret)
		goto out;
	delete_blob(&dst->c, &dst->op, NULL);
out_snap:
	delete_blob(&src->c, &src->op, *snap);
	free(*snap);
	*snap = NULL;
out:
	blob_req_free(dst);
	blob_req_free(src);
	return ret;
}

int replica_azure_drop_copy(const char *url, const char *snap, const char *out_url,
			    const struct remote_opts *ro)
{
	struct blob_req *q;
	int ret;

	ret = blob_req_new(out_url, ro, &q);
	if (ret)
		return ret;
	ret = delete_blob(&q->c, &q->op, NULL);
	blob_req_free(q);
	if (ret)
		return ret;
	ret = blob_req_new(url, ro, &q);
	if (ret)
		return ret;
	ret = delete_blob(&q->c, &q->op, snap);
	blob_req_free(q);
	return ret;
}
