// SPDX-License-Identifier: GPL-2.0
/*
 * Reprotect and failback: reverse replication from a failed-over disk to
 * the original disk through NAME.reverse, then the hand-back.  The steps
 * go through the forward volume's state record (vol_failback_step()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "apply.h"
#include "failback.h"
#include "format.h"
#include "hex.h"
#include "log.h"
#include "migrate.h"
#include "points.h"
#include "vol-state.h"
#include "vstore-priv.h"

int failback_reverse_name(const char *volume, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s", volume, FAILBACK_REVERSE_SUFFIX);

	if (n < 0 || (size_t)n >= len || n > VSTORE_NAME_MAX || !fmt_volume_name_ok(out)) {
		log_err("volume %s: its reverse volume name %s%s is not a valid volume name (at most %d bytes); replicate under a shorter --volume",
			volume, volume, FAILBACK_REVERSE_SUFFIX, VSTORE_NAME_MAX);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The forward volume's state must allow going to `to`; *cur gets it. */
static int check_step(struct vstore *fwd, enum vol_state to, struct vol_state_rec *cur)
{
	int ret = vol_state_get(fwd, cur);

	if (ret == -ENOENT) {
		log_err("volume %s has no state record: record the failover in the store first (cbtship failover --replica R --store S --key K --volume %s)",
			fwd->info.name, fwd->info.name);
		return -EPERM;
	}
	if (ret)
		return ret;
	if (vol_failback_step(cur->state, to)) {
		log_err("volume %s is %s (%s): it cannot go to %s; failback runs failover, reprotect --original, reprotect DEVICE, failback in that order",
			fwd->info.name, vol_state_name(cur->state), cur->note, vol_state_name(to));
		return -EPERM;
	}
	return 0;
}

/*
 * Open the store and the forward volume named by o->volume, name its
 * reverse volume (rname: VSTORE_NAME_MAX + 1 bytes) and check that its
 * state may go to `to` (*cur: the state now).  On success close *fwd, *st.
 */
static int open_step(const struct replicate_opts *o, enum vol_state to, struct store **st,
		     struct vstore **fwd, char *rname, struct vol_state_rec *cur)
{
	int ret;

	if (!o->volume) {
		log_err("reprotect and failback need the forward volume's name (--volume)");
		return -EINVAL;
	}
	ret = apply_open_volume_opts(o->store, &o->remote, o->key_path, o->volume, st, fwd);
	if (ret)
		return ret;
	ret = failback_reverse_name((*fwd)->info.name, rname, VSTORE_NAME_MAX + 1);
	if (!ret)
		ret = check_step(*fwd, to, cur);
	if (ret) {
		vstore_close(*fwd);
		store_close(*st);
		*fwd = NULL;
		*st = NULL;
	}
	return ret;
}

static int disk_size_check(const char *path, const struct vstore *vs)
{
	struct block_reader *br = NULL;
	int ret = block_reader_open(path, NULL, &br);

	if (ret)
		return ret;
	if (block_reader_size(br) != vs->info.size_bytes) {
		log_err("%s is %" PRIu64 " bytes but volume %s is %" PRIu64 " bytes: not this volume's original disk",
			path, block_reader_size(br), vs->info.name, vs->info.size_bytes);
		ret = -EINVAL;
	}
	block_reader_close(br);
	return ret;
}

int reprotect_prepare(const struct replicate_opts *o, const char *original,
		      struct blockhash_stats *hs)
{
	char rname[VSTORE_NAME_MAX + 1], note[VOL_NOTE_MAX];
	struct vstore_cycle_info last;
	struct vol_state_rec cur;
	struct vstore *fwd = NULL, *rev = NULL;
	struct store *st = NULL;
	int ret;

