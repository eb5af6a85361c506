// SPDX-License-Identifier: GPL-2.0
/*
 * Replication end to end on the host: a file volume with the fake dm-cbt
 * (cbt-file.c), a real local store, the real cycle writer and apply.  The
 * replica must be byte-identical to the source after an initial copy and
 * random deltas; a change withheld from tracking must make them differ
 * (proof the comparison can fail); frozen cycles left by a crash must be
 * merged back or committed according to the restart rule.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "cbt-source.h"
#include "key.h"
#include "log.h"
#include "replicate-fixture.h"
#include "replicate.h"
#include "store.h"
#include "tap.h"

#define BS		4096u
#define VOL_BYTES	(4u * 1024 * 1024 + 1000)	/* partial last block */
#define NR_BLOCKS	((VOL_BYTES + BS - 1) / BS)

static char dir[] = "/tmp/cbt-repl-XXXXXX";
static char data[128], state[128], store[128], keyfile[128], replica[128];

static uint64_t rnd(uint64_t n)
{
	return ((uint64_t)random() << 31 ^ (uint64_t)random()) % n;
}

static void write_random(uint64_t off, size_t len, int allow_zeros)
{
	uint8_t *buf = malloc(len);
	int fd = open(data, O_WRONLY);
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)random();
	/* Some zero blocks too, which the writer stores specially. */
	if (allow_zeros && rnd(4) == 0)
		memset(buf, 0, len);
	if (fd < 0 || pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		perror("pwrite");
	close(fd);
	free(buf);
}

static void append_state(const char *line)
{
	FILE *f = fopen(state, "a");

	if (f) {
		fputs(line, f);
		fclose(f);
	}
}

/* Change random runs of blocks, record them (or not) in the fake state; returns blocks. */
static uint64_t change_blocks(unsigned int runs, int record)
{
	static uint8_t touched[NR_BLOCKS];
	uint64_t start, count, end, b, n = 0;
	char line[64];
	unsigned int i;

	memset(touched, 0, sizeof(touched));
	for (i = 0; i < runs; i++) {
		start = rnd(NR_BLOCKS);
		count = 1 + rnd(16);
		if (count > NR_BLOCKS - start)
			count = NR_BLOCKS - start;
		end = (start + count) * BS;
		if (end > VOL_BYTES)
			end = VOL_BYTES;
		write_random(start * BS, (size_t)(end - start * BS), 1);
		if (record) {
			snprintf(line, sizeof(line), "dirty %llu %llu\n",
				 (unsigned long long)start, (unsigned long long)count);
			append_state(line);
		}
		for (b = start; b < start + count; b++)
			touched[b] = 1;
	}
	for (b = 0; b < NR_BLOCKS; b++)
		n += touched[b];
	return n;
}

static volatile sig_atomic_t stop_flag;

static int run_cycle(struct replicate_summary *sum)
{
	struct replicate_opts o = {
		.store = store, .key_path = keyfile, .device = data, .fake_state = state,
		.volume = "vol", .writer = { .codec = CODEC_ZSTD, .segment_bytes = 256 * 1024 },
		.reader = { .queue_depth = 4, .max_read_bytes = 64 * 1024 },
		.stop = &stop_flag,
	};

	return test_replicate(&o, TEST_RUN_CYCLE, sum, NULL);
}

static int apply_all(uint64_t *now)
{
	struct apply_result res;
	int err = test_apply(store, keyfile, "vol", replica, &res);

	*now = res.now;
	return err;
}

static int files_equal(const char *a, const char *b)
{
	static uint8_t x[VOL_BYTES + 1], y[VOL_BYTES + 1];
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	ssize_t na = read(fa, x, sizeof(x)), nb = read(fb, y, sizeof(y));

	close(fa);
	close(fb);
	return na == VOL_BYTES && nb == VOL_BYTES && !memcmp(x, y, VOL_BYTES);
}

