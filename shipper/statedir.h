/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The source side's state directory (default /var/lib/cbtship): the change
 * set of a volume detached cleanly, kept until the volume is attached again
 * so that only those blocks are shipped then (DESIGN.md "Clean detach").
 * One file per volume, written durably (temporary file, fsync, rename,
 * fsync of the directory).
 */
#ifndef CBTSHIP_STATEDIR_H
#define CBTSHIP_STATEDIR_H

#include <stdint.h>

#include "cbt-source.h"

#define STATEDIR_DEFAULT	"/var/lib/cbtship"

struct statedir_set {
	uint8_t volume_id[16];		/* the store's volume id */
	char device[128];		/* the source's dm name */
	uint64_t size_bytes;
	uint32_t block_size;
	uint8_t tracking_id[16];	/* tracking id the set was taken from */
	uint64_t after_cycle;		/* store cycle the set is relative to */
	struct cbt_extent_list ext;	/* blocks changed since after_cycle */
};

/* Save (replace) the set of store volume `volume` in dir (created 0700 if absent). */
int statedir_save(const char *dir, const char *volume, const struct statedir_set *s);
/* Load it; -ENOENT (not logged) if there is none, -EBADMSG if it is damaged. */
int statedir_load(const char *dir, const char *volume, struct statedir_set *s);
/* Remove it (durably); 0 if there was none. */
int statedir_remove(const char *dir, const char *volume);
void statedir_set_free(struct statedir_set *s);

/*
 * The initial replication checkpoint (DESIGN.md "Interrupted initial
 * replication"): STATE_DIR/VOLUME.initial names the store volume and the
 * tracking an unfinished initial cycle's stored segments came from, so
 * that a later run continues it only under the same tracking (the kernel
 * then holds every write since those segments were read).
 */
int statedir_initial_save(const char *dir, const char *volume, const uint8_t volume_id[16],
			  const uint8_t tracking_id[16]);
/* 1 if the checkpoint exists and names these ids; 0 if not (absent, other, damaged). */
int statedir_initial_match(const char *dir, const char *volume, const uint8_t volume_id[16],
			   const uint8_t tracking_id[16]);
int statedir_initial_remove(const char *dir, const char *volume);

#endif
