// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship test-failover: a writable copy of a replica at a recovery point,
 * while replication goes on; --cleanup removes it again.
 * cbtship failover: make the replica the real disk, at a recovery point.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "apply.h"
#include "azure-cli.h"
#include "commands.h"
#include "log.h"
#include "points.h"
#include "target-opts.h"
#include "vol-state.h"

/* A usage error of subcommand cmd: message, hint, exit status 2. */
static int usage_error(const char *cmd, const char *msg)
{
	log_err("%s: %s", cmd, msg);
	fprintf(stderr, "Run 'cbtship %s --help' for usage.\n", cmd);
	return 2;
}

/* A number of at least 1 from 'cbtship points'; else a usage error saying `wants`. */
static int parse_listed(const char *cmd, const char *arg, const char *wants, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(arg, &end, 10);
	if (errno || *end || !*v || arg[0] == '-')
		return usage_error(cmd, wants);
	return 0;
}

/* --point P: a cycle number, at least 1. */
static int parse_point(const char *cmd, const char *arg, uint64_t *point)
{
	return parse_listed(cmd, arg, "--point wants a cycle number from 'cbtship points'", point);
}

/* --instant X: a consistency group's instant from 'cbtship points'. */
static int parse_instant(const char *cmd, const char *arg, uint64_t *instant)
{
	return parse_listed(cmd, arg, "--instant wants a group instant from 'cbtship points'",
			    instant);
}

static void tf_usage(void)
{
	printf("usage: cbtship test-failover --replica PATH [--state DIR] [--point P | --instant X]\n"
	       "                             --output FILE\n"
	       "       cbtship test-failover --replica PATH [--state DIR] --cleanup [--output FILE]\n"
	       "       cbtship test-failover --replica URL --state DIR [--point P] [--output URL]\n"
	       "                             [--cleanup] [Azure options]\n"
	       "\n"
	       "Write FILE, a writable copy of the replica at recovery point P (default the\n"
	       "newest; see 'cbtship points'), for a failover drill: boot or mount it, write\n"
	       "to it; the replica and its replication are not touched (an apply running\n"
	       "meanwhile waits at most for the copy).  The copy is a reflink where the\n"
	       "file system can (instant, shares blocks), else a sparse copy.\n"
	       "--cleanup removes every copy made for this replica (or only FILE) and the\n"
	       "record of it, leaving nothing behind.\n"
	       "For a page-blob replica the copy is a new page blob in the same account\n"
	       "(default URL.test-failover-P), made with Snapshot Blob and Copy Blob;\n"
	       "--cleanup deletes it and the snapshot.\n"
	       "\n"
	       "  -r, --replica PATH   the replica cbtship apply writes\n"
	       "  -S, --state DIR      its state directory (default PATH.cbtship)\n"
	       "  -p, --point P        the recovery point (a cycle number)\n"
	       "  -i, --instant X      the point of consistency group instant X (the same\n"
	       "                       X on every volume of the group: docs/CONSISTENCY.md)\n"
	       "  -o, --output FILE    the copy to create (must not exist)\n"
	       "  -c, --cleanup        remove test failover copies instead\n"
	       "  -h, --help           this help\n"
	       "\n" AZURE_CLI_USAGE);
}

static int tf_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 'S' },
		{ "point", required_argument, NULL, 'p' },
		{ "instant", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "cleanup", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		AZURE_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *replica = NULL, *state = NULL, *output = NULL;
	struct remote_opts ro = { 0 };
	char *def_output = NULL;
	uint64_t point = 0, instant = 0;
	bool cleanup = false;
	unsigned int removed;
	struct journal *j;
	int c, ret;
	const struct target_args ta = {
		.replica = &replica,
		.state_dir = &state,
	};

	while ((c = getopt_long(argc, argv, "r:S:p:i:o:ch", longopts, NULL)) != -1) {
		if (target_opt(c, optarg, &ta))
			continue;
		switch (c) {
		case 'p':
			if (parse_point("test-failover", optarg, &point))
				return 2;
			break;
		case 'i':
			if (parse_instant("test-failover", optarg, &instant))
				return 2;
			break;
		case 'o':
			output = optarg;
			break;
		case 'c':
			cleanup = true;
			break;
		case 'h':
			tf_usage();
			return 0;
		default:
			ret = azure_cli_opt(c, optarg, &ro);
			if (ret == 1)
				break;
			if (ret == 0)
				fprintf(stderr, "Run 'cbtship test-failover --help' for usage.\n");
			return 2;
		}
	}
	if (optind != argc || !replica)
		return usage_error("test-failover", "--replica is required; every input is given by an option");
	/* A page blob's copy has a default name (below, once the point is known). */
	if (!cleanup && !output && !replica_spec_is_remote(replica))
		return usage_error("test-failover", "--output FILE is required (or --cleanup)");
	if (cleanup && (point || instant))
		return usage_error("test-failover", "--cleanup takes no --point or --instant");
	if (point && instant)
		return usage_error("test-failover", "--point or --instant, not both");
	/* Cleanup edits the record: exclusive.  A copy only reads: shared. */
	if (points_open(replica, state, cleanup, &j))
		return 1;
	if (instant && journal_find_instant(j, instant, &point)) {
		journal_close(j);
		return 1;
	}
	if (cleanup) {
		ret = points_cleanup(j, replica, output, &ro, &removed);
		if (!ret)
			printf("removed %u test failover cop%s of %s\n", removed,
			       removed == 1 ? "y" : "ies", replica);
	} else {
		if (!point && j->nr_points)
			point = j->points[j->nr_points - 1].cycle;
		if (!output && asprintf(&def_output, "%s.test-failover-%" PRIu64, replica, point) < 0) {
			def_output = NULL;
			ret = -ENOMEM;
			goto out;
		}
		if (!output)
			output = def_output;
		ret = points_test_failover(j, replica, point, output, &ro);
		if (!ret)
			printf("%s is a writable copy of %s at point %" PRIu64 "; remove it with 'cbtship test-failover --replica %s --cleanup'%s\n",
			       output, replica, point, replica,
			       replica_spec_is_remote(replica) ? " (with --state and the Azure options)" : "");
	}
out:
	free(def_output);
	journal_close(j);
	return ret ? 1 : 0;
}

