// SPDX-License-Identifier: GPL-2.0
/*
 * The source side and the store's volume state: honour what the target
 * side recorded, record the replication states, and answer a rejected
 * cycle with the blocks of the cycles the replica misses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blockhash.h"
#include "failback.h"
#include "format.h"
#include "log.h"
#include "migrate.h"
#include "src-state.h"
#include "vstore-priv.h"

/* More cycles than this after the replica's last good one: ship every block. */
#define REPAIR_MAX_CYCLES	4096

static bool is_reverse_volume(const char *name)
{
	size_t n = strlen(name), k = strlen(FAILBACK_REVERSE_SUFFIX);

	return n > k && !strcmp(name + n - k, FAILBACK_REVERSE_SUFFIX);
}

int src_state_check(struct vstore *vs, struct vol_state_rec *rec)
{
	const char *name = vs->info.name, *what;
	char since[64];
	struct tm tm;
	time_t t;
	int ret;

	memset(rec, 0, sizeof(*rec));
	ret = vol_state_get(vs, rec);
	if (ret == -ENOENT) {
		rec->state = 0;
		return 0;
	}
	if (ret)
		return ret;
	switch (rec->state) {
	case VOL_STOPPED:
		what = "replication was stopped (cbtship stop) and the store's cycles removed; to protect it again, replicate it under a new --volume name";
		break;
	case VOL_MIGRATED:
		what = "the volume was migrated: its replica is the live disk now; stop replicating this source (remove it from the configuration)";
		break;
	case VOL_FAILED_OVER:
		what = "the replica was failed over and is a live disk now; replicating this source again needs a failback (reprotect) or a new --volume name";
		break;
	case VOL_REPROTECTING:
		/* The reverse volume replicates in this state; the forward one waits. */
		if (is_reverse_volume(name))
			return 0;
		what = "the volume was failed over and is being reprotected: its original disk is the target of reverse replication now; forward replication resumes with cbtship failback";
		break;
	case VOL_MIGRATION_RUNNING:
		what = "the final cycle of its migration is in the store and the target side is finishing the migration; wait for it (cbtship status), or if it failed the target puts the volume back to delta replication";
		break;
	default:
		return 0;
	}
	t = (time_t)rec->since;
	if (!gmtime_r(&t, &tm) || !strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(since, sizeof(since), "%" PRIu64, rec->since);
	log_err("volume %s: the store records it as %s since %s (%s): not replicating: %s",
		name, vol_state_name(rec->state), since, rec->note[0] ? rec->note : "no note", what);
	return -ECANCELED;
}

/*
 * The states a replicating source moves a volume between.  Any other one
 * belongs to another flow (migration, failover, failback, and states added
 * later) and is left as it is.
 */
static bool src_owns(enum vol_state s)
{
	return !s || s == VOL_INITIAL_QUEUED || s == VOL_INITIAL_RUNNING || s == VOL_DELTA ||
	       s == VOL_RESYNC_REQUIRED;
}

int src_state_enter(struct vstore *vs, struct vol_state_rec *cur, enum vol_state s,
		    uint64_t cycle, const char *note)
{
	int ret;

	if (cur->state == s && (!cycle || cur->cycle == cycle))
		return 0;
	if (!src_owns(cur->state) &&
	    !(cur->state == VOL_MIGRATION_QUEUED && s == VOL_MIGRATION_RUNNING))
		return 0;
	ret = vol_state_set(vs, s, cycle, note);
	if (ret) {
		log_err("volume %s: cannot record state %s in store %s (%s); check the store",
			vs->info.name, vol_state_name(s), vs->st->spec, strerror(-ret));
		return ret;
	}
	log_info("volume %s: state %s -> %s", vs->info.name,
		 cur->state ? vol_state_name(cur->state) : "(none)", vol_state_name(s));
	cur->state = s;
	cur->cycle = cycle;
	snprintf(cur->note, sizeof(cur->note), "%s", note ? note : "");
	return 0;
}

/* Is the answer to rej (a full cycle, or a repair cycle over its base) in the store? */
static int answered(struct vstore *vs, const struct vol_rejection *rej, uint64_t last)
{
	struct vol_repair rep;
	int ret;

	ret = vol_repair_get(vs, &rep);
	if (ret && ret != -ENOENT)
		return ret;
	if (!ret && rep.cycle > rej->cycle && rep.base == rej->replica_at && rep.cycle <= last)
		return 1;
	for (uint64_t c = last; c > rej->cycle && last - c < 64; c--) {
		ret = vol_cycle_is_full(vs, c);
		if (ret == 1)
			return 1;
		if (ret < 0 && ret != -ENOENT && ret != -EBADMSG)
			return ret;
	}
	return 0;
}

int src_repair_plan(struct vstore *vs, struct cbt_extent_list *blocks, struct vol_rejection *rej)
{
	struct cbt_extent_list acc = { 0 }, tmp = { 0 }, one = { 0 };
	struct vstore_cycle_info last;
	struct fmt_manifest m;
	const char *name = vs->info.name;
	uint64_t c;
	int ret;

	memset(blocks, 0, sizeof(*blocks));
	ret = vol_rejection_get(vs, rej);
	if (ret == -ENOENT)
		return SRC_REPAIR_NONE;
	if (ret)
		return ret;
	ret = vstore_last_cycle(vs, &last);
	if (ret)
		return ret == -ENOENT ? SRC_REPAIR_NONE : ret;
	ret = answered(vs, rej, last.cycle);
	if (ret)
		return ret < 0 ? ret : SRC_REPAIR_NONE;
	if (rej->replica_at >= last.cycle || last.cycle - rej->replica_at > REPAIR_MAX_CYCLES) {
		log_warn("volume %s: the target rejected cycle %" PRIu64 " (%s) and stays at cycle %" PRIu64 ", %" PRIu64 " cycles behind: the next cycle ships every block",
			 name, rej->cycle, rej->reason, rej->replica_at, last.cycle - rej->replica_at);
		return SRC_REPAIR_FULL;
	}
	for (c = rej->replica_at + 1; c <= last.cycle; c++) {
		ret = vstore_read_manifest(vs, c, &m);
		if (ret) {
			log_warn("volume %s: the target rejected cycle %" PRIu64 " (%s) and stays at cycle %" PRIu64 "; the block set of cycle %" PRIu64 " cannot be read (%s), so the next cycle ships every block",
				 name, rej->cycle, rej->reason, rej->replica_at, c, strerror(-ret));
			ret = ret == -ENOMEM ? ret : SRC_REPAIR_FULL;
			goto out;
		}
		one.ext = m.ext;
		one.nr = one.alloc = m.nr_extents;
		ret = blockhash_extents_union(&acc, &one, &tmp);
		fmt_manifest_free(&m);
		if (ret)
			goto out;
		cbt_extent_list_free(&acc);
		acc = tmp;
		memset(&tmp, 0, sizeof(tmp));
	}
	log_warn("volume %s: the target rejected cycle %" PRIu64 " (%s) and stays at cycle %" PRIu64 ": the next cycle ships the %" PRIu64 " blocks of cycles %" PRIu64 "-%" PRIu64 " again",
		 name, rej->cycle, rej->reason, rej->replica_at, cbt_extent_list_blocks(&acc),
		 rej->replica_at + 1, last.cycle);
	*blocks = acc;
	memset(&acc, 0, sizeof(acc));
	ret = SRC_REPAIR_BLOCKS;
out:
	cbt_extent_list_free(&acc);
	return ret;
}

int src_state_migration(struct vstore *vs, struct vol_state_rec *cur, bool shipped,
			uint64_t cycle, const char *data_path, bool *final)
{
	struct blockhash_stats hs = { 0 };
	char note[VOL_NOTE_MAX];
	uint8_t sha[32];
	int ret;

	*final = false;
	if (cur->state != VOL_MIGRATION_QUEUED)
		return 0;
	if (shipped) {
		log_notice("volume %s: migration requested; cycle %" PRIu64 " still shipped changes, so it is not the final one: stop the applications writing the volume, the next cycle that finds no change is",
			   vs->info.name, cycle);
		return 0;
	}
	/* The proof the target checks the replica against: block hashes and the whole hash. */
	ret = blockhash_publish(vs, data_path, cycle, 0, &hs);
	if (ret) {
		log_err("volume %s: cannot publish the source's block hashes for the migration (%s); check the store and run the migration again",
			vs->info.name, strerror(-ret));
		return ret;
	}
	ret = migrate_hash_file(data_path, vs->info.size_bytes, sha);
	if (ret)
		return ret;
	ret = vol_migration_set(vs, cycle, sha);
	if (ret) {
		log_err("volume %s: cannot record the migration's final cycle in store %s (%s); check the store and run the migration again",
			vs->info.name, vs->st->spec, strerror(-ret));
		return ret;
	}
	snprintf(note, sizeof(note), "final cycle %" PRIu64 " shipped; the target side applies and proves it", cycle);
	ret = src_state_enter(vs, cur, VOL_MIGRATION_RUNNING, cycle, note);
	if (!ret) {
		log_notice("volume %s: migration: cycle %" PRIu64 " is the final cycle (the source did not change); the source ships nothing more",
			   vs->info.name, cycle);
		*final = true;
	}
	return ret;
}
