// SPDX-License-Identifier: GPL-2.0
/*
 * Failing cycles: tampered, truncated, reordered, replayed and foreign
 * (other volume, other key) objects in a cycle are rejected with the
 * replica left at its last good cycle and a rejected record in the store;
 * the source's full cycle then brings the replica back, also over a gap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "journal.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"
#include "vol-state.h"
#include "vstore-priv.h"
#include "vstore.h"

static struct cbt_key key;

#define NCYC	10u
#include "target-fixture.h"

static struct store *st;

/* Every block of img[c], as a source shipping a full cycle numbered c. */
static int write_full_cycle(struct vstore *vs, uint64_t c)
{
	struct cycle_writer_opts opts = { .codec = CODEC_ZLIB, .segment_bytes = 32 * BS };
	struct cbt_extent all = { 0, NBLK };
	struct cycle_writer *w;
	int ret;

	ret = cycle_writer_begin(vs, c, CYCLE_DELTA, &opts, &w);
	for (uint64_t b = 0; !ret && b < NBLK; b++)
		ret = cycle_writer_add(w, b, img[c] + b * BS, blen(b));
	if (ret) {
		cycle_writer_abort(w);
		return ret;
	}
	return cycle_writer_commit(w, &all, 1, c, tid);
}

static void obj_path(char *buf, size_t len, const char *vol, uint64_t c, const char *name)
{
	snprintf(buf, len, "store/volumes/%s/cycles/%020llu/%s", vol, (unsigned long long)c, name);
}

/*
 * Damage cycle 3 with `how`, apply, check the rejection, repair.  Returns
 * the apply error.
 */
static int try_damaged(struct vstore *vs, const char *what, int (*how)(void))
{
	struct vol_rejection rej;
	struct apply_result res;
	int ret;

	system("rm -rf cycle3-backup && cp -a store/volumes/vol/cycles/00000000000000000003 cycle3-backup");
	vol_rejection_clear(vs);
	if (how()) {
		tap_ok(0, "%s: could not damage the store", what);
		return 0;
	}
	ret = apply_pending(vs, "rep", &res);
	tap_ok(ret && res.first == 0 && res.now == 2, "%s: apply fails, nothing applied (%d)", what,
	       ret);
	tap_ok(file_is("rep", 2), "%s: the replica is still exactly cycle 2", what);
	tap_ok(vol_rejection_get(vs, &rej) == 0 && rej.cycle == 3 && rej.replica_at == 2 &&
	       strstr(rej.reason, "cycle 3"), "%s: rejected record names cycle 3, replica at 2 (%s)",
	       what, rej.reason);
	system("rm -rf store/volumes/vol/cycles/00000000000000000003 && cp -a cycle3-backup store/volumes/vol/cycles/00000000000000000003");
	return ret;
}

static int flip_seg(void)
{
	char p[256];
	size_t len;
	uint8_t *buf;
	int ret;

	obj_path(p, sizeof(p), "vol", 3, "seg-00000000");
	buf = test_read_file(p, &len);
	if (!buf)
		return -1;
	buf[len / 2] ^= 0x10;
	ret = test_write_file(p, buf, len, 0600);
	free(buf);
	return ret;
}

static int truncate_seg(void)
{
	char p[256];
	struct stat sb;

	obj_path(p, sizeof(p), "vol", 3, "seg-00000000");
	return stat(p, &sb) || truncate(p, sb.st_size - 17);
}

static int swap_segs(void)
{
	char a[256], b[256];

	obj_path(a, sizeof(a), "vol", 3, "seg-00000000");
	obj_path(b, sizeof(b), "vol", 3, "seg-00000001");
	return rename(a, "tmp-seg") || rename(b, a) || rename("tmp-seg", b);
}

/* Put volume vol's object `from` of cycle c as object `to` of vol's cycle 3. */
static int copy_obj(const char *vol, uint64_t c, const char *from, const char *to)
{
	char a[256], b[256];

	obj_path(a, sizeof(a), vol, c, from);
	obj_path(b, sizeof(b), "vol", 3, to);
	return copy_file(a, b);
}

static int replay_seg(void)
{
	return copy_obj("vol", 2, "seg-00000000", "seg-00000000");
}

static int replay_manifest(void)
{
	return copy_obj("vol", 2, "manifest", "manifest");
}

static int foreign_volume(void)
{
	return copy_obj("other", 3, "seg-00000000", "seg-00000000");
}

static int foreign_key(void)
{
	return copy_obj("otherkey", 3, "manifest", "manifest");
}

