/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The source side's part in the store's volume state (vol-state.h): which
 * state it records around its cycles, what it does when the target side
 * recorded another one, and which blocks it ships again after a rejected
 * cycle (docs/TARGET.md "Volume states", "Failing cycles").
 */
#ifndef CBTSHIP_SRC_STATE_H
#define CBTSHIP_SRC_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cbt-source.h"
#include "vol-state.h"
#include "vstore.h"

/*
 * Before a cycle: the store's state into *rec (rec->state 0 if the volume
 * has none yet).  -ECANCELED, logged with why and what to do, if the
 * source must not ship: the volume is stopped, migrated or failed over, or
 * its migration's final cycle is out and the target side is finishing it.
 */
int src_state_check(struct vstore *vs, struct vol_state_rec *rec);

/*
 * Record state s (cycle, note) unless *cur already is s, or is a state of
 * another flow (migration, failover, failback: those flows move it on;
 * only migration-queued to migration-running is the source's); *cur
 * follows.
 */
int src_state_enter(struct vstore *vs, struct vol_state_rec *cur, enum vol_state s,
		    uint64_t cycle, const char *note);

enum src_repair {
	SRC_REPAIR_NONE,	/* nothing rejected, or the answer is in the store already */
	SRC_REPAIR_BLOCKS,	/* ship *blocks again (with the tracked changes) */
	SRC_REPAIR_FULL,	/* the rejected cycles' block sets are unknown: ship every block */
};

/*
 * What the next cycle must ship because the target rejected a cycle: the
 * union of the block sets of every cycle after the replica's last good
 * one (their manifests, which the source wrote and can authenticate), or
 * every block when a manifest is missing or does not authenticate.  *rej
 * is the rejection (valid unless SRC_REPAIR_NONE); *blocks is the caller's
 * to free.  Returns an enum src_repair or -errno.
 */
int src_repair_plan(struct vstore *vs, struct cbt_extent_list *blocks, struct vol_rejection *rej);

/*
 * After a cycle while a migration is requested (*cur is migration-queued):
 * a cycle that found no change is the final one.  Records the migration
 * record (final cycle `cycle`, SHA-256 of the source data_path as it is
 * now) and then migration-running: from then on the source ships nothing
 * and the target side applies, proves and records the end.  *final is set
 * when that happened; a cycle that shipped changes leaves the request
 * queued (the source is still written) and says so.
 */
int src_state_migration(struct vstore *vs, struct vol_state_rec *cur, bool shipped,
			uint64_t cycle, const char *data_path, bool *final);

#endif
