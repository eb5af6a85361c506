// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon end to end on the host: three file volumes with the fake
 * kernel (cbt-file.c) in one store, parallel limit 2.  Every volume must
 * get its initial replication and the replicas (applied from the store)
 * must equal the sources; a tracked change must be shipped by a scheduled
 * delta, an untracked one must not (negative control); a reload adds a
 * volume and drops another; a stop leaves no frozen cycle behind; a
 * restart resumes from the state directory instead of starting over.
 * With parallel = 2 and four volumes, at most two cycles run at once
 * (counted by a hook that holds the cycles) and the others show as
 * queued; the same count reaches four with parallel = 4 (control).
 * A consistency group ([group]) is scheduled as one entry taking a slot
 * per volume: both its volumes store a cycle of every instant, each
 * manifest naming the group and the instant, a volume outside it none.
 * A member that fails after the instant (a segment upload refused) makes
 * the other abort too: neither stores that instant, and the next round
 * ships both changes.
 * Waits poll the status files with a generous deadline: no timing asserts.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "cbt-source.h"
#include "daemon.h"
#include "key.h"
#include "log.h"
#include "metrics.h"
#include "progress.h"
#include "replicate.h"
#include "store.h"
#include "tap.h"
#include "tmpdir.h"
#include "vstore-priv.h"

#define BS		4096u
#define VOL_BYTES	(1024u * 1024)
#define DEADLINE_S	120

static const char *top;

static void path_of(char *buf, size_t len, const char *vol, const char *what)
{
	snprintf(buf, len, "%s/%s.%s", top, vol, what);
}

static void make_volume(const char *vol, uint64_t seed)
{
	static uint8_t buf[VOL_BYTES];
	char p[512];

	test_fill_random(buf, sizeof(buf), seed);
	path_of(p, sizeof(p), vol, "img");
	test_write_file(p, buf, sizeof(buf), 0600);
}

static const char *extra_global = "";
static const char *extra_sections = "";	/* appended after the volumes: [group] */

static void write_config(const char *vols, unsigned int parallel)
{
	char p[512], text[8192], name[64];
	const char *v = vols;
	size_t off;
	int n;

	off = (size_t)snprintf(text, sizeof(text),
			       "[global]\nstate_dir = %s/state\nparallel = %u\nmin_interval = 1s\npoll = 1s\n%s",
			       top, parallel, extra_global);
	while (*v) {
		if (sscanf(v, "%63s%n", name, &n) != 1)
			break;
		v += n;
		while (*v == ' ')
			v++;
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"[volume %s]\ndevice = %s/%s.img\nfake_state = %s/%s.st\n"
					"store = %s/store\nkey = %s/key\n",
					name, top, name, top, name, top, top);
	}
	off += (size_t)snprintf(text + off, sizeof(text) - off, "%s", extra_sections);
	snprintf(p, sizeof(p), "%s/cbtship.conf", top);
	test_write_file(p, text, off, 0644);
}

static int read_status(const char *vol, struct vol_status *st)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/state/" STATUS_SUBDIR "/%s.state", top, vol);
	return status_read(p, st);
}

/* Wait until vol's status has cycles_ok >= n (and last_cycle >= cycle); 0 on success. */
static int wait_cycles(const char *vol, uint64_t n, uint64_t cycle)
{
	struct vol_status st;
	int i;

	for (i = 0; i < DEADLINE_S * 10; i++) {
		if (!read_status(vol, &st) && st.cycles_ok >= n && st.last_cycle >= cycle)
			return 0;
		usleep(100000);
	}
	return -ETIMEDOUT;
}

/* The test store's volume vol, opened with the test key; close_vol() after. */
struct vol_handle {
	struct cbt_key key;
	struct store *st;
	struct vstore *vs;
};

static int open_vol(const char *vol, struct vol_handle *h)
{
	char p[512];
	int err;

	snprintf(p, sizeof(p), "%s/key", top);
	err = key_load(p, &h->key);
	if (err)
		return err;
	snprintf(p, sizeof(p), "%s/store", top);
	err = store_open(p, false, &h->st);
	if (err)
		goto out_key;
	err = vstore_open(h->st, vol, &h->key, &h->vs);
	if (!err)
		return 0;
	store_close(h->st);
out_key:
	key_wipe(&h->key);
	return err;
}

