// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship reprotect: reverse replication after a failover, from the
 * failed-over disk back to the original disk (only the blocks that differ
 * first).  cbtship failback: final reverse cycle, proof, hand back, and
 * forward replication resumed from equal disks.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cmd-replicate.h"
#include "commands.h"
#include "failback.h"
#include "hex.h"
#include "log.h"
#include "statedir.h"

static void reprotect_usage(void)
{
	printf("usage: cbtship reprotect --store DIR --key KEYFILE --volume NAME --original DISK\n"
	       "       cbtship reprotect --store DIR --key KEYFILE --volume NAME [options] DEVICE\n"
	       "\n"
	       "Reverse replication after 'cbtship failover' (recorded in the store):\n"
	       "from the failed-over disk back to the original disk of volume NAME,\n"
	       "through the volume NAME" FAILBACK_REVERSE_SUFFIX " in the same store.\n"
	       "1. On the original side, once it is back (nothing writes the original\n"
	       "   disk any more): --original DISK publishes DISK's block hashes as the\n"
	       "   base of the reverse volume and records NAME as reprotecting.\n"
	       "2. On the failed-over side, with dm-cbt over the failed-over disk\n"
	       "   (DEVICE): the first run ships only the blocks that differ from the\n"
	       "   original's hashes, plus the tracked changes, as reverse cycle 1; later\n"
	       "   runs (or 'cbtship replicate --volume NAME" FAILBACK_REVERSE_SUFFIX "') ship deltas.\n"
	       "3. On the original side: cbtship apply --volume NAME" FAILBACK_REVERSE_SUFFIX
	       " --replica DISK.\n"
	       "Then 'cbtship failback' hands the volume back.\n"
	       "\n"
	       "  --store DIR          the store of volume NAME\n"
	       "  --key KEYFILE        its key\n"
	       "  --volume NAME        the volume that was failed over\n"
	       "  --original DISK      step 1: publish the original disk's block hashes\n"
	       "  --codec zstd|zlib|none  block compression (default zstd)\n"
	       "  --state-dir DIR      default " STATEDIR_DEFAULT "\n"
	       "  --fake-state FILE    for tests, as in cbtship replicate\n"
	       "\n"
	       "Exit status 0 done, 1 error, 2 usage error.\n");
}

static int reprotect_run(int argc, char **argv)
{
	enum { OPT_ORIGINAL = OPT_SOURCE_END };
	static const struct option longopts[] = {
		SOURCE_LONGOPTS,
		{ "original", required_argument, NULL, OPT_ORIGINAL },
		{ NULL, 0, NULL, 0 },
	};
	struct replicate_opts o = { .writer = { .codec = CODEC_ZSTD },
				    .state_dir = STATEDIR_DEFAULT };
	const char *original = NULL;
	struct replicate_summary sum;
	struct blockhash_stats hs;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		err = source_opt(c, optarg, &o);
		if (err > 0)
			continue;
		if (err < 0)
			return 2;
		if (c == OPT_ORIGINAL) {
			original = optarg;
			continue;
		}
		if (c == 'h') {
			reprotect_usage();
			return 0;
		}
		fprintf(stderr, "Run 'cbtship reprotect --help' for usage.\n");
		return 2;
	}
	if (!o.volume || (original && (optind != argc || !o.store || !o.key_path))) {
		log_err("reprotect needs --store, --key, --volume and either --original DISK or DEVICE (see cbtship reprotect --help)");
		return 2;
	}
	if (original) {
		if (reprotect_prepare(&o, original, &hs))
			return 1;
		printf("reprotect: published hashes of %" PRIu64 " blocks of %s (hash list %" PRIu64 " bytes); now run cbtship reprotect on the failed-over side\n",
		       hs.blocks, original, hs.list_bytes);
		return 0;
	}
	if (source_opts_finish("reprotect", argc, argv, &o))
		return 2;
	if (reprotect_cycle(&o, &sum))
		return 1;
	if (sum.result != REPLICATE_SHIPPED) {
		printf("reprotect: nothing changed\n");
		return 0;
	}
	if (sum.resync)
		printf("reprotect: %" PRIu64 " blocks differ from the original disk (%" PRIu64 " bytes) of %" PRIu64 " bytes hashed; hash list %" PRIu64 " bytes read\n",
		       sum.diff_blocks, sum.diff_bytes, sum.hashed_bytes, sum.hash_list_bytes);
	printf("reprotect: reverse cycle %" PRIu64 ": %" PRIu64 " blocks, %" PRIu64 " bytes read, %" PRIu64 " bytes stored\n",
	       sum.cycle, sum.blocks, sum.bytes_read, sum.bytes_stored);
	return 0;
}

const struct command cmd_reprotect = {
	.name = "reprotect",
	.run = reprotect_run,
	.usage = reprotect_usage,
	.help = "after a failover, replicate the failed-over disk back to the original",
};

