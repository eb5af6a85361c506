// SPDX-License-Identifier: GPL-2.0
/*
 * The source side and the store's volume state (src-state.h), with the
 * fake dm-cbt (cbt-file.c) and a real local store: the states it records
 * (initial replication while the initial cycle runs, resync required while
 * a restarted tracking ships every block, delta replication after), the
 * states it honours (stopped, migrated, failed over, a migration's final
 * cycle out), the final cycle of a requested migration, the queued state a
 * service records before an initial cycle, and the blocks it
 * ships again after a rejected cycle: exactly the rejected cycles' blocks,
 * or every block when their block sets cannot be read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockhash.h"
#include "key.h"
#include "log.h"
#include "migrate.h"
#include "replicate-fixture.h"
#include "replicate.h"
#include "src-state.h"
#include "store.h"
#include "tap.h"
#include "tmpdir.h"
#include "vstore-priv.h"

#define BS		4096u
#define NR_BLOCKS	256u

static int fail_puts;		/* segment puts still to fail */

static int put_fault(const char *name)
{
	if (fail_puts && strstr(name, "seg-")) {
		fail_puts--;
		return -EIO;
	}
	return 0;
}

static int cycle(struct replicate_summary *sum)
{
	struct replicate_opts o = {
		.store = "store", .key_path = "key", .device = "data", .fake_state = "state",
		.volume = "vol", .writer = { .codec = CODEC_NONE },
		.put_fault = put_fault,
	};

	return test_replicate(&o, TEST_RUN_CYCLE, sum, NULL);
}

