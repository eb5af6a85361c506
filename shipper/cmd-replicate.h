/* SPDX-License-Identifier: GPL-2.0 */
/* Options that cbtship replicate, detach and resync share (cmd-replicate.c). */
#ifndef CBTSHIP_CMD_REPLICATE_H
#define CBTSHIP_CMD_REPLICATE_H

#include <getopt.h>

#include "replicate.h"

enum {
	OPT_STORE = 256, OPT_KEY, OPT_VOLUME, OPT_CODEC, OPT_STATE_DIR, OPT_FAKE_STATE,
	OPT_SOURCE_END,		/* a command's own options start here */
};

#define SOURCE_LONGOPTS \
	{ "store", required_argument, NULL, OPT_STORE }, \
	{ "key", required_argument, NULL, OPT_KEY }, \
	{ "volume", required_argument, NULL, OPT_VOLUME }, \
	{ "codec", required_argument, NULL, OPT_CODEC }, \
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR }, \
	{ "fake-state", required_argument, NULL, OPT_FAKE_STATE }, \
	{ "help", no_argument, NULL, 'h' }

/* One shared option: 1 taken, 0 not a shared one, -EINVAL invalid (logged). */
int source_opt(int c, const char *arg, struct replicate_opts *o);
/* After getopt: --store, --key and one DEVICE are required (logged); codec defaults. */
int source_opts_finish(const char *cmd, int argc, char **argv, struct replicate_opts *o);

#endif
