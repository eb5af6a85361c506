// SPDX-License-Identifier: GPL-2.0
/*
 * Apply is atomic per cycle: a child applies six cycles and is stopped
 * dead, at a chosen journal step (_exit, like kill -9: no cleanup, page
 * cache kept) or by SIGKILL after a random delay, again and again.  After
 * every stop the replica is recovered the way apply starts and must equal
 * the source image of exactly the cycle its state directory names.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "journal.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"
#include "vstore-priv.h"
#include "vstore.h"

static struct cbt_key key;

#define NBLK	96u	/* fewer journal steps: each is a run or two */
#include "target-fixture.h"

/*
 * Recover the replica as apply does on start; return the cycle it is at
 * if its bytes equal that cycle's image, -1 if not (-2 if it cannot open).
 */
static bool skip_recovery;	/* the negative control */

static long recover_and_check(const char *replica)
{
	struct replica *r;
	struct journal *j;
	char dir[256];
	long at = -2;
	uint8_t *buf;
	size_t len;

	snprintf(dir, sizeof(dir), "%s.cbtship", replica);
	if (access(dir, F_OK))
		return 0;	/* killed before the state directory existed */
	if (replica_open(replica, SIZE, NULL, &r))
		return -2;
	if (journal_open(dir, false, true, &j) == 0) {
		if (skip_recovery || journal_recover(j, r) == 0)
			at = (long)j->st.at;
		journal_close(j);
	} else if (access(dir, F_OK) == 0) {
		at = 0;		/* killed before its first state was saved */
	}
	replica_close(r);
	if (at <= 0)
		return at;
	buf = test_read_file(replica, &len);
	if (!buf || len != SIZE || memcmp(buf, img[at], SIZE))
		at = -1;
	free(buf);
	return at;
}

/* Whether replica's points are exactly cycles 1..NCYC. */
static bool all_points(const char *replica)
{
	struct journal *j;
	char dir[256];
	bool all = false;

	snprintf(dir, sizeof(dir), "%s.cbtship", replica);
	if (journal_open(dir, false, false, &j) == 0) {
		all = j->nr_points == NCYC;
		for (size_t i = 0; all && i < NCYC; i++)
			all = j->points[i].cycle == i + 1;
		journal_close(j);
	}
	return all;
}

/* Run apply in a child; crash_at != 0 stops it at that step. Exit status. */
static pid_t spawn_apply(struct vstore *vs, const char *replica, unsigned long crash_at)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct apply_result res;

		journal_crash_at = crash_at;
		_exit(apply_pending(vs, replica, &res) ? 1 : 0);
	}
	return pid;
}

static int wait_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static void rm_replica(const char *name)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "%s.cbtship", name);
	unlink(name);
	nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reset so a new replica may start from cycle 1. */
static void reset_store_record(struct vstore *vs)
{
	vstore_set_applied(vs, 0);
}

