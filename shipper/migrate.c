// SPDX-License-Identifier: GPL-2.0
/*
 * Migration: the final on-demand cycle, proof that the replica equals the
 * source, hand-over; and stop, which removes the store's intermediate data.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "blockhash.h"
#include "hex.h"
#include "log.h"
#include "migrate.h"
#include "points.h"
#include "vol-state.h"
#include "vstore-priv.h"

#define HASH_CHUNK	(1u << 20)

int migrate_hash_file(const char *path, uint64_t size, uint8_t out[32])
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	int fd, ret = -ENOMEM;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	buf = malloc(HASH_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx)
		goto out;
	ret = -EIO;
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out_ssl;
	while (off < size) {
		size_t want = size - off < HASH_CHUNK ? (size_t)(size - off) : HASH_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			log_err("reading %s at byte %" PRIu64 " failed: %s", path, off,
				n < 0 ? strerror(errno) : "it ends early");
			goto out;
		}
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
			goto out_ssl;
		off += (uint64_t)n;
	}
	if (!EVP_DigestFinal_ex(ctx, out, NULL))
		goto out_ssl;
	ret = 0;
	goto out;
out_ssl:
	log_err("SHA-256 of %s failed in OpenSSL", path);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return ret;
}

/* Hand the replica over: it is the volume now, apply stops writing it. */
static int hand_over(const char *replica, const struct apply_opts *aopts, uint64_t cycle)
{
	struct replica *r = NULL;
	struct journal *j = NULL;
	int ret;

	ret = points_open(replica, aopts ? aopts->state_dir : NULL, true, &j);
	if (ret)
		return ret;
	ret = replica_open(replica, j->st.size_bytes, aopts ? aopts->ro : NULL, &r);
	if (!ret)
		ret = points_failover(j, r, cycle);
	replica_close(r);
	journal_close(j);
	return ret;
}

/* The store volume the source replicates to (named as replicate names it). */
static int open_source_volume(const struct replicate_opts *src, struct store **st,
			      struct vstore **vs)
{
	char volume[VSTORE_NAME_MAX + 1];
	struct replicator *rep = NULL;
	int ret;

	ret = replicator_open(src, &rep);
	if (ret)
		return ret;
	snprintf(volume, sizeof(volume), "%s", replicator_volume(rep));
	replicator_close(rep);
	ret = apply_open_volume_opts(src->store, &src->remote, src->key_path, volume, st, vs);
	if (ret == -ENOENT)
		log_err("volume %s has not been replicated yet: migrate needs its initial replication done",
			volume);
	return ret;
}

/* Back to delta replication after a failed migration, saying why. */
static void migrate_back(struct vstore *vs, const char *why)
{
	char note[VOL_NOTE_MAX];

	snprintf(note, sizeof(note), "migration failed: %s; replication goes on", why);
	if (vol_state_set(vs, VOL_DELTA, 0, note))
		log_err("volume %s: could not record the state back as delta replication; run 'cbtship migrate' again or 'cbtship stop'",
			vs->info.name);
}

/*
 * Poll the state every second until it is one of want (a bitmask of
 * 1 << state) or timeout seconds passed (-ETIMEDOUT, not logged).
 */
static int wait_state(struct vstore *vs, unsigned int want, unsigned int timeout,
		      struct vol_state_rec *rec)
{
	time_t end = time(NULL) + (time_t)timeout;
	int ret;

	for (;;) {
		ret = vol_state_get(vs, rec);
		if (ret && ret != -ENOENT)
			return ret;
		if (!ret && (want & (1u << rec->state)))
			return 0;
		if (time(NULL) >= end)
			return -ETIMEDOUT;
		sleep(1);
	}
}

/* The source part up to the final cycle: *cycle and res->sha256 from the migration record. */
static int source_final(const struct replicate_opts *src, struct vstore *vs,
			struct migrate_result *res)
{
	struct replicate_summary sum = { 0 };
	struct replicator *rep = NULL;
	struct vol_state_rec cur;
	struct vol_migration mig;
	int ret, i;

