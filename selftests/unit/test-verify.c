// SPDX-License-Identifier: GPL-2.0
/*
 * Block hash lists (blockhash.c): a replica's list published through a real
 * local store and compared with a source where a known set of blocks was
 * changed must name exactly those blocks, including a partial last block;
 * identical volumes compare equal; a list that was tampered with, moved to
 * another cycle, mixed with another list's parts or sealed with another key
 * is refused, never used.  Also the extent union resync relies on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockhash.h"
#include "key.h"
#include "log.h"
#include "store.h"
#include "tap.h"
#include "tmpdir.h"
#include "vstore.h"

#define BS		4096u
#define PART		1024u				/* small parts: several */
#define NR_BLOCKS	(3 * PART + 300)
#define VOL_BYTES	((uint64_t)(NR_BLOCKS - 1) * BS + 512)	/* partial last block */

static uint8_t *vol;

static void flip(uint64_t block, size_t off)
{
	vol[block * BS + off] ^= 0x5a;
}

static int compare(struct vstore *vs, uint64_t cycle, struct cbt_extent_list *diff,
		   struct blockhash_stats *hs)
{
	struct block_reader *br;
	int err;

	memset(diff, 0, sizeof(*diff));
	if (test_write_file("src", vol, VOL_BYTES, 0600))
		return -EIO;
	err = block_reader_open("src", NULL, &br);
	if (err)
		return err;
	err = blockhash_compare(vs, cycle, br, diff, hs);
	block_reader_close(br);
	return err;
}

static int ext_is(const struct cbt_extent_list *l, const uint64_t (*want)[2], size_t n)
{
	size_t i;

	if (l->nr != n)
		return 0;
	for (i = 0; i < n; i++)
		if (l->ext[i].start != want[i][0] || l->ext[i].count != want[i][1])
			return 0;
	return 1;
}

static void test_union(void)
{
	struct cbt_extent_list a = { 0 }, b = { 0 }, u;
	static const uint64_t want[][2] = { { 0, 12 }, { 20, 1 }, { 30, 10 }, { 50, 5 } };

	cbt_extent_list_add(&a, 0, 5);
	cbt_extent_list_add(&a, 30, 2);
	cbt_extent_list_add(&a, 35, 5);
	cbt_extent_list_add(&a, 50, 5);
	cbt_extent_list_add(&b, 3, 9);
	cbt_extent_list_add(&b, 20, 1);
	cbt_extent_list_add(&b, 31, 4);
	cbt_extent_list_add(&b, 52, 1);
	tap_ok(!blockhash_extents_union(&a, &b, &u) && ext_is(&u, want, 4),
	       "union merges overlapping and adjacent extents");
	cbt_extent_list_free(&u);
	tap_ok(!blockhash_extents_union(&b, &a, &u) && ext_is(&u, want, 4), "union is symmetric");
	cbt_extent_list_free(&u);
	cbt_extent_list_free(&b);
	tap_ok(!blockhash_extents_union(&a, &b, &u) && u.nr == 4 &&
	       cbt_extent_list_blocks(&u) == cbt_extent_list_blocks(&a), "union with nothing");
	cbt_extent_list_free(&u);
	cbt_extent_list_free(&a);
}

