// SPDX-License-Identifier: GPL-2.0
/*
 * The segment pipeline changes nothing but speed: the same volume
 * replicated with 1, 2 and 4 workers gives replicas equal to the source
 * and segments with byte-identical plaintexts (only the random salts, hence
 * the ciphertexts, differ).  A store failure in the middle of a cycle, while
 * workers are busy and the reader waits for a free batch, fails the cycle:
 * the fake kernel shows the frozen set merged back, the store shows no new
 * cycle, and the next run ships it.  The source's zero blocks are punched
 * out (holes), so the reader's hole path (SEEK_DATA: zero records, nothing
 * read) is part of every comparison.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "cbt-source.h"
#include "key.h"
#include "le.h"
#include "log.h"
#include "replicate-fixture.h"
#include "replicate.h"
#include "store.h"
#include "tap.h"
#include "vstore-priv.h"

#define BS		4096u
#define VOL_BYTES	(3u * 1024 * 1024 + 512)	/* partial last block */
#define NR_BLOCKS	((VOL_BYTES + BS - 1) / BS)
#define SEG_BYTES	(64u * 1024)			/* many segments, so the pool is busy */
#define NR_RUNS		3

static const unsigned int workers_of[NR_RUNS] = { 1, 2, 4 };
static char dir[] = "/tmp/cbt-pipe-XXXXXX";
static char data[128], keyfile[128];
static char state[NR_RUNS][128], store[NR_RUNS][128], replica[NR_RUNS][128];
static uint8_t src_buf[VOL_BYTES], rep_buf[VOL_BYTES + 1];
static const char *fail_name;	/* put_fault fails the put whose name ends so */
static const char *stop_name;	/* put_fault sets the stop flag at this put */
static int fail_hits;
static volatile sig_atomic_t stop_flag;
static pthread_t main_thread;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static uint64_t rnd(uint64_t n)
{
	return ((uint64_t)random() << 31 ^ (uint64_t)random()) % n;
}

/* Mixed content: zero, text-like (compressible) and random blocks. */
static void fill(uint8_t *p, size_t len)
{
	switch (rnd(3)) {
	case 0:
		memset(p, 0, len);
		break;
	case 1:
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)("the quick brown fox "[(i + len) % 20]);
		p[rnd(len)] = (uint8_t)random();
		break;
	default:
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)random();
	}
}

static unsigned int holes_punched;

/* Write the source; its all-zero blocks become holes where the file system can. */
static int write_data(void)
{
	int fd = open(data, O_WRONLY | O_CREAT, 0600);
	int ok = fd >= 0 && pwrite(fd, src_buf, VOL_BYTES, 0) == VOL_BYTES;

	for (uint64_t b = 0; ok && b < NR_BLOCKS; b++) {
		size_t len = b == NR_BLOCKS - 1 ? VOL_BYTES - b * BS : BS;

		if (all_zero(src_buf + b * BS, len) &&
		    !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(b * BS),
			       (off_t)len))
			holes_punched++;
	}
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -EIO;
}

/* Change random blocks and record them in every run's fake state; returns how many. */
static uint64_t change_blocks(unsigned int n)
{
	static uint8_t touched[NR_BLOCKS];
	uint64_t count = 0;

	memset(touched, 0, sizeof(touched));
	for (unsigned int i = 0; i < n; i++) {
		uint64_t b = rnd(NR_BLOCKS);
		size_t len = b == NR_BLOCKS - 1 ? VOL_BYTES - b * BS : BS;

		fill(src_buf + b * BS, len);
		touched[b] = 1;
		for (int r = 0; r < NR_RUNS; r++) {
			FILE *f = fopen(state[r], "a");

			if (f) {
				fprintf(f, "dirty %llu 1\n", (unsigned long long)b);
				fclose(f);
			}
		}
	}
	for (uint64_t b = 0; b < NR_BLOCKS; b++)
		count += touched[b];
	return write_data() ? 0 : count;
}

static int put_fault(const char *name)
{
	size_t n = strlen(name), m = fail_name ? strlen(fail_name) : 0;

	if (m && n >= m && !strcmp(name + n - m, fail_name)) {
		fail_hits++;
		return -EIO;
	}
	m = stop_name ? strlen(stop_name) : 0;
	if (m && n >= m && !strcmp(name + n - m, stop_name))
		pthread_kill(main_thread, SIGUSR1);	/* as SIGTERM would, while workers are busy */
	return 0;
}

