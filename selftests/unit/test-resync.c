// SPDX-License-Identifier: GPL-2.0
/*
 * Checksum resync and clean detach, end to end on the host: a file volume
 * with the fake dm-cbt (cbt-file.c), a real local store, the real cycle
 * writer, apply and hash lists.
 *
 * Resync: blocks changed behind the tracker's back are missing from the
 * replica after a normal cycle (negative control); after the replica's
 * hashes are published, resync ships exactly the differing and tracked
 * blocks, within 1.5x the differing bytes, and the replica equals the
 * source, also when tracking was restarted.
 *
 * Detach: the saved change set comes back after a "reboot" (new tracking
 * id, empty tracking state), only those blocks are shipped, the replica
 * equals the source; an interrupted restore is redone; a saved set older
 * than the store's newest cycle is never used; without one a full cycle
 * is shipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "blockhash.h"
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
#define NR_BLOCKS	1500u
#define VOL_BYTES	((uint64_t)NR_BLOCKS * BS - 1000)	/* partial last block */

static unsigned int seed = 1;
static uint8_t touched[NR_BLOCKS];	/* every change hits a new block: counts are exact */
static int fail_manifest;

static uint64_t rnd(uint64_t n)
{
	return (uint64_t)random() % n;
}

static void append_state(const char *line)
{
	FILE *f = fopen("vol.state", "a");

	fputs(line, f);
	fclose(f);
}

/* "Reboot": the kernel's tracking state is recreated, empty, with a new id. */
static void reboot(void)
{
	char text[256];

	snprintf(text, sizeof(text), "block_size %u\ncycle 1\nfrozen 0\nresync 1\nid %08x%024x\n",
		 BS, seed++, 0xabcdef);
	test_write_file("vol.state", text, strlen(text), 0600);
}

/* Rewrite n distinct random blocks (recorded as tracked or not); returns n. */
static uint64_t change(unsigned int n, int tracked)
{
	uint8_t buf[BS];
	char line[64];
	uint64_t b, len;
	unsigned int i = 0;
	int fd = open("vol.img", O_WRONLY);

	while (i < n) {
		b = rnd(NR_BLOCKS);
		if (touched[b])
			continue;
		touched[b] = 1;
		test_fill_random(buf, sizeof(buf), seed++);
		len = b == NR_BLOCKS - 1 ? VOL_BYTES - b * BS : BS;
		if (pwrite(fd, buf, len, (off_t)(b * BS)) != (ssize_t)len)
			perror("pwrite");
		if (tracked) {
			snprintf(line, sizeof(line), "dirty %llu 1\n", (unsigned long long)b);
			append_state(line);
		}
		i++;
	}
	close(fd);
	return n;
}

static int put_fault(const char *name)
{
	return fail_manifest && strstr(name, "/manifest") ? -EIO : 0;
}

static int run(int resync, struct replicate_summary *sum)
{
	struct replicate_opts o = {
		.store = "store", .key_path = "key", .device = "vol.img",
		.fake_state = "vol.state", .volume = "vol", .state_dir = "sd",
		.writer = { .codec = CODEC_ZSTD, .level = 1 }, .put_fault = put_fault,
	};

	return test_replicate(&o, resync ? TEST_RUN_RESYNC : TEST_RUN_CYCLE, sum, NULL);
}

static int detach(uint64_t *saved)
{
	struct replicate_opts o = {
		.store = "store", .key_path = "key", .device = "vol.img",
		.fake_state = "vol.state", .volume = "vol", .state_dir = "sd",
	};

	return test_replicate(&o, TEST_RUN_DETACH, NULL, saved);
}

/* The target side: apply pending cycles, optionally publish the replica's hashes. */
static int target(int publish)
{
	struct apply_result res;
	struct blockhash_stats hs;
	struct vstore *vs;
	struct store *st;
	int err;

	err = apply_open_volume("store", "key", "vol", &st, &vs);
	if (err)
		return err;
	err = apply_pending(vs, "replica", &res);
	if (!err && publish)
		err = blockhash_publish(vs, "replica", res.now, 0, &hs);
	vstore_close(vs);
	store_close(st);
	return err;
}

static int same(void)
{
	char a[65], b[65];

	test_hash_file("vol.img", a);
	test_hash_file("replica", b);
	return a[0] && !strcmp(a, b);
}

