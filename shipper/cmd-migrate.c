// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship migrate: final cycle, proof, hand-over.  cbtship stop: end
 * replication and remove the store's intermediate data.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "commands.h"
#include "key.h"
#include "log.h"
#include "migrate.h"
#include "target-opts.h"
#include "vol-state.h"

static void migrate_usage(void)
{
	printf("usage: cbtship migrate --store DIR --key KEYFILE --replica PATH [--state DIR]\n"
	       "                       [--volume NAME] [--fake-state FILE] DEVICE\n"
	       "\n"
	       "Migrate volume DEVICE to its replica.  Stop the applications writing\n"
	       "DEVICE (or shut them down) first.  migrate records the volume as\n"
	       "migration-running, runs the final cycle, checks that a second cycle\n"
	       "finds no change (else the source is still written: nothing is handed\n"
	       "over), applies every cycle to the replica, compares the SHA-256 of the\n"
	       "whole source and the whole replica, hands the replica over as the live\n"
	       "disk (like failover) and records the volume as migrated.  Any failure\n"
	       "puts the volume back to delta replication.  Then run 'cbtship stop'.\n"
	       "\n"
	       "Needs the source and the replica on this machine; the options are those\n"
	       "of 'cbtship replicate' and 'cbtship apply'.\n");
}

static int migrate_run_cmd(int argc, char **argv)
{
	enum { OPT_STORE = 256, OPT_KEY, OPT_VOLUME, OPT_REPLICA, OPT_STATE, OPT_FAKE_STATE };
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "volume", required_argument, NULL, OPT_VOLUME },
		{ "replica", required_argument, NULL, OPT_REPLICA },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "fake-state", required_argument, NULL, OPT_FAKE_STATE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct replicate_opts o = { .writer = { .codec = CODEC_ZSTD, .level = 1 } };
	struct apply_opts ao = { 0 };
	struct migrate_result res;
	const char *replica = NULL;
	char hex[65];
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			o.store = optarg;
			break;
		case OPT_KEY:
			o.key_path = optarg;
			break;
		case OPT_VOLUME:
			o.volume = optarg;
			break;
		case OPT_REPLICA:
			replica = optarg;
			break;
		case OPT_STATE:
			ao.state_dir = optarg;
			break;
		case OPT_FAKE_STATE:
			o.fake_state = optarg;
			break;
		case 'h':
			migrate_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship migrate --help' for usage.\n");
			return 2;
		}
	}
	if (optind != argc - 1 || !o.store || !o.key_path || !replica) {
		log_err("migrate needs --store, --key, --replica and one DEVICE (see cbtship migrate --help)");
		return 2;
	}
	o.device = argv[optind];
	if (migrate_run(&o, replica, &ao, &res))
		return 1;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", res.sha256[i]);
	printf("migrated: replica %s equals %s at cycle %" PRIu64 " (sha256 %s); it is the live disk now\n",
	       replica, o.device, res.cycle, hex);
	return 0;
}

const struct command cmd_migrate = {
	.name = "migrate",
	.run = migrate_run_cmd,
	.usage = migrate_usage,
	.help = "final cycle, prove replica equals source, hand the replica over",
};

static void stop_usage(void)
{
	printf("usage: cbtship stop --store DIR --key KEYFILE --volume NAME\n"
	       "\n"
	       "Stop replicating volume NAME: record it as stopped, then remove its\n"
	       "cycles (the intermediate data) and the replica-applied and rejected\n"
	       "records from the store.  The volume header and its state stay, so\n"
	       "'cbtship status' still shows it.  Replicas and their state directories\n"
	       "are not touched.  Stop 'cbtship replicate' for the volume first (it\n"
	       "finishes its running cycle on SIGTERM).\n");
}

static int stop_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "volume", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *store_dir = NULL, *key_path = NULL, *volume = NULL;
	struct store *st = NULL;
	struct vstore *vs = NULL;
	unsigned int removed;
	int c, status = 1;
	const struct target_args ta = {
		.store = &store_dir,
		.key_path = &key_path,
		.volume = &volume,
	};

	while ((c = getopt_long(argc, argv, "s:k:n:h", longopts, NULL)) != -1) {
		if (target_opt(c, optarg, &ta))
			continue;
		switch (c) {
		case 'h':
			stop_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship stop --help' for usage.\n");
			return 2;
		}
	}
	if (optind != argc || !store_dir || !key_path || !volume) {
		log_err("stop needs --store, --key and --volume (see cbtship stop --help)");
		return 2;
	}
	if (apply_open_volume(store_dir, key_path, volume, &st, &vs))
		return 1;
	if (!migrate_stop(vs, &removed)) {
		printf("volume %s: replication stopped; %u cycle%s removed from %s\n", volume,
		       removed, removed == 1 ? "" : "s", store_dir);
		status = 0;
	}
	vstore_close(vs);
	store_close(st);
	return status;
}

const struct command cmd_stop = {
	.name = "stop",
	.run = stop_run,
	.usage = stop_usage,
	.help = "stop replicating a volume and remove its cycles from the store",
};