	ret = vol_state_get(vs, &cur);
	if (ret && ret != -ENOENT)
		return ret;
	if (!ret && (cur.state == VOL_MIGRATED || cur.state == VOL_STOPPED ||
		     cur.state == VOL_FAILED_OVER)) {
		log_err("volume %s is %s (%s): there is nothing to migrate", vs->info.name,
			vol_state_name(cur.state), cur.note);
		return -EALREADY;
	}
	if (ret || cur.state != VOL_MIGRATION_RUNNING) {
		ret = vol_state_set(vs, VOL_MIGRATION_QUEUED, 0, "migration requested: final cycle");
		if (ret)
			return ret;
		ret = replicator_open(src, &rep);
		if (ret)
			goto out_back;
		/* The on-demand final cycle: the first that finds no change (at most the second). */
		for (i = 0; i < 2 && !ret && !sum.migration_final; i++)
			ret = replicator_cycle(rep, &sum);
		replicator_close(rep);
		if (ret)
			goto out_back;
		if (!sum.migration_final) {
			log_err("volume %s: the source changed while migrating (cycle %" PRIu64 " has %" PRIu64 " blocks): stop the applications writing it (or shut the server down) and run migrate again",
				vs->info.name, sum.cycle, sum.blocks);
			ret = -EBUSY;
			goto out_back;
		}
	} else {
		log_notice("volume %s: the final cycle %" PRIu64 " is in the store already; waiting for the target side",
			   vs->info.name, cur.cycle);
	}
	ret = vol_migration_get(vs, &mig);
	if (ret) {
		log_err("volume %s: the migration record is missing or unreadable (%s); run migrate again",
			vs->info.name, strerror(-ret));
		goto out_back;
	}
	res->cycle = mig.cycle;
	memcpy(res->sha256, mig.sha256, 32);
	return 0;
out_back:
	migrate_back(vs, strerror(-ret));
	return ret;
}

int migrate_source(const struct replicate_opts *src, unsigned int timeout,
		   struct migrate_result *res)
{
	struct vol_state_rec rec;
	struct vstore *vs = NULL;
	struct store *st = NULL;
	const char *volume;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = open_source_volume(src, &st, &vs);
	if (ret)
		return ret;
	volume = vs->info.name;
	ret = source_final(src, vs, res);
	if (ret || !timeout)
		goto out;
	log_info("volume %s: final cycle %" PRIu64 " shipped; waiting up to %u s for the target side (cbtship migrate --replica ...)",
		 volume, res->cycle, timeout);
	ret = wait_state(vs, 1u << VOL_MIGRATED | 1u << VOL_DELTA | 1u << VOL_STOPPED |
			 1u << VOL_FAILED_OVER, timeout, &rec);
	if (ret == -ETIMEDOUT) {
		log_err("volume %s: the target side did not finish the migration within %u s; it stays migration-running: run the target part (cbtship migrate --replica ... --volume %s) and this again to wait",
			volume, timeout, volume);
	} else if (!ret && rec.state != VOL_MIGRATED) {
		log_err("volume %s: the target side ended the migration as %s (%s); the source is not migrated: fix that and run migrate again",
			volume, vol_state_name(rec.state), rec.note);
		ret = -EIO;
	} else if (!ret && rec.cycle != res->cycle) {
		log_err("volume %s: the target records migration at cycle %" PRIu64 ", not the final cycle %" PRIu64 "; check the store's history",
			volume, rec.cycle, res->cycle);
		ret = -ESTALE;
	}
out:
	vstore_close(vs);
	store_close(st);
	return ret;
}