/* The fake kernel's "resync required" flag. */
static int resync_required(void)
{
	struct cbt_volume_info info;
	struct cbt_source *src;
	int ret = -1;

	if (cbt_source_open_file("vol.img", "vol.state", 0, &src))
		return -1;
	if (!src->ops->info(src, &info))
		ret = info.resync_required;
	cbt_source_close(src);
	return ret;
}

static int saved_exists(void)
{
	struct stat st;

	return stat("sd/vol.changes", &st) == 0;
}

static void test_resync(void)
{
	struct replicate_summary sum;
	uint64_t behind, tracked;
	int err;

	/* Negative control: untracked changes are not shipped by a normal cycle. */
	behind = change(37, 0);
	tracked = change(5, 1);
	err = run(0, &sum);
	tap_ok(!err && sum.blocks == tracked, "normal cycle ships only the %llu tracked blocks",
	       (unsigned long long)tracked);
	tap_ok(!target(0) && !same(), "replica differs after it (the check can fail)");

	tap_eq(run(1, &sum), -ENOENT, "resync without a published hash list: -ENOENT");
	tap_eq(target(1), 0, "target publishes its hashes");

	tracked = change(11, 1);	/* not shipped yet: differ and tracked */
	err = run(1, &sum);
	tap_eq(err, 0, "resync");
	tap_ok(sum.resync && sum.diff_blocks == behind + tracked,
	       "resync finds the %llu differing blocks (%llu)", (unsigned long long)(behind + tracked),
	       (unsigned long long)sum.diff_blocks);
	tap_eq(sum.blocks, behind + tracked, "resync ships exactly those");
	tap_ok(sum.bytes_stored <= sum.diff_bytes * 3 / 2,
	       "bytes stored %llu <= 1.5 x differing bytes %llu (+ hash list %llu read)",
	       (unsigned long long)sum.bytes_stored, (unsigned long long)sum.diff_bytes,
	       (unsigned long long)sum.hash_list_bytes);
	tap_ok(!target(0) && same(), "after resync and apply the replica equals the source");

	/* A list older than the store's newest cycle is not used. */
	change(3, 1);
	tap_ok(!run(0, &sum) && sum.result == REPLICATE_SHIPPED, "another cycle");
	tap_eq(run(1, &sum), -ENOENT, "resync against a stale hash list: -ENOENT");

	/* Tracking restarted without a saved set (crash): resync, not a full copy. */
	tap_eq(target(1), 0, "target publishes again");
	behind = change(20, 0);
	reboot();
	err = run(1, &sum);
	tap_ok(!err && !sum.full && sum.blocks == behind && sum.diff_blocks == behind,
	       "after a crash resync ships only the %llu differing blocks (%llu)",
	       (unsigned long long)behind, (unsigned long long)sum.blocks);
	tap_eq(resync_required(), 0, "the resync cleared \"resync required\"");
	tap_ok(!target(0) && same(), "replica equals the source");
	tracked = change(4, 1);
	err = run(0, &sum);
	tap_ok(!err && !sum.full && sum.blocks == tracked,
	       "the next cycle trusts the new tracking (delta of %llu)",
	       (unsigned long long)sum.blocks);
	tap_ok(!target(1), "apply and publish");
	tap_ok(!run(1, &sum) && sum.result == REPLICATE_NO_CHANGES && !sum.diff_blocks,
	       "resync of equal volumes ships nothing");
}

