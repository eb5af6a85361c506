// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship: continuous block-level replication.  This file only parses the
 * global options and dispatches to a subcommand (cmd-NAME.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"

#ifndef CBTSHIP_VERSION
#define CBTSHIP_VERSION "0.1"
#endif

static const struct command *const commands[] = {
	&cmd_keygen,
	&cmd_replicate,
	&cmd_apply,
	&cmd_points,
	&cmd_test_failover,
	&cmd_failover,
	&cmd_migrate,
	&cmd_stop,
	&cmd_cbt,
	&cmd_bench,
	&cmd_daemon,
	&cmd_status,
	&cmd_detach,
	&cmd_verify,
	&cmd_resync,
	&cmd_reprotect,
	&cmd_failback,
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cbtship [-v|--verbose] [-q|--quiet] COMMAND [ARGS]\n"
		"       cbtship help [COMMAND]\n"
		"       cbtship --version\n"
		"\n"
		"Continuous block-level replication of dm-cbt volumes.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < NR_COMMANDS; i++)
		fprintf(out, "  %-14s %s\n", commands[i]->name, commands[i]->help);
	fprintf(out,
		"\n"
		"Options:\n"
		"  -v, --verbose  debug messages too\n"
		"  -q, --quiet    errors and warnings only\n"
		"  -h, --help     this help\n"
		"      --version  print the version\n"
		"\n"
		"Run 'cbtship help COMMAND' for a command's options.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	log_err("unknown command '%s'; run 'cbtship help' for the list of commands", name);
	return 2;
}

static int help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 1) {
		usage(stdout);
		return 0;
	}
	cmd = find_command(argv[0]);
	if (!cmd)
		return unknown_command(argv[0]);
	cmd->usage();
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_VERSION = 256 };
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd;
	int c, level = LOG_INFO, ret;

	log_init("cbtship", false);
	/* '+': stop at the command name; what follows is the command's. */
	while ((c = getopt_long(argc, argv, "+vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			level = LOG_DEBUG;
			break;
		case 'q':
			level = LOG_WARNING;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("cbtship %s\n", CBTSHIP_VERSION);
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship help' for usage.\n");
			return 2;
		}
	}
	log_set_level(level);
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[0], "help"))
		return help(argc - 1, argv + 1);
	cmd = find_command(argv[0]);
	if (!cmd)
		return unknown_command(argv[0]);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		cmd->usage();
		return 0;
	}
	optind = 0;	/* the command parses its own options from argv[1] */
	ret = cmd->run(argc, argv);
	return ret < 0 ? 1 : ret;
}
