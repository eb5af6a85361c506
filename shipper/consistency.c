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

/* ---- the stack: NAME on the disk, or on NAME-cbtso during a cycle ---- */

int cons_table_parse(struct cons_volume *v, const char *params, dev_t *dev, dev_t *data_of)
{
	char buf[CONS_TABLE_MAX], *tok[32], *save = NULL, *t, *end;
	unsigned int ma, mi, kept = 0;
	size_t n = 0, i, used = 0;
	unsigned long nopt;
	char c;

	if (strlen(params) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", params);
	for (t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == sizeof(tok) / sizeof(tok[0]))
			return -EINVAL;
		tok[n++] = t;
	}
	if (n < 2 || sscanf(tok[0], "%u:%u%c", &ma, &mi, &c) != 2 ||
	    strlen(tok[1]) >= sizeof(v->cbt_bs))
		return -EINVAL;
	*dev = makedev(ma, mi);
	*data_of = 0;
	snprintf(v->cbt_bs, sizeof(v->cbt_bs), "%s", tok[1]);
	v->cbt_opts[0] = '\0';
	if (n > 2) {
		errno = 0;
		nopt = strtoul(tok[2], &end, 10);
		if (errno || *end || nopt != n - 3)
			return -EINVAL;
	}
	for (i = 3; i < n; i++) {
		if (!strcmp(tok[i], "data_of")) {
			if (i + 1 == n || sscanf(tok[i + 1], "%u:%u%c", &ma, &mi, &c) != 2)
				return -EINVAL;
			*data_of = makedev(ma, mi);
			i++;
			continue;
		}
		used += (size_t)snprintf(v->cbt_opts + used, sizeof(v->cbt_opts) - used, " %s",
					 tok[i]);
		kept++;
	}
	v->cbt_nopt = kept;
	return 0;
}

