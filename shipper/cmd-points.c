// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship points: the recovery points a replica can be failed over to.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "commands.h"
#include "log.h"
#include "points.h"
#include "target-opts.h"

static void points_usage(void)
{
	printf("usage: cbtship points --replica PATH [--state DIR] [--json]\n"
	       "\n"
	       "List the recovery points of a replica, oldest first: every cycle applied\n"
	       "and still kept (cbtship apply --keep-age/--keep-count).  POINT is what\n"
	       "test-failover and failover take; TIME is when the source froze the cycle.\n"
	       "KIND: crash-consistent (the volume at one instant: a snapshot was read),\n"
	       "app-consistent (that, with the freeze hooks run), or none (read from the\n"
	       "live volume while it was written: no file system or database promise).\n"
	       "GROUP INSTANT: a consistency group's point; failover --instant X on every\n"
	       "volume of the group restores them all to that one instant.\n"
	       "\n"
	       "  -r, --replica PATH   the replica cbtship apply writes\n"
	       "  -S, --state DIR      its state directory (default PATH.cbtship)\n"
	       "  -j, --json           one JSON object, for programs\n"
	       "  -h, --help           this help\n");
}

static int points_usage_error(const char *msg)
{
	log_err("points: %s", msg);
	fprintf(stderr, "Run 'cbtship points --help' for usage.\n");
	return 2;
}

static void utc(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static const char *kind_str(enum point_kind k)
{
	return k == POINT_APP ? "app-consistent" : k == POINT_CRASH ? "crash-consistent" : "none";
}

static int points_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *replica = NULL, *state = NULL;
	struct journal *j;
	bool json = false;
	char t1[32], t2[32];
	int c;
	const struct target_args ta = {
		.replica = &replica,
		.state_dir = &state,
	};

	while ((c = getopt_long(argc, argv, "r:S:jh", longopts, NULL)) != -1) {
		if (target_opt(c, optarg, &ta))
			continue;
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			points_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship points --help' for usage.\n");
			return 2;
		}
	}
	if (optind != argc || !replica)
		return points_usage_error("--replica is required, and nothing else");
	if (points_open(replica, state, false, &j))
		return 1;
	if (json) {
		printf("{\"replica\":");
		json_str(replica);
		printf(",\"at\":%" PRIu64 ",\"pending\":%" PRIu64 ",\"failed_over\":%" PRIu64
		       ",\"points\":[", j->st.at, j->st.pending, j->st.failed_over);
		for (size_t i = 0; i < j->nr_points; i++) {
			const struct journal_point *p = &j->points[i];

			printf("%s{\"point\":%" PRIu64 ",\"time\":%" PRIu64 ",\"applied\":%" PRIu64
			       ",\"kind\":\"%s\"", i ? "," : "", p->cycle, p->created, p->applied,
			       journal_point_kind_name(p->kind));
			if (p->group[0]) {
				printf(",\"group\":");
				json_str(p->group);
				printf(",\"instant\":%" PRIu64, p->instant);
			}
			printf("}");
		}
		printf("]}\n");
	} else {
		if (j->st.failed_over)
			printf("replica %s was failed over at point %" PRIu64 "; it has no points any more\n",
			       replica, j->st.failed_over);
		else
			printf("replica %s is at cycle %" PRIu64 "%s; %zu recovery point%s\n",
			       replica, j->st.at, j->st.pending ? " (an interrupted cycle is rolled back by the next apply)" : "",
			       j->nr_points, j->nr_points == 1 ? "" : "s");
		if (j->nr_points)
			printf("%-8s %-21s %-21s %-16s %s\n", "POINT", "TIME (UTC)", "APPLIED (UTC)", "KIND",
			       "GROUP INSTANT");
		for (size_t i = 0; i < j->nr_points; i++) {
			const struct journal_point *p = &j->points[i];

			utc(p->created, t1, sizeof(t1));
			utc(p->applied, t2, sizeof(t2));
			printf("%-8" PRIu64 " %-21s %-21s %-16s", p->cycle, t1, t2, kind_str(p->kind));
			if (p->group[0])
				printf(" %s %" PRIu64, p->group, p->instant);
			printf("\n");
		}
	}
	journal_close(j);
	return 0;
}

const struct command cmd_points = {
	.name = "points",
	.run = points_run,
	.usage = points_usage,
	.help = "list a replica's recovery points",
};
