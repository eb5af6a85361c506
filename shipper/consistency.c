// SPDX-License-Identifier: GPL-2.0
/*
 * One freeze instant for one volume or a consistency group: hooks, suspend,
 * dm-cbt freeze, dm-snapshot, resume, hooks (consistency.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "consistency.h"
#include "fs-guard.h"
#include "log.h"

const char *cons_level_name(enum cons_level l)
{
	switch (l) {
	case CONS_CRASH:
		return "crash";
	case CONS_APP:
		return "app";
	default:
		return "none";
	}
}

const char *cons_point_name(enum cons_level l)
{
	return l == CONS_CRASH ? "crash-consistent" : l == CONS_APP ? "app-consistent" : "none";
}

/* ---- the origin's tables ---- */

/*
 * Load the origin's table for a cycle (snapshot-origin) or for between
 * cycles (linear) into its inactive slot.
 */
static int origin_load(struct cons_volume *v, bool snapshot_origin)
{
	char params[32];
	int err;

	if (snapshot_origin)
		snprintf(params, sizeof(params), "%u:%u", major(v->cbt_dev), minor(v->cbt_dev));
	else
		snprintf(params, sizeof(params), "%u:%u 0", major(v->cbt_dev), minor(v->cbt_dev));
	err = dmsnap_load(v->origin, v->sectors, snapshot_origin ? "snapshot-origin" : "linear",
			  params);
	if (!err)
		v->loaded = snapshot_origin;
	return err;
}

/*
 * Read the origin's live table into v->so_live: 0 if it is `linear DEV 0`
 * or `snapshot-origin DEV` over the whole dm-cbt device, -EINVAL (logged
 * when `volume` is given) if it is anything else.
 */
static int origin_read(struct cons_volume *v, const char *volume, const char *device)
{
	char type[32], params[256], so[32], lin[40];
	uint64_t length = 0;
	struct dmsnap_info di;
	int err;

	err = dmsnap_info(v->origin, &di);
	if (!err)
		err = dmsnap_table(v->origin, type, sizeof(type), params, sizeof(params), &length);
	if (err == -ENXIO && volume) {
		log_err("volume %s: there is no device-mapper device %s; create it with dmsetup create %s --table \"0 %" PRIu64 " linear %s 0\" and let users write to it",
			volume, v->origin, v->origin, v->sectors, device);
		return -ENODEV;
	}
	if (err) {
		if (volume)
			log_err("volume %s: cannot read the table of %s: %s", volume, v->origin,
				strerror(-err));
		return err;
	}
	snprintf(so, sizeof(so), "%u:%u", major(v->cbt_dev), minor(v->cbt_dev));
	snprintf(lin, sizeof(lin), "%s 0", so);
	if (di.targets == 1 && length == v->sectors) {
		if (!strcmp(type, "linear") && !strcmp(params, lin)) {
			v->so_live = false;
			return 0;
		}
		if (!strcmp(type, "snapshot-origin") && !strcmp(params, so)) {
			v->so_live = true;
			return 0;
		}
	}
	if (volume)
		log_err("volume %s: %s is %u target(s), the first \"0 %" PRIu64 " %s %s\", not \"0 %" PRIu64 " linear %s\" (the dm-cbt device %s): stack a linear table over the whole dm-cbt device (docs/CONSISTENCY.md)",
			volume, v->origin, di.targets, length, type, params, v->sectors, lin, device);
	return -EINVAL;
}

/*
 * Put the origin back on linear; no snapshot of its volume may exist.  If
 * that fails, it is left resumed on whatever table it has (snapshot-origin
 * with no snapshot: slower, never wrong) with no inactive table.
 */
static void origin_linear(struct cons_volume *v)
{
	struct dmsnap_info di;
	int err = origin_load(v, false);

	if (!err)
		err = dmsnap_resume(v->origin);
	if (!err) {
		v->so_live = false;
		return;
	}
	if (!dmsnap_info(v->origin, &di)) {
		if (di.inactive)
			dmsnap_clear(v->origin);
		if (di.suspended && dmsnap_resume(v->origin))
			log_err("device %s stays suspended: resume it with dmsetup resume %s",
				v->origin, v->origin);
	}
	origin_read(v, NULL, NULL);
	if (v->so_live)
		log_warn("device %s stays on snapshot-origin until the next cycle: writes are slower, data is safe",
			 v->origin);
}

