/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the shipper's unit tests: a private temporary directory
 * (removed at exit), deterministic pseudo-random data, file hashing.
 */
#ifndef CBTSHIP_TEST_TMPDIR_H
#define CBTSHIP_TEST_TMPDIR_H

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Expected failures would be noise; TEST_VERBOSE=1 shows their messages. */
#define test_quiet_logs() log_set_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG)

static char test_dir[256];

static int test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void test_dir_cleanup(void)
{
	if (test_dir[0] && !getenv("KEEP_TEST_DIR"))
		nftw(test_dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Make a private temp dir, chdir into it; removed at exit. */
__attribute__((unused))
static const char *test_dir_setup(const char *name)
{
	const char *base = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/cbtship-%s-XXXXXX", base ? base : "/tmp", name);
	if (!mkdtemp(test_dir) || chdir(test_dir)) {
		perror("test temp dir");
		exit(99);
	}
	atexit(test_dir_cleanup);
	return test_dir;
}

/* xorshift64: deterministic data, so a failure can be reproduced. */
__attribute__((unused))
static void test_fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

__attribute__((unused))
static int test_write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, buf, len) == (ssize_t)len && fchmod(fd, mode) == 0;
	close(fd);
	return ok ? 0 : -1;
}

/* Read a whole file (malloc'd); NULL on error. */
__attribute__((unused))
static uint8_t *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc(n ? (size_t)n : 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

/* SHA-256 of a file as 64 hex digits; "" if unreadable. */
__attribute__((unused))
static void test_hash_file(const char *path, char out[65])
{
	unsigned char md[32];
	size_t len;
	uint8_t *buf = test_read_file(path, &len);

	out[0] = '\0';
	if (!buf)
		return;
	EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	free(buf);
}

#endif
