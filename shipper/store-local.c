// SPDX-License-Identifier: GPL-2.0
/*
 * Local directory store.  An object is written to a hidden temporary name in
 * its final directory, fsynced, renamed over the final name, and the
 * directory fsynced: after put returns the object survives a crash, and a
 * reader sees either the old object or the whole new one.  put_async does
 * the same for a batch of objects with one filesystem sync at flush.
 * Large objects in page-aligned buffers (the segment pipeline's) are
 * written with O_DIRECT, all but their last partial page: no copy into
 * the page cache, which cost the writer a quarter of its CPU time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include "fd-io.h"
#include "log.h"
#include "store-local.h"

#define TMP_PREFIX	".tmp-"

#define TMP_NAME_MAX	64
/* O_DIRECT alignment of buffer, offset and length: a page covers any block size. */
#define DIRECT_ALIGN	4096
/* Objects put_async may hold before it syncs them itself (one fd each). */
#define LOCAL_PENDING_MAX	256

/* An object written under a temporary name, waiting for flush. */
struct local_pending {
	int pfd;		/* its directory */
	char tmp[TMP_NAME_MAX];	/* temporary name there */
	char *name;		/* final object name */
};

struct store_local {
	struct store st;
	int rootfd;
	pthread_mutex_t pend_lock;	/* protects pend, nr_pend, pend_err */
	struct local_pending pend[LOCAL_PENDING_MAX];
	size_t nr_pend;
	int pend_err;
	bool no_direct;		/* the file system refused O_DIRECT writes once */
};

static struct store_local *to_local(struct store *st)
{
	return (struct store_local *)st;
}

/* Relative, no empty, "." or ".." components, no hidden (temporary) names. */
static int check_name(struct store *st, const char *name)
{
	const char *p = name;

	if (!*name || *name == '/')
		goto bad;
	while (*p) {
		const char *end = strchrnul(p, '/');

		if (end == p || *p == '.')
			goto bad;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			goto bad;
	}
	return 0;
bad:
	log_err("store %s: invalid object name \"%s\"", st->spec, name);
	return -EINVAL;
}

/* Open the directory holding `name`, creating missing ones if asked. */
static int open_parent(struct store_local *sl, const char *name, bool create,
		       const char **base)
{
	char *copy = strdup(name), *p, *slash;
	int fd, ret;

	if (!copy)
		return -ENOMEM;
	fd = dup(sl->rootfd);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	for (p = copy; (slash = strchr(p, '/')); p = slash + 1) {
		int next;

		*slash = '\0';
		if (create && mkdirat(fd, p, 0755) == 0) {
			/* The new entry must survive a crash, or the object would not. */
			if (fsync(fd) < 0) {
				ret = -errno;
				goto out_close;
			}
		} else if (create && errno != EEXIST) {
			ret = -errno;
			log_err("store %s: cannot create directory for %s: %s",
				sl->st.spec, name, strerror(-ret));
			goto out_close;
		}
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (next < 0) {
			ret = -errno;
			goto out_close;
		}
		close(fd);
		fd = next;
	}
	*base = name + (p - copy);
	ret = fd;
	goto out;
out_close:
	close(fd);
out:
	free(copy);
	return ret;
}

/* A failed write, with what the user can do about the usual causes. */
static void log_write_err(struct store *st, const char *name, int err)
{
	const char *hint = "";

	if (err == -ENOSPC || err == -EDQUOT)
		hint = ": the store's file system is full; free space there or move the store";
	else if (err == -EROFS || err == -EACCES || err == -EPERM)
		hint = ": the store directory must be writable by cbtship";
	log_err("store %s: cannot write %s: %s%s", st->spec, name, strerror(-err), hint);
}

/*
 * Write buf to fd, a new file opened with O_DIRECT if direct: the aligned
 * head directly, the tail through the page cache.  A file system that
 * refuses the direct write (EINVAL) gets the whole buffer buffered, and no
 * more O_DIRECT attempts.
 */
static int write_data(struct store_local *sl, int fd, const void *buf, size_t len, bool direct)
{
	size_t head = direct ? len / DIRECT_ALIGN * DIRECT_ALIGN : 0;
	int ret, fl;

	if (head) {
		ret = fd_pwrite_all(fd, buf, head, 0);
		if (ret == -EINVAL) {
			__atomic_store_n(&sl->no_direct, true, __ATOMIC_RELAXED);
			log_debug("store %s: O_DIRECT writes refused; writing through the page cache",
				  sl->st.spec);
			head = 0;
		} else if (ret) {
			return ret;
		}
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) < 0)
			return -errno;
	}
	return fd_pwrite_all(fd, (const uint8_t *)buf + head, len - head, head);
}

