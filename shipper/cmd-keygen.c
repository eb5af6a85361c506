// SPDX-License-Identifier: GPL-2.0
/* cbtship keygen KEYFILE: make a new random 256-bit key. */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "key.h"
#include "log.h"

static void keygen_usage(void)
{
	printf("usage: cbtship keygen KEYFILE\n"
	       "\n"
	       "Write a new random 256-bit key to KEYFILE (created with mode 0600; an\n"
	       "existing file is never overwritten).  The source and the target need the\n"
	       "same key: copy it over a secure channel and keep a backup, since\n"
	       "nothing in the store can be read without it.\n");
}

static int keygen_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char id[2 * CBT_KEY_ID_BYTES + 1];
	struct cbt_key key;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			keygen_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship keygen --help' for usage.\n");
			return 2;
		}
	}
	if (argc - optind != 1) {
		log_err("keygen takes one argument, the key file to create");
		fprintf(stderr, "Run 'cbtship keygen --help' for usage.\n");
		return 2;
	}
	if (key_generate(argv[optind]))
		return 1;
	/* Load it back: proves the file is usable, and gives the key id. */
	if (key_load(argv[optind], &key))
		return 1;
	key_id_hex(key.id, id);
	key_wipe(&key);
	printf("wrote a new key to %s (key id %s)\n", argv[optind], id);
	return 0;
}

const struct command cmd_keygen = {
	.name = "keygen",
	.run = keygen_run,
	.usage = keygen_usage,
	.help = "make a new encryption key file",
};
