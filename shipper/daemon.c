// SPDX-License-Identifier: GPL-2.0
/*
 * The service: a main loop running the scheduler over every configured
 * volume and one worker thread per volume running its cycles
 * (daemon.h).  Locking: one mutex (daemon.lock) protects every field
 * marked "locked" below; the workers never hold it while a cycle runs.
 *
 * A consistency group ([group NAME], docs/CONSISTENCY.md) is scheduled as
 * one entry taking one slot per volume: the main loop starts all its
 * volumes' workers at once, each runs its cycle as a member of the
 * group's struct cons_group (the path of `cbtship replicate --group`), and
 * the round ends when the last member's cycle has ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blackout.h"
#include "cbt-netlink.h"
#include "config.h"
#include "daemon.h"
#include "fs-guard.h"
#include "log.h"
#include "metrics.h"
#include "progress.h"
#include "replicate.h"
#include "schedule.h"
#include "throttle.h"

#define DAEMON_RETRY_US		(60 * USEC_PER_SEC)
#define THROTTLE_SLICE_US	(200 * 1000)

struct dgroup;

struct dvol {
	struct daemon *d;
	struct dgroup *grp;		/* locked; its group, changed only while !s.running */
	size_t grp_index;		/* locked; its place in grp */
	struct volume_config cfg;	/* locked; changed only while !busy */
	struct volume_config *new_cfg;	/* locked; applied by the worker when not busy */
	struct sched_volume s;		/* locked */
	struct vol_status st;		/* locked */
	pthread_t thread;
	pthread_cond_t cond;		/* wakes the worker */
	bool go;			/* locked: run a cycle */
	bool busy;			/* locked: the worker uses cfg and its replicator */
	bool quit;			/* locked: exit after the running cycle */
	bool removed;			/* locked: no longer in the configuration */
	bool exited;			/* locked: the worker thread has returned */
	bool event_changed;		/* locked: a dm-cbt event came while a cycle ran */
	struct replicate_hooks hooks;
};

/* A consistency group under the daemon. */
struct dgroup {
	struct group_config cfg;	/* locked */
	uint64_t gen;			/* unique: replicators opened for it say so */
	struct cons_group cg;		/* the members' instants (consistency.h) */
	struct cons_hooks hooks;	/* the group's hooks, into cfg */
	struct sched_volume s;		/* locked */
	struct dvol *member[CONFIG_GROUP_MAX];	/* locked; bound volumes, set by bind_groups */
	size_t pending;			/* locked: members whose cycle of this round runs */
	int round_err;			/* locked: the round's failure (the first cause) */
	char round_failed[VSTORE_NAME_MAX + 1];	/* locked: the volume that caused it */
	int64_t round_start;		/* locked */
	bool retired;			/* locked: gone or changed in the configuration */
};

struct daemon {
	char *config_path;
	struct cbt_clock *clock;
	pthread_mutex_t lock;
	pthread_mutex_t open_lock;	/* one replicator_open at a time: volumes share stores */
	struct cbt_config cfg;		/* locked */
	char status_dir[4096];
	char metrics_path[4096];
	struct dvol **vol;		/* locked */
	size_t nr_vol;
	struct dgroup **grp;		/* locked */
	size_t nr_grp;
	uint64_t next_gen;		/* locked */
	struct throttle throttle;
	volatile sig_atomic_t stop;	/* passed to cycles: they merge back */
	volatile sig_atomic_t reload;
	int wake[2];			/* self-pipe: workers and signal handlers wake the loop */
	struct cbt_events *events;	/* dm-cbt's events group, or NULL: polling only */
	struct daemon_test_hooks test;	/* set before daemon_run() */
};

static void wake_main(struct daemon *d)
{
	char c = 1;

	if (write(d->wake[1], &c, 1) < 0) {
		/* Full pipe: the loop is already due to wake. */
	}
}

void daemon_request_stop(struct daemon *d)
{
	d->stop = 1;
	wake_main(d);
}

void daemon_request_reload(struct daemon *d)
{
	d->reload = 1;
	wake_main(d);
}

/* ---- hooks, called from a cycle's threads ---- */

static void hook_before_put(void *arg, size_t bytes)
{
	struct dvol *v = arg;
	int64_t wait = throttle_reserve(&v->d->throttle, bytes), step;

	/* Sleep in slices so that a stop is not held up by a long throttle wait. */
	while (wait > 0 && !v->d->stop) {
		step = wait < THROTTLE_SLICE_US ? wait : THROTTLE_SLICE_US;
		clock_sleep_us(v->d->clock, step);
		wait -= step;
	}
	pthread_mutex_lock(&v->d->lock);
	v->st.cycle_bytes_put += bytes;
	pthread_mutex_unlock(&v->d->lock);
}

static void hook_progress(void *arg, uint64_t done, uint64_t total, uint32_t block_size)
{
	struct dvol *v = arg;

	pthread_mutex_lock(&v->d->lock);
	v->st.cycle_done_blocks = done;
	v->st.cycle_total_blocks = total;
	v->st.block_size = block_size;
	pthread_mutex_unlock(&v->d->lock);
}

/* ---- worker ---- */

