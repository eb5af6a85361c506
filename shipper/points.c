// SPDX-License-Identifier: GPL-2.0
/*
 * Test failover and failover from a replica's recovery points.
 *
 * A point P of a replica at cycle A is the replica with undo-A, undo-(A-1),
 * ... undo-(P+1) written over it, newest first.  A test failover does that
 * to a copy; a failover does it to the replica itself, one cycle at a time
 * through the journal, so it too can be interrupted and finished later.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-io.h"
#include "le.h"
#include "log.h"
#include "points.h"
#include "replica-azure.h"

#define COPY_BYTES	(1u << 20)
#define TF_RECORD	"test-failovers"

struct fd_sink {
	int fd;
	const char *path;
};

static int fd_sink_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct fd_sink *s = ctx;
	int ret = fd_pwrite_all(s->fd, buf, len, off);

	if (ret)
		log_err("writing %s at byte %" PRIu64 " failed: %s", s->path, off, strerror(-ret));
	return ret;
}

/* Copy size bytes of in to out, leaving holes for zero chunks. */
static int sparse_copy(int in, const char *in_path, int out, const char *out_path, uint64_t size)
{
	uint8_t *buf = malloc(COPY_BYTES);
	uint64_t off = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	if (ftruncate(out, (off_t)size) < 0) {
		ret = -errno;
		log_err("cannot size %s to %" PRIu64 " bytes: %s", out_path, size, strerror(-ret));
		goto out;
	}
	while (off < size) {
		size_t len = size - off < COPY_BYTES ? (size_t)(size - off) : COPY_BYTES;
		ssize_t n = pread(in, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			log_err("reading replica %s at byte %" PRIu64 " failed: %s",
				in_path, off, strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;		/* a file replica not grown yet: the rest is zeros */
		if (!all_zero(buf, (size_t)n)) {
			ret = fd_pwrite_all(out, buf, (size_t)n, off);
			if (ret) {
				log_err("writing %s failed: %s", out_path, strerror(-ret));
				goto out;
			}
		}
		off += (uint64_t)n;
	}
out:
	free(buf);
	return ret;
}

int points_open(const char *replica, const char *state_dir, bool exclusive, struct journal **out)
{
	char *dir = journal_dir_for(replica, state_dir);
	int ret;

	*out = NULL;
	if (!dir)
		return -EINVAL;
	ret = journal_open(dir, false, exclusive, out);
	free(dir);
	return ret;
}

static int replica_sink_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct replica *r = ctx;

	return r->ops->pwrite(r, buf, len, off);
}

/*
 * The record of test-failover copies, one per line: an absolute path, or
 * for a page blob "URL<TAB>SNAPSHOT" (the copy and the snapshot it came from).
 */
static int record_get(struct journal *j, char **text)
{
	int ret = journal_get_file(j, TF_RECORD, text);

	if (ret == -ENOENT) {
		*text = strdup("");
		ret = *text ? 0 : -ENOMEM;
	}
	return ret;
}

static int record_add(struct journal *j, const char *path, const char *snap)
{
	char *text, *abs, *next = NULL;
	int ret;

	if (snap)
		ret = asprintf(&abs, "%s\t%s", path, snap) < 0 ? -ENOMEM : 0;
	else
		ret = (abs = realpath(path, NULL)) ? 0 : -errno;
	if (ret)
		return ret;
	ret = record_get(j, &text);
	if (ret)
		goto out;
	ret = asprintf(&next, "%s%s\n", text, abs) < 0 ? -ENOMEM : 0;
	if (!ret)
		ret = journal_put_file(j, TF_RECORD, next, strlen(next));
	free(next);
	free(text);
out:
	free(abs);
	return ret;
}

/*
 * A new page blob out_url from a snapshot of remote replica url, opened as
 * a replica in *cr to roll back; *snap names the snapshot.
 */
static int remote_copy(struct journal *j, const char *url, const char *out_url,
		       const struct remote_opts *ro, char **snap, struct replica **cr)
{
	int ret;

	ret = replica_azure_snapshot_copy(url, out_url, ro, snap);
	if (ret)
		return ret;
	ret = replica_open(out_url, j->st.size_bytes, ro, cr);
	if (ret) {
		replica_azure_drop_copy(url, *snap, out_url, ro);
		free(*snap);
		*snap = NULL;
	}
	return ret;
}

/* A new file out_path with the contents of local replica replica_path. */
static int file_copy(struct journal *j, const char *replica_path, const char *out_path, int *out_fd)
{
	int in, fd, ret = 0;

	in = open(replica_path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		ret = -errno;
		log_err("cannot open replica %s: %s", replica_path, strerror(-ret));
		return ret;
	}
	fd = open(out_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot create %s: %s%s", out_path, strerror(-ret),
			ret == -EEXIST ? " (give a new file name, or clean the old test failover up)" : "");
		goto out_in;
	}
	/* A reflink shares the replica's extents: instant, and costs nothing. */
	if (ioctl(fd, FICLONE, in) < 0)
		ret = sparse_copy(in, replica_path, fd, out_path, j->st.size_bytes);
	else if (ftruncate(fd, (off_t)j->st.size_bytes) < 0)
		ret = -errno;
	if (ret) {
		close(fd);
		unlink(out_path);
	} else {
		*out_fd = fd;
	}
out_in:
	close(in);
	return ret;
}