const struct command cmd_test_failover = {
	.name = "test-failover",
	.run = tf_run,
	.usage = tf_usage,
	.help = "a writable copy of a replica at a recovery point, for a drill",
};

static void failover_usage(void)
{
	printf("usage: cbtship failover --replica PATH [--state DIR] [--point P | --instant X]\n"
	       "                        [--store DIR --key KEYFILE --volume NAME]\n"
	       "\n"
	       "Roll the replica back to recovery point P (default the newest; see\n"
	       "'cbtship points') and hand it over as a live disk: cbtship apply will not\n"
	       "write it again and its recovery points are dropped.  Stop the source\n"
	       "first (or accept losing what it wrote after P).  Interrupted, the\n"
	       "replica is left at a whole cycle; run failover again to finish.\n"
	       "\n"
	       "  -r, --replica PATH   the replica cbtship apply writes\n"
	       "  -S, --state DIR      its state directory (default PATH.cbtship)\n"
	       "  -p, --point P        the recovery point (a cycle number)\n"
	       "  -i, --instant X      the point of consistency group instant X (the same\n"
	       "                       X on every volume of the group: docs/CONSISTENCY.md)\n"
	       "  -s, --store DIR, -k, --key KEYFILE, -n, --volume NAME\n"
	       "                       also record the volume as failed-over in its store\n"
	       "  -h, --help           this help\n");
}

/* Record the failover in the volume's state record. */
static int record_failover(const char *store_dir, const char *key_path, const char *volume,
			   const char *replica, uint64_t point)
{
	struct store *st;
	struct vstore *vs;
	char note[VOL_NOTE_MAX];
	int ret;

	ret = apply_open_volume(store_dir, key_path, volume, &st, &vs);
	if (ret)
		return ret;
	snprintf(note, sizeof(note), "replica %s failed over at point %" PRIu64, replica, point);
	ret = vol_state_set(vs, VOL_FAILED_OVER, point, note);
	vstore_close(vs);
	store_close(st);
	return ret;
}

static int failover_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 'S' },
		{ "point", required_argument, NULL, 'p' },
		{ "instant", required_argument, NULL, 'i' },
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "volume", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *replica = NULL, *state = NULL;
	const char *store_dir = NULL, *key_path = NULL, *volume = NULL;
	struct replica *r = NULL;
	struct journal *j = NULL;
	uint64_t point = 0, instant = 0;
	int c, ret;
	const struct target_args ta = {
		.store = &store_dir,
		.key_path = &key_path,
		.volume = &volume,
		.replica = &replica,
		.state_dir = &state,
	};

	while ((c = getopt_long(argc, argv, "r:S:p:i:s:k:n:h", longopts, NULL)) != -1) {
		if (target_opt(c, optarg, &ta))
			continue;
		switch (c) {
		case 'p':
			if (parse_point("failover", optarg, &point))
				return 2;
			break;
		case 'i':
			if (parse_instant("failover", optarg, &instant))
				return 2;
			break;
		case 'h':
			failover_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship failover --help' for usage.\n");
			return 2;
		}
	}
	if (optind != argc || !replica)
		return usage_error("failover", "--replica is required; every input is given by an option");
	if ((store_dir || key_path || volume) && !(store_dir && key_path && volume))
		return usage_error("failover", "--store, --key and --volume go together");
	if (point && instant)
		return usage_error("failover", "--point or --instant, not both");
	/* The state first: a missing one must not create an empty replica. */
	ret = points_open(replica, state, true, &j);
	if (ret)
		return 1;
	if (instant && !j->st.failed_over) {
		ret = journal_find_instant(j, instant, &point);
		if (ret)
			goto out;
	}
	ret = replica_open(replica, j->st.size_bytes, NULL, &r);
	if (ret)
		goto out;
	if (r->created) {
		log_err("replica %s does not exist; nothing to fail over", replica);
		replica_close_remove(r);
		r = NULL;
		ret = -ENOENT;
		goto out;
	}
	if (!point && j->nr_points)
		point = j->points[j->nr_points - 1].cycle;
	if (j->st.failed_over && store_dir) {
		/* Done before; only the store's record is missing. */
		point = j->st.failed_over;
		ret = 0;
	} else {
		ret = points_failover(j, r, point);
	}
	if (!ret)
		printf("replica %s is at point %" PRIu64 " and failed over: it is a live disk now\n",
		       replica, point);
	if (!ret && store_dir) {
		ret = record_failover(store_dir, key_path, volume, replica, point);
		if (ret)
			log_err("the replica is failed over, but the store does not say so; run failover again with the same options to record it");
	}
out:
	replica_close(r);
	journal_close(j);
	return ret ? 1 : 0;
}

const struct command cmd_failover = {
	.name = "failover",
	.run = failover_run,
	.usage = failover_usage,
	.help = "roll a replica back to a recovery point and make it the live disk",
};
