// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the target's state directory (journal.c): the state file, the
 * recovery points file and the undo files, which a crash, a full disk or
 * a careless hand can leave damaged.  The first input byte picks the file
 * and whether the harness makes its checksums right (so that the parser
 * behind them is reached, not only the checksum check); the rest is the
 * file's contents:
 *
 *   0: DIR/state            (bit 2: append a correct "crc32c" line)
 *   1: DIR/points           with a good state file (bit 2: likewise)
 *   2: DIR/undo-N           of a 1 MiB replica with 512-byte blocks: a
 *                           correct header for cycle N, then the input's
 *                           entries (bit 2: each entry's crc32c made right)
 *
 * Properties: a state that loads is consistent and saves to what loads
 * again; loaded points are strictly increasing; undo_replay() writes only
 * whole blocks inside the replica, exactly the entries' blocks, and only
 * if every entry lies inside the replica.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "fuzz.h"
#include "journal.h"
#include "le.h"

#define STATE_MAGIC	"cbtship-target 1\n"
#define UNDO_HDR	64
#define UNDO_ENT	24
#define BS		512u
#define SIZE		(1u << 20)
#define CYCLE		7u
#define MAX_ENTRIES	4096

static const char good_state[] = STATE_MAGIC
	"volume-id 00112233445566778899aabbccddeeff\nblock-size 512\nsize 1048576\n"
	"at 6\nat-created 100\npending 0\nfailed-over 0\n";

static uint8_t file[UNDO_HDR + MAX_ENTRIES * (UNDO_ENT + BS)];

/* A text file: the input, with its crc32c line appended if asked. */
static size_t text_file(const uint8_t *data, size_t size, bool seal)
{
	size_t len = size < sizeof(file) - 32 ? size : sizeof(file) - 32;

	memcpy(file, data, len);
	if (seal)
		len += (size_t)snprintf((char *)file + len, 32, "crc32c %08x\n",
					crc32c(0, file, len));
	return len;
}

struct sink_seen {
	uint64_t bytes;
	int bad;
};

static int sink(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct sink_seen *s = ctx;

	(void)buf;
	if (!len || off % BS || off > SIZE || len > SIZE - off)
		s->bad = 1;
	s->bytes += len;
	return 0;
}

static void check_state(const char *dir)
{
	struct journal *j, *k;
	struct journal_state st;

	if (journal_open(dir, false, false, &j))
		return;
	st = j->st;
	FUZZ_CHECK(st.block_size && (!st.pending || st.pending >= st.at));
	for (size_t i = 1; i < j->nr_points; i++)
		FUZZ_CHECK(j->points[i].cycle > j->points[i - 1].cycle);
	journal_close(j);

	/* What loaded saves to a file that loads the same. */
	FUZZ_CHECK(journal_open(dir, false, true, &j) == 0);
	FUZZ_CHECK(journal_save_state(j) == 0);
	journal_close(j);
	FUZZ_CHECK(journal_open(dir, false, false, &k) == 0);
	FUZZ_CHECK(!memcmp(&k->st, &st, sizeof(st)));
	journal_close(k);
}

static void check_undo(const char *dir, const uint8_t *data, size_t size, bool fix)
{
	char path[400];
	struct journal *j;
	struct sink_seen seen = { 0 };
	uint64_t nr = 0, want = 0, off = UNDO_HDR;
	size_t len;
	bool inside = true;
	int ret;

	/* Entries: block (le64), len (le32), flags (le32), crc (le32), pad, data. */
	len = size < sizeof(file) - UNDO_HDR ? size : sizeof(file) - UNDO_HDR;
	memcpy(file + UNDO_HDR, data, len);
	len += UNDO_HDR;
	while (off + UNDO_ENT <= len) {
		uint8_t *e = file + off;
		uint64_t block = get_le64(e);
		uint32_t elen = get_le32(e + 8), flags = get_le32(e + 12);
		size_t dlen = flags & 1 ? 0 : elen;

		if (elen > BS || off + UNDO_ENT + dlen > len)
			break;
		if (fix) {
			static const uint8_t zero[BS];

			put_le32(e + 16, crc32c(0, dlen ? e + UNDO_ENT : zero, elen));
		}
		if (!elen || block > SIZE / BS || block * BS + elen > SIZE)
			inside = false;
		want += elen;
		off += UNDO_ENT + dlen;
		nr++;
	}
	/* The header undo_commit() writes for this journal and cycle. */
	memset(file, 0, UNDO_HDR);
	memcpy(file, "CBTUNDO1", 8);
	put_le32(file + 8, 1);
	put_le32(file + 12, BS);
	memcpy(file + 16, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16);
	put_le64(file + 32, CYCLE);
	put_le64(file + 40, nr);
	put_le32(file + 60, crc32c(0, file, 60));
	snprintf(path, sizeof(path), "%s/undo-%020u", dir, CYCLE);
	fuzz_write_file(path, file, len, 0600);

	FUZZ_CHECK(journal_open(dir, false, false, &j) == 0);
	ret = undo_replay(j, CYCLE, sink, &seen);
	journal_close(j);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG);
	FUZZ_CHECK(!seen.bad);
	if (ret == 0) {
		FUZZ_CHECK(inside);
		FUZZ_CHECK(seen.bytes == want);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[300], state[400], points[400];
	unsigned int mode;
	size_t len;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/journal", fuzz_setup());
		snprintf(state, sizeof(state), "%s/state", dir);
		snprintf(points, sizeof(points), "%s/points", dir);
		FUZZ_CHECK(mkdir(dir, 0700) == 0);
	}
	if (!size)
		return 0;
	mode = data[0];
	data++;
	size--;
	unlink(points);
	switch (mode & 3) {
	case 0:
		len = text_file(data, size, mode & 4);
		fuzz_write_file(state, file, len, 0600);
		check_state(dir);
		break;
	case 1:
		len = text_file((const uint8_t *)good_state, strlen(good_state), true);
		fuzz_write_file(state, file, len, 0600);
		len = text_file(data, size, mode & 4);
		fuzz_write_file(points, file, len, 0600);
		check_state(dir);
		break;
	default:
		len = text_file((const uint8_t *)good_state, strlen(good_state), true);
		fuzz_write_file(state, file, len, 0600);
		check_undo(dir, data, size, mode & 4);
		break;
	}
	return 0;
}
