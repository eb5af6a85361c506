// SPDX-License-Identifier: GPL-2.0
/* cbtship replicate: ship a dm-cbt volume's cycles to a store. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azure-cli.h"
#include "cmd-replicate.h"
#include "commands.h"
#include "fs-guard.h"
#include "log.h"
#include "progress.h"
#include "replicate.h"
#include "seg-pipeline.h"
#include "statedir.h"

static volatile sig_atomic_t replicate_stop;

static void on_signal(int sig)
{
	(void)sig;
	replicate_stop = 1;
}

static void replicate_usage(void)
{
	printf("usage: cbtship replicate --store DIR --key KEYFILE [options] DEVICE\n"
	       "\n"
	       "Replicate the dm-cbt volume DEVICE (/dev/mapper/NAME) into the store DIR:\n"
	       "the first run copies every block, later cycles only the changed ones.\n"
	       "\n"
	       "  --store DIR|URL      store directory (created if absent or empty), or an\n"
	       "                       Azure Blob Storage URL\n"
	       "  --key KEYFILE        encryption key (cbtship keygen)\n"
	       "  --volume NAME        volume name in the store (default: the dm device name)\n"
	       "  --once               run one cycle and exit\n"
	       "  --interval SECONDS   pause between cycles (default 60)\n"
	       "  --codec zstd|zlib|none  block compression (default zstd)\n"
	       "  --level N            compression level (default: 1 for zstd, which on 4 KiB\n"
	       "                       blocks compresses within 1%% of level 3, 1.3x as fast;\n"
	       "                       the library's default for zlib)\n"
	       "  --workers N          threads that checksum, compress and encrypt\n"
	       "                       (default: one per online CPU)\n"
	       "  --state-dir DIR      where a stopped volume's change set is saved\n"
	       "                       (default " STATEDIR_DEFAULT ")\n"
	       "  --fake-state FILE    for tests: DEVICE is a plain file, FILE the fake\n"
	       "                       tracking state (see shipper/cbt-source.h)\n"
	       "\n"
	       "Consistent recovery points (docs/CONSISTENCY.md):\n"
	       "  --cow DEV            read each cycle from a snapshot taken at its freeze\n"
	       "                       (crash-consistent points); DEV holds the snapshot's\n"
	       "                       copies of blocks written during a cycle.  Users\n"
	       "                       write to DEVICE itself\n"
	       "  --hook CMD           executable run as 'CMD pre' before the freeze and\n"
	       "                       'CMD post' after it (app-consistent points)\n"
	       "  --fsfreeze MOUNT     freeze and thaw the file system at MOUNT as a hook\n"
	       "  --fsfreeze-timeout SECS  thaw it after this long whatever happens, even if\n"
	       "                       cbtship dies (default 15; the point is then only\n"
	       "                       crash-consistent)\n"
	       "  --hook-timeout SECS  time a hook run may take (default 60)\n"
	       "  --app-interval SECS  run the hooks at most this often (default: every cycle)\n"
	       "  --group NAME         replicate every DEVICE given as consistency group NAME:\n"
	       "                       all frozen at one instant per cycle; give one\n"
	       "                       --cow per DEVICE, in the same order\n"
	       "\n"
	       AZURE_CLI_USAGE
	       "\n"
	       "Prints one line per cycle. SIGINT/SIGTERM stop after merging back an\n"
	       "unfinished cycle, so no change is lost, and save the unshipped change set\n"
	       "in the state directory (as cbtship detach does) when the device is not in\n"
	       "use: after a reboot only those blocks are shipped. An interrupted initial\n"
	       "replication continues where its stored segments end (state directory).\n");
}

static int parse_uint(const char *s, const char *what, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max) {
		log_err("invalid %s '%s': expected a number from 0 to %lu", what, s, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static void print_summary(const struct replicate_summary *s)
{
	const char *kind = s->kind == CYCLE_INITIAL ? "initial" : s->full ? "full delta" : "delta";

	printf("cycle %" PRIu64 " (%s): %" PRIu64 " blocks, %.1f MiB read, %.1f MiB stored, %.1f s\n",
	       s->cycle, kind, s->blocks, s->bytes_read / 1048576.0, s->bytes_stored / 1048576.0,
	       s->seconds);
	if (s->consistency != CONS_NONE)
		printf("  %s point: read from a snapshot taken at the freeze\n",
		       cons_point_name(s->consistency));
	if (s->restored_blocks)
		printf("  %" PRIu64 " blocks restored from the change set saved at detach\n",
		       s->restored_blocks);
	fflush(stdout);
}

/* Sleep up to seconds, returning early when a stop signal arrives. */
static void pause_between(unsigned long seconds)
{
	struct timespec ts = { .tv_sec = (time_t)seconds };

	while (!replicate_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Stopping cleanly: save the change set; a device still in use is not an error here. */
static int detach_on_stop(struct replicator *r)
{
	uint64_t saved;
	int err = replicator_detach(r, &saved);

	return err == -EBUSY ? 0 : err;
}

int source_opt(int c, const char *arg, struct replicate_opts *o)
{
	switch (c) {
	case OPT_STORE:
		o->store = arg;
		return 1;
	case OPT_KEY:
		o->key_path = arg;
		return 1;
	case OPT_VOLUME:
		o->volume = arg;
		return 1;
	case OPT_CODEC:
		if (!strcmp(arg, "zstd")) {
			o->writer.codec = CODEC_ZSTD;
		} else if (!strcmp(arg, "zlib")) {
			o->writer.codec = CODEC_ZLIB;
		} else if (!strcmp(arg, "none")) {
			o->writer.codec = CODEC_NONE;
		} else {
			log_err("unknown --codec '%s': use zstd, zlib or none", arg);
			return -EINVAL;
		}
		return 1;
	case OPT_STATE_DIR:
		o->state_dir = arg;
		return 1;
	case OPT_FAKE_STATE:
		o->fake_state = arg;
		return 1;
	default:
		return 0;
	}
}

int source_opts_finish(const char *cmd, int argc, char **argv, struct replicate_opts *o)
{
	if (optind != argc - 1 || !o->store || !o->key_path) {
		log_err("%s needs --store, --key and one DEVICE (see cbtship %s --help)", cmd, cmd);
		return -EINVAL;
	}
	o->device = argv[optind];
	if (o->writer.codec == CODEC_ZSTD && !o->writer.level)
		o->writer.level = 1;
	return 0;
}

#define GROUP_MAX	16

struct group_member {
	pthread_t thread;
	struct replicator *r;
	struct replicate_summary sum;
	int err;
};

static void *group_member_cycle(void *arg)
{
	struct group_member *m = arg;

	m->err = replicator_cycle(m->r, &m->sum);
	return NULL;
}

/*
 * cbtship replicate --group NAME DEV...: one replicator and thread per
 * volume, each round all of them in one freeze instant (consistency.h).
 */
static int replicate_group(const char *name, const struct replicate_opts *base,
			   const struct cons_config *cfg, size_t nr_cfg,
			   const struct cons_hooks *hooks, bool once, unsigned long interval,
			   int argc, char **argv)
{
	struct group_member m[GROUP_MAX] = { { 0 } };
	struct replicate_opts o[GROUP_MAX];
	struct cons_group g;
	size_t n = (size_t)(argc - optind), i, opened = 0;
	int err;

	if (argc - optind < 2 || n > GROUP_MAX || !base->store || !base->key_path ||
	    base->volume || base->fake_state) {
		log_err("replicate --group needs --store, --key and 2 to %d DEVICEs (volume names are the dm names; no --volume, --fake-state)",
			GROUP_MAX);
		return 2;
	}
	if (nr_cfg && nr_cfg != n) {
		log_err("replicate --group: give one --cow per DEVICE (%zu DEVICEs, %zu --cow)",
			n, nr_cfg);
		return 2;
	}
	if (cons_group_init(&g, name, n, hooks->command || hooks->fsfreeze ? hooks : NULL))
		return 2;
	for (i = 0; i < n; i++) {
		o[i] = *base;
		o[i].device = argv[optind + (int)i];
		o[i].cons = nr_cfg ? &cfg[i] : NULL;
		o[i].group = &g;
		o[i].group_index = i;
		if (o[i].writer.codec == CODEC_ZSTD && !o[i].writer.level)
			o[i].writer.level = 1;
		err = replicator_open(&o[i], &m[i].r);
		if (err)
			goto out;
		opened++;
	}
	for (;;) {
		cons_group_round(&g);
		for (i = 0; i < n; i++) {
			err = -pthread_create(&m[i].thread, NULL, group_member_cycle, &m[i]);
			if (err) {
				log_err("group %s: cannot start a thread: %s", name, strerror(-err));
				for (size_t k = i; k < n; k++)
					cons_group_leave(&g);
				n = i;	/* join the started ones, then stop */
				break;
			}
		}
		for (i = 0; i < n; i++)
			pthread_join(m[i].thread, NULL);
		if (n < opened)
			goto out;
		for (i = 0, err = 0; i < n; i++) {
			if (!m[i].err && m[i].sum.result == REPLICATE_SHIPPED) {
				printf("%s ", replicator_volume(m[i].r));
				print_summary(&m[i].sum);
			}
			if (m[i].err && !err)
				err = m[i].err;
		}
		if (!err)
			printf("group %s: instant %" PRIu64 "\n", name, m[0].sum.group_instant);
		fflush(stdout);
		if (replicate_stop || (err && once))
			break;
		if (err)
			log_err("group %s: cycle failed (%s); retrying in %lu s", name, strerror(-err),
				interval);
		else if (once)
			break;
		pause_between(interval);
		if (replicate_stop)
			break;
	}
	/* Stopped by a signal: save each member's change set, as a single volume does. */
	for (i = 0; replicate_stop && i < opened; i++) {
		int e = detach_on_stop(m[i].r);

		if (e && (!err || err == -EINTR))
			err = e;
	}
	if (replicate_stop && err == -EINTR)
		err = 0;
out:
	for (i = 0; i < opened; i++)
		replicator_close(m[i].r);
	cons_group_destroy(&g);
	return err ? 1 : 0;
}

static int replicate_run(int argc, char **argv)
{
	enum { OPT_ONCE = OPT_SOURCE_END, OPT_INTERVAL, OPT_LEVEL, OPT_WORKERS, OPT_ORIGIN,
	       OPT_COW, OPT_HOOK, OPT_FSFREEZE, OPT_HOOK_TIMEOUT, OPT_APP_INTERVAL, OPT_GROUP,
	       OPT_FSFREEZE_TIMEOUT };
	static const struct option longopts[] = {
		SOURCE_LONGOPTS,
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "origin", required_argument, NULL, OPT_ORIGIN },
		{ "cow", required_argument, NULL, OPT_COW },
		{ "hook", required_argument, NULL, OPT_HOOK },
		{ "fsfreeze", required_argument, NULL, OPT_FSFREEZE },
		{ "hook-timeout", required_argument, NULL, OPT_HOOK_TIMEOUT },
		{ "app-interval", required_argument, NULL, OPT_APP_INTERVAL },
		{ "fsfreeze-timeout", required_argument, NULL, OPT_FSFREEZE_TIMEOUT },
		{ "group", required_argument, NULL, OPT_GROUP },
		AZURE_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct cons_config cons = { 0 }, members[GROUP_MAX] = { { 0 } };
	struct cons_hooks cons_hooks = { 0 };
	size_t nr_cow = 0;
	const char *group = NULL;
	unsigned long secs;
	struct replicate_opts o = { .writer = { .codec = CODEC_ZSTD }, .stop = &replicate_stop,
				    .state_dir = STATEDIR_DEFAULT };
	struct progress_tty bar = { .fd = STDERR_FILENO };
	struct replicate_hooks hooks = { .arg = &bar, .progress = progress_tty_update };
	struct replicate_summary sum;
	struct sigaction sa;
	struct replicator *r;
	unsigned long interval = 60, level = 0, workers = 0;
	bool once = false;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		err = source_opt(c, optarg, &o);
		if (err > 0)
			continue;
		if (err < 0)
			return 2;
		switch (c) {
		case OPT_ONCE:
			once = true;
			break;
		case OPT_INTERVAL:
			if (parse_uint(optarg, "--interval", 7 * 24 * 3600, &interval))
				return 2;
			break;
		case OPT_LEVEL:
			if (parse_uint(optarg, "--level", 22, &level))
				return 2;
			o.writer.level = (int)level;
			break;
		case OPT_WORKERS:
			if (parse_uint(optarg, "--workers", SEG_PIPELINE_MAX_WORKERS, &workers))
				return 2;
			o.writer.workers = (unsigned int)workers;
			break;
		case OPT_ORIGIN:
			log_err("replicate: --origin is gone: users write to the dm-cbt device (DEVICE) itself and each cycle slides a snapshot-origin under it; remove the origin device, drop --origin and keep --cow (docs/CONSISTENCY.md)");
			return 2;
		case OPT_COW:
			if (nr_cow == GROUP_MAX) {
				log_err("replicate: at most %d --cow", GROUP_MAX);
				return 2;
			}
			members[nr_cow++].cow = optarg;
			break;
		case OPT_GROUP:
			group = optarg;
			break;
		case OPT_HOOK:
			cons_hooks.command = optarg;
			o.cons_hooks = &cons_hooks;
			break;
		case OPT_FSFREEZE:
			cons_hooks.fsfreeze = optarg;
			o.cons_hooks = &cons_hooks;
			break;
		case OPT_HOOK_TIMEOUT:
		case OPT_APP_INTERVAL:
			if (parse_uint(optarg, c == OPT_HOOK_TIMEOUT ? "--hook-timeout" :
				       "--app-interval", 7 * 24 * 3600, &secs))
				return 2;
			if (c == OPT_HOOK_TIMEOUT)
				cons_hooks.timeout = (unsigned int)secs;
			else
				cons_hooks.interval = (unsigned int)secs;
			break;
		case OPT_FSFREEZE_TIMEOUT:
			if (parse_uint(optarg, "--fsfreeze-timeout", FS_GUARD_TIMEOUT_MAX, &secs))
				return 2;
			cons_hooks.fsfreeze_timeout = (unsigned int)secs;
			break;
		case 'h':
			replicate_usage();
			return 0;
		default:
			err = azure_cli_opt(c, optarg, &o.remote);
			if (err > 0)
				break;
			if (!err)
				replicate_usage();
			return 2;
		}
	}
	cons_hooks.state_dir = o.state_dir;	/* the freeze's record (fs-guard.h) */
	if (group)
		return replicate_group(group, &o, members, nr_cow, &cons_hooks, once, interval,
				       argc, argv);
	if (source_opts_finish("replicate", argc, argv, &o))
		return 2;
	if (nr_cow > 1) {
		log_err("replicate: one --cow per DEVICE; several DEVICEs need --group");
		return 2;
	}
	if (nr_cow) {
		cons = members[0];
		o.cons = &cons;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* A progress bar on a terminal, unless --quiet. */
	if (isatty(STDERR_FILENO) && log_get_level() >= LOG_INFO)
		o.hooks = &hooks;
	err = replicator_open(&o, &r);
	if (err)
		return 1;
	for (;;) {
		bar.start_us = bar.last_draw_us = 0;
		err = replicator_cycle(r, &sum);
		progress_tty_finish(&bar);
		if (replicate_stop) {
			log_notice("volume %s: stopping on signal", replicator_volume(r));
			if (err == -EINTR)
				err = 0;
			if (!err && sum.result == REPLICATE_SHIPPED)
				print_summary(&sum);
			if (!err)
				err = detach_on_stop(r);
			break;
		}
		if (!err && sum.result == REPLICATE_SHIPPED)
			print_summary(&sum);
		/* Configuration problems will not fix themselves: stop; retry the rest. */
		if (err && (once || err == -EINVAL || err == -ENOTDIR || err == -EPERM))
			break;
		if (err)
			log_err("volume %s: cycle failed (%s); retrying in %lu s",
				replicator_volume(r), strerror(-err), interval);
		else if (once)
			break;
		pause_between(interval);
		if (replicate_stop) {
			log_notice("volume %s: stopping on signal", replicator_volume(r));
			err = detach_on_stop(r);
			break;
		}
	}
	replicator_close(r);
	return err ? 1 : 0;
}

const struct command cmd_replicate = {
	.name = "replicate",
	.run = replicate_run,
	.usage = replicate_usage,
	.help = "replicate a dm-cbt volume into a store, cycle after cycle",
};

/* ---- cbtship detach ---- */

static void detach_usage(void)
{
	printf("usage: cbtship detach --store DIR --key KEYFILE [options] DEVICE\n"
	       "\n"
	       "Save the unshipped change set of the dm-cbt volume DEVICE in the state\n"
	       "directory before the device is removed or the machine shuts down, so that\n"
	       "when it is attached again (new tracking) replicate ships only those blocks\n"
	       "instead of every block.  Run it after the filesystem is unmounted and\n"
	       "before dmsetup remove, with no cbtship replicate running for DEVICE\n"
	       "(replicate saves the set itself when stopped with SIGTERM).\n"
	       "\n"
	       "  --store DIR          the store replicate writes to\n"
	       "  --key KEYFILE        its key\n"
	       "  --volume NAME        volume name in the store (default: the dm device name)\n"
	       "  --state-dir DIR      default " STATEDIR_DEFAULT "\n"
	       "  --force              save even if DEVICE is in use (writes made after the\n"
	       "                       detach are then not in the saved set)\n"
	       "  --fake-state FILE    for tests, as in cbtship replicate\n"
	       "\n"
	       "Exit status 0 when saved (or nothing to save), 1 on error.\n");
}

static int detach_run(int argc, char **argv)
{
	enum { OPT_FORCE = OPT_SOURCE_END };
	static const struct option longopts[] = {
		SOURCE_LONGOPTS,
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct replicate_opts o = { .state_dir = STATEDIR_DEFAULT };
	struct replicator *r;
	uint64_t saved;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		err = source_opt(c, optarg, &o);
		if (err > 0)
			continue;
		if (err < 0)
			return 2;
		switch (c) {
		case OPT_FORCE:
			o.force = true;
			break;
		case 'h':
			detach_usage();
			return 0;
		default:
			detach_usage();
			return 2;
		}
	}
	if (source_opts_finish("detach", argc, argv, &o))
		return 2;
	err = replicator_open(&o, &r);
	if (err)
		return 1;
	err = replicator_detach(r, &saved);
	if (!err)
		printf("saved %" PRIu64 " changed blocks\n", saved);
	replicator_close(r);
	return err ? 1 : 0;
}

const struct command cmd_detach = {
	.name = "detach",
	.run = detach_run,
	.usage = detach_usage,
	.help = "save a volume's unshipped changes before it is removed or rebooted",
};