int points_test_failover(struct journal *j, const char *replica_path, uint64_t point,
			 const char *out_path, const struct remote_opts *ro)
{
	const struct journal_state *st = &j->st;
	struct fd_sink sink = { .fd = -1, .path = out_path };
	bool remote = replica_spec_is_remote(replica_path);
	struct replica *cr = NULL;
	char *snap = NULL;
	int ret;

	if (st->failed_over) {
		log_err("replica %s was failed over at cycle %" PRIu64 "; it has no recovery points any more",
			replica_path, st->failed_over);
		return -EROFS;
	}
	if (st->pending) {
		log_err("replica %s is between cycles %" PRIu64 " and %" PRIu64 " (an apply was interrupted): run cbtship apply first",
			replica_path, st->at, st->pending);
		return -EAGAIN;
	}
	ret = journal_find_point(j, point);
	if (ret < 0)
		return ret;
	if (remote)
		ret = remote_copy(j, replica_path, out_path, ro, &snap, &cr);
	else
		ret = file_copy(j, replica_path, out_path, &sink.fd);
	if (ret)
		return ret;
	/* Newest first: the copy goes back one cycle at a time to point. */
	for (uint64_t c = st->at; c > point; c--) {
		if (remote)
			ret = undo_replay(j, c, replica_sink_write, cr);
		else
			ret = undo_replay(j, c, fd_sink_write, &sink);
		if (ret)
			goto out_rm;
	}
	if (!remote && fsync(sink.fd) < 0) {
		ret = -errno;
		log_err("cannot sync %s: %s", out_path, strerror(-ret));
		goto out_rm;
	}
	/* The copy is whole; editing the record needs the lock to itself. */
	ret = journal_relock(j, true);
	if (!ret)
		ret = record_add(j, out_path, snap);
	if (ret)
		goto out_rm;
	if (remote)
		replica_close(cr);
	else
		close(sink.fd);
	free(snap);
	return 0;

out_rm:
	if (remote) {
		replica_close(cr);
		replica_azure_drop_copy(replica_path, snap, out_path, ro);
	} else {
		close(sink.fd);
		unlink(out_path);
	}
	free(snap);
	return ret;
}

/* Remove one recorded copy: a file, or a page blob and its snapshot. */
static int remove_copy(char *line, const char *replica, const struct remote_opts *ro)
{
	char *tab = strchr(line, '\t');
	int ret = 0;

	if (tab) {
		*tab = '\0';
		ret = replica_azure_drop_copy(replica, tab + 1, line, ro);
		*tab = '\t';
	} else if (unlink(line) < 0 && errno != ENOENT) {
		ret = -errno;
		log_err("cannot remove test failover copy %s: %s", line, strerror(-ret));
	}
	return ret;
}

/* Does record line name out (an absolute path, or a URL as given)? */
static bool line_is(const char *line, const char *out)
{
	size_t n = strlen(out);

	return !strncmp(line, out, n) && (!line[n] || line[n] == '\t');
}

int points_cleanup(struct journal *j, const char *replica, const char *out_path,
		   const struct remote_opts *ro, unsigned int *removed)
{
	char *text, *line, *save = NULL, *abs = NULL, *keep = NULL;
	size_t keep_len = 0;
	int ret;

	*removed = 0;
	if (out_path && replica_spec_is_remote(out_path)) {
		abs = strdup(out_path);
		if (!abs)
			return -ENOMEM;
	} else if (out_path) {
		abs = realpath(out_path, NULL);
		if (!abs) {
			ret = -errno;
			log_err("%s: %s; it is not a test failover copy of this replica",
				out_path, strerror(-ret));
			return ret;
		}
	}
	ret = record_get(j, &text);
	if (ret)
		goto out;
	keep = calloc(1, strlen(text) + 1);
	if (!keep) {
		ret = -ENOMEM;
		goto out_text;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int r2;

		if (abs && !line_is(line, abs)) {
			keep_len += (size_t)sprintf(keep + keep_len, "%s\n", line);
			continue;
		}
		r2 = remove_copy(line, replica, ro);
		if (r2) {
			ret = r2;
			keep_len += (size_t)sprintf(keep + keep_len, "%s\n", line);
			continue;
		}
		(*removed)++;
	}
	if (abs && !*removed && !ret) {
		log_err("%s is not a recorded test failover copy of this replica", out_path);
		ret = -ENOENT;
	}
	if (keep_len) {
		int r2 = journal_put_file(j, TF_RECORD, keep, keep_len);

		ret = ret ?: r2;
	} else if (unlinkat(j->dirfd, TF_RECORD, 0) < 0 && errno != ENOENT) {
		ret = ret ?: -errno;
	}
	free(keep);
out_text:
	free(text);
out:
	free(abs);
	return ret;
}

int points_failover(struct journal *j, struct replica *r, uint64_t point)
{
	int ret;

	if (j->st.failed_over) {
		log_err("replica %s was already failed over at cycle %" PRIu64,
			r->spec, j->st.failed_over);
		return -EALREADY;
	}
	ret = journal_recover(j, r);
	if (ret)
		return ret;
	ret = journal_find_point(j, point);
	if (ret < 0)
		return ret;
	while (j->st.at > point) {
		log_info("replica %s: rolling cycle %" PRIu64 " back", r->spec, j->st.at);
		j->st.pending = j->st.at;
		ret = journal_save_state(j);
		if (ret)
			return ret;
		ret = journal_recover(j, r);
		if (ret)
			return ret;
	}
	j->st.failed_over = point;
	ret = journal_save_state(j);
	if (ret)
		return ret;
	return journal_drop_points(j);
}
