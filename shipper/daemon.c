// SPDX-License-Identifier: GPL-2.0
/*
 * The service: a main loop running the scheduler over every configured
 * volume and one worker thread per volume running its cycles
 * (daemon.h).  Locking: one mutex (daemon.lock) protects every field
 * marked "locked" below; the workers never hold it while a cycle runs.
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
#include "log.h"
#include "metrics.h"
#include "progress.h"
#include "replicate.h"
#include "schedule.h"
#include "throttle.h"

#define DAEMON_RETRY_US		(60 * USEC_PER_SEC)
#define THROTTLE_SLICE_US	(200 * 1000)

struct dvol {
	struct daemon *d;
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

static int open_replicator(struct dvol *v, struct replicator **r)
{
	/* The replicator keeps its own copies of these. */
	struct cons_config cons = {
		.origin = v->cfg.snapshot_origin, .cow = v->cfg.snapshot_cow,
	};
	struct cons_hooks hooks = {
		.command = v->cfg.hook, .fsfreeze = v->cfg.fsfreeze,
		.timeout = v->cfg.hook_timeout, .interval = v->cfg.app_interval,
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
		.cons = v->cfg.snapshot_origin ? &cons : NULL,
		.cons_hooks = v->cfg.hook || v->cfg.fsfreeze ? &hooks : NULL,
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

static void *worker(void *arg)
{
	struct dvol *v = arg;
	struct daemon *d = v->d;
	struct replicator *r = NULL;
	struct replicate_summary sum;
	struct timespec ts;
	int64_t start, end, poll_us, min_interval;
	uint64_t dirty;
	int err;

	pthread_mutex_lock(&d->lock);
	if (!v->s.initial_done && !v->quit) {
		/* The store says the initial replication waits for its turn. */
		v->busy = true;
		pthread_mutex_unlock(&d->lock);
		if (!open_replicator(v, &r) && replicator_mark_queued(r)) {
			replicator_close(r);	/* the first cycle reopens it and says why */
			r = NULL;
		}
		pthread_mutex_lock(&d->lock);
		v->busy = false;
	}
	for (;;) {
		apply_new_cfg(v, &r);
		if (v->quit)
			break;
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
		start = clock_now_us(d->clock);
		v->st.cycle_start_us = start;
		min_interval = config_min_interval(&d->cfg, &v->cfg);
		pthread_mutex_unlock(&d->lock);

		if (d->test.cycle_begin)
			d->test.cycle_begin(d->test.arg, v->cfg.name);
		err = r ? 0 : open_replicator(v, &r);
		memset(&sum, 0, sizeof(sum));
		if (!err)
			err = replicator_cycle(r, &sum);
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
	config_free(&d->cfg);
	d->cfg = cfg;
	if (d->cfg.metrics_file)
		snprintf(d->metrics_path, sizeof(d->metrics_path), "%s", d->cfg.metrics_file);
	throttle_set(&d->throttle, &d->cfg.throttle);
}

/* ---- main loop ---- */

/* One scheduling pass; returns how long to sleep (us).  Called with the lock held. */
static int64_t schedule_pass(struct daemon *d, int64_t now)
{
	struct sched_volume *sv;
	struct vol_status *st;
	const struct blackout *b;
	size_t *start, n, i, nr = 0;
	int64_t wake = d->cfg.poll, t;
	struct dvol **act;
	char trig[4400];
	time_t secs = (time_t)(now / USEC_PER_SEC);

	sv = calloc(d->nr_vol + 1, sizeof(*sv));
	start = calloc(d->nr_vol + 1, sizeof(*start));
	act = calloc(d->nr_vol + 1, sizeof(*act));
	if (!sv || !start || !act)
		goto out;
	for (i = 0; i < d->nr_vol; i++) {
		struct dvol *v = d->vol[i];

		if (v->removed)
			continue;
		/* On demand: `touch STATE_DIR/service/NAME.now`. */
		snprintf(trig, sizeof(trig), "%s/%s.now", d->status_dir, v->cfg.name);
		if (!unlink(trig)) {
			log_notice("volume %s: on-demand cycle requested", v->cfg.name);
			v->s.on_demand = true;
		}
		b = config_blackout(&d->cfg, &v->cfg);
		v->s.in_blackout = blackout_in_window(b, secs);
		v->s.min_interval = config_min_interval(&d->cfg, &v->cfg);
		act[nr] = v;
		sv[nr++] = v->s;
	}
	n = sched_pick(sv, nr, now, d->cfg.parallel, start);
	for (i = 0; i < nr; i++)
		act[i]->s = sv[i];
	for (i = 0; i < n; i++) {
		struct dvol *v = act[start[i]];

		v->s.running = true;
		v->go = true;
		snprintf(v->st.kind, sizeof(v->st.kind), "%s", sched_kind_name(v->s.kind));
		pthread_cond_signal(&v->cond);
	}
	for (i = 0; i < nr; i++) {
		struct dvol *v = act[i];

		st = &v->st;
		if (v->s.running)
			snprintf(st->state, sizeof(st->state), "running");
		else if (v->s.state != SCHED_WAITING || strcmp(st->state, "error"))
			snprintf(st->state, sizeof(st->state), "%s", sched_state_name(v->s.state));
		if (!v->s.running)
			snprintf(st->kind, sizeof(st->kind), "%s",
				 sched_kind_name(sched_kind_of(&v->s)));
		st->next_due_us = v->s.next_due;
		st->updated_us = now;
		status_write(d->status_dir, st);
		/* When to look again. */
		if (v->s.running) {
			t = USEC_PER_SEC;	/* fresh progress in the status files */
		} else if (v->s.state == SCHED_BLACKOUT) {
			t = ((int64_t)blackout_next_end(config_blackout(&d->cfg, &v->cfg), secs) -
			     secs) * USEC_PER_SEC;
		} else if (v->s.state == SCHED_WAITING) {
			t = (v->s.retry_at > now ? v->s.retry_at : v->s.next_due) - now;
		} else {
			continue;
		}
		if (t > 0 && t < wake)
			wake = t;
	}
	/* Metrics: the current status of every volume. */
	{
		struct vol_status *all = calloc(nr + 1, sizeof(*all));

		if (all) {
			for (i = 0; i < nr; i++)
				all[i] = act[i]->st;
			metrics_write_file(d->metrics_path, all, nr, now);
			free(all);
		}
	}
out:
	free(sv);
	free(start);
	free(act);
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
	if (!err) {
		log_notice("managing %zu volume(s), %u in parallel, state in %s", d->nr_vol,
			   d->cfg.parallel, d->cfg.state_dir);
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
	free(d->config_path);
	free(d);
}