int main(void)
{
	struct journal_retention keep = { 0 };
	struct apply_result res;
	struct store *st;
	struct vstore *vs;
	unsigned int seed = 12345;
	unsigned long steps = 0;
	int ret, bad, stops, last;
	long at;

	test_quiet_logs();
	/*
	 * The stops here are process deaths, which keep the page cache: a
	 * tmpfs (no fsync cost) tests the same and keeps ~1000 runs quick on
	 * a loaded machine.  CBT_TEST_DISK=1 runs it on $TMPDIR instead.
	 */
	if (!getenv("CBT_TEST_DISK") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	test_dir_setup("journal");
	if (key_generate("key") || key_load("key", &key) || store_open("store", true, &st) ||
	    vstore_create(st, "vol", &key, BS, SIZE, &vs) || fixture_setup(vs, NCYC)) {
		fprintf(stderr, "setup failed\n");
		return 99;
	}

	/* How many journal steps does a whole run take? */
	journal_crash_at = 1ul << 40;
	ret = apply_pending(vs, "count", &res);
	steps = (1ul << 40) - journal_crash_at;
	journal_crash_at = 0;
	tap_ok(ret == 0 && recover_and_check("count") == NCYC,
	       "a whole apply, uninterrupted, gives cycle 6's image");
	tap_ok(steps > 20, "a run has %lu journal steps", steps);
	reset_store_record(vs);

	/* 1. Every step, one at a time: stop there, recover, check; then finish. */
	bad = 0;
	for (unsigned long k = 1; k <= steps; k++) {
		char name[32];

		snprintf(name, sizeof(name), "sweep-%lu", k);
		ret = wait_status(spawn_apply(vs, name, k));
		at = recover_and_check(name);
		if (at < 0 || (ret == 0 && at != NCYC)) {
			tap_ok(0, "stopped at step %lu (status %d): replica not at a cycle boundary (%ld)",
			       k, ret, at);
			bad++;
		}
		/* The next run finishes, and every cycle is still a point. */
		ret = wait_status(spawn_apply(vs, name, 0));
		if (ret || recover_and_check(name) != NCYC || !all_points(name)) {
			tap_ok(0, "after a stop at step %lu, apply does not finish at cycle %u", k, NCYC);
			bad++;
		}
		reset_store_record(vs);
		rm_replica(name);
		if (bad > 3)
			break;
	}
	tap_ok(!bad, "stopped at each of %lu steps: every replica was at a cycle boundary with that cycle's data, and the next run finished it with every cycle a point",
	       steps);

	/* Negative control: without the rollback the same check finds torn cycles. */
	bad = 0;
	skip_recovery = true;
	for (unsigned long k = steps / 2; k < steps / 2 + 40; k++) {
		char name[32];

		snprintf(name, sizeof(name), "torn-%lu", k);
		wait_status(spawn_apply(vs, name, k));
		bad += recover_and_check(name) == -1;
		reset_store_record(vs);
		rm_replica(name);
	}
	skip_recovery = false;
	tap_ok(bad > 0, "control: without rollback, %d of 40 stops leave a replica matching no cycle", bad);

	/* 2. Repeated stops of one replica at random steps until it is done. */
	stops = 0;
	bad = 0;
	last = 0;
	for (int round = 0; round < 200; round++) {
		ret = wait_status(spawn_apply(vs, "random", 1 + (unsigned long)rand_r(&seed) % (steps / 4)));
		at = recover_and_check("random");
		if (at < last) {
			bad++;
			tap_ok(0, "random stop %d: replica at %ld after being at %d", round, at, last);
		} else {
			last = (int)at;
		}
		if (ret == 0)
			break;
		stops++;
	}
	tap_ok(!bad && last == NCYC && stops > 3,
	       "%d stops at random steps: each restart found the replica at a cycle boundary, never going back; it ends at cycle %d",
	       stops, last);
	tap_ok(all_points("random"), "after all those stops every cycle 1..6 is still a recovery point");
	reset_store_record(vs);

	/* 3. Real SIGKILL at random moments of a run (as long as a whole run takes). */
	{
		struct timespec t0, t1;
		long run_us, hist[NCYC + 1] = { 0 };
		int cycles_seen = 0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ret = wait_status(spawn_apply(vs, "timed", 0));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		run_us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
		tap_ok(ret == 0 && run_us > 0, "an uninterrupted run takes %ld us", run_us);
		reset_store_record(vs);
		stops = 0;
		bad = 0;
		for (int round = 0; round < 60; round++) {
			long us = (long)(rand_r(&seed) % (unsigned int)(run_us / 2 + 1));
			struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
			pid_t pid = spawn_apply(vs, "killed", 0);

			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
			ret = wait_status(pid);
			at = recover_and_check("killed");
			if (at < 0) {
				bad++;
				tap_ok(0, "kill -9 %d: replica not at a cycle boundary (%ld)", round, at);
				continue;
			}
			if (ret == 128 + SIGKILL)
				stops++;
			hist[at]++;
			if (at == NCYC) {
				/* Done: start over with a new replica. */
				rm_replica("killed");
				reset_store_record(vs);
			}
		}
		for (int c = 0; c <= (int)NCYC; c++)
			cycles_seen += hist[c] != 0;
		tap_ok(!bad && stops >= 10 && cycles_seen >= 3,
		       "%d runs killed with SIGKILL: every restart found a cycle boundary with that cycle's data (at 0..6: %ld %ld %ld %ld %ld %ld %ld)",
		       stops, hist[0], hist[1], hist[2], hist[3], hist[4], hist[5], hist[6]);
		reset_store_record(vs);
	}

	/* Points and undo after a normal apply: 6 points, undo for 2..6. */
	ret = apply_pending(vs, "pts", &res);
	tap_ok(ret == 0 && res.now == NCYC, "apply all cycles to a new replica");
	{
		struct journal *j;

		ret = journal_open("pts.cbtship", false, false, &j);
		bool kinds = ret == 0;

		/* Each point carries its cycle manifest's label (target-fixture.h). */
		for (size_t i = 0; kinds && i < j->nr_points; i++) {
			const struct journal_point *p = &j->points[i];

			kinds = p->kind == (enum point_kind)(p->cycle % 3) &&
				(p->cycle % 2 ? !p->group[0] && !p->instant :
				 !strcmp(p->group, "g") && p->instant == 1000 + p->cycle);
		}
		tap_ok(ret == 0 && j->nr_points == NCYC && j->points[0].cycle == 1 &&
		       j->points[NCYC - 1].cycle == NCYC && kinds &&
		       j->points[0].kind == POINT_CRASH && j->points[1].kind == POINT_APP &&
		       j->points[2].kind == POINT_NONE,
		       "points 1..6, each labelled as its cycle's manifest says (crash, app, none, ...; group g on even ones)");
		{
			uint64_t cyc = 0;

			tap_ok(journal_find_instant(j, 1004, &cyc) == 0 && cyc == 4 &&
			       journal_find_instant(j, 1003, &cyc) == -ENOENT,
			       "a group instant finds its point; an instant that is not there does not");
		}
		tap_ok(access("pts.cbtship/undo-00000000000000000001", F_OK) != 0 &&
		       access("pts.cbtship/undo-00000000000000000002", F_OK) == 0 &&
		       access("pts.cbtship/undo-00000000000000000006", F_OK) == 0,
		       "undo files for cycles 2..6 (none for 1: there is no point 0)");
		journal_close(j);
	}
	(void)keep;
	for (uint64_t c = 1; c <= NCYC; c++)
		free(img[c]);
	vstore_close(vs);
	store_close(st);
	key_wipe(&key);
	return tap_done();
}
