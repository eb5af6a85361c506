// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship migrate: final cycle, proof, hand-over.  cbtship stop: end
 * replication and remove the store's intermediate data.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "hex.h"
#include "key.h"
#include "log.h"
#include "migrate.h"
#include "target-opts.h"
#include "vol-state.h"

static void migrate_usage(void)
{
	printf("usage: cbtship migrate --store DIR --key KEYFILE --replica PATH [--state DIR]\n"
	       "                       [--volume NAME] [--fake-state FILE] DEVICE\n"
	       "       cbtship migrate --store DIR --key KEYFILE [--volume NAME]\n"
	       "                       [--fake-state FILE] [--wait SECS] DEVICE\n"
	       "       cbtship migrate --store DIR --key KEYFILE --volume NAME --replica PATH\n"
	       "                       [--state DIR] [--wait SECS]\n"
	       "\n"
	       "Migrate volume DEVICE to its replica.  Stop the applications writing\n"
	       "DEVICE (or shut them down) first.\n"
	       "\n"
	       "With DEVICE and --replica (both on this machine): record the volume as\n"
	       "migration-queued, run cycles until one finds no change (at most two:\n"
	       "else the source is still written and nothing is handed over), which\n"
	       "records the final cycle, the source's SHA-256 and migration-running;\n"
	       "apply every cycle to the replica, compare its SHA-256 with the\n"
	       "source's, hand the replica over as the live disk (like failover) and\n"
	       "record the volume as migrated.  Any failure puts the volume back to\n"
	       "delta replication.  Then run 'cbtship stop'.\n"
	       "\n"
	       "Across machines the two halves run apart, coordinated through the\n"
	       "store only.  On the source machine, DEVICE without --replica runs the\n"
	       "final cycle and waits for the target.  On the target machine, --replica\n"
	       "and --volume without DEVICE requests the final cycle (a running\n"
	       "'cbtship replicate' or daemon runs it too, at its next cycle that finds\n"
	       "no change), waits for it, applies, proves and records migrated.\n"
	       "\n"
	       "  --wait SECS   how long a half waits for the other (default 600; for\n"
	       "                the source half 0 means: do not wait)\n");
}

static int parse_wait(const char *arg, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v > 30 * 86400UL) {
		log_err("--wait takes seconds, 0 to 2592000: \"%s\"", arg);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

static int migrate_run_cmd(int argc, char **argv)
{
	enum { OPT_STORE = 256, OPT_KEY, OPT_VOLUME, OPT_REPLICA, OPT_STATE, OPT_FAKE_STATE,
	       OPT_WAIT };
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "volume", required_argument, NULL, OPT_VOLUME },
		{ "replica", required_argument, NULL, OPT_REPLICA },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "fake-state", required_argument, NULL, OPT_FAKE_STATE },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct replicate_opts o = { .writer = { .codec = CODEC_ZSTD, .level = 1 } };
	struct apply_opts ao = { 0 };
	struct migrate_result res;
	struct vstore *vs = NULL;
	struct store *st = NULL;
	const char *replica = NULL, *what;
	unsigned int wait = 600;
	char hex[65];
	int c, ret;

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
		case OPT_WAIT:
			if (parse_wait(optarg, &wait))
				return 2;
			break;
		case 'h':
			migrate_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship migrate --help' for usage.\n");
			return 2;
		}
	}
	if (optind < argc - 1 || !o.store || !o.key_path || (!replica && optind == argc) ||
	    (optind == argc && !o.volume)) {
		log_err("migrate needs --store, --key and DEVICE, --replica or both; the target half needs --volume (see cbtship migrate --help)");
		return 2;
	}
	o.device = optind < argc ? argv[optind] : NULL;
	if (o.device && replica) {
		ret = migrate_run(&o, replica, &ao, &res);
		what = "migrated: replica is the live disk now";
	} else if (o.device) {
		ret = migrate_source(&o, wait, &res);
		what = wait ? "migrated: the target side proved its replica equal and took it over" :
			      "final cycle shipped: run the target half (cbtship migrate --replica ...) to finish";
	} else {
		ret = apply_open_volume(o.store, o.key_path, o.volume, &st, &vs);
		if (!ret)
			ret = migrate_target(vs, replica, &ao, wait, &res);
		vstore_close(vs);
		store_close(st);
		what = "migrated: replica is the live disk now";
	}
	if (ret)
		return 1;
	hex_encode(res.sha256, 32, hex);
	printf("%s (cycle %" PRIu64 ", sha256 %s)\n", what, res.cycle, hex);
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
