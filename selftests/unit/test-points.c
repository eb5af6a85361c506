// SPDX-License-Identifier: GPL-2.0
/*
 * Recovery points: a test failover copy at every point equals the source
 * at that cycle and stays so while apply goes on; cleanup leaves nothing;
 * retention by count and age drops points and their undo files; failover
 * rolls the replica back to a point (also when interrupted) and apply
 * stops writing it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply.h"
#include "journal.h"
#include "log.h"
#include "points.h"
#include "tap.h"
#include "tmpdir.h"
#include "vstore-priv.h"
#include "vstore.h"

static struct cbt_key key;

#define NCYC	8u
#include "target-fixture.h"

static int undo_exists(const char *dir, uint64_t c)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/undo-%020llu", dir, (unsigned long long)c);
	return access(path, F_OK) == 0;
}

static size_t dir_entries(const char *dir)
{
	char cmd[300];
	FILE *f;
	size_t n = 0;
	char line[512];

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		n++;
	if (f)
		pclose(f);
	return n;
}

int main(void)
{
	struct apply_opts opts = { 0 };
	struct apply_result res;
	struct journal *j;
	struct replica *r;
	struct store *st;
	struct vstore *vs;
	unsigned int removed;
	int ret, ok;

	test_quiet_logs();
	test_dir_setup("points");
	if (key_generate("key") || key_load("key", &key) || store_open("store", true, &st) ||
	    vstore_create(st, "vol", &key, BS, SIZE, &vs) || fixture_setup(vs, 4)) {
		fprintf(stderr, "setup failed\n");
		return 99;
	}
	ret = apply_pending(vs, "rep", &res);
	tap_ok(ret == 0 && res.now == 4 && file_is("rep", 4), "apply cycles 1..4");

	/* Test failover at every point. */
	ret = points_open("rep", NULL, false, &j);
	tap_eq(ret, 0, "open the points of rep");
	ok = 1;
	for (uint64_t p = 1; p <= 4; p++) {
		char out[32];

		snprintf(out, sizeof(out), "tf-%llu", (unsigned long long)p);
		ok &= points_test_failover(j, "rep", p, out, NULL) == 0 && file_is(out, p);
	}
	tap_ok(ok, "a test failover copy at each point 1..4 equals the source at that cycle");
	tap_ok(!file_is("tf-1", 4) && !file_is("tf-3", 4), "control: the copies differ from cycle 4");
	tap_eq(points_test_failover(j, "rep", 5, "tf-5", NULL), -ENOENT, "point 5 does not exist");
	tap_eq(points_test_failover(j, "rep", 2, "tf-2", NULL), -EEXIST, "an existing output is refused");
	tap_ok(file_is("tf-2", 2), "and left as it was");
	journal_close(j);

	/* Replication goes on; the copies stay at their points. */
	ret = write_cycle(vs, 5) || write_cycle(vs, 6);
	ret = ret ?: apply_pending(vs, "rep", &res);
	tap_ok(ret == 0 && res.now == 6 && file_is("rep", 6), "apply cycles 5, 6 after the drill");
	tap_ok(file_is("tf-2", 2) && file_is("tf-4", 4), "the test failover copies are unchanged");
	{
		/* Write to a copy: it is a separate, writable disk. */
		FILE *f = fopen("tf-4", "r+");

		tap_ok(f && fputs("written in the drill", f) >= 0 && fclose(f) == 0,
		       "the copy is writable");
		tap_ok(file_is("rep", 6), "writing it does not touch the replica");
	}

	/* Cleanup: one, then the rest; nothing left. */
	ret = points_open("rep", NULL, true, &j);
	tap_eq(ret, 0, "open exclusively for cleanup");
	ret = points_cleanup(j, "rep", "tf-1", NULL, &removed);
	tap_ok(ret == 0 && removed == 1 && access("tf-1", F_OK) && !access("tf-2", F_OK),
	       "cleanup of one copy removes only it");
	tap_eq(points_cleanup(j, "rep", "key", NULL, &removed), -ENOENT, "a file that is no copy is refused");
	tap_ok(!access("key", F_OK), "and not removed");
	ret = points_cleanup(j, "rep", NULL, NULL, &removed);
	tap_ok(ret == 0 && removed == 3 && access("tf-2", F_OK) && access("tf-3", F_OK) &&
	       access("tf-4", F_OK), "cleanup removes the other three");
	tap_ok(access("rep.cbtship/test-failovers", F_OK) != 0, "and its record: no trace left");
	journal_close(j);

	/* Retention by count: 3 points keep undo for the two newest cycles only. */
	opts.keep.max_count = 3;
	ret = write_cycle(vs, 7) ?: apply_pending_opts(vs, "rep", &opts, &res);
	tap_ok(ret == 0 && res.now == 7 && file_is("rep", 7), "apply cycle 7 with --keep-count 3");
	ret = points_open("rep", NULL, false, &j);
	tap_ok(ret == 0 && j->nr_points == 3 && j->points[0].cycle == 5, "points are 5..7");
	tap_ok(!undo_exists("rep.cbtship", 4) && !undo_exists("rep.cbtship", 5) &&
	       undo_exists("rep.cbtship", 6) && undo_exists("rep.cbtship", 7),
	       "undo files only for cycles 6 and 7");
	tap_eq(points_test_failover(j, "rep", 4, "tf-x", NULL), -ENOENT, "point 4 is gone");
	ret = points_test_failover(j, "rep", 5, "tf-5", NULL);
	tap_ok(ret == 0 && file_is("tf-5", 5), "point 5 still gives cycle 5");
	tap_ok(points_cleanup(j, "rep", NULL, NULL, &removed) == 0 && removed == 1 && access("tf-5", F_OK),
	       "clean it up");
	journal_close(j);

	/* Retention by age, against the points' source times. */
	ret = points_open("rep", NULL, true, &j);
	if (!ret) {
		struct journal_retention keep = { .max_age = 3600 };
		uint64_t t = j->points[2].created;

		j->points[0].created = t - 7200;
		j->points[1].created = t - 1800;
		ret = journal_add_point(j, 7, t, POINT_CRASH, &keep, t + 60);
		tap_ok(ret == 0 && j->nr_points == 2 && j->points[0].cycle == 6,
		       "a point 2 h old goes with 1 h retention, one 30 min old stays");
		tap_ok(!undo_exists("rep.cbtship", 6) && undo_exists("rep.cbtship", 7),
		       "and point 5's undo data with it");
		ret = journal_add_point(j, 7, t, POINT_CRASH, &keep, t + 86400);
		tap_ok(ret == 0 && j->nr_points == 1 && j->points[0].cycle == 7,
		       "the newest point is kept however old");
		journal_close(j);
	}
	{
		uint64_t secs = 0;

		tap_ok(journal_parse_age("36h", &secs) == 0 && secs == 36 * 3600, "36h parses");
		tap_eq(journal_parse_age("16d", &secs), -ERANGE, "16d is more than the 15-day maximum");
		tap_eq(journal_parse_age("1w", &secs), -EINVAL, "an unknown unit is refused");
	}

	/* Failover: rebuild points 1..8, stop a failover midway, finish it. */
	ret = write_cycle(vs, 8) ?: apply_pending(vs, "rep", &res);
	tap_ok(ret == 0 && res.now == 8, "apply cycle 8");
	{
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			struct journal *cj;
			struct replica *cr;

			if (points_open("rep", NULL, true, &cj) ||
			    replica_open("rep", SIZE, NULL, &cr))
				_exit(2);
			journal_crash_at = 8;	/* inside cycle 8's rollback */
			_exit(points_failover(cj, cr, 7) ? 1 : 3);
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 99,
		       "a failover stopped dead midway (status %d)", WEXITSTATUS(status));
	}
	ret = points_open("rep", NULL, true, &j);
	ret = ret ?: replica_open("rep", SIZE, NULL, &r);
	if (!ret) {
		ret = points_failover(j, r, 7);
		tap_ok(ret == 0 && j->st.failed_over == 7 && j->st.at == 7,
		       "failover to point 7 run again finishes");
		replica_close(r);
		journal_close(j);
	}
	tap_ok(file_is("rep", 7), "the replica equals the source at cycle 7");
	tap_ok(!undo_exists("rep.cbtship", 8) && dir_entries("rep.cbtship") == 3,
	       "undo files gone; lock, state and points are all that is left (%zu)",
	       dir_entries("rep.cbtship"));
	ret = apply_pending(vs, "rep", &res);
	tap_eq(ret, -EROFS, "apply refuses a failed-over replica");
	tap_ok(file_is("rep", 7), "and does not write it");
	ret = points_open("rep", NULL, false, &j);
	if (!ret) {
		tap_ok(j->nr_points == 0, "no points after failover");
		tap_eq(points_test_failover(j, "rep", 7, "tf-7", NULL), -EROFS,
		       "test failover of a failed-over replica is refused");
		journal_close(j);
	}

	vstore_close(vs);
	store_close(st);
	key_wipe(&key);
	for (uint64_t c = 1; c <= NCYC; c++)
		free(img[c]);
	return tap_done();
}
