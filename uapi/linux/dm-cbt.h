/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dm-cbt: changed block tracking device-mapper target.
 *
 * Generic netlink control plane shared by the kernel module (kmod/) and
 * the cbtship userspace (shipper/).  Family name CBT_GENL_NAME, version
 * CBT_GENL_VERSION.
 *
 * A volume is one dm device carrying a "cbt" table.  It is addressed by
 * the block device number of the dm device (CBT_A_DEV_MAJOR/MINOR).
 * All block numbers and counts are in units of the volume's tracking
 * block size (CBT_A_BLOCK_SIZE bytes).
 *
 * Cycle protocol:
 *   FREEZE      the live change set becomes the frozen set of a new cycle;
 *               returns once every write counted in it has completed, so
 *               the frozen blocks can be read with their data on disk.
 *               Writes after the freeze go to the live set (next cycle).
 *   GET_CHANGES (dump) the frozen set as extents, several messages.
 *   COMMIT      the cycle has been shipped; the frozen set is dropped.
 *   ABORT       the cycle failed; the frozen set is merged back into the
 *               live set so nothing is lost.
 * Only one cycle can be frozen at a time (FREEZE answers -EBUSY).
 *
 * Ring (optional, table option ring_size): GET_RING dumps ordered records
 * of the I/O mapped (struct cbt_ring_record), TAG appends a user record.
 *
 * Resync required: a newly created tracking state cannot vouch for changes
 * made before it existed, so it starts with CBT_A_RESYNC_REQUIRED = 1
 * (announced by a RESYNC_REQUIRED event).  Userspace sends CLEAR_RESYNC
 * once the replica is known to be in line again: after restoring a saved
 * change set with MARK_DIRTY, or after a full or checksum resync.
 *
 * Events (multicast group CBT_GENL_MCGRP_EVENTS, volume attrs): every
 * successful mutating command as itself, the ring's RING_WATERMARK and
 * RING_OVERFLOW, VOLUME_ADDED when a tracking state is first resumed,
 * VOLUME_REMOVED when it is destroyed (not on reloads that keep it) and
 * RESYNC_REQUIRED after VOLUME_ADDED when the new state is in that state,
 * and CHANGED when the live set goes from empty to non-empty (at most once
 * per cycle: the first write after the FREEZE that emptied it).
 *
 * ABI rule: commands, attributes and other enum values are only ever
 * appended to the enums below, never renumbered or removed.
 */
#ifndef _UAPI_LINUX_DM_CBT_H
#define _UAPI_LINUX_DM_CBT_H

#include <linux/types.h>

#define CBT_GENL_NAME		"dm-cbt"
#define CBT_GENL_VERSION	1
#define CBT_GENL_MCGRP_EVENTS	"events"

enum cbt_cmd {
	CBT_CMD_UNSPEC,
	CBT_CMD_LIST,		/* dump: one message per volume (volume attrs) */
	CBT_CMD_GET,		/* doit: volume attrs of one volume */
	CBT_CMD_FREEZE,		/* doit, admin: freeze a cycle; replies volume attrs */
	CBT_CMD_GET_CHANGES,	/* dump, admin: frozen set as CBT_A_EXTENTS */
	CBT_CMD_COMMIT,		/* doit, admin: CBT_A_CYCLE must name the frozen cycle */
	CBT_CMD_ABORT,		/* doit, admin: CBT_A_CYCLE must name the frozen cycle */
	CBT_CMD_MARK_DIRTY,	/* doit, admin: CBT_A_EXTENTS added to the live set */
	CBT_CMD_GET_RING,	/* dump, admin: ring records from CBT_A_RING_START on */
	CBT_CMD_TAG,		/* doit, admin: append a tag record (CBT_A_TAG) */
	CBT_CMD_RING_WATERMARK,	/* event only: the ring reached 3/4 full */
	CBT_CMD_RING_OVERFLOW,	/* event only: unreleased records were overwritten */
	CBT_CMD_VOLUME_ADDED,	/* event only: a tracking state was created and resumed */
	CBT_CMD_VOLUME_REMOVED,	/* event only: a tracking state was destroyed */
	CBT_CMD_RESYNC_REQUIRED, /* event only: the volume needs a full/checksum resync */
	CBT_CMD_CLEAR_RESYNC,	/* doit, admin: the replica is in line; clear the flag */
	CBT_CMD_CHANGED,	/* event only: the empty live set got its first change */
	__CBT_CMD_MAX,
};

