// SPDX-License-Identifier: GPL-2.0
/* cbtship daemon: replicate every configured volume as a service. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "progress.h"

static struct daemon *the_daemon;

static void on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGHUP)
		daemon_request_reload(the_daemon);
	else
		daemon_request_stop(the_daemon);
	errno = saved;
}

static void daemon_usage(void)
{
	printf("usage: cbtship daemon [--config FILE] [--syslog]\n"
	       "\n"
	       "Replicate every volume of the configuration file (default\n"
	       CONFIG_DEFAULT_PATH "; format in cbtship.conf(5) and docs/CONFIG.md)\n"
	       "under the replication schedule, with blackout windows and throttling.\n"
	       "\n"
	       "  --config FILE   configuration file\n"
	       "  --syslog        log to syslog instead of stderr\n"
	       "\n"
	       "SIGHUP reloads the configuration; SIGTERM and SIGINT stop, merging\n"
	       "running cycles back into tracking so no change is lost.  Status:\n"
	       "cbtship status.  On-demand cycle: touch STATE_DIR/service/VOLUME.now\n");
}

/* STATE_DIR/service/daemon.pid, so `cbtship status` can tell a live daemon. */
static void write_pid(const char *dir, char *path, size_t len)
{
	char buf[32];
	int fd, n;

	snprintf(path, len, "%s/daemon.pid", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn("cannot write %s: %s; cbtship status will not know the daemon runs",
			 path, strerror(errno));
		path[0] = '\0';
		return;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n)
		log_warn("cannot write %s", path);
	close(fd);
}

static int daemon_cmd(int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_SYSLOG };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "syslog", no_argument, NULL, OPT_SYSLOG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = CONFIG_DEFAULT_PATH;
	struct sigaction sa;
	char pidfile[4200];
	int c, level, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_SYSLOG:
			level = log_get_level();
			log_init("cbtship", true);
			log_set_level(level);
			break;
		case 'h':
			daemon_usage();
			return 0;
		default:
			daemon_usage();
			return 2;
		}
	}
	if (optind != argc) {
		log_err("daemon takes no arguments (see cbtship daemon --help)");
		return 2;
	}
	err = daemon_create(config, clock_real(), &the_daemon);
	if (err)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	write_pid(daemon_status_dir(the_daemon), pidfile, sizeof(pidfile));
	err = daemon_run(the_daemon);
	if (pidfile[0])
		unlink(pidfile);
	daemon_destroy(the_daemon);
	the_daemon = NULL;
	log_notice("stopped");
	return err ? 1 : 0;
}

const struct command cmd_daemon = {
	.name = "daemon",
	.run = daemon_cmd,
	.usage = daemon_usage,
	.help = "replicate every configured volume on a schedule (a service)",
};