/*
 * Write buf to a new temporary file in name's directory.  With sync the file
 * is fsynced; without, its writeback is only started.  Returns the parent
 * directory's fd (the caller closes it) and the temporary name in tmp.
 */
static int write_tmp(struct store_local *sl, const char *name, const void *buf, size_t len,
		     bool sync, char tmp[TMP_NAME_MAX], const char **base)
{
	bool direct = len >= DIRECT_ALIGN && (uintptr_t)buf % DIRECT_ALIGN == 0 &&
		      !__atomic_load_n(&sl->no_direct, __ATOMIC_RELAXED);
	int pfd, fd = -1, ret;

	ret = check_name(&sl->st, name);
	if (ret)
		return ret;
	pfd = open_parent(sl, name, true, base);
	if (pfd < 0) {
		log_write_err(&sl->st, name, pfd);
		return pfd;
	}
	/* A crashed writer may have left the same name behind: try others. */
	for (int i = 0; i < 16; i++) {
		snprintf(tmp, TMP_NAME_MAX, TMP_PREFIX "%ld-%08lx", (long)getpid(),
			 (unsigned long)random());
		fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
			    (direct ? O_DIRECT : 0), 0644);
		if (fd < 0 && errno == EINVAL && direct) {
			/* No O_DIRECT here (tmpfs before 6.6): it may have created the file. */
			unlinkat(pfd, tmp, 0);
			direct = false;
			__atomic_store_n(&sl->no_direct, true, __ATOMIC_RELAXED);
			i--;
			continue;
		}
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		ret = -errno;
		goto out_err;
	}
	ret = write_data(sl, fd, buf, len, direct);
	if (!ret && sync && fsync(fd) < 0)
		ret = -errno;
	/* Start writeback now so the batch's sync finds little left to do. */
	if (!ret && !sync)
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret) {
		unlinkat(pfd, tmp, 0);
		goto out_err;
	}
	return pfd;

out_err:
	log_write_err(&sl->st, name, ret);
	close(pfd);
	return ret;
}

static int local_put(struct store *st, const char *name, const void *buf, size_t len)
{
	struct store_local *sl = to_local(st);
	const char *base;
	char tmp[TMP_NAME_MAX];
	int pfd, ret = 0;

	pfd = write_tmp(sl, name, buf, len, true, tmp, &base);
	if (pfd < 0)
		return pfd;
	if (renameat(pfd, tmp, pfd, base) < 0) {
		ret = -errno;
		unlinkat(pfd, tmp, 0);
	}
	/* The rename is durable only once the directory is synced. */
	if (!ret && fsync(pfd) < 0)
		ret = -errno;
	if (ret)
		log_write_err(st, name, ret);
	close(pfd);
	return ret;
}

/* ---- batched puts: one filesystem sync for many objects ---- */

static void pending_drop(struct store_local *sl, size_t i)
{
	struct local_pending *pd = &sl->pend[i];

	if (pd->pfd >= 0)
		close(pd->pfd);
	free(pd->name);
	pd->pfd = -1;
	pd->name = NULL;
}

static size_t dir_len(const char *name)
{
	const char *slash = strrchr(name, '/');

	return slash ? (size_t)(slash - name) : 0;
}

static bool same_dir(const char *a, const char *b)
{
	return dir_len(a) == dir_len(b) && !strncmp(a, b, dir_len(a));
}

/* Forget every pending object, removing its temporary file. */
static void pending_discard(struct store_local *sl)
{
	for (size_t i = 0; i < sl->nr_pend; i++) {
		unlinkat(sl->pend[i].pfd, sl->pend[i].tmp, 0);
		pending_drop(sl, i);
	}
	sl->nr_pend = 0;
}

/*
 * Make every pending object durable and visible: one syncfs() for all their
 * data (one journal commit instead of one per object), the renames, then one
 * fsync per directory they went into.
 */
static int local_flush_locked(struct store_local *sl)
{
	int ret = 0;

	if (!sl->nr_pend)
		goto out;
	if (syncfs(sl->pend[0].pfd) < 0) {
		ret = -errno;
		log_err("store %s: cannot sync the objects just written: %s",
			sl->st.spec, strerror(-ret));
		pending_discard(sl);
		goto out;
	}
	for (size_t i = 0; i < sl->nr_pend; i++) {
		struct local_pending *pd = &sl->pend[i];
		const char *base = pd->name + dir_len(pd->name);

		base += *base == '/';
		if (!ret && renameat(pd->pfd, pd->tmp, pd->pfd, base) < 0) {
			ret = -errno;
			log_write_err(&sl->st, pd->name, ret);
		}
		if (ret) {
			unlinkat(pd->pfd, pd->tmp, 0);
			continue;
		}
		/* Objects of one directory come in a run: sync it once, at its end. */
		if (i + 1 < sl->nr_pend && same_dir(pd->name, sl->pend[i + 1].name))
			continue;
		if (fsync(pd->pfd) < 0) {
			ret = -errno;
			log_err("store %s: cannot sync the directory of %s: %s", sl->st.spec,
				pd->name, strerror(-ret));
		}
	}
	for (size_t i = 0; i < sl->nr_pend; i++)
		pending_drop(sl, i);
	sl->nr_pend = 0;
out:
	if (!ret)
		ret = sl->pend_err;
	sl->pend_err = 0;
	return ret;
}