#define CBT_CMD_MAX (__CBT_CMD_MAX - 1)

enum cbt_attr {
	CBT_A_UNSPEC,
	CBT_A_PAD,
	CBT_A_DEV_MAJOR,	/* u32: dm device major */
	CBT_A_DEV_MINOR,	/* u32: dm device minor */
	CBT_A_NAME,		/* string: dm device name (informational) */
	CBT_A_BLOCK_SIZE,	/* u32: tracking block size in bytes */
	CBT_A_NR_BLOCKS,	/* u64: volume size in blocks (last may be partial) */
	CBT_A_DIRTY_BLOCKS,	/* u64: blocks in the live set */
	CBT_A_FROZEN_BLOCKS,	/* u64: blocks in the frozen set, 0 if none */
	CBT_A_CYCLE,		/* u64: id of the frozen cycle, else of the last one */
	CBT_A_FROZEN,		/* u8: 1 while a cycle is frozen */
	CBT_A_STATE,		/* u32: enum cbt_volume_state */
	CBT_A_EXTENTS,		/* binary: array of struct cbt_extent */
	CBT_A_VOLUME_ID,	/* binary[16]: random id of this volume's tracking state */
	CBT_A_RING_SIZE,	/* u32: ring capacity in records, 0 if no ring */
	CBT_A_RING_FILL,	/* u32: records held */
	CBT_A_RING_FIRST,	/* u64: sequence of the oldest record held */
	CBT_A_RING_NEXT,	/* u64: sequence the next record will get */
	CBT_A_RING_LOST,	/* u64: records overwritten before release, ever */
	CBT_A_RING_OVERFLOW,	/* u8: 1 if unreleased records were lost */
	CBT_A_EPOCH,		/* u32: completed flushes (REQ_PREFLUSH) */
	CBT_A_RING_START,	/* u64: GET_RING: first sequence wanted */
	CBT_A_RING_RECORDS,	/* binary: array of struct cbt_ring_record */
	CBT_A_TAG,		/* u64: TAG: the user's value */
	CBT_A_RESYNC_REQUIRED,	/* u8: 1 until CLEAR_RESYNC (see above) */
	CBT_A_MEM_BYTES,	/* u64: memory held by the change sets, bytes */
	__CBT_A_MAX,
};

#define CBT_A_MAX (__CBT_A_MAX - 1)

/* A run of changed blocks: [start, start + count). */
struct cbt_extent {
	__u64 start;
	__u64 count;
};

/* Upper bound on extents in one CBT_A_EXTENTS attribute. */
#define CBT_MAX_EXTENTS_PER_MSG	1024

/*
 * Ring: an ordered log of the I/O the target mapped (table option
 * ring_size).  Records get consecutive sequence numbers from 1.  When the
 * ring is full the oldest record is overwritten and counted as lost; the
 * bitmap still holds every change.  COMMIT releases the records taken
 * before that cycle's FREEZE.
 */
enum cbt_rec_op {
	CBT_REC_WRITE = 1,	/* a write without REQ_FUA */
	CBT_REC_DISCARD,	/* discard or secure erase */
	CBT_REC_WRITE_ZEROES,
	CBT_REC_FLUSH,		/* an empty REQ_PREFLUSH bio; no sectors */
	CBT_REC_FUA,		/* a write with REQ_FUA */
	CBT_REC_TAG,		/* CBT_CMD_TAG or "dmsetup message ... tag N" */
};

struct cbt_ring_record {
	__u64 seq;
	__u64 sector;		/* 512-byte sectors from the start of the device */
	__u64 tag;		/* CBT_REC_TAG: the user's value, else 0 */
	__u32 nr_sectors;
	__u32 epoch;		/* CBT_A_EPOCH when the bio was mapped */
	__u8 op;		/* enum cbt_rec_op */
	__u8 pad[7];
};

/* Upper bound on records in one CBT_A_RING_RECORDS attribute. */
#define CBT_MAX_RECORDS_PER_MSG	1024

enum cbt_volume_state {
	CBT_STATE_TRACKING,	/* exact tracking */
	CBT_STATE_DEGRADED,	/* some regions tracked coarsely (memory short) */
};

#endif /* _UAPI_LINUX_DM_CBT_H */