int cons_volume_init(struct cons_volume *v, struct cbt_source *src, const char *device,
		     const struct cbt_volume_info *info, const struct cons_config *cfg)
{
	struct dmsnap_info di;
	struct stat st;
	int err;

	memset(v, 0, sizeof(*v));
	v->src = src;
	v->cfg = cfg && cfg->origin ? cfg : NULL;
	v->sectors = info->size_bytes / 512;
	if (!v->cfg)
		return 0;
	v->origin = cfg->origin;
	if (!cfg->cow) {
		log_err("volume %s: an origin device (%s) needs a COW device too (--cow)",
			info->name, cfg->origin);
		return -EINVAL;
	}
	if (stat(device, &st) < 0 || !S_ISBLK(st.st_mode)) {
		log_err("volume %s: consistent cycles need the dm-cbt block device, and %s is not one",
			info->name, device);
		return -EINVAL;
	}
	v->cbt_dev = st.st_rdev;
	err = origin_read(v, info->name, device);
	if (err)
		return err;
	snprintf(v->snap, sizeof(v->snap), "%.100s-cbtsnap", info->name);
	/*
	 * What an interrupted run left.  Its cycle is merged back or settled
	 * later; the snapshot goes first, while the origin is still
	 * suspended or on snapshot-origin, then the origin goes to linear.
	 */
	err = dmsnap_destroy(v->snap);
	if (!err)
		err = dmsnap_info(v->origin, &di);
	if (!err && di.inactive) {
		log_notice("volume %s: dropping the table left in the inactive slot of %s",
			   info->name, v->origin);
		err = dmsnap_clear(v->origin);
	}
	if (err)
		return err;
	if (v->so_live) {
		log_notice("volume %s: %s is on snapshot-origin; putting it on linear between cycles",
			   info->name, v->origin);
		origin_linear(v);
	} else if (di.suspended) {
		log_notice("volume %s: %s was left suspended by an interrupted run; resuming it",
			   info->name, v->origin);
		err = dmsnap_resume(v->origin);
	}
	return err;
}

/* ---- hooks ---- */

static int run_hook(const char *cmd, const char *arg, unsigned int timeout)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	unsigned int waited = 0, limit = (timeout ? timeout : 60) * 20;
	int status, err;
	pid_t pid, w;

	pid = fork();
	if (pid < 0) {
		err = -errno;
		log_err("cannot start hook %s: %s", cmd, strerror(-err));
		return err;
	}
	if (!pid) {
		/* Its output goes to our stderr: stdout is the caller's. */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setpgid(0, 0);
		execl(cmd, cmd, arg, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			err = -errno;
			log_err("waiting for hook %s %s: %s", cmd, arg, strerror(-err));
			return err;
		}
		if (++waited > limit) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			log_err("hook %s %s did not finish in %u s and was killed; make it faster or raise the hook timeout",
				cmd, arg, timeout ? timeout : 60);
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		log_err("hook %s %s exited with %d%s", cmd, arg, WEXITSTATUS(status),
			WEXITSTATUS(status) == 127 ? " (cannot be run? it must be an executable path)" : "");
	else
		log_err("hook %s %s was killed by signal %d", cmd, arg, WTERMSIG(status));
	return -ECANCELED;
}

/* Pre hooks; *cmd_ran / *fs_frozen say what post must undo (the guard, fs-guard.h). */
static int hooks_pre(const struct cons_hooks *h, bool *cmd_ran, bool *fs_frozen,
		     struct fs_guard *guard)
{
	int err = 0;

	*cmd_ran = *fs_frozen = false;
	if (h->command) {
		*cmd_ran = true;	/* post runs even if pre failed half way */
		err = run_hook(h->command, "pre", h->timeout);
	}
	if (!err && h->fsfreeze) {
		err = fs_guard_freeze(guard, h->fsfreeze, h->fsfreeze_timeout, h->state_dir, NULL);
		*fs_frozen = !err;
	}
	return err;
}

/* -ETIMEDOUT if the file system did not stay frozen until the thaw (logged why). */
static int hooks_post(const struct cons_hooks *h, bool cmd_ran, bool fs_frozen,
		      struct fs_guard *guard)
{
	bool held = true;
	int err = 0, e;

	if (fs_frozen) {
		err = fs_guard_thaw(guard, &held);
		if (!err && !held)
			err = -ETIMEDOUT;
	}
	if (cmd_ran) {
		e = run_hook(h->command, "post", h->timeout);
		if (!err)
			err = e;
	}
	return err;
}

