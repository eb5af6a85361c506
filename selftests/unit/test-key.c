// SPDX-License-Identifier: GPL-2.0
/* Key files: loading, permission and format checks, keygen. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "key.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

static const char good_hex[] =
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

int main(void)
{
	struct cbt_key key, key2;
	struct stat st;
	char id[17];
	int ok;

	test_dir_setup("key");
	test_quiet_logs();

	test_write_file("good", good_hex, strlen(good_hex), 0600);
	tap_eq(key_load("good", &key), 0, "a 0600 key file with 64 hex digits loads");
	ok = 1;
	for (int i = 0; i < CBT_KEY_BYTES; i++)
		ok &= key.bytes[i] == i;
	tap_ok(ok, "the key bytes are the hex digits decoded");
	key_id_hex(key.id, id);
	tap_eq(strlen(id), 16, "key id is 16 hex digits");

	test_write_file("nonl", good_hex, 64, 0400);
	tap_eq(key_load("nonl", &key2), 0, "the trailing newline is optional (mode 0400 ok)");
	tap_ok(!memcmp(key.id, key2.id, CBT_KEY_ID_BYTES), "same key, same key id");

	test_write_file("upper", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
			64, 0600);
	tap_eq(key_load("upper", &key2), 0, "upper-case hex loads");
	tap_ok(!memcmp(key.bytes, key2.bytes, CBT_KEY_BYTES), "upper and lower case are the same key");

	test_write_file("open", good_hex, strlen(good_hex), 0644);
	tap_eq(key_load("open", &key2), -EPERM, "mode 0644 is refused with -EPERM");
	test_write_file("grpw", good_hex, strlen(good_hex), 0620);
	tap_eq(key_load("grpw", &key2), -EPERM, "group-writable is refused");

	test_write_file("short", good_hex, 62, 0600);
	tap_eq(key_load("short", &key2), -EINVAL, "62 hex digits are refused");
	test_write_file("long", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
			67, 0600);
	tap_eq(key_load("long", &key2), -EINVAL, "66 hex digits are refused");
	test_write_file("nothex", "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
			65, 0600);
	tap_eq(key_load("nothex", &key2), -EINVAL, "non-hex characters are refused");
	test_write_file("twonl", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n",
			66, 0600);
	tap_eq(key_load("twonl", &key2), -EINVAL, "trailing junk after the newline is refused");
	test_write_file("empty", "", 0, 0600);
	tap_eq(key_load("empty", &key2), -EINVAL, "an empty file is refused");
	tap_eq(key_load("missing", &key2), -ENOENT, "a missing file is -ENOENT");
	mkdir("adir", 0700);
	tap_eq(key_load("adir", &key2), -EINVAL, "a directory is refused");

	tap_eq(key_generate("new"), 0, "keygen makes a new key file");
	tap_ok(stat("new", &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_size == 65,
	       "it has mode 0600 and 64 hex digits plus a newline");
	tap_eq(key_load("new", &key2), 0, "the new key loads");
	tap_ok(memcmp(key.bytes, key2.bytes, CBT_KEY_BYTES) != 0, "it is not the test key");
	{
		size_t len1, len2;
		uint8_t *before = test_read_file("new", &len1), *after;

		tap_eq(key_generate("new"), -EEXIST, "keygen refuses to overwrite a key file");
		after = test_read_file("new", &len2);
		tap_ok(before && after && len1 == len2 && !memcmp(before, after, len1),
		       "the existing key file is unchanged");
		free(before);
		free(after);
	}
	tap_eq(key_generate("new2"), 0, "a second key");
	tap_eq(key_load("new2", &key), 0, "loads");
	tap_ok(memcmp(key.bytes, key2.bytes, CBT_KEY_BYTES) && memcmp(key.id, key2.id, 8),
	       "two keygens give different keys and key ids");

	key_wipe(&key);
	ok = 1;
	for (size_t i = 0; i < sizeof(key.bytes); i++)
		ok &= key.bytes[i] == 0;
	tap_ok(ok, "key_wipe clears the key");
	return tap_done();
}