static void close_vol(struct vol_handle *h)
{
	vstore_close(h->vs);
	store_close(h->st);
	key_wipe(&h->key);
}

static int apply_vol(const char *vol)
{
	struct apply_result res;
	struct vol_handle h;
	char replica[512];
	int err;

	err = open_vol(vol, &h);
	if (err)
		return err;
	path_of(replica, sizeof(replica), vol, "replica");
	err = apply_pending(h.vs, replica, &res);
	close_vol(&h);
	return err;
}

static int replica_equal(const char *vol)
{
	char a[512], b[512], ha[65], hb[65];

	if (apply_vol(vol))
		return 0;
	path_of(a, sizeof(a), vol, "img");
	path_of(b, sizeof(b), vol, "replica");
	test_hash_file(a, ha);
	test_hash_file(b, hb);
	return !strcmp(ha, hb);
}

/* Overwrite blocks [first, first + n) and, if tracked, tell the fake kernel. */
static void change(const char *vol, uint64_t first, uint64_t n, uint64_t seed, int tracked)
{
	uint8_t buf[16 * BS];
	char p[512], line[64];
	int fd;

	test_fill_random(buf, n * BS, seed);
	path_of(p, sizeof(p), vol, "img");
	fd = open(p, O_WRONLY);
	if (fd < 0 || pwrite(fd, buf, n * BS, (off_t)(first * BS)) != (ssize_t)(n * BS))
		perror("pwrite");
	close(fd);
	if (!tracked)
		return;
	path_of(p, sizeof(p), vol, "st");
	snprintf(line, sizeof(line), "dirty %llu %llu\n", (unsigned long long)first,
		 (unsigned long long)n);
	fd = open(p, O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, line, strlen(line)) < 0)
		perror("state");
	close(fd);
}

static int not_frozen(const char *vol)
{
	struct cbt_volume_info info;
	struct cbt_source *src;
	char img[512], st[512];
	int ok;

	path_of(img, sizeof(img), vol, "img");
	path_of(st, sizeof(st), vol, "st");
	if (cbt_source_open_file(img, st, 0, &src))
		return 0;
	ok = !src->ops->info(src, &info) && !info.frozen;
	cbt_source_close(src);
	return ok;
}

struct runner {
	struct daemon *d;
	pthread_t thread;
	int ret;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;

	r->ret = daemon_run(r->d);
	return NULL;
}

static int start_daemon_hooked(struct runner *r, const struct daemon_test_hooks *h)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/cbtship.conf", top);
	if (daemon_create(p, clock_real(), &r->d))
		return -1;
	if (h)
		daemon_set_test_hooks(r->d, h);
	return pthread_create(&r->thread, NULL, run_thread, r) ? -1 : 0;
}

static int start_daemon(struct runner *r)
{
	return start_daemon_hooked(r, NULL);
}

static int stop_daemon(struct runner *r)
{
	daemon_request_stop(r->d);
	pthread_join(r->thread, NULL);
	daemon_destroy(r->d);
	return r->ret;
}

/*
 * The parallel limit.  Every cycle passes a gate in the cycle_begin hook:
 * while the gate is closed the cycles that began stay running, so the
 * count of cycles inside (and its maximum) shows what the scheduler
 * allowed, without timing.
 */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	unsigned int inside, max_inside, begun;
};

