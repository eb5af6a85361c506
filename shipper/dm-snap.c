// SPDX-License-Identifier: GPL-2.0
/*
 * Device-mapper operations for consistent cycles, through the dm ioctls on
 * /dev/mapper/control (the interface dmsetup and libdevmapper use).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <linux/dm-ioctl.h>

#include "dm-snap.h"
#include "log.h"

#define DM_CONTROL	"/dev/mapper/control"
#define DM_BUF_BYTES	16384

/* A dm_ioctl header followed by its data area, suitably aligned. */
static struct dm_ioctl *dm_alloc(const char *name, uint32_t flags)
{
	struct dm_ioctl *io = calloc(1, DM_BUF_BYTES);

	if (!io)
		return NULL;
	io->version[0] = DM_VERSION_MAJOR;
	io->data_size = DM_BUF_BYTES;
	io->data_start = sizeof(*io);
	io->flags = flags;
	snprintf(io->name, sizeof(io->name), "%s", name);
	return io;
}

/* One ioctl on the control device; -errno, not logged. */
static int dm_call(unsigned long cmd, struct dm_ioctl *io)
{
	int fd = open(DM_CONTROL, O_RDWR | O_CLOEXEC), err = 0;

	if (fd < 0) {
		err = -errno;
		log_err("cannot open %s: %s; load the dm-mod module (modprobe dm-mod)",
			DM_CONTROL, strerror(errno));
		return err;
	}
	if (ioctl(fd, cmd, io) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int check_name(const char *name)
{
	if (!name[0] || strlen(name) > DMSNAP_NAME_MAX) {
		log_err("\"%s\" is not a usable device-mapper name (1 to %d bytes)", name,
			DMSNAP_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

/* Send cmd for device `name` with flags; the reply in *out if wanted, else freed. */
static int dm_named(unsigned long cmd, const char *name, uint32_t flags, struct dm_ioctl **out)
{
	struct dm_ioctl *io;
	int err = check_name(name);

	if (err)
		return err;
	io = dm_alloc(name, flags);
	if (!io)
		return -ENOMEM;
	err = dm_call(cmd, io);
	if (!err && out)
		*out = io;
	else
		free(io);
	return err;
}

static int suspend_resume(const char *name, uint32_t flags, const char *what)
{
	int err = dm_named(DM_DEV_SUSPEND, name, flags, NULL);

	if (err)
		log_err("cannot %s device-mapper device %s: %s", what, name, strerror(-err));
	return err;
}

int dmsnap_suspend(const char *name, bool lockfs)
{
	return suspend_resume(name, DM_SUSPEND_FLAG | (lockfs ? 0 : DM_SKIP_LOCKFS_FLAG),
			      "suspend");
}

int dmsnap_resume(const char *name)
{
	/* The flag only matters for the suspend of a swap on a live device. */
	return suspend_resume(name, DM_SKIP_LOCKFS_FLAG, "resume");
}

int dmsnap_clear(const char *name)
{
	int err = dm_named(DM_TABLE_CLEAR, name, 0, NULL);

	if (err)
		log_err("cannot clear the inactive table of device-mapper device %s: %s; clear it with dmsetup clear %s",
			name, strerror(-err), name);
	return err;
}

int dmsnap_info(const char *name, struct dmsnap_info *info)
{
	struct dm_ioctl *io;
	int err = dm_named(DM_DEV_STATUS, name, 0, &io);

	memset(info, 0, sizeof(*info));
	if (err) {
		if (err != -ENXIO)
			log_err("cannot read the state of device-mapper device %s: %s", name,
				strerror(-err));
		return err;
	}
	info->suspended = io->flags & DM_SUSPEND_FLAG;
	info->inactive = io->flags & DM_INACTIVE_PRESENT_FLAG;
	info->targets = io->target_count;
	info->dev = (dev_t)io->dev;
	free(io);
	return 0;
}

/* The first target of a table or status reply. */
static int first_target(struct dm_ioctl *io, char *type, size_t type_len, char *params,
			size_t params_len, uint64_t *length)
{
	struct dm_target_spec *spec;
	const char *text;
	size_t room;

	if (io->flags & DM_BUFFER_FULL_FLAG)
		return -EOVERFLOW;
	if (!io->target_count || io->data_start + sizeof(*spec) > io->data_size)
		return -ENODATA;
	spec = (struct dm_target_spec *)((char *)io + io->data_start);
	text = (const char *)(spec + 1);
	room = io->data_size - io->data_start - sizeof(*spec);
	if (!memchr(text, '\0', room) || !memchr(spec->target_type, '\0', sizeof(spec->target_type)))
		return -EBADMSG;
	if (type)
		snprintf(type, type_len, "%s", spec->target_type);
	snprintf(params, params_len, "%s", text);
	if (length)
		*length = spec->length;
	return 0;
}

static int table_or_status(const char *name, uint32_t flags, char *type, size_t type_len,
			   char *params, size_t params_len, uint64_t *length)
{
	struct dm_ioctl *io;
	int err = dm_named(DM_TABLE_STATUS, name, flags, &io);

	if (err)
		return err;
	err = first_target(io, type, type_len, params, params_len, length);
	free(io);
	return err;
}

int dmsnap_table(const char *name, char *type, size_t type_len, char *params, size_t params_len,
		 uint64_t *length)
{
	return table_or_status(name, DM_STATUS_TABLE_FLAG, type, type_len, params, params_len,
			       length);
}

int dmsnap_snapshot_status(const char *name, bool *valid, uint64_t *used, uint64_t *total)
{
	char type[DM_MAX_TYPE_NAME], params[256];
	int err = table_or_status(name, 0, type, sizeof(type), params, sizeof(params), NULL);

	*valid = false;
	*used = *total = 0;
	if (err) {
		log_err("cannot read the status of snapshot %s: %s", name, strerror(-err));
		return err;
	}
	if (strcmp(type, "snapshot")) {
		log_err("device-mapper device %s is a %s, not a snapshot", name, type);
		return -EINVAL;
	}
	/* "USED/TOTAL METADATA" while valid; "Invalid", "Overflow", ... once not. */
	*valid = sscanf(params, "%" SCNu64 "/%" SCNu64, used, total) == 2;
	return 0;
}

/* DM_DEV_REMOVE, retried while busy; -errno, not logged; 0 if there is no such device. */
static int remove_retry(const char *name)
{
	struct dm_ioctl *io;
	int err = check_name(name), tries;

	if (err)
		return err;
	io = dm_alloc(name, 0);
	if (!io)
		return -ENOMEM;
	/* udev's probe may hold it open for a moment after it was created. */
	for (tries = 0; tries < 50; tries++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		io->flags = 0;
		err = dm_call(DM_DEV_REMOVE, io);
		if (err != -EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	free(io);
	return err == -ENXIO ? 0 : err;
}

int dmsnap_remove(const char *name)
{
	int err = remove_retry(name);

	if (err)
		log_err("cannot remove device-mapper device %s: %s; remove it with dmsetup remove %s",
			name, strerror(-err), name);
	return err;
}

int dmsnap_destroy(const char *name)
{
	char type[DM_MAX_TYPE_NAME], params[256];
	uint64_t sectors = 0;
	int err = remove_retry(name);

	if (err != -EBUSY) {
		if (err)
			log_err("cannot remove snapshot %s: %s; remove it with dmsetup remove %s",
				name, strerror(-err), name);
		return err;
	}
	/*
	 * Held open: an `error` table in its place destroys the snapshot
	 * target when the swap's resume drops the old table, open or not.
	 */
	err = dmsnap_table(name, type, sizeof(type), params, sizeof(params), &sectors);
	if (!err && strcmp(type, "snapshot") && strcmp(type, "error")) {
		log_err("device-mapper device %s is a %s, not a snapshot cbtship made; rename or remove it",
			name, type);
		return -EEXIST;
	}
	if (!err && strcmp(type, "error")) {
		err = dmsnap_load(name, sectors, "error", "");
		if (!err)
			err = dmsnap_resume(name);
	}
	if (err) {
		log_err("snapshot %s is held open and could not be disabled (%s); close what holds it and remove it with dmsetup remove %s",
			name, strerror(-err), name);
		return err;
	}
	log_warn("snapshot %s is held open: its snapshot target was destroyed and the device is left with an error table; close what holds it, the next cycle removes it",
		 name);
	return 0;
}

int dmsnap_load(const char *name, uint64_t sectors, const char *type, const char *params)
{
	struct dm_target_spec *spec;
	struct dm_ioctl *io;
	size_t len = strlen(params);
	int err = check_name(name);

	if (err)
		return err;
	if (strlen(type) >= sizeof(spec->target_type) ||
	    sizeof(struct dm_ioctl) + sizeof(*spec) + len + 1 > DM_BUF_BYTES)
		return -EINVAL;
	io = dm_alloc(name, 0);
	if (!io)
		return -ENOMEM;
	spec = (struct dm_target_spec *)((char *)io + io->data_start);
	spec->sector_start = 0;
	spec->length = sectors;
	snprintf(spec->target_type, sizeof(spec->target_type), "%s", type);
	memcpy(spec + 1, params, len + 1);
	io->target_count = 1;
	io->data_size = io->data_start + (uint32_t)sizeof(*spec) + (uint32_t)len + 1;
	err = dm_call(DM_TABLE_LOAD, io);
	if (err)
		log_err("cannot load the table \"0 %" PRIu64 " %s %s\" into device-mapper device %s: %s%s",
			sectors, type, params, name, strerror(-err),
			strncmp(type, "snapshot", 8) ? "" :
			"; is the dm-snapshot module loaded (modprobe dm-snapshot) and the COW device unused?");
	free(io);
	return err;
}

int dmsnap_create_empty(const char *name, dev_t *dev)
{
	struct dm_ioctl *io;
	int err = dm_named(DM_DEV_CREATE, name, 0, &io);

	if (err) {
		log_err("cannot create device-mapper device %s: %s%s", name, strerror(-err),
			err == -EBUSY ? " (it exists: remove it with dmsetup remove)" : "");
		return err;
	}
	*dev = (dev_t)io->dev;
	free(io);
	return 0;
}

int dmsnap_create(const char *name, dev_t origin_dev, const char *cow_path, uint64_t sectors,
		  uint32_t chunk_sectors, char *path, size_t path_len)
{
	char params[64];
	struct stat st;
	dev_t dev;
	int err = check_name(name);

	if (err)
		return err;
	if (stat(cow_path, &st) < 0) {
		err = -errno;
		log_err("cannot use COW device %s: %s; give the block device for the snapshot's copies (--cow)",
			cow_path, strerror(-err));
		return err;
	}
	if (!S_ISBLK(st.st_mode)) {
		log_err("COW device %s is not a block device; give a block device for the snapshot's copies (--cow)",
			cow_path);
		return -EINVAL;
	}
	err = dmsnap_create_empty(name, &dev);
	if (err)
		return err;
	snprintf(params, sizeof(params), "%u:%u %u:%u N %u", major(origin_dev), minor(origin_dev),
		 major(st.st_rdev), minor(st.st_rdev), chunk_sectors);
	err = dmsnap_load(name, sectors, "snapshot", params);
	if (!err)
		err = dmsnap_resume(name);
	if (err) {
		dmsnap_remove(name);
		return err;
	}
	snprintf(path, path_len, "/dev/dm-%u", minor(dev));
	if (access(path, F_OK))
		snprintf(path, path_len, "/dev/mapper/%s", name);
	return 0;
}
