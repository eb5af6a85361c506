/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few device-mapper operations a consistent cycle needs, through the
 * dm ioctls (linux/dm-ioctl.h, no library): suspend and resume a device,
 * read its table, create a `snapshot` of the dm-cbt device on a COW device,
 * ask whether that snapshot is still valid, remove it.  docs/CONSISTENCY.md
 * has the device stack and the order of the steps.
 */
#ifndef CBTSHIP_DM_SNAP_H
#define CBTSHIP_DM_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DMSNAP_NAME_MAX	127
#define DMSNAP_NAME_BUF	(DMSNAP_NAME_MAX + 1)

/* Suspend dm device `name` (flushing; lockfs freezes a mounted file system). */
int dmsnap_suspend(const char *name, bool lockfs);
int dmsnap_resume(const char *name);

/*
 * The first target of dm device `name`: its type (e.g. "snapshot-origin")
 * and parameters.  -ENXIO (not logged) if there is no such device.
 */
int dmsnap_table(const char *name, char *type, size_t type_len, char *params, size_t params_len);

/*
 * Create and activate dm device `name` = `snapshot ORIGIN COW N CHUNK` of
 * `sectors` sectors, where origin is the device numbered origin_dev and
 * cow the block device at cow_path; non-persistent (the snapshot lives for
 * one cycle).  The origin's snapshot-origin device must be suspended.
 * *path: a node to read the snapshot from (/dev/dm-N).
 */
int dmsnap_create(const char *name, dev_t origin_dev, const char *cow_path, uint64_t sectors,
		  uint32_t chunk_sectors, char *path, size_t path_len);

/*
 * Status of snapshot `name`: *valid false once the COW device filled up
 * (or the snapshot failed); *used and *total are COW sectors.
 */
int dmsnap_snapshot_status(const char *name, bool *valid, uint64_t *used, uint64_t *total);

/* Remove dm device `name`; 0 if it does not exist. */
int dmsnap_remove(const char *name);

#endif
