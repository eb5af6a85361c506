/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small authenticated records in a volume's store directory, read and
 * written by both sides (FORMAT.md "Records"):
 *
 *   volumes/NAME/state     the volume's replication state (cbtship status)
 *   volumes/NAME/rejected  the target rejected a cycle: the source ships the
 *                          blocks of the cycles it misses again (or every
 *                          block), which the target applies over its last
 *                          good cycle
 *   volumes/NAME/repair    the source's cycle that does so (src-state.h)
 *   volumes/NAME/migration the final cycle of a migration and the source's hash
 */
#ifndef CBTSHIP_VOL_STATE_H
#define CBTSHIP_VOL_STATE_H

#include <stdint.h>

#include "vstore.h"

enum vol_state {
	VOL_INITIAL_QUEUED = 1,		/* initial replication waits for resources */
	VOL_INITIAL_RUNNING = 2,	/* initial replication running */
	VOL_DELTA = 3,			/* delta replication: test failover possible */
	VOL_RESYNC_REQUIRED = 4,	/* changes may be lost: a full resync is needed */
	VOL_MIGRATION_QUEUED = 5,
	VOL_MIGRATION_RUNNING = 6,
	VOL_MIGRATED = 7,		/* the replica is the volume now */
	VOL_STOPPED = 8,		/* replication stopped, store data removed */
	VOL_FAILED_OVER = 9,		/* the replica was failed over (DR) */
	/* Failback (TARGET.md "Reprotect and failback"); 10-15 left for others. */
	VOL_REPROTECTING = 16,		/* reverse replication: failed-over disk to original */
	VOL_FAILBACK_RUNNING = 17,	/* final reverse cycle, proof, hand back */
	VOL_STATE_MAX = VOL_FAILBACK_RUNNING,
};

#define VOL_NOTE_MAX	128

struct vol_state_rec {
	enum vol_state state;
	uint64_t since;			/* unix seconds */
	uint64_t cycle;			/* the cycle it refers to (0: none) */
	char note[VOL_NOTE_MAX];	/* for people: why, or what to do */
};

/* "delta-replication", ...; NULL for an unknown value. */
const char *vol_state_name(enum vol_state s);

/*
 * Failback's steps on the forward volume's state: 0 if a volume in state
 * `from` may go to `to` (failed-over -> reprotecting -> failback-running ->
 * delta-replication, each step repeatable, failback-running back to
 * reprotecting when the final cycle fails), else -EPERM.  Pure.
 */
int vol_failback_step(enum vol_state from, enum vol_state to);

/* -ENOENT (not logged) if the volume has no state record yet. */
int vol_state_get(struct vstore *vs, struct vol_state_rec *out);
/* Replace the record; since is set to now, note may be NULL. */
int vol_state_set(struct vstore *vs, enum vol_state s, uint64_t cycle, const char *note);

struct vol_rejection {
	uint64_t cycle;			/* the cycle that failed verification, or was missing */
	uint64_t replica_at;		/* the last good cycle the replica stays at */
	uint64_t time;
	char reason[VOL_NOTE_MAX];
};

int vol_rejection_get(struct vstore *vs, struct vol_rejection *out);	/* -ENOENT if none */
int vol_rejection_set(struct vstore *vs, uint64_t cycle, uint64_t replica_at, const char *reason);
int vol_rejection_clear(struct vstore *vs);

/*
 * 1 if the target rejected a cycle and the store holds no full cycle after
 * it yet, 0 if not, or -errno.  (The source plans with src_repair_plan(),
 * which ships only the missing cycles' blocks when it can.)
 */
int vol_rejection_needs_full(struct vstore *vs);

/*
 * volumes/NAME/repair: the source's answer to a rejection that ships only
 * the blocks of the cycles the replica could not apply.  Complete cycle
 * `cycle` holds every block written in cycles base+1 .. cycle, so it can
 * be applied directly over a replica at `base`.  Written after the cycle
 * is complete, so a cycle it names always is one.
 */
struct vol_repair {
	uint64_t cycle;
	uint64_t base;			/* the replica's last good cycle */
	uint64_t rejected;		/* the rejected cycle it answers */
	uint64_t time;
};

int vol_repair_get(struct vstore *vs, struct vol_repair *out);	/* -ENOENT if none */
int vol_repair_set(struct vstore *vs, uint64_t cycle, uint64_t base, uint64_t rejected);
int vol_repair_clear(struct vstore *vs);

/*
 * volumes/NAME/migration: the source's final cycle of a migration and the
 * SHA-256 of the whole source volume as it was then, for the target side
 * to prove the replica equal before it records the volume as migrated.
 */
struct vol_migration {
	uint64_t cycle;
	uint64_t size_bytes;
	uint8_t sha256[32];
	uint64_t time;
};

int vol_migration_get(struct vstore *vs, struct vol_migration *out);	/* -ENOENT if none */
int vol_migration_set(struct vstore *vs, uint64_t cycle, const uint8_t sha256[32]);

/* Whether complete cycle `cycle` lists every block (1), not (0), or -errno. */
int vol_cycle_is_full(struct vstore *vs, uint64_t cycle);

#endif