/* Write random data to blocks [start, start + count) and tell the fake kernel. */
static void dirty(unsigned int start, unsigned int count)
{
	uint8_t buf[BS];
	FILE *f;
	int fd = open("data", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	for (unsigned int b = start; b < start + count; b++) {
		for (unsigned int i = 0; i < BS; i++)
			buf[i] = (uint8_t)random();
		if (fd < 0 || pwrite(fd, buf, BS, (off_t)b * BS) != BS)
			perror("pwrite");
	}
	close(fd);
	f = fopen("state", "a");
	if (f) {
		fprintf(f, "dirty %u %u\n", start, count);
		fclose(f);
	}
}

static enum vol_state state_of(struct vstore *vs)
{
	struct vol_state_rec s;

	return vol_state_get(vs, &s) ? 0 : s.state;
}

int main(void)
{
	struct replicate_summary sum;
	struct cbt_extent_list blocks;
	struct vol_rejection rej;
	struct vol_migration mig;
	struct vol_repair rep;
	struct blockhash_stats hs;
	struct block_reader *br = NULL;
	struct vstore *vs = NULL;
	struct store *st = NULL;
	struct cbt_key key;
	char path[VSTORE_PATH_MAX], file[VSTORE_PATH_MAX + 8];
	uint8_t sha[32];
	uint8_t *buf;
	size_t len;
	uint64_t c;
	int ret;

	test_quiet_logs();
	test_dir_setup("src-state");
	srandom(7);
	if (key_generate("key") || key_load("key", &key)) {
		fprintf(stderr, "setup failed\n");
		return 99;
	}
	dirty(0, NR_BLOCKS);
	unlink("state");

	/* Initial replication: recorded while it runs, delta once it is stored. */
	fail_puts = 1;
	tap_ok(cycle(&sum) < 0, "initial cycle with a failing store put fails");
	if (store_open("store", false, &st) || vstore_open(st, "vol", &key, &vs)) {
		fprintf(stderr, "setup failed\n");
		return 99;
	}
	tap_eq(state_of(vs), VOL_INITIAL_RUNNING, "an interrupted initial replication leaves initial-replication");
	tap_eq(cycle(&sum), 0, "initial cycle");
	tap_ok(sum.result == REPLICATE_SHIPPED && sum.blocks == NR_BLOCKS, "it ships every block");
	tap_eq(state_of(vs), VOL_DELTA, "delta-replication after the initial cycle");
	tap_eq(sum.store_state, VOL_DELTA, "the summary carries the store's state");

	/* Tracking restarted without a saved set: resync required while it ships every block. */
	unlink("state");
	fail_puts = 1;
	tap_ok(cycle(&sum) < 0, "full cycle after a tracking restart, with a failing put, fails");
	tap_eq(state_of(vs), VOL_RESYNC_REQUIRED, "resync-required while the full cycle is not stored");
	tap_eq(cycle(&sum), 0, "full cycle");
	tap_ok(sum.full && sum.blocks == NR_BLOCKS, "every block shipped");
	tap_eq(state_of(vs), VOL_DELTA, "delta-replication again");

	/* A rejected cycle: exactly its blocks go again, with the new changes. */
	dirty(10, 5);
	dirty(100, 20);
	tap_eq(cycle(&sum), 0, "delta cycle of 25 blocks");
	c = sum.cycle;
	tap_eq(vol_rejection_set(vs, c, c - 1, "test"), 0, "the target rejects it");
	ret = src_repair_plan(vs, &blocks, &rej);
	tap_ok(ret == SRC_REPAIR_BLOCKS && blocks.nr == 2 && blocks.ext[0].start == 10 &&
	       blocks.ext[0].count == 5 && blocks.ext[1].start == 100 && blocks.ext[1].count == 20,
	       "the plan: blocks 10-14 and 100-119, the rejected cycle's set");
	cbt_extent_list_free(&blocks);
	dirty(200, 3);
	tap_eq(cycle(&sum), 0, "the next cycle");
	tap_ok(sum.repair_blocks == 25 && sum.blocks == 28 && !sum.full,
	       "it ships the 25 blocks again and the 3 new ones, not every block");
	tap_ok(vol_repair_get(vs, &rep) == 0 && rep.cycle == sum.cycle && rep.base == c - 1 &&
	       rep.rejected == c, "the repair record names the cycle, its base and the rejected cycle");
	tap_eq(src_repair_plan(vs, &blocks, &rej), SRC_REPAIR_NONE, "answered: no second repair");
	cbt_extent_list_free(&blocks);

	/* The rejected cycles' block sets unreadable: every block. */
	dirty(50, 1);
	tap_eq(cycle(&sum), 0, "delta cycle");
	c = sum.cycle;
	dirty(60, 1);
	tap_eq(cycle(&sum), 0, "and one more");
	vstore_path_manifest(vs, c, path);
	snprintf(file, sizeof(file), "store/%s", path);
	buf = test_read_file(file, &len);
	tap_ok(buf != NULL, "the manifest of cycle c is there to damage");
	if (buf) {
		buf[len - 3] ^= 1;
		test_write_file(file, buf, len, 0600);
		free(buf);
	}
	tap_eq(vol_rejection_set(vs, c, c - 1, "test"), 0, "the target rejects the damaged cycle");
	tap_eq(src_repair_plan(vs, &blocks, &rej), SRC_REPAIR_FULL,
	       "its manifest does not authenticate: every block");
	cbt_extent_list_free(&blocks);
	tap_eq(cycle(&sum), 0, "the next cycle");
	tap_ok(sum.full && sum.blocks == NR_BLOCKS, "ships every block");
	vol_rejection_clear(vs);

	/* A state of another flow (here migration-queued) is not replaced by the source. */
	{
		struct vol_state_rec cur = { .state = VOL_MIGRATION_QUEUED };

		tap_eq(src_state_enter(vs, &cur, VOL_DELTA, 1, NULL), 0, "enter delta from migration-queued");
		tap_ok(cur.state == VOL_MIGRATION_QUEUED && state_of(vs) == VOL_DELTA,
		       "is not done: the source does not own migration-queued");
	}

	/* A requested migration: the first cycle that finds no change is the final one. */
	tap_eq(vol_state_set(vs, VOL_MIGRATION_QUEUED, 0, "test"), 0, "migration requested");
	dirty(70, 2);
	tap_eq(cycle(&sum), 0, "a cycle with changes");
	tap_ok(!sum.migration_final && state_of(vs) == VOL_MIGRATION_QUEUED,
	       "it is not the final cycle: still migration-queued");
	c = sum.cycle;
	tap_eq(cycle(&sum), 0, "a cycle without changes");
	tap_ok(sum.result == REPLICATE_NO_CHANGES && sum.migration_final &&
	       state_of(vs) == VOL_MIGRATION_RUNNING, "it is the final one: migration-running");
	ret = migrate_hash_file("data", NR_BLOCKS * BS, sha);
	tap_ok(!ret && vol_migration_get(vs, &mig) == 0 && mig.cycle == c &&
	       !memcmp(mig.sha256, sha, 32), "the migration record: final cycle and the source's SHA-256");
	tap_eq(block_reader_open("data", NULL, &br), 0, "open the source to compare");
	ret = blockhash_compare(vs, c, br, &blocks, &hs);
	tap_ok(!ret && !blocks.nr && hs.blocks == NR_BLOCKS,
	       "the source's block hashes are published for the final cycle and match it");
	cbt_extent_list_free(&blocks);
	dirty(80, 1);
	ret = blockhash_compare(vs, c, br, &blocks, &hs);
	tap_ok(!ret && blocks.nr == 1 && blocks.ext[0].start == 80 && blocks.ext[0].count == 1,
	       "control: a block written after it differs from the list");
	cbt_extent_list_free(&blocks);
	block_reader_close(br);
	tap_eq(cycle(&sum), -ECANCELED, "after the final cycle the source ships nothing");

	/* The target side's end states stop the source. */
	tap_eq(vol_state_set(vs, VOL_MIGRATED, c, NULL), 0, "migrated");
	tap_eq(cycle(&sum), -ECANCELED, "a migrated volume is not replicated");
	tap_eq(sum.store_state, VOL_MIGRATED, "and the summary says why");
	tap_eq(vol_state_set(vs, VOL_FAILED_OVER, 0, NULL), 0, "failed over");
	tap_eq(cycle(&sum), -ECANCELED, "a failed-over volume is not replicated");
	tap_eq(vol_state_set(vs, VOL_REPROTECTING, 0, NULL), 0, "reprotecting");
	tap_eq(cycle(&sum), -ECANCELED,
	       "a volume being reprotected is not replicated forward (its original disk is the reverse target)");
	tap_eq(vol_state_set(vs, VOL_STOPPED, 0, NULL), 0, "stopped");
	tap_eq(cycle(&sum), -ECANCELED, "a stopped volume is not replicated");
	/* Control: the same source goes on once the state allows it. */
	tap_eq(vol_state_set(vs, VOL_DELTA, 0, NULL), 0, "back to delta replication");
	tap_eq(cycle(&sum), 0, "the source replicates again");
	tap_ok(sum.result == REPLICATE_SHIPPED && sum.blocks == 1, "the waiting change goes out");

	/* A service queues a volume before its initial cycle. */
	{
		struct replicate_opts o = {
			.store = "store", .key_path = "key", .device = "data",
			.fake_state = "qstate", .volume = "q",
			.writer = { .codec = CODEC_NONE },
		};
		struct vstore *qv = NULL;
		struct replicator *r;

		ret = replicator_open(&o, &r);
		tap_eq(ret, 0, "open a replicator for a new volume");
		if (!ret) {
			tap_eq(replicator_mark_queued(r), 0, "mark it queued");
			tap_ok(vstore_open(st, "q", &key, &qv) == 0 &&
			       state_of(qv) == VOL_INITIAL_QUEUED,
			       "the store holds the volume, initial-replication-queued");
			tap_eq(replicator_cycle(r, &sum), 0, "its initial cycle");
			tap_eq(replicator_mark_queued(r), 0, "queued again after it");
			tap_eq(state_of(qv), VOL_DELTA, "no: a volume with a cycle stays in delta-replication");
			vstore_close(qv);
			replicator_close(r);
		}
	}

	vstore_close(vs);
	store_close(st);
	key_wipe(&key);
	return tap_done();
}