static void gate_begin(void *arg, const char *volume)
{
	struct gate *g = arg;

	(void)volume;
	pthread_mutex_lock(&g->lock);
	g->begun++;
	if (++g->inside > g->max_inside)
		g->max_inside = g->inside;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_end(void *arg, const char *volume)
{
	struct gate *g = arg;

	(void)volume;
	pthread_mutex_lock(&g->lock);
	g->inside--;
	pthread_mutex_unlock(&g->lock);
}

/* Wait (generous deadline) until n cycles are held at the gate; 0 on success. */
static int gate_wait_inside(struct gate *g, unsigned int n)
{
	struct timespec ts;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DEADLINE_S;
	pthread_mutex_lock(&g->lock);
	while (g->inside < n && !err)
		err = pthread_cond_timedwait(&g->cond, &g->lock, &ts);
	err = g->inside >= n ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&g->lock);
	return err;
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Count the volumes whose status is running and queued (waits until both reach the goal). */
static void count_states(const char *const *vols, size_t n, unsigned int want_run,
			 unsigned int want_queued, unsigned int *run, unsigned int *queued)
{
	struct vol_status st;
	size_t i;
	int t;

	for (t = 0; t < DEADLINE_S * 10; t++) {
		*run = *queued = 0;
		for (i = 0; i < n; i++) {
			if (read_status(vols[i], &st))
				continue;
			*run += !strcmp(st.state, "running");
			*queued += !strcmp(st.state, "queued");
		}
		if (*run == want_run && *queued == want_queued)
			return;
		usleep(100000);
	}
}

static void test_parallel_one(const char *dir, unsigned int parallel)
{
	static const char *const vols[] = { "pa", "pb", "pc", "pd" };
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct daemon_test_hooks h = { .arg = &g, .cycle_begin = gate_begin, .cycle_end = gate_end };
	unsigned int run, queued, i, all_done = 1;
	struct runner r;
	char p[512];

	top = dir;
	mkdir(top, 0700);
	snprintf(p, sizeof(p), "%s/key", top);
	if (key_generate(p)) {
		tap_ok(0, "parallel %u: key", parallel);
		return;
	}
	for (i = 0; i < 4; i++)
		make_volume(vols[i], 10 + i);
	write_config("pa pb pc pd", parallel);
	if (start_daemon_hooked(&r, &h)) {
		tap_ok(0, "parallel %u: daemon starts", parallel);
		return;
	}
	tap_ok(!gate_wait_inside(&g, parallel),
	       "parallel %u: %u initial replications begin", parallel, parallel);
	count_states(vols, 4, parallel, 4 - parallel, &run, &queued);
	tap_ok(run == parallel && queued == 4 - parallel,
	       "parallel %u: status shows %u running and %u queued (want %u and %u)", parallel,
	       run, queued, parallel, 4 - parallel);
	pthread_mutex_lock(&g.lock);
	tap_ok(g.inside == parallel && g.begun == parallel,
	       "parallel %u: no more cycles began while the slots were full (%u)", parallel,
	       g.begun);
	pthread_mutex_unlock(&g.lock);
	gate_open(&g);
	for (i = 0; i < 4; i++)
		all_done &= !wait_cycles(vols[i], 1, 1) && replica_equal(vols[i]);
	tap_ok(all_done, "parallel %u: every volume replicated, replicas equal the sources",
	       parallel);
	tap_ok(stop_daemon(&r) == 0, "parallel %u: daemon stops", parallel);
	tap_ok(g.max_inside == parallel && g.begun >= 4,
	       "parallel %u: at most %u cycles ran at once over %u cycles", parallel,
	       g.max_inside, g.begun);
}

static void test_parallel(void)
{
	static char dir[sizeof(test_dir) + 16];

	snprintf(dir, sizeof(dir), "%s/par2", test_dir);
	test_parallel_one(dir, 2);
	/* Control: the same count reaches 4 when 4 are allowed. */
	snprintf(dir, sizeof(dir), "%s/par4", test_dir);
	test_parallel_one(dir, 4);
}

#define MAX_INSTANTS	64

/* The group and instants of every stored cycle of vol, ascending; -1 on error. */
static int stored_instants(const char *vol, char *group, size_t glen, uint64_t *instant,
			   size_t max, size_t *nr)
{
	struct fmt_manifest m;
	struct vol_handle h;
	uint64_t *cycles = NULL;
	size_t n = 0, i;
	int err;

	*nr = 0;
	group[0] = '\0';
	if (open_vol(vol, &h))
		return -1;
	err = vstore_list_cycles(h.vs, &cycles, &n);
	for (i = 0; !err && i < n; i++) {
		err = vstore_read_manifest(h.vs, cycles[i], &m);
		if (err == -ENOENT) {
			err = 0;	/* an unfinished cycle */
			continue;
		}
		if (err)
			break;
		if (!(m.consistency & FMT_CONSISTENCY_GROUP))
			snprintf(group, glen, "(cycle %llu has none)", (unsigned long long)cycles[i]);
		else if (group[0] != '(')
			snprintf(group, glen, "%s", m.group);
		if (*nr < max)
			instant[(*nr)++] = m.consistency & FMT_CONSISTENCY_GROUP ? m.group_instant : 0;
		fmt_manifest_free(&m);
	}
	free(cycles);
	close_vol(&h);
	return err ? -1 : 0;
}

/*
 * A group under the daemon: ga and gb in group db, gc on its own, parallel
 * 2.  gc (first in the queue) takes one slot, so the group, which needs
 * two, waits; then it runs as one: every instant has a cycle of both.
 */
static void test_groups(void)
{
	static const char *const vols[] = { "ga", "gb", "gc" };
	static char dir[sizeof(test_dir) + 16];
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct daemon_test_hooks h = { .arg = &g, .cycle_begin = gate_begin, .cycle_end = gate_end };
	uint64_t ia[MAX_INSTANTS], ib[MAX_INSTANTS], ic[MAX_INSTANTS];
	char ga[64], gb[64], gc[64], p[512];
	size_t na, nb, nc, i;
	struct vol_status st, sb;
	unsigned int run, queued;
	struct runner r;
	bool same;

	snprintf(dir, sizeof(dir), "%s/groups", test_dir);
	top = dir;
	mkdir(top, 0700);
	snprintf(p, sizeof(p), "%s/key", top);
	if (key_generate(p)) {
		tap_ok(0, "groups: key");
		return;
	}
	for (i = 0; i < 3; i++)
		make_volume(vols[i], 40 + i);
	extra_global = "";
	extra_sections = "[group db]\nvolumes = ga gb\nmin_interval = 1s\n";
	write_config("gc ga gb", 2);
	if (start_daemon_hooked(&r, &h)) {
		tap_ok(0, "groups: daemon starts");
		return;
	}
	tap_ok(!gate_wait_inside(&g, 1), "groups: a cycle begins");
	count_states(vols, 3, 1, 2, &run, &queued);
	sleep(2);	/* several scheduling passes (poll = 1s) */
	pthread_mutex_lock(&g.lock);
	tap_ok(run == 1 && queued == 2 && g.begun == 1,
	       "groups: gc runs; the group needs two slots of the one left and waits (%u running, %u queued, %u begun)",
	       run, queued, g.begun);
	pthread_mutex_unlock(&g.lock);
	tap_ok(!read_status("ga", &st) && !strcmp(st.group, "db") && !read_status("gc", &sb) &&
	       !sb.group[0] && !strcmp(sb.state, "running") && !strcmp(st.state, "queued"),
	       "groups: status names the group of ga (%s), none for gc", st.group);
	gate_open(&g);
	tap_ok(!wait_cycles("ga", 1, 1) && !wait_cycles("gb", 1, 1) && !wait_cycles("gc", 1, 1),
	       "groups: every volume completes its initial replication");
	/* A cycle frozen before a change is tracked may end after it: wait for two more. */
	read_status("ga", &st);
	read_status("gb", &sb);
	change("ga", 3, 4, 400, 1);
	change("gb", 7, 2, 401, 1);
	tap_ok(!wait_cycles("ga", 1, st.last_cycle + 2) && !wait_cycles("gb", 1, sb.last_cycle + 2),
	       "groups: deltas of the group shipped the changes");
	tap_eq(stop_daemon(&r), 0, "groups: daemon stops");
	tap_ok(replica_equal("ga") && replica_equal("gb") && replica_equal("gc"),
	       "groups: all replicas equal their sources");
	tap_ok(!stored_instants("ga", ga, sizeof(ga), ia, MAX_INSTANTS, &na) &&
	       !stored_instants("gb", gb, sizeof(gb), ib, MAX_INSTANTS, &nb) &&
	       !stored_instants("gc", gc, sizeof(gc), ic, MAX_INSTANTS, &nc),
	       "groups: the stored manifests read back");
	tap_ok(!strcmp(ga, "db") && !strcmp(gb, "db"), "groups: every cycle of ga and gb names group db (%s, %s)",
	       ga, gb);
	same = na >= 2 && na == nb;
	for (i = 0; same && i < na; i++)
		same = ia[i] && ia[i] == ib[i] && (!i || ia[i] > ia[i - 1]);
	tap_ok(same, "groups: ga and gb stored the same %zu instants (gb: %zu), one cycle each", na, nb);
	/* Control: a volume outside the group has no instants, so the same check fails for it. */
	same = nc == na;
	for (i = 0; same && i < na; i++)
		same = ia[i] == ic[i];
	tap_ok(nc >= 1 && !same && !ic[0] && !strncmp(gc, "(cycle", 6),
	       "groups: control: gc's cycles carry no group or instant (%s)", gc);

	/* SIGHUP without the group: its volumes go on alone, their new cycles without one. */
	extra_sections = "";
	if (start_daemon(&r)) {
		tap_ok(0, "groups: daemon restarts");
		return;
	}
	write_config("gc ga gb", 2);
	daemon_request_reload(r.d);
	for (i = 0; i < DEADLINE_S * 10; i++) {
		if (!read_status("ga", &st) && !st.group[0] && !read_status("gb", &sb) && !sb.group[0])
			break;
		usleep(100000);
	}
	tap_ok(!st.group[0] && !sb.group[0], "groups: reload: ga and gb are in no group");
	change("ga", 30, 2, 402, 1);
	tap_ok(!wait_cycles("ga", 1, st.last_cycle + 1), "groups: reload: ga replicates alone");
	tap_eq(stop_daemon(&r), 0, "groups: daemon stops after the reload");
	tap_ok(replica_equal("ga") && replica_equal("gb"), "groups: reload: replicas equal the sources");
	tap_ok(!stored_instants("ga", ga, sizeof(ga), ia, MAX_INSTANTS, &na) && na > 2 && ia[0] &&
	       !ia[na - 1], "groups: reload: ga's first cycles carry the instant, its newest none");
}

static volatile sig_atomic_t no_stop;
static int fail_segments_of;	/* 'b': refuse mb's segment uploads */

static int refuse_mb_segments(const char *name)
{
	return fail_segments_of && strstr(name, "volumes/mb/") && strstr(name, "/seg-") ? -EIO : 0;
}

struct member {
	pthread_t thread;
	struct replicator *r;
	struct replicate_summary sum;
	int err;
};

static void *member_cycle(void *arg)
{
	struct member *m = arg;

	memset(&m->sum, 0, sizeof(m->sum));
	m->err = replicator_cycle(m->r, &m->sum);
	return NULL;
}

/* One round of the group: both members' cycles in threads. */
static void group_round(struct cons_group *g, struct member *m)
{
	cons_group_round(g);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&m[i].thread, NULL, member_cycle, &m[i]))
			m[i].err = -EAGAIN;
	for (int i = 0; i < 2; i++)
		pthread_join(m[i].thread, NULL);
}