static void failback_usage(void)
{
	printf("usage: cbtship failback --store DIR --key KEYFILE --volume NAME\n"
	       "                        --original DISK [--original-state DIR]\n"
	       "                        --replica DISK2 [--state DIR] --source SRCDEV [options] DEVICE\n"
	       "\n"
	       "Fail volume NAME back to its original disk after 'cbtship reprotect'.\n"
	       "Stop the applications writing DEVICE (dm-cbt over the failed-over disk\n"
	       "DISK2) first.  failback records NAME as failback-running, runs the final\n"
	       "reverse cycle, checks that a second one finds no change (else nothing is\n"
	       "handed back), applies the reverse cycles to DISK, and compares the\n"
	       "SHA-256 of DEVICE and DISK.  Equal, DISK2 becomes the forward replica\n"
	       "again: it is taken as holding the store's newest forward cycle, its block\n"
	       "hashes are published, a checksum resync from SRCDEV (dm-cbt over DISK)\n"
	       "ships only what differs (no full copy), is applied to DISK2, the volume\n"
	       "is recorded as delta-replication and NAME" FAILBACK_REVERSE_SUFFIX " is stopped.\n"
	       "Run 'cbtship replicate SRCDEV' and 'cbtship apply --replica DISK2' from\n"
	       "then on, and remove DEVICE.  Needs both disks on this machine.\n"
	       "\n"
	       "  --store DIR, --key KEYFILE, --volume NAME   as for cbtship reprotect\n"
	       "  --original DISK      the original disk (the reverse replica)\n"
	       "  --original-state DIR its state directory for the reverse cycles\n"
	       "                       (default DISK.cbtship; required for a block device)\n"
	       "  --replica DISK2      the failed-over disk, the forward replica again\n"
	       "  --state DIR          its state directory (default DISK2.cbtship)\n"
	       "  --source SRCDEV      dm-cbt over the original disk: forward source again\n"
	       "  --state-dir DIR      default " STATEDIR_DEFAULT "\n"
	       "  --codec zstd|zlib|none  block compression (default zstd)\n"
	       "  --fake-state FILE, --source-fake-state FILE   for tests, fake kernel\n"
	       "                       state of DEVICE and of SRCDEV\n"
	       "\n"
	       "Exit status 0 failed back, 1 error, 2 usage error.\n");
}

static int failback_cmd(int argc, char **argv)
{
	enum { OPT_ORIGINAL = OPT_SOURCE_END, OPT_ORIGINAL_STATE, OPT_REPLICA, OPT_STATE,
	       OPT_SOURCE, OPT_SOURCE_FAKE };
	static const struct option longopts[] = {
		SOURCE_LONGOPTS,
		{ "original", required_argument, NULL, OPT_ORIGINAL },
		{ "original-state", required_argument, NULL, OPT_ORIGINAL_STATE },
		{ "replica", required_argument, NULL, OPT_REPLICA },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "source-fake-state", required_argument, NULL, OPT_SOURCE_FAKE },
		{ NULL, 0, NULL, 0 },
	};
	struct failback_opts fo = { .reverse = { .writer = { .codec = CODEC_ZSTD },
						 .state_dir = STATEDIR_DEFAULT } };
	struct failback_result res;
	const char *source_fake = NULL;
	char hex[65];
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		err = source_opt(c, optarg, &fo.reverse);
		if (err > 0)
			continue;
		if (err < 0)
			return 2;
		switch (c) {
		case OPT_ORIGINAL:
			fo.original = optarg;
			break;
		case OPT_ORIGINAL_STATE:
			fo.original_state = optarg;
			break;
		case OPT_REPLICA:
			fo.replica = optarg;
			break;
		case OPT_STATE:
			fo.replica_state = optarg;
			break;
		case OPT_SOURCE:
			fo.forward.device = optarg;
			break;
		case OPT_SOURCE_FAKE:
			source_fake = optarg;
			break;
		case 'h':
			failback_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship failback --help' for usage.\n");
			return 2;
		}
	}
	if (!fo.reverse.volume || !fo.original || !fo.replica || !fo.forward.device ||
	    !fo.reverse.fake_state != !source_fake) {
		log_err("failback needs --store, --key, --volume, --original, --replica, --source and DEVICE (see cbtship failback --help)");
		return 2;
	}
	if (source_opts_finish("failback", argc, argv, &fo.reverse))
		return 2;
	/* The forward source: same store, key, volume and writer options. */
	{
		const char *dev = fo.forward.device;

		fo.forward = fo.reverse;
		fo.forward.device = dev;
		fo.forward.fake_state = source_fake;
	}
	if (failback_run(&fo, &res))
		return 1;
	hex_encode(res.sha256, 32, hex);
	printf("failback: %s equals %s at reverse cycle %" PRIu64 " (sha256 %s)\n",
	       fo.original, fo.reverse.device, res.reverse_cycle, hex);
	if (res.forward.result == REPLICATE_SHIPPED)
		printf("failback: forward cycle %" PRIu64 ": %" PRIu64 " blocks differ, %" PRIu64 " blocks shipped, %" PRIu64 " bytes stored\n",
		       res.forward.cycle, res.forward.diff_blocks, res.forward.blocks,
		       res.forward.bytes_stored);
	else
		printf("failback: forward resync found nothing to ship\n");
	printf("failback: volume %s replicates from %s again; %s is its replica at cycle %" PRIu64 "\n",
	       fo.reverse.volume, fo.forward.device, fo.replica, res.forward_cycle);
	return 0;
}

const struct command cmd_failback = {
	.name = "failback",
	.run = failback_cmd,
	.usage = failback_usage,
	.help = "after reprotect: final reverse cycle, prove equal, resume forward",
};
