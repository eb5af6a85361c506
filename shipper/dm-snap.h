/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few device-mapper operations a consistent cycle needs, through the
 * dm ioctls (linux/dm-ioctl.h, no library): suspend and resume a device,
 * load a table into its inactive slot (swapped in by the next resume) or
 * clear that slot, read its table and state, create a device, create a
 * `snapshot` of the disk under dm-cbt on a COW device, ask whether that
 * snapshot is still valid, tear it down.  docs/CONSISTENCY.md has the device stack and the order of
 * the steps.
 */
#ifndef CBTSHIP_DM_SNAP_H
#define CBTSHIP_DM_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DMSNAP_NAME_MAX	127
#define DMSNAP_NAME_BUF	(DMSNAP_NAME_MAX + 1)

/*
 * Suspend dm device `name`: in-flight I/O completes, new I/O waits (not
 * noflush); lockfs also freezes a mounted file system.
 */
int dmsnap_suspend(const char *name, bool lockfs);
/*
 * Resume dm device `name`, swapping in the table in its inactive slot if
 * one was loaded.  A device that is not suspended is suspended for the swap
 * without lockfs (a swap between pass-through tables needs no frozen file
 * system) and flushing (in-flight writes complete first, later ones go
 * through the new table, in order).
 */
int dmsnap_resume(const char *name);

/* Load `0 sectors type params` into the inactive slot of dm device `name`. */
int dmsnap_load(const char *name, uint64_t sectors, const char *type, const char *params);
/* Drop the inactive slot's table of `name`, if any. */
int dmsnap_clear(const char *name);

/* State of a dm device (DM_DEV_STATUS). */
struct dmsnap_info {
	bool suspended;
	bool inactive;		/* a table waits in the inactive slot */
	uint32_t targets;	/* targets of the live table */
	dev_t dev;		/* its device number */
};

/* -ENXIO (not logged) if there is no such device. */
int dmsnap_info(const char *name, struct dmsnap_info *info);

/*
 * The first target of dm device `name`'s live table: its type (e.g.
 * "snapshot-origin"), parameters and length in sectors (if wanted).
 * -ENXIO (not logged) if there is no such device.
 */
int dmsnap_table(const char *name, char *type, size_t type_len, char *params, size_t params_len,
		 uint64_t *length);

/*
 * Create dm device `name` with no table (size 0 until a table is loaded
 * and resumed); *dev: its number.
 */
int dmsnap_create_empty(const char *name, dev_t *dev);

/*
 * Create and activate dm device `name` = `snapshot ORIGIN COW N CHUNK` of
 * `sectors` sectors, where origin is the device numbered origin_dev and
 * cow the block device at cow_path; non-persistent (the snapshot lives for
 * one cycle).  Nothing may write to the origin meanwhile (the device users
 * write to is suspended), and a snapshot-origin of it must be resumed only
 * after this: its resume sizes its write splitting to the snapshots then
 * registered.
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

/*
 * Tear down the snapshot `name`; 0 if it does not exist.  Removed if it
 * can be; if it is held open (-EBUSY), its table is replaced by `error`, so
 * that the snapshot target is destroyed anyway (unregistered from its
 * origin, which then copies nothing for it) and the empty device is left to
 * be removed later.  On success no snapshot target of that name remains.
 */
int dmsnap_destroy(const char *name);

#endif