static uint64_t last_stored(const char *vol)
{
	char group[64];
	uint64_t inst[MAX_INSTANTS];
	size_t n;

	return stored_instants(vol, group, sizeof(group), inst, MAX_INSTANTS, &n) ? 0 : n;
}

static void test_group_vote(void)
{
	static const char *const vols[] = { "ma", "mb" };
	static char dir[sizeof(test_dir) + 16];
	struct replicate_opts o[2];
	struct member m[2] = { { 0 } };
	struct cons_group g;
	char img[2][512], st[2][512], store[512], key[512];
	int i, opened = 0;

	snprintf(dir, sizeof(dir), "%s/vote", test_dir);
	top = dir;
	mkdir(top, 0700);
	snprintf(key, sizeof(key), "%s/key", top);
	snprintf(store, sizeof(store), "%s/store", top);
	if (key_generate(key) || cons_group_init(&g, "tv", 2, NULL)) {
		tap_ok(0, "vote: setup");
		return;
	}
	for (i = 0; i < 2; i++) {
		make_volume(vols[i], 50 + i);
		path_of(img[i], sizeof(img[i]), vols[i], "img");
		path_of(st[i], sizeof(st[i]), vols[i], "st");
		o[i] = (struct replicate_opts){
			.store = store, .key_path = key, .device = img[i], .fake_state = st[i],
			.volume = vols[i], .writer = { .codec = CODEC_ZSTD, .level = 1 },
			.stop = &no_stop, .put_fault = refuse_mb_segments, .group = &g,
			.group_index = (size_t)i,
		};
		if (replicator_open(&o[i], &m[i].r))
			break;
		opened++;
	}
	if (opened < 2) {
		tap_ok(0, "vote: replicators open");
		goto out;
	}
	group_round(&g, m);
	tap_ok(!m[0].err && !m[1].err && m[0].sum.group_instant &&
	       m[0].sum.group_instant == m[1].sum.group_instant,
	       "vote: the initial round stores one instant for both");
	change("ma", 5, 3, 500, 1);
	change("mb", 9, 2, 501, 1);
	fail_segments_of = 1;
	group_round(&g, m);
	fail_segments_of = 0;
	tap_ok(m[1].err && m[0].err == -EAGAIN,
	       "vote: mb's upload fails, so ma aborts its cycle too (%d, %d)", m[0].err, m[1].err);
	tap_ok(last_stored("ma") == 1 && last_stored("mb") == 1,
	       "vote: neither stored a cycle of the failed instant (ma %llu, mb %llu)",
	       (unsigned long long)last_stored("ma"), (unsigned long long)last_stored("mb"));
	tap_ok(not_frozen("ma") && not_frozen("mb") && !replica_equal("ma"),
	       "vote: both merged back; ma's replica lacks the change");
	group_round(&g, m);
	tap_ok(!m[0].err && !m[1].err && last_stored("ma") == 2 && last_stored("mb") == 2,
	       "vote: control: the next round stores a cycle of both (the same check sees it)");
	tap_ok(replica_equal("ma") && replica_equal("mb"),
	       "vote: the changes merged back are shipped; replicas equal the sources");
out:
	for (i = 0; i < opened; i++)
		replicator_close(m[i].r);
	cons_group_destroy(&g);
}

