// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship resync: bring a replica back in line when the change set cannot
 * be trusted.  The target has published its block hashes (cbtship verify
 * --publish); this ships, as one normal cycle, the tracked changes plus
 * every block whose hash differs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd-replicate.h"
#include "commands.h"
#include "log.h"
#include "replicate.h"
#include "statedir.h"

static void resync_usage(void)
{
	printf("usage: cbtship resync --store DIR --key KEYFILE [options] DEVICE\n"
	       "\n"
	       "Checksum resync of the dm-cbt volume DEVICE: after an unclean shutdown\n"
	       "(\"resync required\"), a replica changed by hand or restored from elsewhere.\n"
	       "First, on the target: cbtship apply, then cbtship verify --publish (the\n"
	       "replica's block hashes go into the store).  Then resync hashes DEVICE,\n"
	       "and ships the blocks that differ plus the tracked changes as one cycle;\n"
	       "cbtship apply on the target then makes the replica equal to the source.\n"
	       "\n"
	       "  --store DIR          the store replicate writes to\n"
	       "  --key KEYFILE        its key\n"
	       "  --volume NAME        volume name in the store (default: the dm device name)\n"
	       "  --codec zstd|zlib|none  block compression (default zstd)\n"
	       "  --state-dir DIR      default " STATEDIR_DEFAULT "\n"
	       "  --fake-state FILE    for tests, as in cbtship replicate\n"
	       "\n"
	       "Prints the bytes that differ and the bytes shipped.  Exit status 0 when\n"
	       "the cycle is stored (or nothing differs), 1 on error, 2 on a usage error.\n");
}

static int resync_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		SOURCE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct replicate_opts o = { .writer = { .codec = CODEC_ZSTD },
				    .state_dir = STATEDIR_DEFAULT };
	struct replicate_summary sum;
	struct replicator *r;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		err = source_opt(c, optarg, &o);
		if (err > 0)
			continue;
		if (err < 0)
			return 2;
		if (c == 'h') {
			resync_usage();
			return 0;
		}
		fprintf(stderr, "Run 'cbtship resync --help' for usage.\n");
		return 2;
	}
	if (source_opts_finish("resync", argc, argv, &o))
		return 2;
	err = replicator_open(&o, &r);
	if (err)
		return 1;
	err = replicator_resync(r, &sum);
	if (!err) {
		printf("resync: %" PRIu64 " blocks differ (%" PRIu64 " bytes) of %" PRIu64 " bytes hashed; hash list %" PRIu64 " bytes read\n",
		       sum.diff_blocks, sum.diff_bytes, sum.hashed_bytes, sum.hash_list_bytes);
		if (sum.result == REPLICATE_SHIPPED)
			printf("resync: cycle %" PRIu64 ": %" PRIu64 " blocks, %" PRIu64 " bytes read, %" PRIu64 " bytes stored = %.2fx the differing bytes (+ hash list: %.2fx)\n",
			       sum.cycle, sum.blocks, sum.bytes_read, sum.bytes_stored,
			       sum.diff_bytes ? (double)sum.bytes_stored / sum.diff_bytes : 0.0,
			       sum.diff_bytes ? (double)(sum.bytes_stored + sum.hash_list_bytes) /
						sum.diff_bytes : 0.0);
		else
			printf("resync: nothing to ship\n");
	}
	replicator_close(r);
	return err ? 1 : 0;
}

const struct command cmd_resync = {
	.name = "resync",
	.run = resync_run,
	.usage = resync_usage,
	.help = "ship only the blocks whose hashes differ from the replica's",
};