int cons_table_params(const struct cons_volume *v, bool during, char *buf, size_t len)
{
	dev_t onto = during ? v->so_dev : v->disk;
	unsigned int nopt = v->cbt_nopt + (during ? 2 : 0);
	char nbuf[16] = "";
	int n;

	if (nopt)
		snprintf(nbuf, sizeof(nbuf), " %u", nopt);
	if (during)
		n = snprintf(buf, len, "%u:%u %s%s%s data_of %u:%u", major(onto), minor(onto),
			     v->cbt_bs, nbuf, v->cbt_opts, major(v->disk), minor(v->disk));
	else
		n = snprintf(buf, len, "%u:%u %s%s%s", major(onto), minor(onto), v->cbt_bs, nbuf,
			     v->cbt_opts);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * Read NAME's live table: a single `cbt` target over the whole volume, on
 * the disk (v->on_so false) or on NAME-cbtso with `data_of DISK` (true);
 * anything else is -EINVAL, logged when `volume` is given.  Also whether
 * NAME-cbtso exists (v->so_made, v->so_dev).
 */
static int stack_read(struct cons_volume *v, const char *volume)
{
	char type[32], params[CONS_TABLE_MAX];
	struct dmsnap_info di, si;
	uint64_t length = 0;
	dev_t dev, data_of;
	int err;

	err = dmsnap_info(v->name, &di);
	if (!err)
		err = dmsnap_table(v->name, type, sizeof(type), params, sizeof(params), &length);
	if (err) {
		if (volume)
			log_err("volume %s: cannot read the table of device-mapper device %s: %s",
				volume, v->name, strerror(-err));
		return err;
	}
	if (di.targets != 1 || strcmp(type, "cbt") || length != v->sectors ||
	    cons_table_parse(v, params, &dev, &data_of)) {
		if (volume)
			log_err("volume %s: %s is %u target(s), the first \"0 %" PRIu64 " %s %s\", not one cbt target over the whole volume (docs/CONSISTENCY.md)",
				volume, v->name, di.targets, length, type, params);
		return -EINVAL;
	}
	err = dmsnap_info(v->so, &si);
	if (err && err != -ENXIO)
		return err;
	v->so_made = !err;
	v->so_dev = v->so_made ? si.dev : 0;
	v->disk = data_of ? data_of : dev;
	v->on_so = data_of && data_of != dev;
	if (v->on_so && (!v->so_made || si.dev != dev)) {
		if (volume)
			log_err("volume %s: %s is on %u:%u, which presents the data of %u:%u (data_of), but that is not %s, the snapshot-origin cbtship makes; put %s back on its disk (dmsetup reload %s --table \"0 %" PRIu64 " cbt %u:%u %s...\", then dmsetup resume %s)",
				volume, v->name, major(dev), minor(dev), major(data_of),
				minor(data_of), v->so, v->name, v->name, v->sectors,
				major(data_of), minor(data_of), v->cbt_bs, v->name);
		return -EINVAL;
	}
	return 0;
}

/*
 * Back to between cycles, from any state a cycle, a failure or a killed
 * run leaves: the snapshot goes first, then NAME's inactive table; NAME
 * goes back on the disk (one more short suspend, without lockfs) and is
 * resumed; NAME-cbtso goes last.  A snapshot that cannot be torn down
 * keeps NAME suspended unless NAME is on NAME-cbtso: a snapshot is never
 * active while writes reach the disk past a snapshot-origin.  Returns an
 * error only if the snapshot stays or the state cannot be read; NAME left
 * on NAME-cbtso (a failed swap) is logged: slower, never wrong.
 */
static int stack_back(struct cons_volume *v)
{
	char params[CONS_TABLE_MAX + 64];
	struct dmsnap_info di;
	int err, e;

	err = dmsnap_destroy(v->snap);
	if (!err) {
		v->snapped = false;
		v->read_path[0] = '\0';
	}
	e = stack_read(v, NULL);	/* a failed swap may have swapped */
	if (!e)
		e = dmsnap_info(v->name, &di);
	if (e) {
		log_err("device %s: cannot read its table or state (%s); check it with dmsetup table %s",
			v->name, strerror(-e), v->name);
		return err ? err : e;
	}
	if (err && !v->on_so) {
		if (di.suspended)
			log_err("device %s stays suspended because snapshot %s could not be removed: remove it with dmsetup remove %s, then dmsetup resume %s",
				v->name, v->snap, v->snap, v->name);
		return err;
	}
	if (di.inactive)
		dmsnap_clear(v->name);
	if (!err && v->on_so) {
		e = cons_table_params(v, false, params, sizeof(params));
		if (!e)
			e = dmsnap_load(v->name, v->sectors, "cbt", params);
		if (!e)
			e = dmsnap_resume(v->name);
		if (e) {
			stack_read(v, NULL);
			if (!dmsnap_info(v->name, &di) && di.inactive)
				dmsnap_clear(v->name);
		} else {
			v->on_so = false;
			di.suspended = false;
		}
	}
	v->suspended = false;
	if (di.suspended && dmsnap_resume(v->name)) {
		log_err("device %s stays suspended: resume it with dmsetup resume %s", v->name,
			v->name);
		v->suspended = true;
	}
	if (v->on_so) {
		log_warn("device %s stays on %s (a snapshot-origin) until the next cycle: writes are slower, data is safe",
			 v->name, v->so);
		return err;
	}
	if (v->so_made && !dmsnap_remove(v->so))
		v->so_made = false;
	return err;
}

/* Create NAME-cbtso with `snapshot-origin DISK` waiting in its inactive slot. */
static int so_prepare(struct cons_volume *v)
{
	char params[32];
	int err = dmsnap_create_empty(v->so, &v->so_dev);

	if (err)
		return err;
	v->so_made = true;
	snprintf(params, sizeof(params), "%u:%u", major(v->disk), minor(v->disk));
	return dmsnap_load(v->so, v->sectors, "snapshot-origin", params);
}

int cons_volume_init(struct cons_volume *v, struct cbt_source *src, const char *device,
		     const struct cbt_volume_info *info, const struct cons_config *cfg)
{
	struct dmsnap_info di;
	struct stat st;
	int err;

	memset(v, 0, sizeof(*v));
	v->src = src;
	v->cfg = cfg && cfg->cow ? cfg : NULL;
	v->sectors = info->size_bytes / 512;
	if (!v->cfg)
		return 0;
	if (stat(device, &st) < 0 || !S_ISBLK(st.st_mode)) {
		log_err("volume %s: consistent cycles need the dm-cbt block device, and %s is not one",
			info->name, device);
		return -EINVAL;
	}
	if (strlen(info->name) > 100) {
		log_err("volume %s: consistent cycles need a dm name of at most 100 bytes for %s; rename it (dmsetup rename)",
			info->name, device);
		return -ENAMETOOLONG;
	}
	snprintf(v->name, sizeof(v->name), "%s", info->name);
	err = dmsnap_info(v->name, &di);
	if (!err && di.dev != st.st_rdev)
		err = -ENODEV;
	if (err) {
		log_err("volume %s: %s is not the device-mapper device %s (%s); give the dm-cbt device users write to",
			info->name, device, v->name, strerror(-err));
		return err;
	}
	snprintf(v->so, sizeof(v->so), "%.100s-cbtso", v->name);
	snprintf(v->snap, sizeof(v->snap), "%.100s-cbtsnap", v->name);
	err = stack_read(v, info->name);
	if (err)
		return err;
	/*
	 * What an interrupted run left: its cycle is merged back or settled
	 * later; the snapshot goes first, then NAME goes back on the disk.
	 */
	if (v->on_so || v->so_made || di.inactive || di.suspended)
		log_notice("volume %s: repairing what an interrupted run left (%s%s%s%s)",
			   info->name, v->on_so ? "on snapshot-origin, " : "",
			   v->so_made ? "snapshot-origin device, " : "",
			   di.inactive ? "inactive table, " : "", di.suspended ? "suspended" : "");
	err = stack_back(v);
	if (!err && (v->on_so || v->suspended))
		err = -EBUSY;
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
 * Resume NAME after the freeze.  swap: all went well, resume with
 * `cbt NAME-cbtso ... data_of DISK` swapped in.  Else, or if that fails,
 * undo (stack_back: the snapshot goes first while NAME is still suspended).
 */
static int name_resume(struct cons_volume *v, bool swap)
{
	int err = 0, e;

	if (!v->suspended)
		return 0;
	if (swap) {
		err = dmsnap_resume(v->name);
		if (!err) {
			v->on_so = true;
			v->suspended = false;
			return 0;
		}
	}
	e = stack_back(v);
	return err ? err : e;
}

/*
 * Before a cycle: NAME's table read again (its options may have changed),
 * and nothing a failed release left (removed now, or the cycle fails).
 */
static int stack_clean(struct cons_volume *v)
{
	struct dmsnap_info si;
	int err = stack_read(v, v->name);

	if (err)
		return err;
	if (!dmsnap_info(v->snap, &si))
		v->snapped = true;	/* whoever left it: it goes first */
	if (!v->snapped && !v->on_so && !v->so_made)
		return 0;
	stack_back(v);
	if (!v->snapped && !v->on_so && !v->so_made)
		return 0;
	log_err("device %s: %s is left from the last cycle and cannot be removed, so no snapshot is taken this cycle; see the errors above",
		v->name, v->snapped ? v->snap : v->so);
	return -EBUSY;
}

int cons_freeze(struct cons_volume **vp, size_t n, const struct cons_hooks *hooks, bool app,
		enum cons_level *level)
{
	char params[CONS_TABLE_MAX + 64];
	bool cmd_ran = false, fs_frozen = false, snap_all = true;
	struct fs_guard guard;
	struct cons_volume *v;
	size_t i;
	int err = 0, e;

	for (i = 0; i < n; i++) {
		v = vp[i];
		/* What a failed release (or anything else) left: gone first. */
		if (v->snap[0]) {
			err = stack_clean(v);
			if (err)
				return err;
		}
		v->frozen = v->suspended = false;
		v->read_path[0] = '\0';
		snap_all = snap_all && v->cfg;
	}
	/* NAME-cbtso waits with snapshot-origin inactive: the suspends stay short. */
	for (i = 0; i < n && !err; i++)
		if (vp[i]->cfg)
			err = so_prepare(vp[i]);
	app = app && hooks && (hooks->command || hooks->fsfreeze);
	if (!err && app && hooks_pre(hooks, &cmd_ran, &fs_frozen, &guard)) {
		log_warn("the pre-freeze hook failed: this point is crash-consistent only, not app-consistent");
		app = false;
	}
	/* From here no write reaches the disks until the resumes. */
	for (i = 0; i < n && !err; i++) {
		if (!vp[i]->cfg)
			continue;
		/* A file system frozen by the hook cannot be frozen again by dm. */
		err = dmsnap_suspend(vp[i]->name, !fs_frozen);
		vp[i]->suspended = !err;
	}
	for (i = 0; i < n && !err; i++) {
		err = vp[i]->src->ops->freeze(vp[i]->src, &vp[i]->tcycle);
		vp[i]->frozen = !err;
	}
	for (i = 0; i < n && !err; i++) {
		if (!vp[i]->cfg)
			continue;
		err = dmsnap_create(vp[i]->snap, vp[i]->disk, vp[i]->cfg->cow, vp[i]->sectors,
				    vp[i]->cfg->chunk_sectors ? vp[i]->cfg->chunk_sectors : 8,
				    vp[i]->read_path, sizeof(vp[i]->read_path));
		vp[i]->snapped = !err;
	}
	/*
	 * Only now, with its snapshot registered: snapshot-origin's resume
	 * sizes its write splitting to the chunks of the snapshots it sees.
	 */
	for (i = 0; i < n && !err; i++)
		if (vp[i]->cfg)
			err = dmsnap_resume(vp[i]->so);
	/* dm-cbt on NAME-cbtso: the same tracking state (data_of), kernel-side. */
	for (i = 0; i < n && !err; i++) {
		if (!vp[i]->cfg)
			continue;
		err = cons_table_params(vp[i], true, params, sizeof(params));
		if (!err)
			err = dmsnap_load(vp[i]->name, vp[i]->sectors, "cbt", params);
	}
	/* The resumes swap it in: from then on writes reach each disk only through NAME-cbtso. */
	for (i = 0; i < n; i++) {
		e = name_resume(vp[i], !err);
		if (e && !err)
			err = e;
	}
	if ((cmd_ran || fs_frozen) && hooks_post(hooks, cmd_ran, fs_frozen, &guard)) {
		log_warn("the post-freeze hook failed: this point is crash-consistent only, not app-consistent");
		app = false;
	}
	if (err) {
		for (i = 0; i < n; i++) {
			if (vp[i]->cfg && !vp[i]->suspended)
				stack_back(vp[i]);
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
	if (!v->snapped && !v->on_so && !v->so_made)
		return 0;
	return stack_back(v);
}
