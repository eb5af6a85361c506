// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship cbt: talk to dm-cbt directly.  For administrators (inspect a
 * volume, clear a stuck cycle) and for the VM tests.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbt-netlink.h"
#include "cbt-source.h"
#include "commands.h"
#include "hex.h"
#include "log.h"

static void cbt_usage(void)
{
	printf("usage: cbtship cbt list\n"
	       "       cbtship cbt status DEVICE\n"
	       "       cbtship cbt freeze DEVICE\n"
	       "       cbtship cbt changes DEVICE CYCLE\n"
	       "       cbtship cbt commit DEVICE CYCLE\n"
	       "       cbtship cbt abort DEVICE CYCLE\n"
	       "       cbtship cbt mark DEVICE START COUNT\n"
	       "       cbtship cbt clear-resync DEVICE\n"
	       "\n"
	       "Inspect and drive dm-cbt change tracking on DEVICE (/dev/mapper/NAME).\n"
	       "  list     one line per tracked volume: NAME MAJOR:MINOR BLOCK_SIZE NR_BLOCKS DIRTY FROZEN CYCLE RESYNC\n"
	       "  status   the volume's tracking state as \"key: value\" lines\n"
	       "  freeze   freeze the changed blocks into a new cycle; prints its id\n"
	       "  changes  the frozen cycle's changed blocks as \"START COUNT\" lines\n"
	       "  commit   drop the frozen cycle (its blocks were shipped)\n"
	       "  abort    merge the frozen cycle back into the live set\n"
	       "  mark     mark blocks [START, START+COUNT) as changed\n"
	       "  clear-resync  the replica is in line again (after a full or checksum resync,\n"
	       "           or a saved change set restored with mark): clear resync_required\n"
	       "Blocks are counted in the volume's tracking block size.\n");
}

static int parse_u64(const char *s, const char *what, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-') {
		log_err("invalid %s '%s': expected a non-negative decimal number", what, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int print_volume(void *arg, const struct cbt_volume_info *info,
			uint32_t major, uint32_t minor)
{
	(void)arg;
	printf("%s %u:%u %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %d\n",
	       info->name[0] ? info->name : "-", major, minor, info->block_size,
	       info->nr_blocks, info->dirty_blocks, info->frozen_blocks, info->cycle,
	       info->resync_required ? 1 : 0);
	return 0;
}

static int cbt_status(struct cbt_source *src)
{
	struct cbt_volume_info info;
	char id[33];
	int err;

	err = src->ops->info(src, &info);
	if (err)
		return err;
	hex_encode(info.tracking_id, 16, id);
	printf("name: %s\n", info.name);
	printf("block_size: %u\n", info.block_size);
	printf("nr_blocks: %" PRIu64 "\n", info.nr_blocks);
	printf("size_bytes: %" PRIu64 "\n", info.size_bytes);
	printf("dirty_blocks: %" PRIu64 "\n", info.dirty_blocks);
	printf("frozen: %d\n", info.frozen ? 1 : 0);
	printf("frozen_blocks: %" PRIu64 "\n", info.frozen_blocks);
	printf("cycle: %" PRIu64 "\n", info.cycle);
	printf("resync_required: %d\n", info.resync_required ? 1 : 0);
	printf("tracking_id: %s\n", id);
	return 0;
}

static int cbt_changes(struct cbt_source *src, uint64_t cycle)
{
	struct cbt_extent_list l = { 0 };
	size_t i;
	int err;

	err = src->ops->changes(src, cycle, &l);
	if (err)
		return err;
	for (i = 0; i < l.nr; i++)
		printf("%llu %llu\n", (unsigned long long)l.ext[i].start,
		       (unsigned long long)l.ext[i].count);
	cbt_extent_list_free(&l);
	return 0;
}

struct cbt_subcmd {
	const char *name;
	int nargs;	/* after DEVICE */
};

static const struct cbt_subcmd cbt_subcmds[] = {
	{ "status", 0 }, { "freeze", 0 }, { "changes", 1 }, { "commit", 1 },
	{ "abort", 1 }, { "mark", 2 }, { "clear-resync", 0 },
};

static int cbt_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cbt_subcmd *sc = NULL;
	struct cbt_source *src = NULL;
	const char *sub;
	uint64_t a = 0, b = 0;
	size_t i;
	int c, err;

	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cbt_usage();
			return 0;
		default:
			cbt_usage();
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		cbt_usage();
		return 2;
	}
	sub = argv[0];
	if (!strcmp(sub, "list")) {
		if (argc != 1) {
			cbt_usage();
			return 2;
		}
		return cbt_netlink_list(print_volume, NULL) ? 1 : 0;
	}
	for (i = 0; i < sizeof(cbt_subcmds) / sizeof(cbt_subcmds[0]); i++)
		if (!strcmp(sub, cbt_subcmds[i].name))
			sc = &cbt_subcmds[i];
	if (!sc) {
		log_err("unknown cbt subcommand '%s' (see cbtship cbt --help)", sub);
		return 2;
	}
	if (argc != 2 + sc->nargs) {
		log_err("cbt %s: expected DEVICE%s", sub,
			sc->nargs == 2 ? " START COUNT" : sc->nargs == 1 ? " CYCLE" : "");
		return 2;
	}
	if (sc->nargs >= 1 &&
	    parse_u64(argv[2], sc->nargs == 2 ? "START" : "CYCLE", &a))
		return 2;
	if (sc->nargs == 2 && parse_u64(argv[3], "COUNT", &b))
		return 2;

	err = cbt_source_open_dm(argv[1], &src);
	if (err)
		return 1;
	if (!strcmp(sub, "status")) {
		err = cbt_status(src);
	} else if (!strcmp(sub, "freeze")) {
		err = src->ops->freeze(src, &a);
		if (!err)
			printf("%" PRIu64 "\n", a);
	} else if (!strcmp(sub, "changes")) {
		err = cbt_changes(src, a);
	} else if (!strcmp(sub, "commit")) {
		err = src->ops->commit(src, a);
	} else if (!strcmp(sub, "abort")) {
		err = src->ops->abort(src, a);
	} else if (!strcmp(sub, "clear-resync")) {
		err = src->ops->clear_resync(src);
	} else {
		struct cbt_extent e = { .start = a, .count = b };

		if (!b) {
			log_err("cbt mark: COUNT must be at least 1");
			err = -EINVAL;
		} else {
			err = src->ops->mark_dirty(src, &e, 1);
		}
	}
	cbt_source_close(src);
	return err ? 1 : 0;
}

const struct command cmd_cbt = {
	.name = "cbt",
	.run = cbt_run,
	.usage = cbt_usage,
	.help = "inspect and drive dm-cbt tracking (list, status, freeze, changes, commit, abort, mark, clear-resync)",
};