static int state_is(int frozen, uint64_t dirty, uint64_t *cycle)
{
	struct cbt_volume_info info;
	struct cbt_source *src;
	int ok;

	if (cbt_source_open_file(data, state, 0, &src))
		return 0;
	ok = !src->ops->info(src, &info) && info.frozen == frozen && info.dirty_blocks == dirty;
	if (cycle)
		*cycle = info.cycle;
	cbt_source_close(src);
	return ok;
}

static void check_replica(const char *what, uint64_t want_cycle)
{
	uint64_t now = 0;
	int err = apply_all(&now);

	tap_ok(err == 0 && now == want_cycle, "%s: apply brings the replica to cycle %llu (err %d, at %llu)",
	       what, (unsigned long long)want_cycle, err, (unsigned long long)now);
	tap_ok(files_equal(data, replica), "%s: replica identical to the source", what);
}

int main(void)
{
	struct replicate_summary sum;
	struct cbt_source *src;
	uint64_t changed, tcycle, cycle_before;
	char line[128];
	int err, i;

	log_init("test-replicate", false);
	srandom(4242);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(data, sizeof(data), "%s/vol.img", dir);
	snprintf(state, sizeof(state), "%s/vol.state", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	snprintf(replica, sizeof(replica), "%s/replica.img", dir);
	close(open(data, O_CREAT | O_WRONLY, 0600));
	write_random(0, VOL_BYTES, 0);
	err = key_generate(keyfile);
	tap_eq(err, 0, "key generated");

	/* An initial replication stopped part way leaves no cycle behind... */
	stop_flag = 1;
	err = run_cycle(&sum);
	stop_flag = 0;
	tap_ok(err == -EINTR && sum.result == REPLICATE_NOTHING, "stopped initial replication");
	tap_ok(state_is(0, 0, &tcycle) && tcycle == 1, "stopped initial: tracking cycle merged back");

	/* ...and the next run does it again.  Writes before it need no recording. */
	err = run_cycle(&sum);
	tap_eq(err, 0, "initial replication");
	tap_ok(sum.result == REPLICATE_SHIPPED && sum.cycle == 1 && sum.kind == CYCLE_INITIAL,
	       "initial: store cycle 1, kind initial");
	tap_eq(sum.blocks, NR_BLOCKS, "initial: every block read");
	tap_eq(sum.bytes_read, VOL_BYTES, "initial: every byte read");
	tap_ok(sum.bytes_stored > 0, "initial: bytes stored counted (%llu)",
	       (unsigned long long)sum.bytes_stored);
	tap_ok(state_is(0, 0, &tcycle) && tcycle == 2, "initial: kernel cycle 2 committed");
	check_replica("initial", 1);

	for (i = 0; i < 3; i++) {
		changed = change_blocks(5 + (unsigned int)rnd(30), 1);
		err = run_cycle(&sum);
		tap_eq(err, 0, "delta cycle");
		tap_ok(sum.result == REPLICATE_SHIPPED && sum.cycle == (uint64_t)i + 2 &&
		       sum.kind == CYCLE_DELTA && !sum.full,
		       "delta: store cycle %d, kind delta", i + 2);
		tap_eq(sum.blocks, changed, "delta: exactly the changed blocks shipped");
		check_replica("delta", (uint64_t)i + 2);
	}

	/* Nothing changed: no cycle written, kernel cycle committed. */
	err = run_cycle(&sum);
	tap_ok(err == 0 && sum.result == REPLICATE_NO_CHANGES, "no changes: nothing shipped");
	tap_ok(state_is(0, 0, NULL), "no changes: kernel cycle committed");

	/* Negative control: a write the tracking never saw is not replicated. */
	change_blocks(3, 0);
	err = run_cycle(&sum);
	tap_ok(err == 0 && sum.result == REPLICATE_NO_CHANGES, "untracked write: nothing shipped");
	tap_ok(!files_equal(data, replica), "untracked write: replica differs (the check can fail)");
	/* Repair by marking the whole volume, as an admin would. */
	snprintf(line, sizeof(line), "dirty 0 %u\n", NR_BLOCKS);
	append_state(line);
	err = run_cycle(&sum);
	tap_ok(err == 0 && sum.cycle == 5 && sum.blocks == NR_BLOCKS, "marking every block ships them all");
	check_replica("after re-marking", 5);

	/* A cycle stopped part way: merged back, nothing visible, shipped next time. */
	changed = change_blocks(10, 1);
	stop_flag = 1;
	err = run_cycle(&sum);
	stop_flag = 0;
	tap_eq(err, -EINTR, "stopped cycle fails with -EINTR");
	tap_ok(state_is(0, changed, NULL), "stopped cycle merged back (%llu blocks dirty again)",
	       (unsigned long long)changed);
	err = apply_all(&tcycle);
	tap_ok(err == 0 && tcycle == 5 && !files_equal(data, replica),
	       "stopped cycle left nothing to apply: replica still at cycle 5");
	err = run_cycle(&sum);
	tap_ok(err == 0 && sum.cycle == 6 && sum.blocks == changed,
	       "next run ships the merged-back blocks as cycle 6");
	check_replica("after the stopped cycle's retry", 6);

	/* Crash after freeze, before the manifest: the cycle is merged back. */
	changed = change_blocks(10, 1);
	err = cbt_source_open_file(data, state, 0, &src);
	if (!err) {
		err = src->ops->freeze(src, &tcycle);
		cbt_source_close(src);
	}
	tap_eq(err, 0, "crash simulation: cycle left frozen");
	err = run_cycle(&sum);
	tap_ok(err == 0 && sum.cycle == 7 && sum.blocks == changed,
	       "frozen cycle not in the store is merged back and shipped (%llu of %llu blocks)",
	       (unsigned long long)sum.blocks, (unsigned long long)changed);
	tap_ok(state_is(0, 0, &cycle_before) && cycle_before == tcycle + 1,
	       "merged-back blocks went out in the next tracking cycle");
	check_replica("after merge-back", 7);

	/*
	 * Crash after the manifest, before the kernel commit: put the state
	 * back to "cycle N frozen" with N the cycle the store recorded.
	 */
	snprintf(line, sizeof(line), "frozen_ext 0 7\n");
	{
		FILE *f = fopen(state, "r");
		char buf[4096] = "";
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		char *p;

		if (f)
			fclose(f);
		buf[n] = 0;
		p = strstr(buf, "frozen 0");
		if (p)
			p[7] = '1';
		f = fopen(state, "w");
		if (f) {
			fputs(buf, f);
			fputs(line, f);
			fclose(f);
		}
	}
	tap_ok(state_is(1, 0, NULL), "crash simulation: stored cycle left frozen");
	err = run_cycle(&sum);
	tap_ok(err == 0 && sum.result == REPLICATE_NO_CHANGES,
	       "frozen cycle already in the store is committed, not shipped again");
	tap_ok(state_is(0, 0, NULL), "nothing was merged back");

	/* Tracking restarted (new id): every block is shipped as a delta. */
	change_blocks(2, 0);	/* lost by the restart: the full cycle must still carry it */
	{
		FILE *f = fopen(state, "w");

		if (f) {
			fprintf(f, "block_size %u\ncycle 0\nfrozen 0\nid 0123456789abcdef0123456789abcdef\n", BS);
			fclose(f);
		}
	}
	err = run_cycle(&sum);
	tap_ok(err == 0 && sum.cycle == 8 && sum.kind == CYCLE_DELTA && sum.full &&
	       sum.blocks == NR_BLOCKS, "tracking restart: full delta cycle 8");
	check_replica("after tracking restart", 8);

	/* A volume of another size is refused. */
	if (truncate(data, VOL_BYTES + BS) == 0) {
		err = run_cycle(&sum);
		tap_eq(err, -EINVAL, "grown source volume refused");
		if (truncate(data, VOL_BYTES))
			perror("truncate");
	}

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
