// SPDX-License-Identifier: GPL-2.0
/*
 * An ordered writer and its checker, to prove that a recovery point is the
 * volume at one instant.
 *
 * DEV and IMAGE may be lists, "A,B": the slots are then spread over the
 * devices (slot s on device s % N), as one volume group's writer would.
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
#define MAX_DEVS	4

struct devs {
	int fd[MAX_DEVS];
	uint64_t bytes[MAX_DEVS];
	uint64_t n;
};
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

/* Open a comma-separated list of devices; 0 or -1 (reported). */
static int open_devs(char *list, int flags, uint64_t slots, struct devs *d)
{
	char *save = NULL, *name;

	d->n = 0;
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		if (d->n == MAX_DEVS) {
			fprintf(stderr, "ordered-writer: at most %d devices\n", MAX_DEVS);
			return -1;
		}
		d->fd[d->n] = open(name, flags);
		if (d->fd[d->n] < 0) {
			perror(name);
			return -1;
		}
		d->bytes[d->n] = dev_bytes(d->fd[d->n]);
		d->n++;
	}
	for (uint64_t i = 0; i < d->n; i++) {
		if (d->bytes[i] / REC_BYTES < (slots + d->n - 1) / d->n) {
			fprintf(stderr, "ordered-writer: device %" PRIu64 " is too small for %" PRIu64 " slots\n",
				i, slots);
			return -1;
		}
	}
	return d->n ? 0 : -1;
}

/* Device and byte offset of a slot: slots spread evenly over the devices. */
static int slot_fd(const struct devs *d, uint64_t slot, uint64_t slots, off_t *off)
{
	uint64_t dev = slot % d->n, per = (slots + d->n - 1) / d->n;
	uint64_t stride = d->bytes[dev] / REC_BYTES / per;

	*off = (off_t)((slot / d->n) * stride * REC_BYTES);
	return d->fd[dev];
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

static int do_write(char *dev, uint64_t seed, uint64_t slots, uint64_t first,
		    uint64_t count, const char *progress)
{
	unsigned char *buf;
	struct devs d;
	uint64_t seq;
	int fd, pfd;
	off_t off;

	pfd = open(progress, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (pfd < 0 || posix_memalign((void **)&buf, REC_BYTES, REC_BYTES)) {
		perror("ordered-writer: open");
		return 2;
	}
	if (open_devs(dev, O_WRONLY | O_DIRECT, slots, &d))
		return 2;
	for (seq = first; !count || seq < first + count; seq++) {
		uint64_t slot = slot_of(seed, seq, slots);

		fill(buf, seed, seq, slot);
		fd = slot_fd(&d, slot, slots, &off);
		if (pwrite(fd, buf, REC_BYTES, off) != REC_BYTES || fdatasync(fd) < 0) {
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

static int do_check(char *image, uint64_t seed, uint64_t slots)
{
	unsigned char *buf = malloc(REC_BYTES);
	uint64_t *have = calloc(slots, sizeof(*have)), *want = calloc(slots, sizeof(*want));
	uint64_t k = 0, bad = 0, s, seq;
	struct rec_hdr h;
	struct devs d;
	off_t off;
	int fd;

	if (!buf || !have || !want) {
		perror("ordered-writer: check");
		return 2;
	}
	if (open_devs(image, O_RDONLY, slots, &d))
		return 2;
	for (s = 0; s < slots; s++) {
		fd = slot_fd(&d, s, slots, &off);
		if (pread(fd, buf, REC_BYTES, off) != REC_BYTES) {
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
