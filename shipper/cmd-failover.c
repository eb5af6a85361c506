// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship failover: make the replica the real disk, at a recovery point.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "points.h"

static void failover_usage(void)
{
	printf("usage: cbtship failover --replica PATH [--state DIR] [--point P]\n"
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
	       "  -h, --help           this help\n");
}

static int failover_usage_error(const char *msg)
{
	log_err("failover: %s", msg);
	fprintf(stderr, "Run 'cbtship failover --help' for usage.\n");
	return 2;
}

static int failover_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 'S' },
		{ "point", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *replica = NULL, *state = NULL;
	struct replica *r = NULL;
	struct journal *j = NULL;
	uint64_t point = 0;
	char *end;
	int c, ret;

	while ((c = getopt_long(argc, argv, "r:S:p:h", longopts, NULL)) != -1) {
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
				return failover_usage_error("--point wants a cycle number from 'cbtship points'");
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
		return failover_usage_error("--replica is required; every input is given by an option");
	/* The state first: a missing one must not create an empty replica. */
	ret = points_open(replica, state, true, &j);
	if (ret)
		return 1;
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
	ret = points_failover(j, r, point);
	if (!ret)
		printf("replica %s is at point %" PRIu64 " and failed over: it is a live disk now\n",
		       replica, point);
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
