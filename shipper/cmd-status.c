// SPDX-License-Identifier: GPL-2.0
/* cbtship status: what the daemon is doing, per volume. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "progress.h"
#include "vol-state.h"

static void status_usage(void)
{
	printf("usage: cbtship status [--config FILE | --state-dir DIR] [--json | --prometheus]\n"
	       "\n"
	       "Show, per volume managed by cbtship daemon: state (waiting, queued,\n"
	       "blackout, running, error, stopped), initial replication progress with\n"
	       "rate and ETA, the last cycle (time, duration, bytes), the backlog of\n"
	       "unshipped change, the recovery point age (RPO) and throughput, and\n"
	       "next to it the volume's state in the store (initial-replication,\n"
	       "delta-replication, resync-required, migration-*, migrated, stopped,\n"
	       "failed-over): read from the store now with --config, else as the\n"
	       "daemon last read it.\n"
	       "\n"
	       "  --config FILE    read state_dir from this file (default " CONFIG_DEFAULT_PATH ")\n"
	       "  --state-dir DIR  the daemon's state directory\n"
	       "  --json           one JSON object, for programs\n"
	       "  --prometheus     Prometheus text format (what the daemon writes to\n"
	       "                   metrics_file for node-exporter's textfile collector)\n");
}

static int cmp_status(const void *a, const void *b)
{
	return strcmp(((const struct vol_status *)a)->name, ((const struct vol_status *)b)->name);
}

/* The daemon's pid if it is alive, else 0. */
static long daemon_pid(const char *dir)
{
	char path[4400];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon.pid", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH))
		pid = 0;
	fclose(f);
	return pid;
}

/*
 * The store's state of each volume, read now (the daemon's copy is as old
 * as its last cycle).  A store that cannot be read keeps the daemon's copy,
 * with a warning.
 */
static void read_store_states(const struct cbt_config *cfg, struct vol_status *all, size_t nr)
{
	struct vol_state_rec rec;
	struct remote_opts ro;
	struct vstore *vs;
	struct store *st;
	size_t i, k;
	int err;

	for (i = 0; i < nr; i++) {
		for (k = 0; k < cfg->nr_vol && strcmp(cfg->vol[k].name, all[i].name); k++)
			;
		if (k == cfg->nr_vol)
			continue;
		config_remote_opts(&cfg->vol[k], &ro);
		err = apply_open_volume_opts(cfg->vol[k].store, &ro, cfg->vol[k].key,
					     cfg->vol[k].name, &st, &vs);
		if (!err) {
			err = vol_state_get(vs, &rec);
			if (!err)
				snprintf(all[i].store_state, sizeof(all[i].store_state), "%s",
					 vol_state_name(rec.state));
			else if (err == -ENOENT)
				snprintf(all[i].store_state, sizeof(all[i].store_state), "-");
			vstore_close(vs);
			store_close(st);
		}
		if (err && err != -ENOENT)
			log_warn("volume %s: cannot read its state from store %s (%s); showing what the daemon last read",
				 all[i].name, cfg->vol[k].store, strerror(-err));
	}
}

static int load_all(const char *dir, struct vol_status **out, size_t *nr)
{
	struct vol_status *all = NULL, *n;
	char path[4400];
	struct dirent *de;
	size_t len, count = 0;
	DIR *dp;
	int err = 0;

	dp = opendir(dir);
	if (!dp) {
		err = -errno;
		log_err("cannot read %s: %s; is cbtship daemon running with this state directory?",
			dir, strerror(-err));
		return err;
	}
	while ((de = readdir(dp))) {
		len = strlen(de->d_name);
		if (len < 7 || strcmp(de->d_name + len - 6, ".state"))
			continue;
		n = realloc(all, (count + 1) * sizeof(*all));
		if (!n) {
			err = -ENOMEM;
			break;
		}
		all = n;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (status_read(path, &all[count]) == 0)
			count++;
	}
	closedir(dp);
	if (err) {
		free(all);
		return err;
	}
	if (count)
		qsort(all, count, sizeof(*all), cmp_status);
	*out = all;
	*nr = count;
	return 0;
}

static int status_cmd(int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_STATE_DIR, OPT_JSON, OPT_PROM };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "prometheus", no_argument, NULL, OPT_PROM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *state_dir = NULL;
	struct vol_status *all = NULL;
	struct cbt_config cfg = { 0 };
	char dir[4200];
	int c, format = 0, err;
	size_t nr = 0, i;
	int64_t now;
	long pid;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_STATE_DIR:
			state_dir = optarg;
			break;
		case OPT_JSON:
			format = 1;
			break;
		case OPT_PROM:
			format = 2;
			break;
		case 'h':
			status_usage();
			return 0;
		default:
			status_usage();
			return 2;
		}
	}
	if (optind != argc || (config && state_dir)) {
		log_err("status takes --config or --state-dir, no arguments (see cbtship status --help)");
		return 2;
	}
	if (!state_dir) {
		if (config_load(config ? config : CONFIG_DEFAULT_PATH, &cfg))
			return 1;
		state_dir = cfg.state_dir;
	}
	snprintf(dir, sizeof(dir), "%s/" STATUS_SUBDIR, state_dir);
	err = load_all(dir, &all, &nr);
	if (!err && cfg.state_dir)
		read_store_states(&cfg, all, nr);
	config_free(&cfg);
	if (err)
		return 1;
	pid = daemon_pid(dir);
	/* Without a daemon nothing runs or waits, whatever the files last said. */
	for (i = 0; i < nr && !pid; i++)
		if (strcmp(all[i].state, "error"))
			snprintf(all[i].state, sizeof(all[i].state), "stopped");
	now = clock_now_us(clock_real());
	if (format == 1) {
		metrics_json(stdout, all, nr, now, pid);
	} else if (format == 2) {
		metrics_prometheus(stdout, all, nr, now);
	} else {
		if (pid)
			printf("daemon running (pid %ld), %zu volume(s)\n", pid, nr);
		else
			printf("daemon not running; last known state of %zu volume(s)\n", nr);
		metrics_table(stdout, all, nr, now);
	}
	free(all);
	return fflush(stdout) ? 1 : 0;
}

const struct command cmd_status = {
	.name = "status",
	.run = status_cmd,
	.usage = status_usage,
	.help = "show the daemon's volumes: state, progress, last cycle, RPO (--json)",
};