static int open_replicator(struct dvol *v, struct dgroup *g, size_t gi, struct replicator **r)
{
	/* The replicator keeps its own copies of these. */
	struct cons_config cons = {
		.cow = v->cfg.snapshot_cow,
	};
	struct cons_hooks hooks = {
		.command = v->cfg.hook, .fsfreeze = v->cfg.fsfreeze,
		.timeout = v->cfg.hook_timeout, .interval = v->cfg.app_interval,
		.fsfreeze_timeout = v->cfg.fsfreeze_timeout, .state_dir = v->d->cfg.state_dir,
	};
	struct replicate_opts o = {
		.store = v->cfg.store,
		.key_path = v->cfg.key,
		.device = v->cfg.device,
		.fake_state = v->cfg.fake_state,
		.volume = v->cfg.name,
		.writer = v->cfg.writer,
		.state_dir = v->d->cfg.state_dir,
		.stop = &v->d->stop,
		.hooks = &v->hooks,
		.cons = v->cfg.snapshot_cow ? &cons : NULL,
		.cons_hooks = v->cfg.hook || v->cfg.fsfreeze ? &hooks : NULL,
		/* A member's hooks are the group's (cons_group). */
		.group = g ? &g->cg : NULL,
		.group_index = gi,
	};
	int err;

	config_remote_opts(&v->cfg, &o.remote);

	pthread_mutex_lock(&v->d->open_lock);
	err = replicator_open(&o, r);
	pthread_mutex_unlock(&v->d->open_lock);
	return err;
}

/* Called with the lock held, when not busy. */
static void apply_new_cfg(struct dvol *v, struct replicator **r)
{
	if (!v->new_cfg)
		return;
	config_volume_free(&v->cfg);
	v->cfg = *v->new_cfg;
	free(v->new_cfg);
	v->new_cfg = NULL;
	replicator_close(*r);	/* reopened with the new settings */
	*r = NULL;
}

static void finish_cycle(struct dvol *v, int err, const struct replicate_summary *sum,
			 int64_t start, int64_t end, int64_t min_interval)
{
	struct vol_status *st = &v->st;
	bool was_initial = !v->s.initial_done;

	v->s.running = false;
	v->s.on_demand = false;
	snprintf(st->kind, sizeof(st->kind), "%s", "delta");
	st->cycle_start_us = 0;
	st->cycle_done_blocks = st->cycle_total_blocks = st->cycle_bytes_put = 0;
	if (err || sum->result == REPLICATE_NOTHING) {
		st->cycles_failed++;
		st->last_error = err ? err : -EIO;
		snprintf(st->state, sizeof(st->state), "error");
		/* Retry after a minute: the cause may be transient (store, network). */
		v->s.retry_at = end + DAEMON_RETRY_US;
		v->s.in_progress = was_initial;
		return;
	}
	st->cycles_ok++;
	st->last_error = 0;
	st->last_start_us = start;
	st->last_end_us = end;
	st->last_duration_us = end - start;
	st->last_bytes = sum->bytes_stored;
	st->last_blocks = sum->blocks;
	if (sum->result == REPLICATE_SHIPPED)
		st->last_cycle = sum->cycle;
	st->bytes_total += sum->bytes_stored;
	st->initial_done = true;
	v->s.initial_done = true;
	v->s.in_progress = false;
	v->s.has_changes = v->event_changed;	/* change after the freeze */
	v->event_changed = false;
	v->s.retry_at = 0;
	st->backlog_blocks = 0;
	v->s.next_due = sched_next_due(was_initial, end, end - start, min_interval);
	st->next_due_us = v->s.next_due;
	snprintf(st->state, sizeof(st->state), "waiting");
}

/*
 * A member's cycle of its group's round ended (after finish_cycle).  The
 * last one ends the round: the group's next cycle is due as a single
 * volume's would be, or, if any member failed, every member's cycle was
 * merged back (replicate.c's commit vote) and the round is retried.
 * Called with the lock held.
 */
static void group_member_done(struct dvol *v, struct dgroup *g, int err,
			      const struct replicate_summary *sum, int64_t end)
{
	struct daemon *d = v->d;
	bool was_initial = !g->s.initial_done, all_done = true;
	size_t i;

	if (!err && sum->result == REPLICATE_NOTHING)
		err = -EIO;
	/* The first cause: -EAGAIN is a member aborting because another failed. */
	if (err && (!g->round_err || (g->round_err == -EAGAIN && err != -EAGAIN))) {
		g->round_err = err;
		snprintf(g->round_failed, sizeof(g->round_failed), "%s", v->cfg.name);
	}
	if (g->pending && --g->pending)
		return;
	g->s.running = false;
	g->s.on_demand = false;
	for (i = 0; i < g->cfg.nr_member; i++)
		all_done = all_done && g->member[i] && g->member[i]->s.initial_done;
	if (g->round_err == -EINTR) {
		log_notice("group %s: stopped; every volume's cycle was merged back", g->cfg.name);
	} else if (g->round_err) {
		log_err("group %s: cycle failed (volume %s: %s), so no volume of the group stored this instant; retrying in %d s",
			g->cfg.name, g->round_failed, strerror(-g->round_err),
			(int)(DAEMON_RETRY_US / USEC_PER_SEC));
		g->s.retry_at = end + DAEMON_RETRY_US;
		g->s.in_progress = !all_done;
	} else {
		log_info("group %s: instant %" PRIu64 " stored for its %zu volumes", g->cfg.name,
			 sum->group_instant, g->cfg.nr_member);
		g->s.initial_done = all_done;
		g->s.in_progress = false;
		g->s.retry_at = 0;
		g->s.next_due = sched_next_due(was_initial, end, end - g->round_start,
					       config_group_min_interval(&d->cfg, &g->cfg));
	}
	for (i = 0; i < g->cfg.nr_member; i++) {
		if (!g->member[i])
			continue;
		g->member[i]->s.next_due = g->s.next_due;
		g->member[i]->st.next_due_us = g->s.next_due;
	}
}

