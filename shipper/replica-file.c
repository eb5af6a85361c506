// SPDX-License-Identifier: GPL-2.0
/*
 * Replica backend for a local regular file or block device.  A regular
 * file is created if absent and grows (sparse) when resized; a block device
 * must already be big enough.  The replica is locked with flock() for as
 * long as it is open, so two applies never interleave cycles.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "replica.h"

struct replica_file {
	struct replica r;
	int fd;
	bool is_blockdev;
};

static struct replica_file *to_file(struct replica *r)
{
	return (struct replica_file *)r;
}

/* Past the end of a regular file reads as zeros (it is grown sparse). */
static int file_pread(struct replica *r, void *buf, size_t len, uint64_t off)
{
	struct replica_file *f = to_file(r);
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("reading replica %s at byte %" PRIu64 " failed: %s",
				r->spec, off + done, strerror(errno));
			return -errno;
		}
		if (n == 0) {
			if (f->is_blockdev) {
				log_err("reading replica %s at byte %" PRIu64 ": past the end of the device",
					r->spec, off + done);
				return -EIO;
			}
			memset((char *)buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

static int file_pwrite(struct replica *r, const void *buf, size_t len, uint64_t off)
{
	struct replica_file *f = to_file(r);
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("writing replica %s at byte %" PRIu64 " failed: %s",
				r->spec, off + done, strerror(errno));
			return -errno;
		}
		done += (size_t)n;
	}
	if (off + len > r->size)
		r->size = off + len;
	return 0;
}

static int file_resize(struct replica *r, uint64_t size)
{
	struct replica_file *f = to_file(r);
	int ret;

	if (size <= r->size)
		return 0;
	if (f->is_blockdev) {
		log_err("replica %s is %" PRIu64 " bytes, but %" PRIu64 " are needed: give a bigger device",
			r->spec, r->size, size);
		return -ENOSPC;
	}
	if (ftruncate(f->fd, (off_t)size) < 0) {
		ret = -errno;
		log_err("cannot extend replica %s to %" PRIu64 " bytes: %s",
			r->spec, size, strerror(-ret));
		return ret;
	}
	r->size = size;
	return 0;
}

static int file_sync(struct replica *r)
{
	struct replica_file *f = to_file(r);
	int ret;

	if (fsync(f->fd) < 0) {
		ret = -errno;
		log_err("cannot sync replica %s: %s", r->spec, strerror(-ret));
		return ret;
	}
	return 0;
}

static int file_remove(struct replica *r)
{
	int ret;

	if (unlink(r->spec) < 0) {
		ret = -errno;
		log_err("cannot remove replica %s, which this run created: %s; remove it by hand",
			r->spec, strerror(-ret));
		return ret;
	}
	return 0;
}

static void file_close(struct replica *r)
{
	struct replica_file *f = to_file(r);

	if (f->fd >= 0)
		close(f->fd);
	free(r->spec);
	free(f);
}

static const struct replica_ops file_ops = {
	.name = "file",
	.pread = file_pread,
	.pwrite = file_pwrite,
	.resize = file_resize,
	.sync = file_sync,
	.remove = file_remove,
	.close = file_close,
};

int replica_file_open(const char *path, uint64_t size_bytes, struct replica **out)
{
	struct replica_file *f;
	struct stat stbuf;
	int ret;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->r.ops = &file_ops;
	f->r.spec = strdup(path);
	if (!f->r.spec) {
		free(f);
		return -ENOMEM;
	}
	f->fd = open(path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0 && errno == ENOENT) {
		f->fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
		f->r.created = f->r.fresh = f->fd >= 0;
	}
	if (f->fd < 0) {
		ret = -errno;
		log_err("cannot open replica %s: %s", path, strerror(-ret));
		goto out_free;
	}
	if (fstat(f->fd, &stbuf) < 0) {
		ret = -errno;
		log_err("cannot stat replica %s: %s", path, strerror(-ret));
		goto out_close;
	}
	if (S_ISBLK(stbuf.st_mode)) {
		f->is_blockdev = true;
		if (ioctl(f->fd, BLKGETSIZE64, &f->r.size) < 0) {
			ret = -errno;
			log_err("cannot get the size of replica %s: %s", path, strerror(-ret));
			goto out_close;
		}
		if (f->r.size < size_bytes) {
			log_err("replica %s is %" PRIu64 " bytes, but the volume is %" PRIu64 " bytes: give a device at least that big",
				path, f->r.size, size_bytes);
			ret = -ENOSPC;
			goto out_close;
		}
	} else if (S_ISREG(stbuf.st_mode)) {
		f->r.size = (uint64_t)stbuf.st_size;
	} else {
		log_err("replica %s is neither a regular file nor a block device", path);
		ret = -EINVAL;
		goto out_close;
	}
	/* Two applies to one replica would interleave cycles. */
	if (flock(f->fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		if (ret == -EWOULDBLOCK)
			log_err("replica %s is in use by another cbtship process; wait for it to finish",
				path);
		else
			log_err("cannot lock replica %s: %s", path, strerror(-ret));
		goto out_close;
	}
	*out = &f->r;
	return 0;

out_close:
	close(f->fd);
	if (f->r.created)
		unlink(path);
out_free:
	free(f->r.spec);
	free(f);
	return ret;
}