static void test_detach(void)
{
	struct replicate_summary sum;
	uint64_t tracked, saved;
	uint8_t *copy;
	size_t len;
	int err;

	tracked = change(25, 1);
	tap_eq(detach(&saved), 0, "detach");
	tap_eq(saved, tracked, "detach saves the unshipped blocks");
	tap_ok(saved_exists(), "the set is in the state directory");
	reboot();
	tracked += change(6, 1);	/* written after the attach: tracked by the new kernel */
	err = run(0, &sum);
	tap_ok(!err && !sum.full && sum.restored_blocks == saved && sum.blocks == tracked,
	       "after a reboot only the saved and new blocks are shipped (%llu of %u)",
	       (unsigned long long)sum.blocks, NR_BLOCKS);
	tap_ok(!saved_exists(), "the saved set is dropped once shipped");
	tap_eq(resync_required(), 0, "the restore cleared \"resync required\"");
	tap_ok(!target(0) && same(), "replica equals the source");

	/* Interrupted restore: the set stays until a cycle of the new tracking is stored. */
	tracked = change(9, 1);
	tap_ok(!detach(&saved) && saved == tracked, "detach again");
	reboot();
	fail_manifest = 1;
	err = run(0, &sum);
	fail_manifest = 0;
	tap_ok(err && saved_exists(), "a failed restore cycle keeps the saved set");
	tap_eq(resync_required(), 0, "the set is marked dirty, so \"resync required\" is cleared");
	err = run(0, &sum);
	tap_ok(!err && !sum.full && sum.blocks == tracked, "the next run ships the %llu blocks",
	       (unsigned long long)tracked);
	tap_ok(!target(0) && same(), "replica equals the source");

	/* A saved set older than the newest cycle is ignored: full cycle instead. */
	change(3, 1);
	tap_ok(!detach(&saved) && saved == 3, "detach");
	copy = test_read_file("sd/vol.changes", &len);
	tap_ok(!run(0, &sum) && sum.blocks == 3 && !saved_exists(),
	       "without a reboot the next cycle ships them and drops the stale set");
	test_write_file("sd/vol.changes", copy, len, 0600);
	free(copy);
	change(2, 0);
	reboot();
	err = run(0, &sum);
	tap_ok(!err && sum.full && sum.blocks == NR_BLOCKS && !sum.restored_blocks,
	       "a stale saved set is not used: every block shipped");
	tap_eq(resync_required(), 0, "the full cycle cleared \"resync required\"");
	tap_ok(!target(0) && same(), "replica equals the source");

	/* Nothing pending at detach: one block records the new tracking, then deltas. */
	tap_ok(!detach(&saved) && saved == 0 && saved_exists(), "detach with nothing pending");
	reboot();
	err = run(0, &sum);
	tap_ok(!err && !sum.full && sum.blocks == 1, "attach ships one block to record the new tracking (%llu)",
	       (unsigned long long)sum.blocks);
	tracked = change(3, 1);
	err = run(0, &sum);
	tap_ok(!err && !sum.full && sum.blocks == tracked, "and the next cycle is a delta (%llu)",
	       (unsigned long long)sum.blocks);
	tap_ok(!target(0) && same(), "replica equals the source");

	/* The same after a crash when resync finds the volumes equal. */
	tap_ok(!target(1), "publish");
	reboot();
	err = run(1, &sum);
	tap_ok(!err && sum.diff_blocks == 0 && sum.blocks == 1,
	       "resync of equal volumes after a restart records the new tracking");
	tracked = change(2, 1);
	err = run(0, &sum);
	tap_ok(!err && !sum.full && sum.blocks == tracked, "and the next cycle is a delta");
	tap_ok(!target(0) && same(), "replica equals the source");

	/* A clear_resync an interrupted run did not get to is done by the next one. */
	append_state("resync 1\n");
	tap_eq(resync_required(), 1, "flag set again (as if killed before clear_resync)");
	err = run(0, &sum);
	tap_ok(!err && !sum.full && resync_required() == 0,
	       "same tracking as the store: the next run clears it, no full cycle");

	/* Nothing saved when the current tracking never shipped a cycle. */
	reboot();
	change(2, 1);
	tap_ok(!detach(&saved) && saved == 0 && !saved_exists(),
	       "detach with untrusted tracking saves nothing");
}

int main(void)
{
	struct replicate_summary sum;
	uint8_t *buf;

	test_dir_setup("resync");
	test_quiet_logs();
	srandom(77);
	buf = malloc(VOL_BYTES);
	test_fill_random(buf, VOL_BYTES, 99);
	test_write_file("vol.img", buf, VOL_BYTES, 0600);
	free(buf);
	if (key_generate("key")) {
		tap_ok(0, "key");
		return tap_done();
	}
	tap_ok(!run(0, &sum) && sum.kind == CYCLE_INITIAL, "initial replication");
	tap_eq(resync_required(), 0, "the initial copy cleared \"resync required\"");
	tap_ok(!target(0) && same(), "initial: replica equals the source");
	test_resync();
	test_detach();
	return tap_done();
}
