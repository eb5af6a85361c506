// SPDX-License-Identifier: GPL-2.0
/*
 * The dm-cbt table rewrite of consistent cycles: the table found on the
 * dm-cbt device is parsed (with or without data_of), and the tables for
 * between cycles (on the disk) and during one (on NAME-cbtso, data_of the
 * disk) keep every other argument; bad tables are refused.
 */
#include <errno.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "consistency.h"
#include "tap.h"

/* Parse params; between and during tables (so at 253:5) into b and d. */
static int both(const char *params, char *b, char *d, dev_t *dev, dev_t *data_of)
{
	struct cons_volume v;
	int err;

	memset(&v, 0, sizeof(v));
	err = cons_table_parse(&v, params, dev, data_of);
	if (err)
		return err;
	v.disk = *data_of ? *data_of : *dev;
	v.so_dev = makedev(253, 5);
	err = cons_table_params(&v, false, b, 600);
	return err ? err : cons_table_params(&v, true, d, 600);
}

int main(void)
{
	char b[600], d[600], b2[600], d2[600];
	struct cons_volume v;
	dev_t dev, of;

	tap_ok(!both("7:0 4096", b, d, &dev, &of) && dev == makedev(7, 0) && !of &&
	       !strcmp(b, "7:0 4096") && !strcmp(d, "253:5 4096 2 data_of 7:0"),
	       "plain table: between \"%s\", during \"%s\"", b, d);
	tap_ok(!both("7:0 4096 0", b, d, &dev, &of) && !strcmp(b, "7:0 4096") &&
	       !strcmp(d, "253:5 4096 2 data_of 7:0"), "an empty option group: \"%s\"", b);
	tap_ok(!both("8:16 512 7 ring_size 1024 no_discard_passdown metadata 7:1 memory_cap 64",
		     b, d, &dev, &of) &&
	       !strcmp(b, "8:16 512 7 ring_size 1024 no_discard_passdown metadata 7:1 memory_cap 64") &&
	       !strcmp(d, "253:5 512 9 ring_size 1024 no_discard_passdown metadata 7:1 memory_cap 64 data_of 8:16"),
	       "options kept in order: \"%s\"", d);
	/* What the kernel prints back during a cycle parses to the same tables. */
	tap_ok(!both(d, b2, d2, &dev, &of) && dev == makedev(253, 5) && of == makedev(8, 16) &&
	       !strcmp(b2, b) && !strcmp(d2, d), "the cycle's table parses back: \"%s\"", b2);
	tap_ok(!both("253:5 4096 4 data_of 8:16 ring_size 8", b, d, &dev, &of) &&
	       of == makedev(8, 16) && !strcmp(b, "8:16 4096 2 ring_size 8"),
	       "data_of anywhere among the options: \"%s\"", b);
	memset(&v, 0, sizeof(v));
	tap_eq(cons_table_parse(&v, "7:0 4096 3 ring_size 8", &dev, &of), -EINVAL,
	       "a wrong option count");
	tap_eq(cons_table_parse(&v, "/dev/sdb 4096", &dev, &of), -EINVAL, "a path, not major:minor");
	tap_eq(cons_table_parse(&v, "7:0", &dev, &of), -EINVAL, "no block size");
	tap_eq(cons_table_parse(&v, "7:0 4096 1 data_of", &dev, &of), -EINVAL,
	       "data_of without its device");
	tap_eq(cons_table_parse(&v, "7:0 4096 2 data_of sdb", &dev, &of), -EINVAL,
	       "data_of with a path");
	memset(&v, 0, sizeof(v));
	tap_ok(!cons_table_parse(&v, "7:0 4096 2 ring_size 8", &dev, &of), "parses");
	v.disk = dev;
	tap_eq(cons_table_params(&v, false, b, 10), -ENAMETOOLONG, "a short buffer is refused");
	return tap_done();
}