/*
 * Write the object now but make it durable and visible only at the next
 * flush, so a cycle's segments share one sync.  The manifest, written with
 * put after the flush, stays the last object of a cycle.
 */
static int local_put_async(struct store *st, const char *name, const void *buf, size_t len)
{
	struct store_local *sl = to_local(st);
	struct local_pending *pd;
	const char *base;
	int pfd, ret = 0;

	pthread_mutex_lock(&sl->pend_lock);
	if (sl->nr_pend == LOCAL_PENDING_MAX) {
		ret = local_flush_locked(sl);
		if (ret)
			goto out;
	}
	pd = &sl->pend[sl->nr_pend];
	pd->name = strdup(name);
	if (!pd->name) {
		ret = -ENOMEM;
		goto out;
	}
	pfd = write_tmp(sl, name, buf, len, false, pd->tmp, &base);
	if (pfd < 0) {
		ret = pfd;
		free(pd->name);
		pd->name = NULL;
		goto out;
	}
	pd->pfd = pfd;
	sl->nr_pend++;
out:
	pthread_mutex_unlock(&sl->pend_lock);
	return ret;
}

static int local_flush(struct store *st)
{
	struct store_local *sl = to_local(st);
	int ret;

	pthread_mutex_lock(&sl->pend_lock);
	ret = local_flush_locked(sl);
	pthread_mutex_unlock(&sl->pend_lock);
	return ret;
}

