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
#include <unistd.h>

#include <openssl/evp.h>

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

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
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

int migrate_run(const struct replicate_opts *src, const char *replica,
		const struct apply_opts *aopts, struct migrate_result *res)
{
	struct replicate_summary sum;
	struct replicator *rep = NULL;
	struct apply_result ares;
	struct vstore *vs = NULL;
	struct store *st = NULL;
	uint8_t rhash[32];
	struct cbt_key key;
	char h1[65], note[VOL_NOTE_MAX];
	int ret;

	memset(res, 0, sizeof(*res));
	if (replica_spec_is_remote(replica)) {
		log_err("migrating to remote replica %s is not supported yet", replica);
		return -EPROTONOSUPPORT;
	}
	ret = replicator_open(src, &rep);
	if (ret)
		return ret;
	ret = key_load(src->key_path, &key);
	if (ret)
		goto out_rep;
	ret = store_open(src->store, false, &st);
	if (ret)
		goto out_key;
	ret = vstore_open(st, replicator_volume(rep), &key, &vs);
	if (ret == -ENOENT)
		log_err("volume %s has not been replicated yet: migrate needs its initial replication done",
			replicator_volume(rep));
	if (ret)
		goto out_store;
	ret = vol_state_set(vs, VOL_MIGRATION_RUNNING, 0, "final cycle");
	if (ret)
		goto out_vs;
	/* The on-demand final cycle, then proof that nothing writes any more. */
	ret = replicator_cycle(rep, &sum);
	if (ret)
		goto out_back;
	ret = replicator_cycle(rep, &sum);
	if (ret)
		goto out_back;
	if (sum.result != REPLICATE_NO_CHANGES) {
		log_err("volume %s: the source changed while migrating (cycle %" PRIu64 " has %" PRIu64 " blocks): stop the applications writing it (or shut the server down) and run migrate again",
			replicator_volume(rep), sum.cycle, sum.blocks);
		ret = -EBUSY;
		goto out_back;
	}
	ret = apply_pending_opts(vs, replica, aopts, &ares);
	if (ret)
		goto out_back;
	ret = migrate_hash_file(src->device, vs->info.size_bytes, res->sha256);
	if (!ret)
		ret = migrate_hash_file(replica, vs->info.size_bytes, rhash);
	if (ret)
		goto out_back;
	hex(res->sha256, 32, h1);
	if (memcmp(res->sha256, rhash, 32)) {
		char h2[65];

		hex(rhash, 32, h2);
		log_err("volume %s: after the final cycle the replica (SHA-256 %s) differs from the source (%s): not migrated; run 'cbtship verify' to find the blocks",
			replicator_volume(rep), h2, h1);
		ret = -EIO;
		goto out_back;
	}
	ret = hand_over(replica, aopts, ares.now);
	if (ret)
		goto out_back;
	res->cycle = ares.now;
	snprintf(note, sizeof(note), "replica equals source at cycle %" PRIu64 ", sha256 %.16s...",
		 ares.now, h1);
	ret = vol_state_set(vs, VOL_MIGRATED, ares.now, note);
	goto out_vs;
out_back:
	if (vol_state_set(vs, VOL_DELTA, 0, "migration failed; replication goes on"))
		log_err("volume %s: could not record the state back as delta replication",
			replicator_volume(rep));
out_vs:
	vstore_close(vs);
out_store:
	store_close(st);
out_key:
	key_wipe(&key);
out_rep:
	replicator_close(rep);
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