	ret = open_step(o, VOL_REPROTECTING, &st, &fwd, rname, &cur);
	if (ret)
		return ret;
	ret = disk_size_check(original, fwd);
	if (ret)
		goto out;
	ret = vstore_open(st, rname, &fwd->key, &rev);
	if (ret == -ENOENT)
		ret = vstore_create(st, rname, &fwd->key, fwd->info.block_size,
				    fwd->info.size_bytes, &rev);
	if (ret)
		goto out;
	if (rev->info.block_size != fwd->info.block_size ||
	    rev->info.size_bytes != fwd->info.size_bytes) {
		log_err("volume %s in store %s does not match volume %s (block size or size): remove it (cbtship stop --volume %s, then its directory) and run reprotect again",
			rname, o->store, fwd->info.name, rname);
		ret = -EXDEV;
		goto out;
	}
	ret = vstore_last_cycle(rev, &last);
	if (!ret) {
		log_err("volume %s: reverse replication has shipped cycle %" PRIu64 " already, so the original disk has changed; go on with it (cbtship reprotect DEVICE on the failed-over side), or stop it (cbtship stop --volume %s) to start over",
			rname, last.cycle, rname);
		ret = -EEXIST;
		goto out;
	}
	if (ret != -ENOENT)
		goto out;
	ret = blockhash_publish(rev, original, 0, 0, hs);
	if (ret)
		goto out;
	snprintf(note, sizeof(note), "reverse replication of %.80s to its original disk",
		 fwd->info.name);
	ret = vol_state_set(rev, VOL_REPROTECTING, 0, note);
	if (ret)
		goto out;
	ret = vol_state_set(fwd, VOL_REPROTECTING, 0,
			    "original disk's hashes published; run reprotect DEVICE on the failed-over side");
out:
	vstore_close(rev);
	vstore_close(fwd);
	if (st)
		store_close(st);
	return ret;
}

int reprotect_cycle(const struct replicate_opts *o, struct replicate_summary *sum)
{
	char rname[VSTORE_NAME_MAX + 1], note[VOL_NOTE_MAX];
	struct replicate_opts ro = *o;
	struct replicator *rep = NULL;
	struct vol_state_rec cur;
	struct vstore *fwd = NULL;
	struct store *st = NULL;
	int ret;

	memset(sum, 0, sizeof(*sum));
	ret = open_step(o, VOL_REPROTECTING, &st, &fwd, rname, &cur);
	if (ret)
		return ret;
	if (cur.state == VOL_FAILED_OVER) {
		log_err("volume %s: the original disk's hashes are not published yet; on the original side run cbtship reprotect --original DISK first",
			fwd->info.name);
		ret = -EPERM;
		goto out;
	}
	ro.volume = rname;
	ret = replicator_open(&ro, &rep);
	if (ret)
		goto out;
	ret = replicator_reprotect(rep, sum);
	if (ret || sum->result != REPLICATE_SHIPPED)
		goto out;
	snprintf(note, sizeof(note), "reverse cycle %" PRIu64 " stored from %.80s", sum->cycle,
		 o->device);
	ret = vol_state_set(fwd, VOL_REPROTECTING, sum->cycle, note);
out:
	replicator_close(rep);
	vstore_close(fwd);
	if (st)
		store_close(st);
	return ret;
}

/* ---- failback ---- */

/*
 * A disk that was written through a dm device over it may have stale pages
 * cached for its own block device: drop them before reading it buffered.
 */
static void drop_cached(const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;		/* the reader that follows says why */
	if (!fstat(fd, &sb) && S_ISBLK(sb.st_mode))
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/*
 * 1 if disk `path` is the one under `dev` (a dm device over it; for the
 * fake kernel, the same file), 0 if not, -errno (logged) if unknown.
 */
static int disk_under(const char *dev, const char *path)
{
	char dir[64], file[128 + 256], buf[32];
	struct stat d, p;
	struct dirent *de;
	unsigned int ma, mi;
	int found = 0, err;
	DIR *dh;
	FILE *f;

	if (stat(dev, &d) || stat(path, &p)) {
		err = -errno;
		log_err("cannot stat %s or %s: %s", dev, path, strerror(-err));
		return err;
	}
	if (S_ISREG(d.st_mode))
		return S_ISREG(p.st_mode) && d.st_dev == p.st_dev && d.st_ino == p.st_ino;
	if (!S_ISBLK(d.st_mode) || !S_ISBLK(p.st_mode))
		return 0;
	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u/slaves", major(d.st_rdev),
		 minor(d.st_rdev));
	dh = opendir(dir);
	if (!dh) {
		err = -errno;
		log_err("cannot list %s to find the disk under %s: %s", dir, dev, strerror(-err));
		return err;
	}
	while (!found && (de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/dev", dir, de->d_name);
		f = fopen(file, "re");
		if (!f)
			continue;
		found = fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &ma, &mi) == 2 &&
			makedev(ma, mi) == p.st_rdev;
		fclose(f);
	}
	closedir(dh);
	return found;
}

