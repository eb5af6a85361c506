// SPDX-License-Identifier: GPL-2.0
/*
 * The replica layer: dispatch by spec, the file backend's create, grow,
 * read-past-end, lock and remove behaviour.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "replica.h"
#include "tap.h"
#include "tmpdir.h"

int main(void)
{
	uint8_t buf[8192], back[8192];
	struct replica *r = NULL, *r2 = NULL;
	struct stat sb;
	int ret;

	test_quiet_logs();
	test_dir_setup("replica");

	/* Page-blob URLs go to replica-azure.c (tested against Azurite in selftests/azure). */
	ret = replica_open("https://acct.blob.example/cont/disk.vhd", 1 << 20, NULL, &r);
	tap_ok(ret == -EINVAL && !r, "a page-blob URL without credentials is refused (%d)", ret);
	ret = replica_open("ftp://host/disk.vhd", 1 << 20, NULL, &r);
	tap_ok(ret == -EPROTONOSUPPORT && !r, "an unknown scheme is refused (%d)", ret);
	tap_eq(replica_open("", 4096, NULL, &r), -EINVAL, "an empty spec is refused");
	tap_ok(replica_spec_is_remote("azure://a/b") && !replica_spec_is_remote("/dev/sdb"),
	       "remote vs local spec");

	ret = replica_open("r.img", 1 << 20, NULL, &r);
	tap_ok(ret == 0 && r && r->created && r->fresh && r->size == 0,
	       "a missing file is created, fresh and empty");
	tap_ok(stat("r.img", &sb) == 0 && (sb.st_mode & 0777) == 0600, "created 0600");
	ret = replica_open("r.img", 1 << 20, NULL, &r2);
	tap_ok(ret == -EWOULDBLOCK && !r2, "a second open of a locked replica is refused (%d)", ret);

	memset(back, 0xaa, sizeof(back));
	tap_eq(r->ops->pread(r, back, sizeof(back), 4096), 0, "read past the end of the file");
	memset(buf, 0, sizeof(buf));
	tap_ok(!memcmp(back, buf, sizeof(back)), "reads as zeros");

	tap_eq(r->ops->resize(r, 1 << 20), 0, "grow to 1 MiB");
	tap_ok(r->size == 1 << 20 && stat("r.img", &sb) == 0 && sb.st_size == 1 << 20,
	       "file is 1 MiB");
	tap_eq(r->ops->resize(r, 4096), 0, "shrinking is a no-op");
	tap_eq(r->size, 1 << 20, "size unchanged");
	test_fill_random(buf, sizeof(buf), 1);
	tap_eq(r->ops->pwrite(r, buf, sizeof(buf), 12288), 0, "write 8 KiB at 12 KiB");
	tap_eq(r->ops->sync(r), 0, "sync");
	memset(back, 0, sizeof(back));
	tap_eq(r->ops->pread(r, back, sizeof(back), 12288), 0, "read it back");
	tap_ok(!memcmp(buf, back, sizeof(buf)), "the data round-trips");
	replica_close(r);
	r = NULL;

	ret = replica_open("r.img", 1 << 20, NULL, &r);
	tap_ok(ret == 0 && !r->created && !r->fresh && r->size == 1 << 20,
	       "reopen: existing, not fresh, 1 MiB");
	replica_close_remove(r);
	tap_ok(access("r.img", F_OK) == 0, "close_remove keeps a replica it did not create");

	ret = replica_open("new.img", 4096, NULL, &r);
	tap_eq(ret, 0, "create another");
	replica_close_remove(r);
	tap_ok(access("new.img", F_OK) != 0, "close_remove deletes a replica it created");

	tap_ok(mkdir("dir", 0700) == 0, "make a directory");
	tap_eq(replica_open("dir", 4096, NULL, &r), -EISDIR, "a directory is refused");
	tap_eq(replica_open("nodir/x.img", 4096, NULL, &r), -ENOENT,
	       "a file in a missing directory is refused");
	return tap_done();
}