/* Every block of the replica against the hash list the source published at the final cycle. */
static int compare_blocks(struct vstore *vs, const char *replica, uint64_t cycle)
{
	struct cbt_extent_list diff = { 0 };
	struct blockhash_stats hs = { 0 };
	struct block_reader *br = NULL;
	int ret;

	ret = block_reader_open(replica, NULL, &br);
	if (ret)
		return ret;
	ret = blockhash_compare(vs, cycle, br, &diff, &hs);
	block_reader_close(br);
	if (!ret && diff.nr) {
		log_err("volume %s: %" PRIu64 " blocks of replica %s differ from the source's hash list of final cycle %" PRIu64 " (the first at block %" PRIu64 "): not migrated; run 'cbtship verify' after the next cycles, or migrate again",
			vs->info.name, hs.diff_blocks, replica, cycle, (uint64_t)diff.ext[0].start);
		ret = -EIO;
	} else if (!ret) {
		log_info("volume %s: all %" PRIu64 " blocks of replica %s match the source's hash list of cycle %" PRIu64,
			 vs->info.name, hs.blocks, replica, cycle);
	}
	cbt_extent_list_free(&diff);
	return ret;
}

int migrate_target(struct vstore *vs, const char *replica, const struct apply_opts *aopts,
		   unsigned int timeout, struct migrate_result *res)
{
	struct vol_state_rec rec;
	struct vol_migration mig;
	struct apply_result ares;
	uint8_t rhash[32];
	char h1[65], h2[65], note[VOL_NOTE_MAX];
	int ret;

	memset(res, 0, sizeof(*res));
	if (replica_spec_is_remote(replica)) {
		log_err("migrating to remote replica %s is not supported yet", replica);
		return -EPROTONOSUPPORT;
	}
	ret = vol_state_get(vs, &rec);
	if (ret && ret != -ENOENT)
		return ret;
	if (!ret && rec.state == VOL_MIGRATED) {
		log_err("volume %s is migrated already (%s)", vs->info.name, rec.note);
		return -EALREADY;
	}
	if (ret || rec.state != VOL_MIGRATION_RUNNING) {
		/* Ask the source side (replicate, daemon or migrate) for the final cycle. */
		if ((ret || rec.state != VOL_MIGRATION_QUEUED) &&
		    vol_state_set(vs, VOL_MIGRATION_QUEUED, 0, "migration requested by the target side"))
			return -EIO;
		log_info("volume %s: waiting up to %u s for the source's final cycle (stop the applications there; cbtship migrate DEVICE on the source runs it)",
			 vs->info.name, timeout);
		ret = wait_state(vs, 1u << VOL_MIGRATION_RUNNING, timeout, &rec);
		if (ret == -ETIMEDOUT)
			log_err("volume %s: no final cycle from the source within %u s; the migration stays requested: run migrate on the source, or this again",
				vs->info.name, timeout);
		if (ret)
			return ret;
	}
	ret = vol_migration_get(vs, &mig);
	if (!ret && (mig.cycle != rec.cycle || mig.size_bytes != vs->info.size_bytes)) {
		log_err("volume %s: the migration record (cycle %" PRIu64 ") does not match the state (final cycle %" PRIu64 ")",
			vs->info.name, mig.cycle, rec.cycle);
		ret = -EPROTO;
	}
	if (ret)
		goto out_back;
	ret = apply_pending_opts(vs, replica, aopts, &ares);
	if (ret)
		goto out_back;
	if (ares.now != mig.cycle) {
		log_err("volume %s: the replica is at cycle %" PRIu64 " after applying, not at the final cycle %" PRIu64 ": the source shipped after its final cycle",
			vs->info.name, ares.now, mig.cycle);
		ret = -ESTALE;
		goto out_back;
	}
	ret = compare_blocks(vs, replica, mig.cycle);
	if (ret)
		goto out_back;
	ret = migrate_hash_file(replica, vs->info.size_bytes, rhash);
	if (ret)
		goto out_back;
	hex_encode(mig.sha256, 32, h1);
	if (memcmp(mig.sha256, rhash, 32)) {
		hex_encode(rhash, 32, h2);
		log_err("volume %s: after the final cycle the replica (SHA-256 %s) differs from the source (%s): not migrated; run 'cbtship verify' to find the blocks",
			vs->info.name, h2, h1);
		ret = -EIO;
		goto out_back;
	}
	ret = hand_over(replica, aopts, mig.cycle);
	if (ret)
		goto out_back;
	res->cycle = mig.cycle;
	memcpy(res->sha256, mig.sha256, 32);
	snprintf(note, sizeof(note), "replica equals source at cycle %" PRIu64 ", sha256 %.16s...",
		 mig.cycle, h1);
	return vol_state_set(vs, VOL_MIGRATED, mig.cycle, note);
out_back:
	migrate_back(vs, strerror(-ret));
	return ret;
}