/* ---- the instant ---- */

/*
 * Resume a volume's origin after the freeze.  swap: all went well, resume
 * with snapshot-origin swapped in.  Else, or if that fails, undo: the
 * snapshot goes first (the origin is still suspended), then the inactive
 * table, then the origin resumes on the table it had.  An origin whose
 * snapshot cannot be torn down stays suspended unless its live table is
 * snapshot-origin: a snapshot is never active under a writable linear origin.
 */
static int origin_resume(struct cons_volume *v, bool swap)
{
	int err = 0, e;

	if (!v->suspended) {
		if (v->loaded && !dmsnap_clear(v->origin))
			v->loaded = false;
		return 0;
	}
	if (swap) {
		err = dmsnap_resume(v->origin);
		if (!err) {
			v->so_live = true;
			v->loaded = v->suspended = false;
			return 0;
		}
	}
	if (v->snapped) {
		e = dmsnap_destroy(v->snap);
		origin_read(v, NULL, NULL);	/* a failed swap may have swapped */
		if (e && !v->so_live) {
			log_err("device %s stays suspended because snapshot %s could not be removed: remove it with dmsetup remove %s, then dmsetup resume %s",
				v->origin, v->snap, v->snap, v->origin);
			return e;
		}
		v->snapped = e != 0;
		if (e && !err)
			err = e;
	}
	dmsnap_clear(v->origin);
	v->loaded = false;
	e = dmsnap_resume(v->origin);
	if (e) {
		log_err("device %s stays suspended: resume it with dmsetup resume %s", v->origin,
			v->origin);
		err = err ? err : e;
	} else {
		v->suspended = false;
	}
	origin_read(v, NULL, NULL);
	return err;
}

int cons_freeze(struct cons_volume **vp, size_t n, const struct cons_hooks *hooks, bool app,
		enum cons_level *level)
{
	bool cmd_ran = false, fs_frozen = false, snap_all = true;
	struct fs_guard guard;
	struct cons_volume *v;
	size_t i;
	int err = 0, e;

	for (i = 0; i < n; i++) {
		v = vp[i];
		/* A snapshot a failed release (or anything else) left: gone first. */
		if (v->snap[0]) {
			err = dmsnap_destroy(v->snap);
			if (err)
				return err;
			v->snapped = false;
		}
		v->frozen = v->loaded = v->suspended = false;
		v->read_path[0] = '\0';
		snap_all = snap_all && v->cfg;
	}
	/* snapshot-origin waits in the inactive slots: the suspends stay short. */
	for (i = 0; i < n && !err; i++)
		if (vp[i]->cfg)
			err = origin_load(vp[i], true);
	app = app && hooks && (hooks->command || hooks->fsfreeze);
	if (!err && app && hooks_pre(hooks, &cmd_ran, &fs_frozen, &guard)) {
		log_warn("the pre-freeze hook failed: this point is crash-consistent only, not app-consistent");
		app = false;
	}
	/* From here no write reaches the dm-cbt devices until the resume. */
	for (i = 0; i < n && !err; i++) {
		if (!vp[i]->cfg)
			continue;
		/* A file system frozen by the hook cannot be frozen again by dm. */
		err = dmsnap_suspend(vp[i]->origin, !fs_frozen);
		vp[i]->suspended = !err;
	}
	for (i = 0; i < n && !err; i++) {
		err = vp[i]->src->ops->freeze(vp[i]->src, &vp[i]->tcycle);
		vp[i]->frozen = !err;
	}
	for (i = 0; i < n && !err; i++) {
		if (!vp[i]->cfg)
			continue;
		err = dmsnap_create(vp[i]->snap, vp[i]->cbt_dev, vp[i]->cfg->cow, vp[i]->sectors,
				    vp[i]->cfg->chunk_sectors ? vp[i]->cfg->chunk_sectors : 8,
				    vp[i]->read_path, sizeof(vp[i]->read_path));
		vp[i]->snapped = !err;
	}
	/* The resume swaps snapshot-origin in: writes reach a snapshot's origin only through it. */
	for (i = 0; i < n; i++) {
		e = origin_resume(vp[i], !err);
		if (e && !err)
			err = e;
	}
	if ((cmd_ran || fs_frozen) && hooks_post(hooks, cmd_ran, fs_frozen, &guard)) {
		log_warn("the post-freeze hook failed: this point is crash-consistent only, not app-consistent");
		app = false;
	}
	if (err) {
		for (i = 0; i < n; i++) {
			if (!vp[i]->suspended)
				cons_release(vp[i]);
			if (vp[i]->frozen && !vp[i]->src->ops->abort(vp[i]->src, vp[i]->tcycle))
				vp[i]->frozen = false;
		}
		return err;
	}
	*level = !snap_all ? CONS_NONE : app ? CONS_APP : CONS_CRASH;
	return 0;
}

