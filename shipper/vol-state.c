// SPDX-License-Identifier: GPL-2.0
/*
 * The volume's state and rejected records: one envelope each (type 4,
 * the record kind in the segment field so one cannot be passed off as the
 * other), a fixed little-endian payload (FORMAT.md "Records").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "le.h"
#include "log.h"
#include "vol-state.h"
#include "vstore-priv.h"

#define REC_VERSION	1
#define REC_STATE	1
#define REC_REJECTED	2
#define REC_REPAIR	3
#define REC_MIGRATION	4
#define STATE_BYTES	(24 + VOL_NOTE_MAX)
#define REJECTED_BYTES	(32 + VOL_NOTE_MAX)
#define REPAIR_BYTES	40
#define MIGRATION_BYTES	64

static const char *const state_names[] = {
	[VOL_INITIAL_QUEUED] = "initial-replication-queued",
	[VOL_INITIAL_RUNNING] = "initial-replication",
	[VOL_DELTA] = "delta-replication",
	[VOL_RESYNC_REQUIRED] = "resync-required",
	[VOL_MIGRATION_QUEUED] = "migration-queued",
	[VOL_MIGRATION_RUNNING] = "migration-running",
	[VOL_MIGRATED] = "migrated",
	[VOL_STOPPED] = "stopped",
	[VOL_FAILED_OVER] = "failed-over",
	[VOL_REPROTECTING] = "reprotecting",
	[VOL_FAILBACK_RUNNING] = "failback-running",
};

const char *vol_state_name(enum vol_state s)
{
	if (s < VOL_INITIAL_QUEUED || s > VOL_STATE_MAX)
		return NULL;
	return state_names[s];
}

int vol_failback_step(enum vol_state from, enum vol_state to)
{
	switch (to) {
	case VOL_REPROTECTING:
		return from == VOL_FAILED_OVER || from == VOL_REPROTECTING ||
		       from == VOL_FAILBACK_RUNNING ? 0 : -EPERM;
	case VOL_FAILBACK_RUNNING:
		return from == VOL_REPROTECTING || from == VOL_FAILBACK_RUNNING ? 0 : -EPERM;
	case VOL_DELTA:
		return from == VOL_FAILBACK_RUNNING ? 0 : -EPERM;
	default:
		return -EPERM;
	}
}

static const char *const rec_names[] = {
	[REC_STATE] = "state",
	[REC_REJECTED] = "rejected",
	[REC_REPAIR] = "repair",
	[REC_MIGRATION] = "migration",
};

static void rec_path(const struct vstore *vs, uint32_t kind, char *buf)
{
	snprintf(buf, VSTORE_PATH_MAX, "volumes/%s/%s", vs->info.name, rec_names[kind]);
}

static int rec_put(struct vstore *vs, uint32_t kind, const uint8_t *payload, size_t len)
{
	struct env_meta meta = { .type = ENV_RECORD, .segment = kind };
	char path[VSTORE_PATH_MAX];
	uint8_t *obj;
	int ret;

	memcpy(meta.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	obj = malloc(envelope_size(len));
	if (!obj)
		return -ENOMEM;
	ret = envelope_seal(&vs->key, &meta, payload, len, obj);
	if (!ret) {
		rec_path(vs, kind, path);
		ret = store_put(vs->st, path, obj, envelope_size(len));
	}
	free(obj);
	return ret;
}

/* Read and authenticate a record of exactly len bytes.  -ENOENT not logged. */
static int rec_get(struct vstore *vs, uint32_t kind, uint8_t *payload, size_t len)
{
	struct env_meta expect = { .type = ENV_RECORD, .segment = kind }, got;
	char path[VSTORE_PATH_MAX], what[VSTORE_PATH_MAX + 512];
	uint8_t *obj = NULL, *plain = NULL;
	size_t olen, plen;
	int ret;

	memcpy(expect.volume_id, vs->info.volume_id, VSTORE_ID_BYTES);
	rec_path(vs, kind, path);
	snprintf(what, sizeof(what), "%s/%s", vs->st->spec, path);
	ret = store_get(vs->st, path, (void **)&obj, &olen);
	if (ret)
		return ret;
	plain = malloc(olen);
	if (!plain) {
		ret = -ENOMEM;
		goto out;
	}
	ret = envelope_open(&vs->key, what, obj, olen, &expect, false, &got, plain, &plen);
	if (ret)
		goto out;
	if (plen != len || get_le32(plain) != REC_VERSION ||
	    ((kind == REC_STATE || kind == REC_REJECTED) && plain[len - 1])) {
		log_err("%s is not a record this cbtship understands (%zu bytes, version %u); upgrade cbtship",
			what, plen, plen >= 4 ? get_le32(plain) : 0);
		ret = -EPROTO;
		goto out;
	}
	memcpy(payload, plain, len);
out:
	free(plain);
	free(obj);
	return ret;
}

static void put_note(uint8_t *dst, const char *note)
{
	memset(dst, 0, VOL_NOTE_MAX);
	if (note)
		strncpy((char *)dst, note, VOL_NOTE_MAX - 1);
}

int vol_state_get(struct vstore *vs, struct vol_state_rec *out)
{
	uint8_t p[STATE_BYTES];
	int ret = rec_get(vs, REC_STATE, p, sizeof(p));

	if (ret)
		return ret;
	out->state = (enum vol_state)get_le32(p + 4);
	out->since = get_le64(p + 8);
	out->cycle = get_le64(p + 16);
	memcpy(out->note, p + 24, VOL_NOTE_MAX);
	if (!vol_state_name(out->state)) {
		log_err("volume %s: state record holds state %u, which this cbtship does not know; upgrade cbtship",
			vs->info.name, out->state);
		return -EPROTO;
	}
	return 0;
}