int main(void)
{
	static const uint64_t want[][2] = {
		{ 0, 1 }, { 100, 3 }, { PART - 1, 2 }, { NR_BLOCKS - 1, 1 },
	};
	struct cbt_extent_list diff;
	struct blockhash_stats hs;
	struct cbt_key key;
	struct store *st;
	struct vstore *vs, *vs2;
	uint8_t *obj, *other_part;
	size_t len, other_len;
	char name[256];

	test_dir_setup("verify");
	test_quiet_logs();
	test_union();

	if (key_generate("key") || key_load("key", &key) || store_open("store", true, &st) ||
	    vstore_create(st, "vol", &key, BS, VOL_BYTES, &vs)) {
		tap_ok(0, "set up a store");
		return tap_done();
	}
	vol = malloc(VOL_BYTES);
	test_fill_random(vol, VOL_BYTES, 1);
	test_write_file("replica", vol, VOL_BYTES, 0600);

	tap_eq(blockhash_publish(vs, "replica", 5, PART, &hs), 0, "publish the replica's hashes");
	tap_ok(hs.blocks == NR_BLOCKS && hs.list_bytes < (uint64_t)NR_BLOCKS * 17,
	       "every block hashed, list about 16 bytes a block (%llu bytes)",
	       (unsigned long long)hs.list_bytes);

	tap_eq(compare(vs, 5, &diff, &hs), 0, "compare an identical source");
	tap_ok(diff.nr == 0 && hs.diff_blocks == 0 && hs.blocks == NR_BLOCKS,
	       "identical volumes: nothing differs");
	cbt_extent_list_free(&diff);

	/* One byte is enough; the partial last block's tail is only 512 bytes. */
	flip(0, 0);
	flip(100, 4095);
	flip(101, 17);
	flip(102, 2048);
	flip(PART - 1, 9);	/* across the part boundary */
	flip(PART, 9);
	flip(NR_BLOCKS - 1, 511);
	tap_eq(compare(vs, 5, &diff, &hs), 0, "compare a changed source");
	tap_ok(ext_is(&diff, want, 4), "exactly the changed blocks differ (%zu ranges)", diff.nr);
	tap_ok(hs.diff_blocks == 7 && hs.diff_bytes == 6 * BS + 512,
	       "differing bytes counted with the short last block (%llu)",
	       (unsigned long long)hs.diff_bytes);
	cbt_extent_list_free(&diff);

	/* The list is for cycle 5 only. */
	tap_eq(compare(vs, 6, &diff, &hs), -ENOENT, "no list for another cycle: -ENOENT");
	cbt_extent_list_free(&diff);

	/* A part tampered with is refused (authenticated), not compared. */
	snprintf(name, sizeof(name), "store/volumes/vol/hashes/%020d/part-00000001", 5);
	obj = test_read_file(name, &len);
	obj[len / 2] ^= 1;
	test_write_file(name, obj, len, 0600);
	tap_eq(compare(vs, 5, &diff, &hs), -EBADMSG, "a tampered part is refused");
	cbt_extent_list_free(&diff);
	obj[len / 2] ^= 1;
	test_write_file(name, obj, len, 0600);
	free(obj);

	/* A list republished for cycle 7: parts of cycle 5 cannot stand in. */
	tap_eq(blockhash_publish(vs, "replica", 7, PART, &hs), 0, "publish again for cycle 7");
	tap_ok(!test_read_file(name, &len), "the older list was removed");
	snprintf(name, sizeof(name), "store/volumes/vol/hashes/%020d/part-00000000", 7);
	obj = test_read_file(name, &len);
	snprintf(name, sizeof(name), "store/volumes/vol/hashes/%020d/part-00000001", 7);
	test_write_file(name, obj, len, 0600);	/* part 0 in part 1's slot */
	free(obj);
	tap_eq(compare(vs, 7, &diff, &hs), -EBADMSG, "a part moved to another slot is refused");
	cbt_extent_list_free(&diff);

	/* Republishing makes a new list id: a part of the previous list is refused. */
	tap_eq(blockhash_publish(vs, "replica", 7, PART, &hs), 0, "publish cycle 7 again");
	obj = test_read_file(name, &len);
	tap_eq(blockhash_publish(vs, "replica", 7, PART, &hs), 0, "and again");
	test_write_file(name, obj, len, 0600);
	free(obj);
	tap_eq(compare(vs, 7, &diff, &hs), -EBADMSG, "a part of an older list is refused");
	cbt_extent_list_free(&diff);

	/* A part of another volume's list, even with the same key and cycle, is refused. */
	tap_eq(blockhash_publish(vs, "replica", 7, PART, &hs), 0, "publish a clean list");
	tap_eq(vstore_create(st, "vol2", &key, BS, VOL_BYTES, &vs2), 0, "a second volume");
	tap_eq(blockhash_publish(vs2, "src", 7, PART, &hs), 0, "publish its list");
	snprintf(name, sizeof(name), "store/volumes/vol2/hashes/%020d/part-00000001", 7);
	obj = test_read_file(name, &len);
	snprintf(name, sizeof(name), "store/volumes/vol/hashes/%020d/part-00000001", 7);
	other_part = test_read_file(name, &other_len);
	test_write_file(name, obj, len, 0600);
	free(obj);
	tap_eq(compare(vs, 7, &diff, &hs), -EBADMSG, "another volume's part is refused");
	cbt_extent_list_free(&diff);
	test_write_file(name, other_part, other_len, 0600);
	free(other_part);
	tap_eq(compare(vs, 7, &diff, &hs), 0, "the clean list compares");
	tap_ok(ext_is(&diff, want, 4), "and finds the same blocks");
	cbt_extent_list_free(&diff);
	vstore_close(vs2);

	vstore_close(vs);
	store_close(st);
	key_wipe(&key);
	free(vol);
	return tap_done();
}
