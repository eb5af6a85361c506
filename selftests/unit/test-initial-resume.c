// SPDX-License-Identifier: GPL-2.0
/*
 * An interrupted initial replication continues from its checkpoint: a
 * file volume with the fake kernel (cbt-file.c), a real local store and a
 * state directory.  The first attempt dies after 20 segments, by kill -9
 * (a child raising SIGKILL before its 21st segment put) or by a stop
 * request; blocks are written (tracked) before and after the point it
 * reached.  The next run must ship exactly the blocks after the stored
 * segments, the replica must lag the source until the next delta (the
 * rewritten kept blocks go out there: the negative control) and then
 * equal it by hash.  A checkpoint of another tracking is not used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply.h"
#include "cbt-source.h"
#include "key.h"
#include "log.h"
#include "replicate-fixture.h"
#include "replicate.h"
#include "statedir.h"
#include "store.h"
#include "tap.h"
#include "tmpdir.h"

#define BS		4096u
#define VOL_BYTES	(4u * 1024 * 1024 + 1000)	/* partial last block */
#define NR_BLOCKS	((VOL_BYTES + BS - 1) / BS)
#define SEG_BLOCKS	16u				/* 64 KiB segments */
#define KEEP_SEGS	20u

static const char *top;
static char data[300], state[300], store[300], keyfile[300], replica[300], sdir[300];
static const char *volume;
static unsigned int seg_puts;
static bool kill_mode;
static volatile sig_atomic_t stop_flag;

/* Before each put: after KEEP_SEGS segments, die (kill -9) or ask to stop. */
static int fault(const char *name)
{
	if (!strstr(name, "/seg-"))
		return 0;
	if (++seg_puts <= KEEP_SEGS)
		return 0;
	if (kill_mode)
		raise(SIGKILL);
	stop_flag = 1;
	return 0;
}

static int run_cycle(bool faulty, struct replicate_summary *sum)
{
	struct replicate_opts o = {
		.store = store, .key_path = keyfile, .device = data, .fake_state = state,
		.volume = volume,
		.writer = { .codec = CODEC_ZSTD, .segment_bytes = SEG_BLOCKS * BS, .workers = 2,
			    .checkpoint_segments = 4 },
		.reader = { .queue_depth = 4, .max_read_bytes = 64 * 1024 },
		.state_dir = sdir, .stop = &stop_flag,
		.put_fault = faulty ? fault : NULL,
	};

	seg_puts = 0;
	return test_replicate(&o, TEST_RUN_CYCLE, sum, NULL);
}

/* Segment objects of cycle 1 visible in the store. */
static unsigned int stored_segments(void)
{
	char path[600];
	struct dirent *de;
	unsigned int n = 0, idx;
	int len;
	DIR *d;

	snprintf(path, sizeof(path), "%s/volumes/%s/cycles/%020u", store, volume, 1);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (sscanf(de->d_name, "seg-%8u%n", &idx, &len) == 1 && len == 12 && !de->d_name[12])
			n++;
	closedir(d);
	return n;
}

/* Overwrite block b with new data and tell the fake kernel. */
static void write_block(uint64_t b, uint64_t seed)
{
	uint8_t buf[BS];
	char line[64];
	int fd = open(data, O_WRONLY);
	FILE *f;

	test_fill_random(buf, sizeof(buf), seed);
	if (fd < 0 || pwrite(fd, buf, sizeof(buf), (off_t)(b * BS)) != (ssize_t)sizeof(buf))
		perror("pwrite");
	close(fd);
	snprintf(line, sizeof(line), "dirty %llu 1\n", (unsigned long long)b);
	f = fopen(state, "a");
	if (f) {
		fputs(line, f);
		fclose(f);
	}
}

static int replica_equal(void)
{
	struct apply_result res;
	char ha[65], hb[65];

	if (test_apply(store, keyfile, volume, replica, &res))
		return 0;
	test_hash_file(data, ha);
	test_hash_file(replica, hb);
	return !strcmp(ha, hb);
}

