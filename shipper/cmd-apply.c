// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship apply: the target side.  Brings a replica up to the newest
 * complete cycle in the store, verifying each cycle before writing it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "apply.h"
#include "azure-cli.h"
#include "commands.h"
#include "key.h"
#include "log.h"
#include "store.h"
#include "target-opts.h"
#include "vstore.h"

static void apply_usage(void)
{
	printf("usage: cbtship apply --store DIR --key KEYFILE --volume NAME --replica PATH\n"
	       "                     [--state DIR] [--keep-age TIME] [--keep-count N]\n"
	       "\n"
	       "Apply every complete cycle of volume NAME that the replica does not have\n"
	       "yet, in order.  Each cycle is authenticated and fully verified (block set\n"
	       "and per-block crc32c) before its first byte is written; a cycle that fails\n"
	       "leaves the replica as it was and stops apply with an error.\n"
	       "\n"
	       "  -s, --store DIR|URL  the store the source replicates into\n"
	       "  -k, --key KEYFILE    the key file the source uses\n"
	       "  -n, --volume NAME    the volume name in the store\n"
	       "  -r, --replica PATH   regular file (created if absent) or block device,\n"
	       "                       or an Azure page blob URL (created if absent)\n"
	       "  -S, --state DIR      the replica's state directory: cycle, undo journal,\n"
	       "                       recovery points (default PATH.cbtship for a file;\n"
	       "                       required for a block device or page blob)\n"
	       "      --keep-age TIME  keep recovery points this long (s, m, h, d; default\n"
	       "                       1d, at most 15d)\n"
	       "      --keep-count N   and at most N of them (default: no count limit)\n"
	       "  -h, --help           this help\n"
	       "\n"
	       AZURE_CLI_USAGE
	       "\n"
	       "A cycle is applied atomically: killed at any moment, the next run rolls the\n"
	       "replica back to the last whole cycle and goes on (docs/TARGET.md).\n"
	       "Every applied cycle is a recovery point ('cbtship points').\n"
	       "The state directory says which cycle the replica is at; the store's\n"
	       "volumes/NAME/replica-applied is a report for the source side.\n"
	       "Exit status: 0 when the replica is at the newest complete cycle, 1 on\n"
	       "error, 2 on a usage error.\n");
}

static int usage_error(const char *msg)
{
	log_err("apply: %s", msg);
	fprintf(stderr, "Run 'cbtship apply --help' for usage.\n");
	return 2;
}

static int apply_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "volume", required_argument, NULL, 'n' },
		{ "replica", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 'S' },
		{ "keep-age", required_argument, NULL, 'A' },
		{ "keep-count", required_argument, NULL, 'C' },
		AZURE_CLI_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *store_dir = NULL, *key_path = NULL, *volume = NULL, *replica = NULL;
	struct remote_opts ro = { 0 };
	struct apply_opts opts = { .ro = &ro };
	struct apply_result res;
	char *end;
	struct store *st = NULL;
	struct vstore *vs = NULL;
	int c, ret, status = 1;
	const struct target_args ta = {
		.store = &store_dir,
		.key_path = &key_path,
		.volume = &volume,
		.replica = &replica,
		.state_dir = &opts.state_dir,
	};

	while ((c = getopt_long(argc, argv, "s:k:n:r:S:h", longopts, NULL)) != -1) {
		if (target_opt(c, optarg, &ta))
			continue;
		switch (c) {
		case 'A':
			if (journal_parse_age(optarg, &opts.keep.max_age))
				return 2;
			break;
		case 'C':
			errno = 0;
			opts.keep.max_count = strtoull(optarg, &end, 10);
			if (errno || *end || !opts.keep.max_count || optarg[0] == '-')
				return usage_error("--keep-count wants a number of points, at least 1");
			break;
		case 'h':
			apply_usage();
			return 0;
		default:
			ret = azure_cli_opt(c, optarg, &ro);
			if (ret > 0)
				break;
			if (!ret)
				fprintf(stderr, "Run 'cbtship apply --help' for usage.\n");
			return 2;
		}
	}
	if (optind != argc)
		return usage_error("unexpected argument; every input is given by an option");
	if (!store_dir || !key_path || !volume || !replica)
		return usage_error("--store, --key, --volume and --replica are all required");

	if (apply_open_volume_opts(store_dir, &ro, key_path, volume, &st, &vs))
		return 1;
	ret = apply_pending_opts(vs, replica, &opts, &res);
	if (!ret) {
		if (res.first && res.first == res.last)
			printf("applied cycle %" PRIu64 " to %s; replica is at cycle %" PRIu64 "\n",
			       res.first, replica, res.now);
		else if (res.first)
			printf("applied cycles %" PRIu64 "..%" PRIu64 " to %s; replica is at cycle %" PRIu64 "\n",
			       res.first, res.last, replica, res.now);
		else if (res.now)
			printf("nothing to apply; replica %s is at cycle %" PRIu64 "\n",
			       replica, res.now);
		else
			printf("nothing to apply; the store has no complete cycle of %s yet\n",
			       volume);
		status = 0;
	} else if (res.first) {
		log_err("applied cycles %" PRIu64 "..%" PRIu64 " to %s, then stopped; replica is at cycle %" PRIu64,
			res.first, res.last, replica, res.now);
	}
	vstore_close(vs);
	store_close(st);
	return status;
}

const struct command cmd_apply = {
	.name = "apply",
	.run = apply_run,
	.usage = apply_usage,
	.help = "verify and apply complete cycles from a store to a replica",
};
