/* SPDX-License-Identifier: GPL-2.0 */
/* The cbtship subcommands: one file each (cmd-NAME.c), listed in main.c. */
#ifndef CBTSHIP_COMMANDS_H
#define CBTSHIP_COMMANDS_H

struct command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the subcommand name */
	void (*usage)(void);			/* prints this subcommand's usage to stdout */
	const char *help;			/* one line for the command list */
};

extern const struct command cmd_keygen;
extern const struct command cmd_replicate;
extern const struct command cmd_apply;
extern const struct command cmd_points;
extern const struct command cmd_test_failover;
extern const struct command cmd_failover;
extern const struct command cmd_migrate;
extern const struct command cmd_stop;
extern const struct command cmd_cbt;
extern const struct command cmd_bench;
extern const struct command cmd_daemon;
extern const struct command cmd_status;
extern const struct command cmd_detach;
extern const struct command cmd_verify;
extern const struct command cmd_resync;
extern const struct command cmd_reprotect;
extern const struct command cmd_failback;

#endif