/* --replica must be the disk under DEVICE, --original the one under --source. */
static int check_disks(const struct failback_opts *o)
{
	int ret = disk_under(o->reverse.device, o->replica);

	if (ret == 0)
		log_err("--replica %s is not the disk under %s (the failed-over disk): give the disk that dm-cbt device is over",
			o->replica, o->reverse.device);
	if (ret != 1)
		return ret ? ret : -EINVAL;
	ret = disk_under(o->forward.device, o->original);
	if (ret == 0)
		log_err("--original %s is not the disk under --source %s: give the original disk and the dm-cbt device over it",
			o->original, o->forward.device);
	return ret == 1 ? 0 : ret ? ret : -EINVAL;
}

/* Remove a replica's state directory if it exists (not an error if not). */
static int remove_state_dir(const char *replica, const char *state_dir)
{
	struct journal *j = NULL;
	char *dir = journal_dir_for(replica, state_dir);
	int ret;

	if (!dir)
		return -EINVAL;
	ret = access(dir, F_OK) ? 0 : points_open(replica, state_dir, true, &j);
	free(dir);
	if (ret || !j)
		return ret;
	journal_remove(j);
	journal_close(j);
	return 0;
}

/* The final reverse cycle, and the proof that nothing writes any more. */
static int final_reverse(const struct failback_opts *o, const char *rname)
{
	struct replicate_opts ro = o->reverse;
	struct replicator *rep = NULL;
	struct replicate_summary sum;
	int ret;

	ro.volume = rname;
	ret = replicator_open(&ro, &rep);
	if (ret)
		return ret;
	ret = replicator_reprotect(rep, &sum);
	if (!ret)
		ret = replicator_reprotect(rep, &sum);
	if (!ret && sum.result != REPLICATE_NO_CHANGES) {
		log_err("volume %s: %s changed during failback (cycle %" PRIu64 " has %" PRIu64 " blocks): stop the applications writing it and run failback again",
			rname, o->reverse.device, sum.cycle, sum.blocks);
		ret = -EBUSY;
	}
	replicator_close(rep);
	return ret;
}

/*
 * The failed-over disk becomes the forward replica at the newest forward
 * cycle N: its old state directory goes (apply makes a new one at N from
 * the replica-applied record), and its block hashes are published as
 * cycle N's list for the forward resync to compare against.
 */
static int rebase_forward(const struct failback_opts *o, struct vstore *fwd, uint64_t *n)
{
	struct vstore_cycle_info last;
	struct blockhash_stats hs;
	int ret;

	ret = vstore_last_cycle(fwd, &last);
	if (ret == -ENOENT)
		log_err("volume %s has no forward cycle in store %s: nothing to resume from",
			fwd->info.name, o->forward.store);
	if (ret)
		return ret;
	*n = last.cycle;
	drop_cached(o->replica);
	ret = remove_state_dir(o->replica, o->replica_state);
	if (!ret)
		ret = vstore_set_applied(fwd, last.cycle);
	if (!ret)
		ret = vol_rejection_clear(fwd);
	if (!ret)
		ret = blockhash_publish(fwd, o->replica, last.cycle, 0, &hs);
	return ret;
}