static void scenario(const char *name, bool kill9, uint64_t seed)
{
	struct replicate_summary sum;
	uint64_t kept;
	unsigned int segs;
	uint8_t *buf = malloc(VOL_BYTES);
	int status = 0, err;
	pid_t pid;

	volume = name;
	snprintf(data, sizeof(data), "%s/%s.img", top, name);
	snprintf(state, sizeof(state), "%s/%s.st", top, name);
	snprintf(replica, sizeof(replica), "%s/%s.replica", top, name);
	test_fill_random(buf, VOL_BYTES, seed);
	test_write_file(data, buf, VOL_BYTES, 0600);
	free(buf);

	kill_mode = kill9;
	if (kill9) {
		pid = fork();
		if (pid == 0) {
			run_cycle(true, &sum);
			_exit(0);	/* not reached: the fault kills it */
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		       "%s: the first attempt was killed with SIGKILL", name);
	} else {
		err = run_cycle(true, &sum);
		stop_flag = 0;
		tap_ok(err == -EINTR && sum.result == REPLICATE_NOTHING,
		       "%s: the first attempt stopped (err %d)", name, err);
	}

	/*
	 * Segments are made durable every 4: a kill before the 21st leaves
	 * exactly 20; a stop may let a few more through.
	 */
	segs = stored_segments();
	kept = (uint64_t)segs * SEG_BLOCKS;
	tap_ok(kill9 ? segs == KEEP_SEGS : segs >= KEEP_SEGS,
	       "%s: %u segments of the attempt are in the store", name, segs);

	/* Writes after the attempt: one in the stored part, one after it. */
	write_block(5, seed + 1);
	write_block(kept + 40, seed + 2);

	err = run_cycle(false, &sum);
	tap_ok(err == 0 && sum.result == REPLICATE_SHIPPED && sum.cycle == 1 &&
	       sum.kind == CYCLE_INITIAL, "%s: the restarted initial replication completes (err %d)",
	       name, err);
	tap_ok(sum.blocks == NR_BLOCKS - kept,
	       "%s: it shipped only the %llu blocks after the %llu stored (shipped %llu; in total %llu of %u)",
	       name, (unsigned long long)(NR_BLOCKS - kept), (unsigned long long)kept,
	       (unsigned long long)sum.blocks, (unsigned long long)(kept + sum.blocks), NR_BLOCKS);
	tap_ok(!replica_equal(),
	       "%s: block 5, rewritten after it was stored, is not in cycle 1 (negative control)", name);
	err = run_cycle(false, &sum);
	tap_ok(err == 0 && sum.result == REPLICATE_SHIPPED && sum.kind == CYCLE_DELTA &&
	       sum.blocks == 1, "%s: the next delta ships the rewritten block (%llu blocks)", name,
	       (unsigned long long)sum.blocks);
	tap_ok(replica_equal(), "%s: the replica equals the source by hash", name);
	tap_ok(statedir_initial_match(sdir, name, (uint8_t[16]){ 0 }, (uint8_t[16]){ 0 }) == 0 &&
	       access(sdir, F_OK) == 0, "%s: the checkpoint is gone once cycle 1 is stored", name);
}

static void test_match(void)
{
	uint8_t vid[16] = { 1 }, tid[16] = { 2 }, other[16] = { 3 };

	tap_eq(statedir_initial_save(sdir, "m", vid, tid), 0, "checkpoint saved");
	tap_eq(statedir_initial_match(sdir, "m", vid, tid), 1, "checkpoint matches its ids");
	tap_eq(statedir_initial_match(sdir, "m", vid, other), 0,
	       "a checkpoint of another tracking is not used");
	tap_eq(statedir_initial_match(sdir, "m", other, tid), 0,
	       "a checkpoint of another store volume is not used");
	tap_eq(statedir_initial_remove(sdir, "m"), 0, "checkpoint removed");
	tap_eq(statedir_initial_match(sdir, "m", vid, tid), 0, "no checkpoint, no match");
}

int main(void)
{
	test_quiet_logs();
	top = test_dir_setup("initial-resume");
	snprintf(store, sizeof(store), "%s/store", top);
	snprintf(keyfile, sizeof(keyfile), "%s/key", top);
	snprintf(sdir, sizeof(sdir), "%s/state", top);
	if (key_generate(keyfile)) {
		tap_ok(0, "key");
		return tap_done();
	}
	test_match();
	scenario("killed", true, 7);
	scenario("stopped", false, 8);
	return tap_done();
}