/* Progress arithmetic and the status renderings, on a made-up status. */
static void test_render(void)
{
	struct vol_status s[2];
	char buf[4096], *out = NULL, *line, *save;
	size_t len = 0;
	int64_t now = 1000 * USEC_PER_SEC;
	int lines = 0, bad = 0;
	FILE *f;

	tap_eq(progress_eta(25, 100, 5.0), 15, "ETA: 75 left at 5/s is 15 s");
	tap_eq(progress_eta(10, 100, 0), -1, "ETA unknown without a rate");
	tap_ok(progress_rate(1000, 2 * USEC_PER_SEC) == 500.0, "rate: 1000 in 2 s is 500/s");
	progress_bar(buf, sizeof(buf), 42, 100, 3 * 1048576.0, 3725, 10);
	tap_ok(!strcmp(buf, "[####......]  42.0%  3.0 MiB/s  ETA 1:02:05"), "progress bar: %s", buf);

	memset(s, 0, sizeof(s));
	snprintf(s[0].name, sizeof(s[0].name), "db1");
	snprintf(s[0].state, sizeof(s[0].state), "running");
	snprintf(s[0].kind, sizeof(s[0].kind), "initial");
	s[0].block_size = 4096;
	s[0].cycle_start_us = now - 10 * USEC_PER_SEC;
	s[0].cycle_done_blocks = 256;		/* 1 MiB in 10 s */
	s[0].cycle_total_blocks = 1024;
	snprintf(s[1].name, sizeof(s[1].name), "web");
	snprintf(s[1].state, sizeof(s[1].state), "waiting");
	snprintf(s[1].kind, sizeof(s[1].kind), "delta");
	s[1].initial_done = true;
	s[1].block_size = 4096;
	s[1].last_start_us = now - 90 * USEC_PER_SEC;
	s[1].last_end_us = now - 80 * USEC_PER_SEC;
	s[1].last_duration_us = 10 * USEC_PER_SEC;
	s[1].last_bytes = 5000000;
	s[1].backlog_blocks = 3;
	tap_eq(progress_rpo(&s[1], now), 90, "RPO: the last cycle's start 90 s ago");
	tap_eq(progress_rpo(&s[0], now), -1, "RPO: none before the initial replication");

	f = open_memstream(&out, &len);
	metrics_json(f, s, 2, now, 42);
	fclose(f);
	tap_ok(strstr(out, "\"initial\":{\"done_bytes\":1048576,\"total_bytes\":4194304,\"rate_bytes_per_second\":104858,\"eta_seconds\":30}") != NULL,
	       "JSON: initial progress with rate and ETA");
	tap_ok(strstr(out, "\"rpo_seconds\":90") && strstr(out, "\"backlog_bytes\":12288") &&
	       strstr(out, "\"daemon_pid\":42") && strstr(out, "\"duration_seconds\":10.000"),
	       "JSON: RPO, backlog, last cycle");
	free(out);

	out = NULL;
	f = open_memstream(&out, &len);
	metrics_prometheus(f, s, 2, now);
	fclose(f);
	tap_ok(strstr(out, "cbtship_recovery_point_age_seconds{volume=\"web\"} 90\n") &&
	       !strstr(out, "cbtship_recovery_point_age_seconds{volume=\"db1\"}") &&
	       strstr(out, "cbtship_volume_state{volume=\"db1\",state=\"running\"} 1\n") &&
	       strstr(out, "cbtship_cycle_progress_ratio{volume=\"db1\"} 0.2500\n") &&
	       strstr(out, "cbtship_throughput_bytes_per_second{volume=\"web\"} 500000\n"),
	       "Prometheus: RPO only once there is one, state, progress, throughput");
	/* Every sample line: name{labels} value. */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], labels[256];
		double v;

		if (line[0] == '#')
			continue;
		lines++;
		if (sscanf(line, "%127[a-z_]{%255[^}]} %lf", name, labels, &v) != 3)
			bad++;
	}
	tap_ok(lines > 20 && !bad, "Prometheus: %d sample lines, %d malformed", lines, bad);
	free(out);
}