int vol_state_set(struct vstore *vs, enum vol_state s, uint64_t cycle, const char *note)
{
	uint8_t p[STATE_BYTES];

	if (!vol_state_name(s))
		return -EINVAL;
	put_le32(p, REC_VERSION);
	put_le32(p + 4, s);
	put_le64(p + 8, (uint64_t)time(NULL));
	put_le64(p + 16, cycle);
	put_note(p + 24, note);
	return rec_put(vs, REC_STATE, p, sizeof(p));
}

int vol_rejection_get(struct vstore *vs, struct vol_rejection *out)
{
	uint8_t p[REJECTED_BYTES];
	int ret = rec_get(vs, REC_REJECTED, p, sizeof(p));

	if (ret)
		return ret;
	out->cycle = get_le64(p + 8);
	out->replica_at = get_le64(p + 16);
	out->time = get_le64(p + 24);
	memcpy(out->reason, p + 32, VOL_NOTE_MAX);
	return 0;
}

int vol_rejection_set(struct vstore *vs, uint64_t cycle, uint64_t replica_at, const char *reason)
{
	uint8_t p[REJECTED_BYTES];

	put_le32(p, REC_VERSION);
	put_le32(p + 4, 0);
	put_le64(p + 8, cycle);
	put_le64(p + 16, replica_at);
	put_le64(p + 24, (uint64_t)time(NULL));
	put_note(p + 32, reason);
	return rec_put(vs, REC_REJECTED, p, sizeof(p));
}

/* Remove a record; one that is not there is no error. */
static int rec_remove(struct vstore *vs, uint32_t kind)
{
	char path[VSTORE_PATH_MAX];
	int ret;

	rec_path(vs, kind, path);
	ret = vs->st->ops->remove(vs->st, path);
	return ret == -ENOENT ? 0 : ret;
}

int vol_rejection_clear(struct vstore *vs)
{
	return rec_remove(vs, REC_REJECTED);
}

int vol_repair_get(struct vstore *vs, struct vol_repair *out)
{
	uint8_t p[REPAIR_BYTES];
	int ret = rec_get(vs, REC_REPAIR, p, sizeof(p));

	if (ret)
		return ret;
	out->cycle = get_le64(p + 8);
	out->base = get_le64(p + 16);
	out->rejected = get_le64(p + 24);
	out->time = get_le64(p + 32);
	return 0;
}

int vol_repair_set(struct vstore *vs, uint64_t cycle, uint64_t base, uint64_t rejected)
{
	uint8_t p[REPAIR_BYTES];

	put_le32(p, REC_VERSION);
	put_le32(p + 4, 0);
	put_le64(p + 8, cycle);
	put_le64(p + 16, base);
	put_le64(p + 24, rejected);
	put_le64(p + 32, (uint64_t)time(NULL));
	return rec_put(vs, REC_REPAIR, p, sizeof(p));
}

int vol_repair_clear(struct vstore *vs)
{
	return rec_remove(vs, REC_REPAIR);
}

int vol_migration_get(struct vstore *vs, struct vol_migration *out)
{
	uint8_t p[MIGRATION_BYTES];
	int ret = rec_get(vs, REC_MIGRATION, p, sizeof(p));

	if (ret)
		return ret;
	out->cycle = get_le64(p + 8);
	out->size_bytes = get_le64(p + 16);
	memcpy(out->sha256, p + 24, sizeof(out->sha256));
	out->time = get_le64(p + 56);
	return 0;
}

int vol_migration_set(struct vstore *vs, uint64_t cycle, const uint8_t sha256[32])
{
	uint8_t p[MIGRATION_BYTES];

	put_le32(p, REC_VERSION);
	put_le32(p + 4, 0);
	put_le64(p + 8, cycle);
	put_le64(p + 16, vs->info.size_bytes);
	memcpy(p + 24, sha256, 32);
	put_le64(p + 56, (uint64_t)time(NULL));
	return rec_put(vs, REC_MIGRATION, p, sizeof(p));
}

int vol_cycle_is_full(struct vstore *vs, uint64_t cycle)
{
	uint64_t nr_blocks = (vs->info.size_bytes + vs->info.block_size - 1) / vs->info.block_size;
	struct fmt_manifest m;
	int ret;

	ret = vstore_read_manifest(vs, cycle, &m);
	if (ret)
		return ret;
	ret = m.nr_extents == 1 && m.ext[0].start == 0 && m.ext[0].count == nr_blocks;
	fmt_manifest_free(&m);
	return ret;
}

int vol_rejection_needs_full(struct vstore *vs)
{
	struct vstore_cycle_info last;
	struct vol_rejection rej;
	int ret;

	ret = vol_rejection_get(vs, &rej);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	ret = vstore_last_cycle(vs, &last);
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	/* A full cycle after the rejected one is on its way to the target. */
	for (uint64_t c = last.cycle; c > rej.cycle && last.cycle - c < 64; c--) {
		ret = vol_cycle_is_full(vs, c);
		if (ret == 1)
			return 0;
		if (ret < 0 && ret != -ENOENT && ret != -EBADMSG)
			return ret;
	}
	log_warn("volume %s: the target rejected cycle %" PRIu64 " (%s) and stays at cycle %" PRIu64 ": the next cycle ships every block",
		 vs->info.name, rej.cycle, rej.reason, rej.replica_at);
	return 1;
}
