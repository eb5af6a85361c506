// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship verify: compare a source volume with its replica by block hashes.
 * The target side hashes the replica and publishes the list through the
 * store (--publish); the source side hashes its volume and compares.  With
 * both --replica and DEVICE, one run does both (source and target local).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "blockhash.h"
#include "commands.h"
#include "key.h"
#include "log.h"
#include "store.h"
#include "target-opts.h"
#include "vstore-priv.h"

static void verify_usage(void)
{
	printf("usage: cbtship verify --store DIR --key KEYFILE --volume NAME --replica PATH --publish\\n"
	       "       cbtship verify --store DIR --key KEYFILE --volume NAME DEVICE\\n"
	       "       cbtship verify --store DIR --key KEYFILE --volume NAME --replica PATH DEVICE\\n"
	       "\\n"
	       "Compare a volume with its replica by SHA-256 block hashes; no block data\\n"
	       "crosses the store.  On the target, --publish hashes the replica (which must\\n"
	       "be at the store's newest cycle: run cbtship apply first) and writes the\\n"
	       "hash list into the store, sealed with the key like every other object.  On\\n"
	       "the source, DEVICE (the dm-cbt device, or any file or device holding the\\n"
	       "volume) is hashed and compared with that list; differing block ranges are\\n"
	       "printed.  Given both --replica and DEVICE, it publishes and compares.\\n"
	       "Blocks written on the source since the newest cycle differ until shipped:\\n"
	       "verify a quiescent source, right after a cycle has been applied.\\n"
	       "\\n"
	       "  -s, --store DIR      the store\\n"
	       "  -k, --key KEYFILE    the key file\\n"
	       "  -n, --volume NAME    the volume name in the store\\n"
	       "  -r, --replica PATH   the replica (target side)\\n"
	       "  -p, --publish        only publish the replica's hash list\\n"
	       "  -h, --help           this help\\n"
	       "\\n"
	       "Exit status: 0 same, 1 they differ, 2 error (or usage error).\\n");
}

struct verify_ctx {
	struct store *st;
	struct vstore *vs;
	struct cbt_key key;
	bool have_key;
	uint64_t newest;
};

/* Open the store and volume; newest = the newest complete cycle. */
static int verify_open(struct verify_ctx *c, const char *store, const char *key_path,
		       const char *volume)
{
	struct vstore_cycle_info last;
	int err;

	err = key_load(key_path, &c->key);
	if (err)
		return err;
	c->have_key = true;
	err = store_open(store, false, &c->st);
	if (err)
		return err;
	err = vstore_open(c->st, volume, &c->key, &c->vs);
	if (err == -ENOENT)
		log_err("volume %s is not in store %s; check --volume", volume, store);
	if (err)
		return err;
	err = vstore_last_cycle(c->vs, &last);
	if (err == -ENOENT)
		log_err("volume %s has no complete cycle in store %s yet: nothing to verify against",
			volume, store);
	if (err)
		return err;
	c->newest = last.cycle;
	return 0;
}

static void verify_close(struct verify_ctx *c)
{
	vstore_close(c->vs);
	if (c->st)
		store_close(c->st);
	if (c->have_key)
		key_wipe(&c->key);
}

static int publish(struct verify_ctx *c, const char *replica)
{
	struct blockhash_stats hs;
	uint64_t applied;
	int err;

	err = vstore_get_applied(c->vs, &applied);
	if (err)
		return err;
	if (applied != c->newest) {
		log_err("volume %s: the replica is at cycle %" PRIu64 " but the store's newest cycle is %" PRIu64 "; run cbtship apply first",
			c->vs->info.name, applied, c->newest);
		return -ESTALE;
	}
	err = blockhash_publish(c->vs, replica, applied, 0, &hs);
	if (err)
		return err;
	printf("published hashes of %" PRIu64 " blocks of %s at cycle %" PRIu64 ": hash list %" PRIu64 " bytes\n",
	       hs.blocks, replica, applied, hs.list_bytes);
	return 0;
}

static int compare(struct verify_ctx *c, const char *device, bool *same)
{
	struct cbt_extent_list diff = { 0 };
	struct block_reader *br = NULL;
	struct blockhash_stats hs;
	size_t i;
	int err;

	err = block_reader_open(device, NULL, &br);
	if (err)
		return err;
	if (block_reader_size(br) != c->vs->info.size_bytes) {
		log_err("%s is %" PRIu64 " bytes but volume %s is %" PRIu64 " bytes: not this volume's source",
			device, block_reader_size(br), c->vs->info.name, c->vs->info.size_bytes);
		err = -EINVAL;
		goto out;
	}
	err = blockhash_compare(c->vs, c->newest, br, &diff, &hs);
	if (err)
		goto out;
	for (i = 0; i < diff.nr; i++)
		printf("differ: blocks %" PRIu64 "-%" PRIu64 " (%" PRIu64 " blocks)\n",
		       (uint64_t)diff.ext[i].start,
		       (uint64_t)(diff.ext[i].start + diff.ext[i].count - 1),
		       (uint64_t)diff.ext[i].count);
	printf("%s: %" PRIu64 " of %" PRIu64 " blocks differ from the replica at cycle %" PRIu64 " (%" PRIu64 " bytes); hash list %" PRIu64 " bytes\n",
	       device, hs.diff_blocks, hs.blocks, c->newest, hs.diff_bytes, hs.list_bytes);
	*same = !hs.diff_blocks;
out:
	cbt_extent_list_free(&diff);
	block_reader_close(br);
	return err;
}

static int verify_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "volume", required_argument, NULL, 'n' },
		{ "replica", required_argument, NULL, 'r' },
		{ "publish", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *store = NULL, *key_path = NULL, *volume = NULL, *replica = NULL, *device;
	struct verify_ctx c = { 0 };
	bool only_publish = false, same = false;
	int opt, err;
	const struct target_args ta = {
		.store = &store,
		.key_path = &key_path,
		.volume = &volume,
		.replica = &replica,
	};

	while ((opt = getopt_long(argc, argv, "s:k:n:r:ph", longopts, NULL)) != -1) {
		if (target_opt(opt, optarg, &ta))
			continue;
		switch (opt) {
		case 'p':
			only_publish = true;
			break;
		case 'h':
			verify_usage();
			return 0;
		default:
			fprintf(stderr, "Run 'cbtship verify --help' for usage.\n");
			return 2;
		}
	}
	device = optind < argc ? argv[optind] : NULL;
	if (!store || !key_path || !volume || argc - optind > 1 ||
	    (only_publish && (!replica || device)) || (!only_publish && !device)) {
		log_err("verify needs --store, --key, --volume and either --replica PATH --publish, or DEVICE (see cbtship verify --help)");
		return 2;
	}
	err = verify_open(&c, store, key_path, volume);
	if (!err && replica)
		err = publish(&c, replica);
	if (!err && device)
		err = compare(&c, device, &same);
	verify_close(&c);
	if (err)
		return 2;
	return only_publish || same ? 0 : 1;
}

const struct command cmd_verify = {
	.name = "verify",
	.run = verify_run,
	.usage = verify_usage,
	.help = "compare a volume with its replica by block hashes",
};
