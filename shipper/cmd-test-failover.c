// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship test-failover: a writable copy of a replica at a recovery point,
 * while replication goes on; --cleanup removes it again.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "points.h"

static void tf_usage(void)
{
	printf("usage: cbtship test-failover --replica PATH [--state DIR] [--point P] --output FILE\n"
	       "       cbtship test-failover --replica PATH [--state DIR] --cleanup [--output FILE]\n"
	       "\n"
	       "Write FILE, a writable copy of the replica at recovery point P (default the\n"
	       "newest; see 'cbtship points'), for a failover drill: boot or mount it, write\n"
	       "to it; the replica and its replication are not touched (an apply running\n"
	       "meanwhile waits at most for the copy).  The copy is a reflink where the\n"
	       "file system can (instant, shares blocks), else a sparse copy.\n"
	       "--cleanup removes every copy made for this replica (or only FILE) and the\n"
	       "record of it, leaving nothing behind.\n"
	       "\n"
	       "  -r, --replica PATH   the replica cbtship apply writes\n"
	       "  -S, --state DIR      its state directory (default PATH.cbtship)\n"
	       "  -p, --point P        the recovery point (a cycle number)\n"
	       "  -o, --output FILE    the copy to create (must not exist)\n"
	       "  -c, --cleanup        remove test failover copies instead\n"
	       "  -h, --help           this help\n");
}

static int tf_usage_error(const char *msg)
{
	log_err("test-failover: %s", msg);
	fprintf(stderr, "Run 'cbtship test-failover --help' for usage.\n");
	return 2;
}

static int tf_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 'S' },
		{ "point", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "cleanup", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *replica = NULL, *state = NULL, *output = NULL;
	uint64_t point = 0;
	bool cleanup = false;
	unsigned int removed;
	struct journal *j;
	char *end;
	int c, ret;

	while ((c = getopt_long(argc, argv, "r:S:p:o:ch", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			replica = optarg;
			break;
		case 'S':
			state = optarg;
			break;
		case 'p':
			errno = 0;
			point = strtoull(optarg, &end, 10);
			if (errno || *end || !point || optarg[0] == '-')
				return tf_usage_error("--point wants a cycle number from 'cbtship points'");
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
			fprintf(stderr, "Run 'cbtship test-failover --help' for usage.\n");
			return 2;
		}
	}
	if (optind != argc || !replica)
		return tf_usage_error("--replica is required; every input is given by an option");
	if (!cleanup && !output)
		return tf_usage_error("--output FILE is required (or --cleanup)");
	if (cleanup && point)
		return tf_usage_error("--cleanup takes no --point");
	/* Cleanup edits the record: exclusive.  A copy only reads: shared. */
	if (points_open(replica, state, cleanup, &j))
		return 1;
	if (cleanup) {
		ret = points_cleanup(j, output, &removed);
		if (!ret)
			printf("removed %u test failover cop%s of %s\n", removed,
			       removed == 1 ? "y" : "ies", replica);
	} else {
		if (!point && j->nr_points)
			point = j->points[j->nr_points - 1].cycle;
		ret = points_test_failover(j, replica, point, output);
		if (!ret)
			printf("%s is a writable copy of %s at point %" PRIu64 "; remove it with 'cbtship test-failover --replica %s --cleanup'\n",
			       output, replica, point, replica);
	}
	journal_close(j);
	return ret ? 1 : 0;
}

const struct command cmd_test_failover = {
	.name = "test-failover",
	.run = tf_run,
	.usage = tf_usage,
	.help = "a writable copy of a replica at a recovery point, for a drill",
};