static int run_cycle(int r, struct replicate_summary *sum)
{
	struct replicate_opts o = {
		.store = store[r], .key_path = keyfile, .device = data, .fake_state = state[r],
		.volume = "vol",
		.writer = { .codec = CODEC_ZSTD, .level = 1, .segment_bytes = SEG_BYTES,
			    .workers = workers_of[r] },
		.reader = { .queue_depth = 8, .max_read_bytes = 128 * 1024 },
		.put_fault = put_fault,
		.stop = &stop_flag,
	};

	return test_replicate(&o, TEST_RUN_CYCLE, sum, NULL);
}

static int open_vol(int r, struct store **st, struct vstore **vs)
{
	return apply_open_volume(store[r], keyfile, "vol", st, vs);
}

static int apply_run(int r, uint64_t *now)
{
	struct apply_result res;
	int err = test_apply(store[r], keyfile, "vol", replica[r], &res);

	*now = res.now;
	return err;
}

static int replica_equal(int r)
{
	int fd = open(replica[r], O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, rep_buf, sizeof(rep_buf)) : -1;

	if (fd >= 0)
		close(fd);
	return n == VOL_BYTES && !memcmp(rep_buf, src_buf, VOL_BYTES);
}

static int newest_cycle(int r, uint64_t *cycle)
{
	struct vstore_cycle_info ci;
	struct store *st;
	struct vstore *vs;
	int err = open_vol(r, &st, &vs);

	if (err)
		return err;
	err = vstore_last_cycle(vs, &ci);
	*cycle = err ? 0 : ci.cycle;
	vstore_close(vs);
	store_close(st);
	return err;
}

static int state_is(int r, int frozen, uint64_t dirty)
{
	struct cbt_volume_info info;
	struct cbt_source *src;
	int ok;

	if (cbt_source_open_file(data, state[r], 0, &src))
		return 0;
	ok = !src->ops->info(src, &info) && info.frozen == frozen && info.dirty_blocks == dirty;
	cbt_source_close(src);
	return ok;
}

/*
 * Cycle `cycle` of every run: the same segments (count, record counts) with
 * the same plaintext; the sealed objects differ (fresh salts).
 */
static void compare_runs(uint64_t cycle)
{
	struct fmt_manifest m[NR_RUNS];
	struct store *st[NR_RUNS];
	struct vstore *vs[NR_RUNS];
	int opened = 0, same = 1, objects_differ = 1, err = 0;

	memset(m, 0, sizeof(m));
	for (; opened < NR_RUNS && !err; opened++) {
		err = open_vol(opened, &st[opened], &vs[opened]);
		if (err)
			break;
		err = vstore_read_manifest(vs[opened], cycle, &m[opened]);
		if (err) {
			vstore_close(vs[opened]);
			store_close(st[opened]);
			break;
		}
	}
	tap_ok(!err && opened == NR_RUNS, "cycle %llu: manifests of the 3 runs read",
	       (unsigned long long)cycle);
	if (err)
		goto out;
	tap_ok(m[0].nr_segments > 8, "cycle %llu: %u segments (the pool had work to share)",
	       (unsigned long long)cycle, m[0].nr_segments);
	for (int r = 1; r < NR_RUNS; r++) {
		if (m[r].nr_segments != m[0].nr_segments || m[r].blocks_sent != m[0].blocks_sent ||
		    m[r].nr_extents != m[0].nr_extents) {
			same = 0;
			continue;
		}
		for (uint32_t s = 0; s < m[0].nr_segments && same; s++) {
			uint8_t *p0 = NULL, *pr = NULL;
			size_t l0 = 0, lr = 0;
			unsigned int c0, cr;

			if (m[r].segs[s].records != m[0].segs[s].records ||
			    vstore_read_segment(vs[0], cycle, &m[0].segs[s], &p0, &l0, &c0) ||
			    vstore_read_segment(vs[r], cycle, &m[r].segs[s], &pr, &lr, &cr) ||
			    l0 != lr || memcmp(p0, pr, l0) || c0 != cr)
				same = 0;
			if (!memcmp(m[0].segs[s].tag, m[r].segs[s].tag, FMT_TAG_BYTES))
				objects_differ = 0;
			free(p0);
			free(pr);
		}
	}
	tap_ok(same, "cycle %llu: 1, 2 and 4 workers store the same segments, plaintext byte for byte",
	       (unsigned long long)cycle);
	tap_ok(objects_differ, "cycle %llu: but every sealed object differs (own salt)",
	       (unsigned long long)cycle);
out:
	for (int r = 0; r < opened; r++) {
		fmt_manifest_free(&m[r]);
		vstore_close(vs[r]);
		store_close(st[r]);
	}
}