static int local_get(struct store *st, const char *name, void **bufp, size_t *lenp)
{
	struct store_local *sl = to_local(st);
	struct stat stbuf;
	size_t len = 0;
	char *buf = NULL;
	int fd, ret;

	*bufp = NULL;
	*lenp = 0;
	ret = check_name(st, name);
	if (ret)
		return ret;
	fd = openat(sl->rootfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			return ret;	/* the caller decides if absence is an error */
		goto out_err;
	}
	if (fstat(fd, &stbuf) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (!S_ISREG(stbuf.st_mode)) {
		ret = -EISDIR;
		goto out_close;
	}
	buf = malloc(stbuf.st_size ? stbuf.st_size : 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out_close;
	}
	while (len < (size_t)stbuf.st_size) {
		ssize_t n = read(fd, buf + len, stbuf.st_size - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out_close;
		}
		if (n == 0)
			break;	/* objects are immutable, but do not trust it */
		len += n;
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;

out_close:
	close(fd);
	free(buf);
out_err:
	log_err("store %s: cannot read %s: %s", st->spec, name, strerror(-ret));
	return ret;
}

static int local_list(struct store *st, const char *prefix,
		      int (*fn)(void *arg, const char *child), void *arg)
{
	struct store_local *sl = to_local(st);
	struct dirent *de;
	DIR *dir;
	int fd, ret = 0;

	if (*prefix) {
		ret = check_name(st, prefix);
		if (ret)
			return ret;
	}
	fd = openat(sl->rootfd, *prefix ? prefix : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			log_err("store %s: cannot list %s: %s", st->spec, prefix, strerror(-ret));
		return ret;
	}
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while ((errno = 0, de = readdir(dir))) {
		/* Hidden names are ours in flight (temporary files), or not ours. */
		if (de->d_name[0] == '.')
			continue;
		ret = fn(arg, de->d_name);
		if (ret)
			break;
	}
	if (!de && errno) {
		ret = -errno;
		log_err("store %s: cannot list %s: %s", st->spec, prefix, strerror(-ret));
	}
	closedir(dir);
	return ret;
}

static int local_remove(struct store *st, const char *name)
{
	struct store_local *sl = to_local(st);
	const char *base;
	int pfd, ret = 0;

	ret = check_name(st, name);
	if (ret)
		return ret;
	pfd = open_parent(sl, name, false, &base);
	if (pfd < 0)
		return pfd;
	if (unlinkat(pfd, base, 0) < 0) {
		ret = -errno;
		if (ret == -EISDIR)
			ret = unlinkat(pfd, base, AT_REMOVEDIR) < 0 ? -errno : 0;
	}
	/* Temporary files left by a crashed writer would keep a directory busy. */
	if (ret == -ENOTEMPTY) {
		int sub = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = sub >= 0 ? fdopendir(sub) : NULL;
		struct dirent *de;

		if (dir) {
			while ((de = readdir(dir)))
				if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
					unlinkat(dirfd(dir), de->d_name, 0);
			closedir(dir);
		} else if (sub >= 0) {
			close(sub);
		}
		ret = unlinkat(pfd, base, AT_REMOVEDIR) < 0 ? -errno : 0;
	}
	if (!ret && fsync(pfd) < 0)
		ret = -errno;
	if (ret && ret != -ENOENT)
		log_err("store %s: cannot remove %s: %s", st->spec, name, strerror(-ret));
	close(pfd);
	return ret;
}

static void local_close(struct store *st)
{
	struct store_local *sl = to_local(st);

	/* Objects never flushed were never promised to anyone. */
	pending_discard(sl);
	pthread_mutex_destroy(&sl->pend_lock);
	close(sl->rootfd);
	free(st->spec);
	free(sl);
}

static const struct store_ops local_ops = {
	.name = "local",
	.put = local_put,
	.put_async = local_put_async,
	.flush = local_flush,
	.get = local_get,
	.list = local_list,
	.remove = local_remove,
	.close = local_close,
};

/* Entries in the store root, hidden ones included (never initialise a home dir). */
static int count_entries(struct store_local *sl)
{
	struct dirent *de;
	DIR *dir;
	int fd, n = 0;

	fd = openat(sl->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

static int check_marker(struct store *st, bool create)
{
	static const char word[] = STORE_MARKER " ";
	void *buf;
	size_t len;
	int ret, entries;

	ret = st->ops->get(st, STORE_MARKER, &buf, &len);
	if (ret == -ENOENT) {
		entries = count_entries(to_local(st));
		if (entries < 0) {
			log_err("cannot list %s: %s", st->spec, strerror(-entries));
			return entries;
		}
		if (entries || !create) {
			log_err("%s is not a cbtship store (no %s file in it); %s",
				st->spec, STORE_MARKER,
				create ? "give an empty or new directory" : "check the path");
			return -ENOTDIR;
		}
		return st->ops->put(st, STORE_MARKER, STORE_MARKER_TEXT,
				    strlen(STORE_MARKER_TEXT));
	}
	if (ret)
		return ret;
	if (len == strlen(STORE_MARKER_TEXT) && !memcmp(buf, STORE_MARKER_TEXT, len)) {
		ret = 0;
	} else if (len > strlen(word) && len < 32 && !memcmp(buf, word, strlen(word)) &&
		   ((char *)buf)[len - 1] == '\n') {
		log_err("%s is a cbtship store of version %.*s; this cbtship knows version %d, upgrade cbtship",
			st->spec, (int)(len - 1 - strlen(word)), (char *)buf + strlen(word),
			STORE_VERSION);
		ret = -EPROTO;
	} else {
		log_err("%s is not a cbtship store (its %s file is damaged)", st->spec,
			STORE_MARKER);
		ret = -ENOTDIR;
	}
	free(buf);
	return ret;
}

static int mkdir_p(const char *path)
{
	char *copy = strdup(path);
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
				ret = -errno;
				break;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	free(copy);
	return ret;
}

int store_local_open(const char *path, bool create, struct store **out)
{
	struct store_local *sl;
	int ret;

	*out = NULL;
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return -ENOMEM;
	sl->st.ops = &local_ops;
	pthread_mutex_init(&sl->pend_lock, NULL);
	sl->st.spec = strdup(path);
	if (!sl->st.spec) {
		ret = -ENOMEM;
		goto out_free;
	}
	sl->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sl->rootfd < 0 && errno == ENOENT && create) {
		ret = mkdir_p(path);
		if (ret) {
			log_err("cannot create store directory %s: %s", path, strerror(-ret));
			goto out_free;
		}
		sl->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (sl->rootfd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			log_err("store %s does not exist; check the path (the source creates it)",
				path);
		else if (ret == -ENOTDIR)
			log_err("%s is not a cbtship store (not a directory); give an empty or new directory",
				path);
		else
			log_err("cannot open store %s: %s", path, strerror(-ret));
		goto out_free;
	}
	ret = check_marker(&sl->st, create);
	if (ret)
		goto out_close;
	*out = &sl->st;
	return 0;

out_close:
	close(sl->rootfd);
out_free:
	pthread_mutex_destroy(&sl->pend_lock);
	free(sl->st.spec);
	free(sl);
	return ret;
}