/* Quitting with a group's cycle asked for: the others must not wait for it. */
static void worker_leave_group(struct dvol *v)
{
	struct replicate_summary sum = { 0 };

	if (!v->go || !v->grp)
		return;
	v->go = false;
	cons_group_leave(&v->grp->cg);
	v->s.running = false;
	group_member_done(v, v->grp, -EINTR, &sum, clock_now_us(v->d->clock));
}

static void *worker(void *arg)
{
	struct dvol *v = arg;
	struct daemon *d = v->d;
	struct replicator *r = NULL;
	struct replicate_summary sum;
	struct dgroup *g;
	uint64_t r_gen = 0;		/* the group r was opened for; 0 = none */
	size_t gi;
	struct timespec ts;
	int64_t start, end, poll_us, min_interval;
	uint64_t dirty;
	int err;

	pthread_mutex_lock(&d->lock);
	if (!v->s.initial_done && !v->quit) {
		/* The store says the initial replication waits for its turn. */
		v->busy = true;
		pthread_mutex_unlock(&d->lock);
		if (!open_replicator(v, NULL, 0, &r) && replicator_mark_queued(r)) {
			replicator_close(r);	/* the first cycle reopens it and says why */
			r = NULL;
		}
		pthread_mutex_lock(&d->lock);
		v->busy = false;
	}
	for (;;) {
		apply_new_cfg(v, &r);
		if (v->quit) {
			worker_leave_group(v);
			break;
		}
		if (!v->go) {
			/* Idle: wait, looking for change every poll interval. */
			poll_us = d->cfg.poll;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(poll_us / USEC_PER_SEC);
			/* Only with a replicator a cycle opened: a failing open is the cycle's to log. */
			if (pthread_cond_timedwait(&v->cond, &d->lock, &ts) != ETIMEDOUT ||
			    v->quit || v->go || !v->s.initial_done || !r)
				continue;
			v->busy = true;
			pthread_mutex_unlock(&d->lock);
			err = replicator_pending(r, &dirty);
			pthread_mutex_lock(&d->lock);
			v->busy = false;
			if (!err) {
				v->st.backlog_blocks = dirty;
				if (v->s.has_changes != (dirty > 0)) {
					v->s.has_changes = dirty > 0;
					wake_main(d);
				}
			}
			continue;
		}
		v->go = false;
		v->busy = true;
		g = v->grp;
		gi = v->grp_index;
		start = clock_now_us(d->clock);
		v->st.cycle_start_us = start;
		min_interval = config_min_interval(&d->cfg, &v->cfg);
		pthread_mutex_unlock(&d->lock);

		if (d->test.cycle_begin)
			d->test.cycle_begin(d->test.arg, v->cfg.name);
		if (r && r_gen != (g ? g->gen : 0)) {
			replicator_close(r);	/* joined or left a group: reopen */
			r = NULL;
		}
		err = r ? 0 : open_replicator(v, g, gi, &r);
		r_gen = g ? g->gen : 0;
		memset(&sum, 0, sizeof(sum));
		if (!err)
			err = replicator_cycle(r, &sum);
		else if (g)
			cons_group_leave(&g->cg);	/* the others must not wait for it */
		end = clock_now_us(d->clock);
		if (d->test.cycle_end)
			d->test.cycle_end(d->test.arg, v->cfg.name);
		if (err == -ECANCELED) {
			/* The store's state holds it (src-state.h logged why); look again later. */
			log_notice("volume %s: not replicating while the store records it as %s; checking again in %d s",
				   v->cfg.name, vol_state_name(sum.store_state) ?: "?",
				   (int)(DAEMON_RETRY_US / USEC_PER_SEC));
		} else if (err && err != -EINTR) {
			log_err("volume %s: cycle failed (%s); retrying later (see the messages above)",
				v->cfg.name, strerror(-err));
			replicator_close(r);	/* reopen: the cause may be fixed by then */
			r = NULL;
		} else if (!err && sum.result == REPLICATE_SHIPPED) {
			log_info("volume %s: cycle %" PRIu64 " (%s) shipped: %" PRIu64 " blocks, %" PRIu64 " bytes stored, %.1f s",
				 v->cfg.name, sum.cycle, sum.kind == CYCLE_INITIAL ? "initial" : "delta",
				 sum.blocks, sum.bytes_stored, sum.seconds);
		}

		pthread_mutex_lock(&d->lock);
		v->busy = false;
		if (sum.store_state)
			snprintf(v->st.store_state, sizeof(v->st.store_state), "%s",
				 vol_state_name(sum.store_state));
		if (err == -EINTR) {
			/* Stopped: merged back; the next run starts it again. */
			v->s.running = false;
			snprintf(v->st.state, sizeof(v->st.state), "stopped");
		} else {
			finish_cycle(v, err, &sum, start, end, min_interval);
		}
		if (g)
			group_member_done(v, g, err, &sum, end);
		v->st.updated_us = end;
		status_write(d->status_dir, &v->st);
		wake_main(d);
	}
	v->exited = true;
	pthread_mutex_unlock(&d->lock);
	replicator_close(r);
	wake_main(d);
	return NULL;
}