/*
 * The replication reader reads into the batches and skips holes; the cycle
 * writer's copying path (cycle_writer_add, one block at a time, zeros read)
 * must give the same segments: same cut, records and bytes.  Cycle 1 of
 * run 0 against the same volume written by cycle_writer_add.
 */
static void check_copy_path(void)
{
	struct cycle_writer_opts o = { .codec = CODEC_ZSTD, .level = 1,
				       .segment_bytes = SEG_BYTES, .workers = 2 };
	const struct cbt_extent all = { 0, NR_BLOCKS };
	struct fmt_manifest m0, mc;
	struct store *st0 = NULL, *stc = NULL;
	struct vstore *vs0 = NULL, *vsc = NULL;
	struct cycle_writer *w = NULL;
	char path[160];
	struct cbt_key key;
	int err, same = 1;

	snprintf(path, sizeof(path), "%s/store-copy", dir);
	err = key_load(keyfile, &key);
	if (!err)
		err = store_open(path, true, &stc);
	if (!err)
		err = vstore_create(stc, "vol", &key, BS, VOL_BYTES, &vsc);
	if (!err)
		err = cycle_writer_begin(vsc, 1, CYCLE_INITIAL, &o, &w);
	for (uint64_t b = 0; !err && b < NR_BLOCKS; b++)
		err = cycle_writer_add(w, b, src_buf + b * BS,
				       b == NR_BLOCKS - 1 ? VOL_BYTES - b * BS : BS);
	if (!err) {
		err = cycle_writer_commit(w, &all, 1, 1, NULL);
		w = NULL;
	}
	if (w)
		cycle_writer_abort(w);
	key_wipe(&key);
	tap_eq(err, 0, "cycle 1 written again through cycle_writer_add (copied, zeros read)");
	if (err || open_vol(0, &st0, &vs0))
		goto out;
	if (vstore_read_manifest(vs0, 1, &m0) || vstore_read_manifest(vsc, 1, &mc)) {
		tap_ok(0, "both manifests read");
		goto out_vs;
	}
	same = m0.nr_segments == mc.nr_segments && m0.nr_segments > 8;
	for (uint32_t s = 0; same && s < m0.nr_segments; s++) {
		uint8_t *p0 = NULL, *pc = NULL;
		size_t l0 = 0, lc = 0;
		unsigned int c0, cc;

		if (vstore_read_segment(vs0, 1, &m0.segs[s], &p0, &l0, &c0) ||
		    vstore_read_segment(vsc, 1, &mc.segs[s], &pc, &lc, &cc) ||
		    l0 != lc || memcmp(p0, pc, l0) || m0.segs[s].records != mc.segs[s].records)
			same = 0;
		free(p0);
		free(pc);
	}
	tap_ok(same, "reading into the batches, holes skipped, gives the copying path's %u segments byte for byte",
	       mc.nr_segments);
	fmt_manifest_free(&m0);
	fmt_manifest_free(&mc);
out_vs:
	vstore_close(vs0);
	store_close(st0);
out:
	if (vsc)
		vstore_close(vsc);
	if (stc)
		store_close(stc);
}

static void ship_all(uint64_t cycle, uint64_t blocks, const char *what)
{
	struct replicate_summary sum;
	uint64_t now;
	int err;

	for (int r = 0; r < NR_RUNS; r++) {
		err = run_cycle(r, &sum);
		tap_ok(!err && sum.result == REPLICATE_SHIPPED && sum.cycle == cycle &&
		       sum.blocks == blocks, "%s, %u workers: cycle %llu with %llu blocks (err %d)",
		       what, workers_of[r], (unsigned long long)cycle,
		       (unsigned long long)blocks, err);
		err = apply_run(r, &now);
		tap_ok(!err && now == cycle && replica_equal(r),
		       "%s, %u workers: replica equals the source", what, workers_of[r]);
	}
	compare_runs(cycle);
}