int main(void)
{
	struct vol_status st, before;
	struct runner r;
	char p[512];

	test_quiet_logs();
	test_render();
	top = test_dir_setup("daemon");
	snprintf(p, sizeof(p), "%s/key", top);
	if (key_generate(p)) {
		tap_ok(0, "key");
		return tap_done();
	}
	make_volume("va", 1);
	make_volume("vb", 2);
	make_volume("vc", 3);
	write_config("va vb vc", 2);

	tap_ok(start_daemon(&r) == 0, "daemon starts with three volumes");
	tap_ok(!wait_cycles("va", 1, 1) && !wait_cycles("vb", 1, 1) && !wait_cycles("vc", 1, 1),
	       "every volume completes its initial replication (parallel = 2)");
	tap_ok(replica_equal("va") && replica_equal("vb") && replica_equal("vc"),
	       "all three replicas equal their sources");

	/* A tracked change goes out with a delta; an untracked one does not. */
	change("va", 10, 5, 100, 1);
	change("vb", 20, 3, 200, 0);
	tap_ok(!wait_cycles("va", 1, 2), "va: a delta cycle shipped the change");
	tap_ok(replica_equal("va"), "va: replica equals the source after the delta");
	read_status("vb", &before);
	tap_ok(!wait_cycles("vb", before.cycles_ok + 1, 0), "vb: a later (empty) cycle ran");
	tap_ok(!replica_equal("vb"), "vb: an untracked change is not in the replica (negative control)");
	change("vb", 20, 3, 200, 1);	/* now tracked: same data */
	tap_ok(!wait_cycles("vb", 1, 2) && replica_equal("vb"), "vb: once tracked, it is shipped");

	/* Reload: add vd, drop vc. */
	make_volume("vd", 4);
	write_config("va vb vd", 2);
	daemon_request_reload(r.d);
	tap_ok(!wait_cycles("vd", 1, 1) && replica_equal("vd"), "reload: the new volume vd is replicated");
	{
		int i, gone = 0;

		for (i = 0; i < DEADLINE_S * 10 && !gone; i++) {
			gone = read_status("vc", &st) == -ENOENT;
			usleep(100000);
		}
		tap_ok(gone, "reload: the dropped volume vc is no longer managed");
	}

	/* Stop with a change pending: no cycle is left frozen. */
	change("va", 0, 16, 300, 1);
	tap_eq(stop_daemon(&r), 0, "daemon stops cleanly");
	tap_ok(not_frozen("va") && not_frozen("vb") && not_frozen("vd"), "no tracking cycle left frozen");
	tap_ok(!read_status("va", &st) && !strcmp(st.state, "stopped"), "status says stopped (%s)", st.state);

	/* Restart: resumes, no new initial replication. */
	read_status("vd", &before);
	tap_ok(start_daemon(&r) == 0, "daemon restarts");
	tap_ok(!wait_cycles("va", before.cycles_ok, 3) && replica_equal("va"),
	       "va: the change pending at stop is shipped after the restart");
	tap_ok(!wait_cycles("vd", before.cycles_ok + 1, 0), "vd: cycles continue after the restart");
	read_status("vd", &st);
	tap_ok(st.initial_done && st.last_cycle == before.last_cycle,
	       "vd: resumed with deltas (store cycle %llu, was %llu), not a new initial copy",
	       (unsigned long long)st.last_cycle, (unsigned long long)before.last_cycle);

	/*
	 * Throttle: reload with a 2 Mbit/s cap (250 kB/s) and a new volume.  Its
	 * initial replication stores ~1 MB; the bucket holds at most 1 s
	 * (250 kB), so it cannot take less than (bytes - 250 kB) / 250 kB/s.
	 * Load only makes it slower: a lower bound is safe to assert.
	 */
	make_volume("ve", 5);
	extra_global = "throttle = 2m\n";
	write_config("va vb vd ve", 2);
	{
		int64_t t0 = clock_now_us(clock_real()), t1;
		double min_s, took;

		daemon_request_reload(r.d);
		tap_ok(!wait_cycles("ve", 1, 1) && replica_equal("ve"), "throttled: ve is replicated");
		t1 = clock_now_us(clock_real());
		read_status("ve", &st);
		/* Later cycles find no change and store nothing: the total is the initial's. */
		min_s = ((double)st.bytes_total - 250000) / 250000;
		took = (double)(t1 - t0) / 1e6;
		tap_ok(st.bytes_total > 1000000 && took >= min_s,
		       "throttled: %llu bytes took %.2f s, at least %.2f s at 2 Mbit/s",
		       (unsigned long long)st.bytes_total, took, min_s);
	}

	/*
	 * Blackout: a window that covers the whole week (Monday 0:00 for 7d
	 * joins the next one) keeps a new volume from starting; lifting it by
	 * reload lets it run.
	 */
	make_volume("vf", 6);
	extra_global = "blackout = Mon;0:00;7d\n";
	write_config("va vf", 2);
	daemon_request_reload(r.d);
	{
		int i, seen = 0;

		for (i = 0; i < DEADLINE_S * 10 && !seen; i++) {
			seen = !read_status("vf", &st) && !strcmp(st.state, "blackout");
			usleep(100000);
		}
		tap_ok(seen, "blackout: the new volume is held, shown as blackout");
		sleep(2);	/* several scheduling passes (poll = 1s) */
		tap_ok(!read_status("vf", &st) && st.cycles_ok == 0 && !strcmp(st.state, "blackout"),
		       "blackout: no cycle started inside the window (%s, %llu cycles)", st.state,
		       (unsigned long long)st.cycles_ok);
	}
	/* An on-demand request (NAME.now) is served even inside the window. */
	read_status("va", &before);
	snprintf(p, sizeof(p), "%s/state/" STATUS_SUBDIR "/va.now", top);
	test_write_file(p, "", 0, 0644);
	tap_ok(!wait_cycles("va", before.cycles_ok + 1, 0) && access(p, F_OK) < 0,
	       "on-demand: va runs a cycle inside the blackout window and the request is consumed");
	read_status("vf", &st);
	tap_eq(st.cycles_ok, 0, "on-demand: vf is still held");
	extra_global = "";
	write_config("va vf", 2);
	daemon_request_reload(r.d);
	tap_ok(!wait_cycles("vf", 1, 1) && replica_equal("vf"), "blackout lifted: vf is replicated");
	tap_eq(stop_daemon(&r), 0, "daemon stops again");

	test_parallel();
	test_groups();
	test_group_vote();
	return tap_done();
}