int migrate_run(const struct replicate_opts *src, const char *replica,
		const struct apply_opts *aopts, struct migrate_result *res)
{
	struct vstore *vs = NULL;
	struct store *st = NULL;
	int ret;

	memset(res, 0, sizeof(*res));
	if (replica_spec_is_remote(replica)) {
		log_err("migrating to remote replica %s is not supported yet", replica);
		return -EPROTONOSUPPORT;
	}
	ret = open_source_volume(src, &st, &vs);
	if (ret)
		return ret;
	/* Both parts in one process: the target part finds the final cycle at once. */
	ret = source_final(src, vs, res);
	if (!ret)
		ret = migrate_target(vs, replica, aopts, 0, res);
	vstore_close(vs);
	store_close(st);
	return ret;
}

/* ---- stop ---- */

struct names {
	char **v;
	size_t nr;
};

static int collect(void *arg, const char *child)
{
	struct names *n = arg;
	char **v = realloc(n->v, (n->nr + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	n->v = v;
	v[n->nr] = strdup(child);
	if (!v[n->nr])
		return -ENOMEM;
	n->nr++;
	return 0;
}

static void names_free(struct names *n)
{
	for (size_t i = 0; i < n->nr; i++)
		free(n->v[i]);
	free(n->v);
}

/* Remove every object of one cycle, then the cycle itself. */
static int remove_cycle(struct vstore *vs, uint64_t cycle)
{
	char dir[VSTORE_PATH_MAX], path[2 * VSTORE_PATH_MAX];
	struct names n = { 0 };
	int ret;

	vstore_path_cycle(vs, cycle, dir);
	ret = vs->st->ops->list(vs->st, dir, collect, &n);
	/* The manifest first: from then on the cycle is residue, never half. */
	for (size_t i = 0; !ret && i < n.nr; i++) {
		if (strcmp(n.v[i], "manifest"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, n.v[i]);
		ret = vs->st->ops->remove(vs->st, path);
	}
	for (size_t i = 0; !ret && i < n.nr; i++) {
		if (!strcmp(n.v[i], "manifest"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, n.v[i]);
		ret = vs->st->ops->remove(vs->st, path);
		if (ret == -ENOENT)
			ret = 0;
	}
	if (!ret)
		ret = vs->st->ops->remove(vs->st, dir);
	names_free(&n);
	return ret == -ENOENT ? 0 : ret;
}

int migrate_stop(struct vstore *vs, unsigned int *cycles_removed)
{
	char path[VSTORE_PATH_MAX];
	uint64_t *cycles = NULL;
	size_t nr;
	int ret;

	*cycles_removed = 0;
	ret = vol_state_set(vs, VOL_STOPPED, 0, "replication stopped; cycles removed");
	if (ret)
		return ret;
	ret = vstore_list_cycles(vs, &cycles, &nr);
	if (ret)
		return ret;
	/* Newest first: an interrupted stop leaves a shorter, still valid history. */
	for (size_t i = nr; i-- > 0;) {
		ret = remove_cycle(vs, cycles[i]);
		if (ret) {
			log_err("volume %s: cannot remove cycle %" PRIu64 " (%s); run stop again",
				vs->info.name, cycles[i], strerror(-ret));
			goto out;
		}
		(*cycles_removed)++;
	}
	vstore_path_cycles(vs, path);
	ret = vs->st->ops->remove(vs->st, path);
	if (ret && ret != -ENOENT)
		goto out;
	vstore_path_applied(vs, path);
	ret = vs->st->ops->remove(vs->st, path);
	if (ret && ret != -ENOENT)
		goto out;
	ret = vol_rejection_clear(vs);
out:
	free(cycles);
	return ret;
}