/* A store failure on segment `seg` of the next cycle, run r. */
static void failed_cycle(int r, const char *seg, uint64_t changed, uint64_t at)
{
	struct replicate_summary sum;
	uint64_t newest = 0, now = 0;
	int err;

	fail_name = seg;
	fail_hits = 0;
	err = run_cycle(r, &sum);
	fail_name = NULL;
	tap_ok(err == -EIO && fail_hits == 1 && sum.result == REPLICATE_NOTHING,
	       "%s fails, %u workers: the cycle fails with -EIO (err %d, %d puts failed)",
	       seg, workers_of[r], err, fail_hits);
	tap_ok(state_is(r, 0, changed), "%s fails: the frozen set is merged back (%llu blocks dirty)",
	       seg, (unsigned long long)changed);
	tap_ok(!newest_cycle(r, &newest) && newest == at,
	       "%s fails: the store's newest complete cycle is still %llu", seg,
	       (unsigned long long)at);
	tap_ok(!apply_run(r, &now) && now == at && !replica_equal(r),
	       "%s fails: nothing to apply, the replica stays at cycle %llu", seg,
	       (unsigned long long)at);
}

int main(void)
{
	uint64_t changed;
	int err;

	struct sigaction sa = { .sa_handler = on_stop_signal };

	log_init("test-pipeline", false);
	main_thread = pthread_self();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	srandom(777);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(data, sizeof(data), "%s/vol.img", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	for (int r = 0; r < NR_RUNS; r++) {
		snprintf(state[r], sizeof(state[r]), "%s/state-%u", dir, workers_of[r]);
		snprintf(store[r], sizeof(store[r]), "%s/store-%u", dir, workers_of[r]);
		snprintf(replica[r], sizeof(replica[r]), "%s/replica-%u", dir, workers_of[r]);
	}
	for (uint64_t b = 0; b < NR_BLOCKS; b++)
		fill(src_buf + b * BS, b == NR_BLOCKS - 1 ? VOL_BYTES - b * BS : BS);
	tap_eq(write_data(), 0, "source volume written");
	tap_ok(holes_punched > 10, "%u zero blocks of the source are holes", holes_punched);
	tap_eq(key_generate(keyfile), 0, "key generated");

	ship_all(1, NR_BLOCKS, "initial");
	check_copy_path();
	changed = change_blocks(300);
	ship_all(2, changed, "delta");

	/* Failures: a middle segment (reader waiting on backpressure), the first, the last. */
	changed = change_blocks(400);
	failed_cycle(2, "/seg-00000005", changed, 2);
	failed_cycle(1, "/seg-00000000", changed, 2);
	failed_cycle(0, "/manifest", changed, 2);
	{
		struct replicate_summary sum;
		uint64_t newest = 0;

		/* Stopped (a signal) while segments are in flight: same outcome. */
		stop_name = "/seg-00000003";
		err = run_cycle(1, &sum);
		stop_name = NULL;
		stop_flag = 0;
		tap_ok(err == -EINTR && sum.result == REPLICATE_NOTHING,
		       "stopped mid-cycle, 2 workers: -EINTR (err %d)", err);
		tap_ok(state_is(1, 0, changed) && !newest_cycle(1, &newest) && newest == 2,
		       "stopped mid-cycle: merged back, newest complete cycle still 2");
	}
	err = 0;
	for (int r = 0; r < NR_RUNS; r++) {
		struct replicate_summary sum;

		err |= run_cycle(r, &sum) || sum.cycle != 3 || sum.blocks != changed;
	}
	tap_ok(!err, "after the failures every run ships the merged-back blocks as cycle 3");
	for (int r = 0; r < NR_RUNS; r++) {
		uint64_t now;

		tap_ok(!apply_run(r, &now) && now == 3 && replica_equal(r),
		       "%u workers: replica equals the source at cycle 3", workers_of[r]);
	}
	compare_runs(3);

	if (!tap_failed) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	} else {
		printf("# left %s for inspection\n", dir);
	}
	return tap_done();
}