/* ---- consistency groups ---- */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cons_group_init(struct cons_group *g, const char *name, size_t n,
		    const struct cons_hooks *hooks)
{
	memset(g, 0, sizeof(*g));
	if (strlen(name) > FMT_GROUP_NAME_MAX || !fmt_volume_name_ok(name)) {
		log_err("invalid group name \"%s\": use letters, digits, '.', '_' and '-', at most %d bytes",
			name, FMT_GROUP_NAME_MAX);
		return -EINVAL;
	}
	g->vols = calloc(n, sizeof(*g->vols));
	if (!g->vols)
		return -ENOMEM;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->n = n;
	g->hooks = hooks;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	return 0;
}

void cons_group_destroy(struct cons_group *g)
{
	if (!g->vols)
		return;
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g->vols);
	g->vols = NULL;
}

void cons_group_round(struct cons_group *g)
{
	g->arrived = g->left = 0;
	g->done = false;
	g->result = 0;
	g->voted = 0;
	g->vote_failed = false;
}

/* The last member in: take the instant for all (lock held; the rest wait). */
static void group_instant(struct cons_group *g)
{
	const struct cons_hooks *h = g->hooks;
	bool app = h && (!g->last_app || mono_now() - g->last_app >= h->interval);
	struct timespec ts;

	if (g->left) {
		if (g->arrived)
			log_err("group %s: %zu of its %zu volumes cannot take part in this cycle, so no group instant is taken; the others' cycles are merged back",
				g->name, g->left, g->n);
		g->result = -EAGAIN;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		g->instant = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
		g->result = cons_freeze(g->vols, g->n, h, app, &g->level);
		if (!g->result && g->level == CONS_APP)
			g->last_app = mono_now();
	}
	g->done = true;
	pthread_cond_broadcast(&g->cond);
}

int cons_group_freeze(struct cons_group *g, enum cons_level *level, uint64_t *instant)
{
	int err;

	pthread_mutex_lock(&g->lock);
	g->arrived++;
	if (g->arrived + g->left == g->n)
		group_instant(g);
	while (!g->done)
		pthread_cond_wait(&g->cond, &g->lock);
	err = g->result;
	*level = g->level;
	*instant = g->instant;
	pthread_mutex_unlock(&g->lock);
	return err;
}

void cons_group_leave(struct cons_group *g)
{
	pthread_mutex_lock(&g->lock);
	g->left++;
	if (g->arrived + g->left == g->n && !g->done)
		group_instant(g);
	pthread_mutex_unlock(&g->lock);
}

int cons_group_commit_vote(struct cons_group *g, bool ok)
{
	int err;

	pthread_mutex_lock(&g->lock);
	g->voted++;
	g->vote_failed |= !ok;
	if (g->voted == g->n)
		pthread_cond_broadcast(&g->cond);
	while (g->voted < g->n)
		pthread_cond_wait(&g->cond, &g->lock);
	err = g->vote_failed ? -EAGAIN : 0;
	pthread_mutex_unlock(&g->lock);
	return err;
}

int cons_snapshot_valid(struct cons_volume *v, bool *valid)
{
	uint64_t used, total;
	int err;

	*valid = false;
	if (!v->snapped)
		return 0;
	err = dmsnap_snapshot_status(v->snap, valid, &used, &total);
	if (!err && !*valid)
		log_warn("snapshot %s was invalidated: COW device %s filled up during the cycle; give a larger --cow",
			 v->snap, v->cfg->cow);
	return err;
}

int cons_release(struct cons_volume *v)
{
	int err;

	if (v->snapped) {
		err = dmsnap_destroy(v->snap);
		if (err)
			return err;	/* the origin stays on snapshot-origin: safe */
		v->snapped = false;
		v->read_path[0] = '\0';
	}
	if (v->so_live)
		origin_linear(v);
	return 0;
}