int main(void)
{
	struct vstore *vs, *other, *okey;
	struct apply_result res;
	struct vol_rejection rej;
	struct cbt_key key2;
	struct journal *j;
	int ret;

	test_quiet_logs();
	test_dir_setup("apply");
	if (key_generate("key") || key_load("key", &key) || key_generate("key2") ||
	    key_load("key2", &key2) || store_open("store", true, &st) ||
	    vstore_create(st, "vol", &key, BS, SIZE, &vs) || fixture_setup(vs, 2) ||
	    vstore_create(st, "other", &key, BS, SIZE, &other) || fixture_setup(other, 3) ||
	    vstore_create(st, "otherkey", &key2, BS, SIZE, &okey) || fixture_setup(okey, 3)) {
		fprintf(stderr, "setup failed\n");
		return 99;
	}
	ret = apply_pending(vs, "rep", &res);
	tap_ok(ret == 0 && res.now == 2 && file_is("rep", 2), "apply cycles 1, 2");
	tap_ok(write_cycle(vs, 3) == 0 && write_cycle(vs, 4) == 0, "the source ships cycles 3, 4");
	tap_eq(vol_rejection_get(vs, &rej), -ENOENT, "no rejected record yet");

	tap_eq(try_damaged(vs, "a flipped segment byte", flip_seg), -EBADMSG, "tampered: -EBADMSG");
	tap_eq(try_damaged(vs, "a truncated segment", truncate_seg), -EBADMSG,
	       "truncated: -EBADMSG");
	tap_eq(try_damaged(vs, "segments 0 and 1 swapped", swap_segs), -EBADMSG,
	       "reordered: -EBADMSG");
	tap_eq(try_damaged(vs, "cycle 2's segment replayed as cycle 3's", replay_seg), -EBADMSG,
	       "replayed segment: -EBADMSG");
	tap_eq(try_damaged(vs, "cycle 2's manifest replayed as cycle 3's", replay_manifest),
	       -EBADMSG, "replayed manifest: -EBADMSG");
	tap_eq(try_damaged(vs, "another volume's segment", foreign_volume), -EBADMSG,
	       "other volume: -EBADMSG");
	tap_eq(try_damaged(vs, "a manifest sealed with another key", foreign_key), -EKEYREJECTED,
	       "other key: -EKEYREJECTED");

	/* Repaired store: apply goes on and clears the rejection. */
	ret = apply_pending(vs, "rep", &res);
	tap_ok(ret == 0 && res.now == 4 && file_is("rep", 4), "repaired: cycles 3, 4 apply");
	tap_eq(vol_rejection_get(vs, &rej), -ENOENT, "and the rejected record is gone");

	/* A bad cycle for good: the source's full cycle brings the replica on. */
	tap_ok(write_cycle(vs, 5) == 0 && write_cycle(vs, 6) == 0, "the source ships cycles 5, 6");
	{
		char p[256];
		size_t len;
		uint8_t *buf;

		obj_path(p, sizeof(p), "vol", 5, "seg-00000001");
		buf = test_read_file(p, &len);
		if (buf) {
			buf[len - 3] ^= 1;
			test_write_file(p, buf, len, 0600);
			free(buf);
		}
	}
	ret = apply_pending(vs, "rep", &res);
	tap_ok(ret == -EBADMSG && res.now == 4 && file_is("rep", 4), "cycle 5 damaged: replica stays at 4");
	tap_ok(vol_rejection_get(vs, &rej) == 0 && rej.cycle == 5, "rejected record names cycle 5");
	tap_eq(vol_rejection_needs_full(vs), 1, "the source is told to ship every block");
	tap_eq(write_full_cycle(vs, 7), 0, "the source ships full cycle 7");
	tap_eq(vol_rejection_needs_full(vs), 0, "with a full cycle stored, no second one is asked for");
	ret = apply_pending(vs, "rep", &res);
	tap_ok(ret == 0 && res.now == 7 && file_is("rep", 7), "apply jumps from 4 to full cycle 7");
	tap_eq(vol_rejection_get(vs, &rej), -ENOENT, "the rejected record is cleared");
	ret = journal_open("rep.cbtship", false, false, &j);
	tap_ok(ret == 0 && j->nr_points == 1 && j->points[0].cycle == 7 &&
	       access("rep.cbtship/undo-00000000000000000007", F_OK) != 0,
	       "points before the jump are dropped: only point 7");
	if (!ret)
		journal_close(j);

	/* A gap (cycle 8 lost) with a full cycle after it. */
	tap_ok(write_cycle(vs, 8) == 0 && write_full_cycle(vs, 9) == 0 && write_cycle(vs, 10) == 0,
	       "the source ships cycles 8, 9 (full), 10");
	system("rm -rf store/volumes/vol/cycles/00000000000000000008");
	ret = apply_pending(vs, "rep", &res);
	tap_ok(ret == 0 && res.now == 10 && file_is("rep", 10),
	       "cycle 8 lost: apply jumps to full cycle 9, then applies 10");

	vstore_close(vs);
	vstore_close(other);
	vstore_close(okey);
	store_close(st);
	key_wipe(&key);
	key_wipe(&key2);
	for (uint64_t c = 1; c <= NCYC; c++)
		free(img[c]);
	return tap_done();
}