/* Forward replication again: the checksum resync, applied to the replica. */
static int resume_forward(const struct failback_opts *o, struct vstore *fwd,
			  struct failback_result *res)
{
	struct apply_opts ao = { .state_dir = o->replica_state };
	struct replicator *rep = NULL;
	struct apply_result ares;
	int ret;

	ret = replicator_open(&o->forward, &rep);
	if (ret)
		return ret;
	ret = replicator_resync(rep, &res->forward);
	replicator_close(rep);
	if (ret)
		return ret;
	ret = apply_pending_opts(fwd, o->replica, &ao, &ares);
	if (!ret)
		res->forward_cycle = ares.now;
	return ret;
}

int failback_run(const struct failback_opts *o, struct failback_result *res)
{
	struct apply_opts ao = { .state_dir = o->original_state };
	char rname[VSTORE_NAME_MAX + 1], note[VOL_NOTE_MAX], h1[65], h2[65];
	struct vstore *fwd = NULL, *rev = NULL;
	struct apply_result ares;
	struct vol_state_rec cur;
	struct store *st = NULL;
	uint8_t other[32];
	unsigned int removed;
	uint64_t n = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = check_disks(o);
	if (ret)
		return ret;
	ret = open_step(&o->reverse, VOL_FAILBACK_RUNNING, &st, &fwd, rname, &cur);
	if (ret)
		return ret;
	ret = vol_state_set(fwd, VOL_FAILBACK_RUNNING, cur.cycle, "final reverse cycle");
	if (ret)
		goto out;
	ret = final_reverse(o, rname);
	if (ret)
		goto out_back;
	ret = vstore_open(st, rname, &fwd->key, &rev);
	if (ret)
		goto out_back;
	ret = apply_pending_opts(rev, o->original, &ao, &ares);
	if (ret)
		goto out_back;
	res->reverse_cycle = ares.now;
	drop_cached(o->original);
	ret = migrate_hash_file(o->reverse.device, fwd->info.size_bytes, res->sha256);
	if (!ret)
		ret = migrate_hash_file(o->original, fwd->info.size_bytes, other);
	if (ret)
		goto out_back;
	hex_encode(res->sha256, 32, h1);
	if (memcmp(res->sha256, other, 32)) {
		hex_encode(other, 32, h2);
		log_err("volume %s: after reverse cycle %" PRIu64 " the original disk %s (SHA-256 %s) differs from %s (%s): not failed back; run cbtship verify on the reverse volume to find the blocks",
			rname, ares.now, o->original, h2, o->reverse.device, h1);
		ret = -EIO;
		goto out_back;
	}
	log_notice("volume %s: the original disk %s equals %s at reverse cycle %" PRIu64 " (SHA-256 %s)",
		   fwd->info.name, o->original, o->reverse.device, ares.now, h1);
	/* From here on the disks are equal: a failure is finished by a rerun. */
	ret = rebase_forward(o, fwd, &n);
	if (!ret)
		ret = resume_forward(o, fwd, res);
	if (ret) {
		log_err("volume %s: the disks are equal but forward replication did not resume; run failback again to finish",
			fwd->info.name);
		goto out;
	}
	snprintf(note, sizeof(note), "failed back at reverse cycle %" PRIu64 "; sha256 %.16s...",
		 ares.now, h1);
	ret = vol_state_set(fwd, VOL_DELTA, res->forward_cycle, note);
	if (ret)
		goto out;
	ret = remove_state_dir(o->original, o->original_state);
	if (!ret)
		ret = migrate_stop(rev, &removed);
	if (ret)
		log_err("volume %s is failed back, but reverse volume %s is not cleaned up; run cbtship stop --volume %s",
			fwd->info.name, rname, rname);
	goto out;
out_back:
	if (vol_state_set(fwd, VOL_REPROTECTING, cur.cycle, "failback failed; reverse replication goes on"))
		log_err("volume %s: could not record the state back as reprotecting", fwd->info.name);
out:
	vstore_close(rev);
	vstore_close(fwd);
	if (st)
		store_close(st);
	return ret;
}