/* ---- volumes ---- */

/* Restore what a previous run recorded. */
static void restore_status(struct daemon *d, struct dvol *v)
{
	char path[4400];
	struct vol_status old;

	snprintf(path, sizeof(path), "%s/%s.state", d->status_dir, v->cfg.name);
	if (status_read(path, &old) || strcmp(old.name, v->cfg.name))
		return;
	v->st = old;
	v->s.initial_done = old.initial_done;
	/* An initial replication was under way when the last run ended. */
	v->s.in_progress = !old.initial_done &&
			   (!strcmp(old.state, "running") || !strcmp(old.state, "stopped") ||
			    old.cycle_total_blocks);
	v->s.next_due = old.next_due_us;
	v->st.cycle_start_us = 0;
	v->st.cycle_done_blocks = v->st.cycle_total_blocks = v->st.cycle_bytes_put = 0;
	log_info("volume %s: resuming (%s, next cycle due %+.0f s from now)", v->cfg.name,
		 old.initial_done ? "initial replication done" : "initial replication pending",
		 (double)(old.next_due_us - clock_now_us(d->clock)) / USEC_PER_SEC);
}

/* Called with the lock held. */
static int add_volume(struct daemon *d, const struct volume_config *cfg)
{
	struct dvol *v, **nv;
	int err;

	nv = realloc(d->vol, (d->nr_vol + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	d->vol = nv;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	err = config_volume_copy(&v->cfg, cfg);
	if (err)
		goto out_free;
	v->d = d;
	v->hooks = (struct replicate_hooks){ .arg = v, .before_put = hook_before_put,
					     .progress = hook_progress };
	snprintf(v->st.name, sizeof(v->st.name), "%s", cfg->name);
	snprintf(v->st.state, sizeof(v->st.state), "waiting");
	snprintf(v->st.kind, sizeof(v->st.kind), "initial");
	restore_status(d, v);
	/* Unknown until a cycle has looked: near-continuous volumes start with one. */
	v->s.has_changes = true;
	pthread_cond_init(&v->cond, NULL);
	err = -pthread_create(&v->thread, NULL, worker, v);
	if (err) {
		log_err("volume %s: cannot start a thread: %s", cfg->name, strerror(-err));
		pthread_cond_destroy(&v->cond);
		config_volume_free(&v->cfg);
		goto out_free;
	}
	d->vol[d->nr_vol++] = v;
	log_info("volume %s: managed (device %s, store %s)", cfg->name, cfg->device, cfg->store);
	return 0;
out_free:
	free(v);
	return err;
}

/* Join and free workers that have exited.  Called with the lock held. */
static void reap_volumes(struct daemon *d)
{
	struct dvol *v;
	size_t i = 0;

	while (i < d->nr_vol) {
		v = d->vol[i];
		if (!v->exited) {
			i++;
			continue;
		}
		pthread_mutex_unlock(&d->lock);
		pthread_join(v->thread, NULL);
		pthread_mutex_lock(&d->lock);
		if (v->removed) {
			/* Its store volume stays; its status goes with it. */
			char path[4400];

			snprintf(path, sizeof(path), "%s/%s.state", d->status_dir, v->cfg.name);
			unlink(path);
		}
		for (size_t g = 0; g < d->nr_grp; g++)
			for (size_t j = 0; j < CONFIG_GROUP_MAX; j++)
				if (d->grp[g]->member[j] == v)
					d->grp[g]->member[j] = NULL;
		pthread_cond_destroy(&v->cond);
		if (v->new_cfg) {
			config_volume_free(v->new_cfg);
			free(v->new_cfg);
		}
		config_volume_free(&v->cfg);
		free(v);
		d->vol[i] = d->vol[--d->nr_vol];
	}
}

static struct dvol *find_volume(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nr_vol; i++)
		if (!d->vol[i]->removed && !strcmp(d->vol[i]->cfg.name, name))
			return d->vol[i];
	return NULL;
}

/* ---- groups ---- */

/* The group a volume's newest configuration puts it in; "" = none. */
static const char *vol_group_name(const struct dvol *v)
{
	return v->new_cfg ? v->new_cfg->group : v->cfg.group;
}

/* Called with the lock held. */
static int add_group(struct daemon *d, const struct group_config *cfg)
{
	struct dgroup *g, **ng;
	int err;

	ng = realloc(d->grp, (d->nr_grp + 1) * sizeof(*ng));
	if (!ng)
		return -ENOMEM;
	d->grp = ng;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	err = config_group_copy(&g->cfg, cfg);
	if (err)
		goto out_free;
	g->hooks = (struct cons_hooks){ .command = g->cfg.hook, .fsfreeze = g->cfg.fsfreeze,
					.timeout = g->cfg.hook_timeout,
					.interval = g->cfg.app_interval,
					.fsfreeze_timeout = g->cfg.fsfreeze_timeout,
					.state_dir = d->cfg.state_dir };
	err = cons_group_init(&g->cg, g->cfg.name, g->cfg.nr_member,
			      g->cfg.hook || g->cfg.fsfreeze ? &g->hooks : NULL);
	if (err)
		goto out_cfg;
	g->gen = ++d->next_gen;
	/* Until its first round: as its volumes' restored schedules say. */
	g->s.next_due = INT64_MAX;
	for (size_t i = 0; i < g->cfg.nr_member; i++) {
		struct dvol *v = find_volume(d, g->cfg.member[i]);

		if (v && v->s.next_due < g->s.next_due)
			g->s.next_due = v->s.next_due;
	}
	if (g->s.next_due == INT64_MAX)
		g->s.next_due = 0;
	d->grp[d->nr_grp++] = g;
	log_info("group %s: managed (%zu volumes, frozen at one instant)", g->cfg.name,
		 g->cfg.nr_member);
	return 0;
out_cfg:
	config_group_free(&g->cfg);
out_free:
	free(g);
	return err;
}

static void free_group(struct dgroup *g)
{
	cons_group_destroy(&g->cg);
	config_group_free(&g->cfg);
	free(g);
}

/*
 * Bind each group's volumes to it, unbind volumes from retired groups and
 * free retired groups whose last round has ended.  A volume changes group
 * only between cycles.  Called with the lock held.
 */
static void bind_groups(struct daemon *d)
{
	struct dgroup *g;
	struct dvol *v;
	size_t i, j;

	for (i = 0; i < d->nr_vol; i++) {
		v = d->vol[i];
		if (v->grp && !v->s.running &&
		    (v->grp->retired || strcmp(vol_group_name(v), v->grp->cfg.name)))
			v->grp = NULL;
	}
	for (i = 0; i < d->nr_grp; i++) {
		g = d->grp[i];
		if (g->retired)
			continue;
		for (j = 0; j < g->cfg.nr_member; j++) {
			v = find_volume(d, g->cfg.member[j]);
			if (v && !v->grp && !v->s.running &&
			    !strcmp(vol_group_name(v), g->cfg.name)) {
				v->grp = g;
				v->grp_index = j;
			}
			g->member[j] = v && v->grp == g ? v : NULL;
		}
	}
	i = 0;
	while (i < d->nr_grp) {
		g = d->grp[i];
		if (!g->retired || g->s.running) {
			i++;
			continue;
		}
		for (j = 0; j < d->nr_vol; j++)
			if (d->vol[j]->grp == g)
				d->vol[j]->grp = NULL;
		free_group(g);
		d->grp[i] = d->grp[--d->nr_grp];
	}
}

/* A reloaded configuration's groups: keep the unchanged, retire the rest. */
static void reload_groups(struct daemon *d, const struct cbt_config *cfg)
{
	struct dgroup *g;
	size_t i, j;
	bool kept;

	for (i = 0; i < d->nr_grp; i++) {
		g = d->grp[i];
		if (g->retired)
			continue;
		for (j = 0, kept = false; j < cfg->nr_group && !kept; j++)
			kept = config_group_equal(&g->cfg, &cfg->group[j]);
		if (kept) {
			/* Interval and windows apply at once. */
			g->cfg.min_interval = cfg->group[j - 1].min_interval;
			g->cfg.has_blackout = cfg->group[j - 1].has_blackout;
			g->cfg.blackout = cfg->group[j - 1].blackout;
			continue;
		}
		log_notice("group %s: %s in the configuration; %s", g->cfg.name,
			   "changed or removed", g->s.running ?
			   "its running cycle finishes first" : "its volumes are regrouped now");
		g->retired = true;
	}
	for (j = 0; j < cfg->nr_group; j++) {
		for (i = 0, kept = false; i < d->nr_grp && !kept; i++)
			kept = !d->grp[i]->retired && config_group_equal(&d->grp[i]->cfg, &cfg->group[j]);
		if (!kept && add_group(d, &cfg->group[j]))
			log_err("group %s: out of memory adding it; send SIGHUP again", cfg->group[j].name);
	}
}

static void set_paths(struct daemon *d)
{
	snprintf(d->status_dir, sizeof(d->status_dir), "%s/" STATUS_SUBDIR, d->cfg.state_dir);
	if (d->cfg.metrics_file)
		snprintf(d->metrics_path, sizeof(d->metrics_path), "%s", d->cfg.metrics_file);
	else
		snprintf(d->metrics_path, sizeof(d->metrics_path), "%s/cbtship.prom",
			 d->cfg.state_dir);
}

static int make_dirs(struct daemon *d)
{
	if ((mkdir(d->cfg.state_dir, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(d->status_dir, 0755) < 0 && errno != EEXIST)) {
		log_err("cannot create state directory %s: %s; create it or set state_dir",
			d->status_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/* SIGHUP: apply a new configuration.  Called with the lock held. */
static void reload(struct daemon *d)
{
	struct cbt_config cfg;
	struct volume_config *nc;
	struct dvol *v;
	size_t i, j;
	bool keep;

	log_notice("reloading %s", d->config_path);
	if (config_load(d->config_path, &cfg)) {
		log_err("keeping the running configuration; fix %s and send SIGHUP again",
			d->config_path);
		return;
	}
	if (strcmp(cfg.state_dir, d->cfg.state_dir))
		log_warn("state_dir changed from %s to %s: restart cbtship to use it",
			 d->cfg.state_dir, cfg.state_dir);
	free(cfg.state_dir);
	cfg.state_dir = d->cfg.state_dir;
	d->cfg.state_dir = NULL;
	/* Volumes gone from the file stop after their running cycle. */
	for (i = 0; i < d->nr_vol; i++) {
		v = d->vol[i];
		if (v->removed)
			continue;
		for (j = 0, keep = false; j < cfg.nr_vol && !keep; j++)
			keep = !strcmp(cfg.vol[j].name, v->cfg.name);
		if (!keep) {
			log_notice("volume %s: removed from the configuration; stopping after its running cycle",
				   v->cfg.name);
			v->removed = v->quit = true;
			pthread_cond_signal(&v->cond);
		}
	}
	for (i = 0; i < cfg.nr_vol; i++) {
		v = find_volume(d, cfg.vol[i].name);
		if (!v) {
			add_volume(d, &cfg.vol[i]);
			continue;
		}
		/* Interval and windows apply at once; the rest reopens the volume. */
		v->cfg.min_interval = cfg.vol[i].min_interval;
		v->cfg.has_blackout = cfg.vol[i].has_blackout;
		v->cfg.blackout = cfg.vol[i].blackout;
		if (config_volume_equal(&v->cfg, &cfg.vol[i]))
			continue;
		nc = malloc(sizeof(*nc));
		if (!nc || config_volume_copy(nc, &cfg.vol[i])) {
			free(nc);
			log_err("volume %s: out of memory applying the new configuration", v->cfg.name);
			continue;
		}
		log_notice("volume %s: configuration changed; reopening it after its running cycle",
			   v->cfg.name);
		if (v->new_cfg) {
			config_volume_free(v->new_cfg);
			free(v->new_cfg);
		}
		v->new_cfg = nc;
		pthread_cond_signal(&v->cond);
	}
	reload_groups(d, &cfg);
	config_free(&d->cfg);
	d->cfg = cfg;
	if (d->cfg.metrics_file)
		snprintf(d->metrics_path, sizeof(d->metrics_path), "%s", d->cfg.metrics_file);
	throttle_set(&d->throttle, &d->cfg.throttle);
}

/* ---- main loop ---- */

/* On demand: `touch STATE_DIR/service/NAME.now` (a volume's or a group's name). */
static bool take_trigger(struct daemon *d, const char *name)
{
	char trig[4400];

	snprintf(trig, sizeof(trig), "%s/%s.now", d->status_dir, name);
	if (unlink(trig))
		return false;
	log_notice("%s: on-demand cycle requested", name);
	return true;
}

/*
 * A group's scheduler entry from its volumes: initial until all have one,
 * change if any has, on demand if any was asked for.  NULL if not every
 * volume is bound and idle, so it cannot start.  Called with the lock held.
 */
static struct sched_volume *group_entry(struct daemon *d, struct dgroup *g, time_t secs)
{
	struct dvol *v;
	size_t i;
	bool ready = true, all_done = true, changes = false;

	if (take_trigger(d, g->cfg.name))
		g->s.on_demand = true;
	for (i = 0; i < g->cfg.nr_member; i++) {
		v = g->member[i];
		if (!v) {
			ready = false;
			continue;
		}
		if (take_trigger(d, v->cfg.name))
			g->s.on_demand = true;
		ready = ready && (g->s.running || !v->s.running);
		all_done = all_done && v->s.initial_done;
		changes = changes || v->s.has_changes;
	}
	if (!ready)
		return NULL;
	g->s.initial_done = all_done;
	g->s.has_changes = changes;
	g->s.in_blackout = blackout_in_window(config_group_blackout(&d->cfg, &g->cfg), secs);
	g->s.min_interval = config_group_min_interval(&d->cfg, &g->cfg);
	g->s.slots = (unsigned int)g->cfg.nr_member;
	return &g->s;
}

/* Start a group's round: every volume's worker runs its cycle.  Lock held. */
static void start_group(struct dgroup *g, int64_t now)
{
	g->s.running = true;
	g->pending = g->cfg.nr_member;
	g->round_err = 0;
	g->round_failed[0] = '\0';
	g->round_start = now;
	cons_group_round(&g->cg);
	for (size_t i = 0; i < g->cfg.nr_member; i++) {
		struct dvol *v = g->member[i];

		v->s.running = true;
		v->s.kind = g->s.kind;
		v->go = true;
		snprintf(v->st.kind, sizeof(v->st.kind), "%s", sched_kind_name(g->s.kind));
		pthread_cond_signal(&v->cond);
	}
}

/* One scheduling pass; returns how long to sleep (us).  Called with the lock held. */
static int64_t schedule_pass(struct daemon *d, int64_t now)
{
	struct sched_volume *sv, *gs;
	struct vol_status *st;
	const struct blackout *b;
	size_t *start, n, i, nr = 0, nu;
	int64_t wake = d->cfg.poll, t;
	struct dvol **act;
	struct dgroup **ugrp;		/* per entry: its group, or NULL for a volume */
	time_t secs = (time_t)(now / USEC_PER_SEC);

	bind_groups(d);
	nu = d->nr_vol + d->nr_grp + 1;
	sv = calloc(nu, sizeof(*sv));
	start = calloc(nu, sizeof(*start));
	act = calloc(nu, sizeof(*act));
	ugrp = calloc(nu, sizeof(*ugrp));
	if (!sv || !start || !act || !ugrp)
		goto out;
	for (i = 0; i < d->nr_vol; i++) {
		struct dvol *v = d->vol[i];

		/* A group's volumes are scheduled by their group only. */
		if (v->removed || v->grp || vol_group_name(v)[0])
			continue;
		if (take_trigger(d, v->cfg.name))
			v->s.on_demand = true;
		b = config_blackout(&d->cfg, &v->cfg);
		v->s.in_blackout = blackout_in_window(b, secs);
		v->s.min_interval = config_min_interval(&d->cfg, &v->cfg);
		act[nr] = v;
		sv[nr++] = v->s;
	}
	for (i = 0; i < d->nr_grp; i++) {
		if (d->grp[i]->retired)
			continue;
		gs = group_entry(d, d->grp[i], secs);
		if (!gs)
			continue;
		ugrp[nr] = d->grp[i];
		sv[nr++] = *gs;
	}
	n = sched_pick(sv, nr, now, d->cfg.parallel, start);
	for (i = 0; i < nr; i++) {
		if (ugrp[i])
			ugrp[i]->s = sv[i];
		else
			act[i]->s = sv[i];
	}
	for (i = 0; i < n; i++) {
		struct dvol *v = act[start[i]];

		if (ugrp[start[i]]) {
			start_group(ugrp[start[i]], now);
			continue;
		}
		v->s.running = true;
		v->go = true;
		snprintf(v->st.kind, sizeof(v->st.kind), "%s", sched_kind_name(v->s.kind));
		pthread_cond_signal(&v->cond);
	}
	for (i = 0; i < d->nr_vol; i++) {
		struct dvol *v = d->vol[i];
		/* A group's volumes show their group's schedule. */
		const struct sched_volume *s = v->grp && !v->grp->retired ? &v->grp->s : &v->s;

		if (v->removed)
			continue;
		st = &v->st;
		snprintf(st->group, sizeof(st->group), "%s", vol_group_name(v));
		if (v->s.running)
			snprintf(st->state, sizeof(st->state), "running");
		else if (s->state != SCHED_WAITING || strcmp(st->state, "error"))
			snprintf(st->state, sizeof(st->state), "%s", sched_state_name(s->state));
		if (!v->s.running)
			snprintf(st->kind, sizeof(st->kind), "%s", sched_kind_name(sched_kind_of(s)));
		st->next_due_us = s->next_due;
		st->updated_us = now;
		status_write(d->status_dir, st);
		/* When to look again. */
		if (v->s.running) {
			t = USEC_PER_SEC;	/* fresh progress in the status files */
		} else if (s->state == SCHED_BLACKOUT) {
			b = v->grp ? config_group_blackout(&d->cfg, &v->grp->cfg) :
				     config_blackout(&d->cfg, &v->cfg);
			t = ((int64_t)blackout_next_end(b, secs) - secs) * USEC_PER_SEC;
		} else if (s->state == SCHED_WAITING) {
			t = (s->retry_at > now ? s->retry_at : s->next_due) - now;
		} else {
			continue;
		}
		if (t > 0 && t < wake)
			wake = t;
	}
	/* Metrics: the current status of every volume. */
	{
		struct vol_status *all = calloc(d->nr_vol + 1, sizeof(*all));

		if (all) {
			for (i = 0, n = 0; i < d->nr_vol; i++)
				if (!d->vol[i]->removed)
					all[n++] = d->vol[i]->st;
			metrics_write_file(d->metrics_path, all, n, now);
			free(all);
		}
	}
out:
	free(sv);
	free(start);
	free(act);
	free(ugrp);
	return wake < 10000 ? 10000 : wake;
}

/* Does volume v's device have device number devt?  Fake sources never do. */
static bool volume_is_dev(const struct dvol *v, dev_t devt)
{
	struct stat st;

	return !stat(v->cfg.device, &st) && S_ISBLK(st.st_mode) && st.st_rdev == devt;
}

/*
 * Join dm-cbt's events group when a volume is a block device, so that
 * near-continuous volumes start a cycle when their first change since the
 * last one happens (CHANGED) or the ring fills (RING_WATERMARK) instead of
 * at the next poll.  Without it (fake sources, an old module) the workers'
 * polling alone finds change.  Called with the lock held.
 */
static void open_events(struct daemon *d)
{
	struct stat st;
	size_t i;
	int err;

	for (i = 0; i < d->nr_vol; i++)
		if (!stat(d->vol[i]->cfg.device, &st) && S_ISBLK(st.st_mode))
			break;
	if (i == d->nr_vol)
		return;
	err = cbt_events_open(&d->events);
	if (err)
		log_warn("not listening to dm-cbt events (%s): near-continuous volumes look for change every poll interval (%" PRId64 " s)",
			 strerror(-err), (int64_t)(d->cfg.poll / USEC_PER_SEC));
}

/* Called with the lock held: mark the volumes events name as changed. */
static void read_events(struct daemon *d)
{
	struct cbt_event ev[32];
	size_t i, j;
	int n;

	while ((n = cbt_events_read(d->events, ev, 32)) != 0) {
		if (n == -ENOBUFS) {
			/* Events were lost: any volume may have changed. */
			log_warn("dm-cbt events were lost (socket overrun); looking at every volume");
			for (j = 0; j < d->nr_vol; j++)
				d->vol[j]->s.has_changes = true;
			continue;
		}
		if (n < 0) {
			log_err("reading dm-cbt events failed (%s); near-continuous volumes fall back to polling every %" PRId64 " s",
				strerror(-n), (int64_t)(d->cfg.poll / USEC_PER_SEC));
			cbt_events_close(d->events);
			d->events = NULL;
			return;
		}
		for (i = 0; i < (size_t)n; i++) {
			if (ev[i].cmd != CBT_CMD_CHANGED && ev[i].cmd != CBT_CMD_RING_WATERMARK)
				continue;
			for (j = 0; j < d->nr_vol; j++) {
				struct dvol *v = d->vol[j];

				if (v->removed || !volume_is_dev(v, makedev(ev[i].major, ev[i].minor)))
					continue;
				/* During a cycle: for the next one (finish_cycle). */
				if (v->s.running)
					v->event_changed = true;
				else
					v->s.has_changes = true;
			}
		}
	}
}

/* Sleep until timeout_us, a wakeup or a dm-cbt event.  Called without the lock. */
static void drain_wake(struct daemon *d, int64_t timeout_us)
{
	struct pollfd pfd[2] = { { .fd = d->wake[0], .events = POLLIN },
				 { .fd = d->events ? cbt_events_fd(d->events) : -1,
				   .events = POLLIN } };
	char buf[64];
	int ms = (int)((timeout_us + 999) / 1000);

	if (poll(pfd, 2, ms) > 0) {
		while (read(d->wake[0], buf, sizeof(buf)) > 0)
			;
		if (pfd[1].revents) {
			pthread_mutex_lock(&d->lock);
			read_events(d);
			pthread_mutex_unlock(&d->lock);
		}
	}
}

int daemon_run(struct daemon *d)
{
	int64_t wait;
	size_t i;
	int err = 0;

	pthread_mutex_lock(&d->lock);
	for (i = 0; !err && i < d->cfg.nr_vol; i++)
		err = add_volume(d, &d->cfg.vol[i]);
	for (i = 0; !err && i < d->cfg.nr_group; i++)
		err = add_group(d, &d->cfg.group[i]);
	if (!err) {
		log_notice("managing %zu volume(s) and %zu group(s), %u in parallel, state in %s",
			   d->nr_vol, d->nr_grp, d->cfg.parallel, d->cfg.state_dir);
		open_events(d);
	}
	while (!err && !d->stop) {
		if (d->reload) {
			d->reload = 0;
			reload(d);
		}
		reap_volumes(d);
		wait = schedule_pass(d, clock_now_us(d->clock));
		pthread_mutex_unlock(&d->lock);
		drain_wake(d, wait);
		pthread_mutex_lock(&d->lock);
	}
	/* Stop: running cycles see d->stop and merge back; workers exit. */
	d->stop = 1;
	log_notice("stopping: running cycles merge their changes back into tracking");
	for (i = 0; i < d->nr_vol; i++) {
		d->vol[i]->quit = true;
		pthread_cond_signal(&d->vol[i]->cond);
	}
	while (d->nr_vol) {
		bool any = false;

		for (i = 0; i < d->nr_vol; i++)
			any |= d->vol[i]->exited;
		if (!any) {
			pthread_mutex_unlock(&d->lock);
			drain_wake(d, USEC_PER_SEC);
			pthread_mutex_lock(&d->lock);
			continue;
		}
		for (i = 0; i < d->nr_vol; i++) {
			struct vol_status *st = &d->vol[i]->st;

			if (!d->vol[i]->exited)
				continue;
			if (strcmp(st->state, "error"))
				snprintf(st->state, sizeof(st->state), "stopped");
			st->updated_us = clock_now_us(d->clock);
			status_write(d->status_dir, st);
		}
		reap_volumes(d);
	}
	while (d->nr_grp)
		free_group(d->grp[--d->nr_grp]);
	cbt_events_close(d->events);
	d->events = NULL;
	pthread_mutex_unlock(&d->lock);
	return err;
}

void daemon_set_test_hooks(struct daemon *d, const struct daemon_test_hooks *h)
{
	d->test = *h;
}

const char *daemon_status_dir(const struct daemon *d)
{
	return d->status_dir;
}

int daemon_create(const char *config_path, struct cbt_clock *clock, struct daemon **out)
{
	struct daemon *d;
	int err;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->clock = clock;
	d->config_path = strdup(config_path);
	if (!d->config_path) {
		err = -ENOMEM;
		goto out_free;
	}
	err = config_load(config_path, &d->cfg);
	if (err)
		goto out_path;
	if (pipe2(d->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		err = -errno;
		log_err("pipe: %s", strerror(-err));
		goto out_cfg;
	}
	set_paths(d);
	/* Before anything writes: the state directory may be on a file system left frozen. */
	fs_guard_recover(d->cfg.state_dir, NULL);
	err = make_dirs(d);
	if (err)
		goto out_pipe;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->open_lock, NULL);
	throttle_init(&d->throttle, &d->cfg.throttle, clock);
	*out = d;
	return 0;
out_pipe:
	close(d->wake[0]);
	close(d->wake[1]);
out_cfg:
	config_free(&d->cfg);
out_path:
	free(d->config_path);
out_free:
	free(d);
	return err;
}

void daemon_destroy(struct daemon *d)
{
	if (!d)
		return;
	throttle_destroy(&d->throttle);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->open_lock);
	close(d->wake[0]);
	close(d->wake[1]);
	config_free(&d->cfg);
	free(d->vol);
	free(d->grp);
	free(d->config_path);
	free(d);
}
