// SPDX-License-Identifier: GPL-2.0
/*
 * An ordered writer and its checker, to prove that a recovery point is the
 * volume at one instant.
 *
 *   ordered-writer write DEV SEED SLOTS FIRST COUNT PROGRESS
 *	writes sequence numbers FIRST .. FIRST+COUNT-1 (COUNT 0: until
 *	killed), one 4 KiB record each, O_DIRECT, with fdatasync after every
 *	write, so write N+1 starts only once write N is on the disk.  Write N
 *	goes to slot slot_of(SEED, N) of SLOTS (random, so slots are
 *	overwritten); the slots are spread over the device.  After each write
 *	the sequence number is stored in the file PROGRESS (8 bytes).
 *   ordered-writer check IMAGE SEED SLOTS
 *	reads every slot of IMAGE; K = the highest sequence number present.
 *	The image is the device at one instant if and only if every slot holds
 *	exactly the last write of 1..K that went to it (or nothing).  Prints
 *	"consistent at K" (exit 0) or what differs (exit 1); 2 on errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#define REC_BYTES	4096
#define MAGIC		0x31574f5442434243ull	/* "CBCBTOW1" */

struct rec_hdr {
	uint64_t magic;
	uint64_t seed;
	uint64_t seq;
	uint64_t slot;
	uint64_t sum;		/* FNV-1a of the whole record with sum = 0 */
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t slot_of(uint64_t seed, uint64_t seq, uint64_t slots)
{
	return mix(seed * 0x100000001b3ull ^ seq) % slots;
}

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static uint64_t dev_bytes(int fd)
{
	struct stat st;
	uint64_t n = 0;

	if (fstat(fd, &st) < 0)
		return 0;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, &n) < 0 ? 0 : n;
	return (uint64_t)st.st_size;
}

/* Byte offset of a slot: slots spread evenly over the device. */
static off_t slot_off(uint64_t slot, uint64_t slots, uint64_t bytes)
{
	uint64_t stride = bytes / REC_BYTES / slots;

	return (off_t)(slot * stride * REC_BYTES);
}

static void fill(unsigned char *buf, uint64_t seed, uint64_t seq, uint64_t slot)
{
	struct rec_hdr h = { MAGIC, seed, seq, slot, 0 };
	uint64_t x = mix(seed ^ (seq << 20));

	for (size_t i = sizeof(h); i + 8 <= REC_BYTES; i += 8) {
		x = mix(x);
		memcpy(buf + i, &x, 8);
	}
	memcpy(buf, &h, sizeof(h));
	h.sum = fnv(buf, REC_BYTES);
	memcpy(buf, &h, sizeof(h));
}

static int do_write(const char *dev, uint64_t seed, uint64_t slots, uint64_t first,
		    uint64_t count, const char *progress)
{
	unsigned char *buf;
	uint64_t bytes, seq;
	int fd, pfd;

	fd = open(dev, O_WRONLY | O_DIRECT);
	pfd = open(progress, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || pfd < 0 || posix_memalign((void **)&buf, REC_BYTES, REC_BYTES)) {
		perror("ordered-writer: open");
		return 2;
	}
	bytes = dev_bytes(fd);
	if (bytes / REC_BYTES < slots) {
		fprintf(stderr, "ordered-writer: %s is too small for %" PRIu64 " slots\n", dev, slots);
		return 2;
	}
	for (seq = first; !count || seq < first + count; seq++) {
		uint64_t slot = slot_of(seed, seq, slots);

		fill(buf, seed, seq, slot);
		if (pwrite(fd, buf, REC_BYTES, slot_off(slot, slots, bytes)) != REC_BYTES ||
		    fdatasync(fd) < 0) {
			fprintf(stderr, "ordered-writer: write %" PRIu64 ": %s\n", seq, strerror(errno));
			return 2;
		}
		if (pwrite(pfd, &seq, sizeof(seq), 0) != sizeof(seq)) {
			perror("ordered-writer: progress");
			return 2;
		}
	}
	return 0;
}

static int do_check(const char *image, uint64_t seed, uint64_t slots)
{
	unsigned char *buf = malloc(REC_BYTES);
	uint64_t *have = calloc(slots, sizeof(*have)), *want = calloc(slots, sizeof(*want));
	uint64_t bytes, k = 0, bad = 0, s, seq;
	struct rec_hdr h;
	int fd = open(image, O_RDONLY);

	if (fd < 0 || !buf || !have || !want) {
		perror("ordered-writer: check");
		return 2;
	}
	bytes = dev_bytes(fd);
	if (bytes / REC_BYTES < slots) {
		fprintf(stderr, "ordered-writer: %s is too small for %" PRIu64 " slots\n", image, slots);
		return 2;
	}
	for (s = 0; s < slots; s++) {
		if (pread(fd, buf, REC_BYTES, slot_off(s, slots, bytes)) != REC_BYTES) {
			perror("ordered-writer: read");
			return 2;
		}
		memcpy(&h, buf, sizeof(h));
		if (h.magic != MAGIC)
			continue;	/* never written */
		memset(buf + offsetof(struct rec_hdr, sum), 0, sizeof(h.sum));
		if (h.seed != seed || h.slot != s || h.sum != fnv(buf, REC_BYTES) ||
		    slot_of(seed, h.seq, slots) != s) {
			printf("slot %" PRIu64 ": a damaged or foreign record (seq %" PRIu64 ")\n", s,
			       h.seq);
			bad++;
			continue;
		}
		have[s] = h.seq;
		if (h.seq > k)
			k = h.seq;
	}
	for (seq = 1; seq <= k; seq++)
		want[slot_of(seed, seq, slots)] = seq;
	for (s = 0; s < slots; s++) {
		if (have[s] == want[s])
			continue;
		if (bad++ < 10)
			printf("slot %" PRIu64 " holds write %" PRIu64 ", but at write %" PRIu64 " it held %" PRIu64 "\n",
			       s, have[s], k, want[s]);
	}
	if (bad) {
		printf("INCONSISTENT: %" PRIu64 " slots are not the state after write %" PRIu64 "\n",
		       bad, k);
		return 1;
	}
	printf("consistent at %" PRIu64 "\n", k);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "write"))
		return do_write(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
				strtoull(argv[5], NULL, 0), strtoull(argv[6], NULL, 0), argv[7]);
	if (argc == 5 && !strcmp(argv[1], "check"))
		return do_check(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	fprintf(stderr, "usage: ordered-writer write DEV SEED SLOTS FIRST COUNT PROGRESS\n"
			"       ordered-writer check IMAGE SEED SLOTS\n");
	return 2;
}
