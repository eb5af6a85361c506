// SPDX-License-Identifier: GPL-2.0
/*
 * Key files: 64 hex digits (a 256-bit key) and an optional newline, in a
 * regular file that only its owner can read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "fd-io.h"
#include "key.h"
#include "log.h"

#define KEY_HEX_DIGITS	(2 * CBT_KEY_BYTES)
static const char key_id_label[] = "cbtship key id v1";

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void to_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
}

void key_id_hex(const uint8_t id[CBT_KEY_ID_BYTES], char out[2 * CBT_KEY_ID_BYTES + 1])
{
	to_hex(id, CBT_KEY_ID_BYTES, out);
	out[2 * CBT_KEY_ID_BYTES] = '\0';
}

static int key_compute_id(struct cbt_key *key)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (!HMAC(EVP_sha256(), key->bytes, CBT_KEY_BYTES,
		  (const unsigned char *)key_id_label, strlen(key_id_label), mac, &mac_len) ||
	    mac_len < CBT_KEY_ID_BYTES) {
		log_err("cannot compute the key id: %s",
			ERR_error_string(ERR_get_error(), NULL));
		return -EIO;
	}
	memcpy(key->id, mac, CBT_KEY_ID_BYTES);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

void key_wipe(struct cbt_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}

static int key_malformed(const char *path)
{
	log_err("key file %s must hold 64 hex digits (a 256-bit key); make one with cbtship keygen",
		path);
	return -EINVAL;
}

int key_load(const char *path, struct cbt_key *key)
{
	char buf[KEY_HEX_DIGITS + 3];
	struct stat stbuf;
	ssize_t n;
	size_t len = 0;
	int fd, ret;

	memset(key, 0, sizeof(*key));
	/* O_NONBLOCK: a FIFO must not hang us before fstat() refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			log_err("key file %s does not exist; make one with cbtship keygen %s",
				path, path);
		else
			log_err("cannot open key file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &stbuf) < 0) {
		ret = -errno;
		log_err("cannot stat key file %s: %s", path, strerror(-ret));
		goto out_close;
	}
	if (!S_ISREG(stbuf.st_mode)) {
		log_err("key file %s is not a regular file; give the file cbtship keygen made",
			path);
		ret = -EINVAL;
		goto out_close;
	}
	if (stbuf.st_mode & (S_IRWXG | S_IRWXO)) {
		log_err("key file %s is %s by others (mode %04o); run chmod 600 %s",
			path, stbuf.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "writable",
			(unsigned int)(stbuf.st_mode & 07777), path);
		ret = -EPERM;
		goto out_close;
	}
	/* Read one byte more than a valid file can hold, to see trailing junk. */
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			log_err("cannot read key file %s: %s", path, strerror(-ret));
			goto out_wipe;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len == KEY_HEX_DIGITS + 1 && buf[KEY_HEX_DIGITS] == '\n')
		len--;
	if (len != KEY_HEX_DIGITS) {
		ret = key_malformed(path);
		goto out_wipe;
	}
	for (size_t i = 0; i < CBT_KEY_BYTES; i++) {
		int hi = hex_value(buf[2 * i]), lo = hex_value(buf[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			ret = key_malformed(path);
			goto out_wipe;
		}
		key->bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	ret = key_compute_id(key);
out_wipe:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (ret)
		key_wipe(key);
out_close:
	close(fd);
	return ret;
}

int key_generate(const char *path)
{
	uint8_t raw[CBT_KEY_BYTES];
	char hex[KEY_HEX_DIGITS + 1];
	int fd, ret;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		log_err("cannot get random bytes for a key: %s",
			ERR_error_string(ERR_get_error(), NULL));
		return -EIO;
	}
	to_hex(raw, sizeof(raw), hex);
	hex[KEY_HEX_DIGITS] = '\n';

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EEXIST)
			log_err("key file %s already exists; keygen never overwrites a key (what it sealed could not be read any more): choose another name",
				path);
		else
			log_err("cannot create key file %s: %s", path, strerror(-ret));
		goto out_wipe;
	}
	/* The umask may have taken the owner's bits; the mode must be exactly 0600. */
	if (fchmod(fd, 0600) < 0 || fd_write_all(fd, hex, sizeof(hex)) < 0 || fsync(fd) < 0) {
		ret = -errno;
		log_err("cannot write key file %s: %s", path, strerror(-ret));
		close(fd);
		unlink(path);
		goto out_wipe;
	}
	if (close(fd) < 0) {
		ret = -errno;
		log_err("cannot write key file %s: %s", path, strerror(-ret));
		unlink(path);
		goto out_wipe;
	}
	ret = 0;
out_wipe:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	return ret;
}
