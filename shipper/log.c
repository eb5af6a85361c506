// SPDX-License-Identifier: GPL-2.0
/*
 * Logging: "cbtship: error: ..." on stderr in the foreground, syslog when
 * running as a daemon.  errno is preserved so callers can log and then
 * still look at it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static const char *log_ident = "cbtship";
static bool log_use_syslog;
static int log_level = LOG_INFO;

void log_init(const char *ident, bool use_syslog)
{
	if (ident)
		log_ident = ident;
	log_use_syslog = use_syslog;
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
}

void log_set_level(int priority)
{
	if (priority < LOG_EMERG)
		priority = LOG_EMERG;
	if (priority > LOG_DEBUG)
		priority = LOG_DEBUG;
	log_level = priority;
}

int log_get_level(void)
{
	return log_level;
}

static const char *log_word(int priority)
{
	if (priority <= LOG_ERR)
		return "error: ";
	if (priority == LOG_WARNING)
		return "warning: ";
	if (priority == LOG_DEBUG)
		return "debug: ";
	return "";
}

void log_msg(int priority, const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	if (priority > log_level)
		return;

	va_start(ap, fmt);
	if (log_use_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		/* One buffered line so concurrent writers do not interleave. */
		char line[1024];
		int n = vsnprintf(line, sizeof(line), fmt, ap);

		if (n >= 0)
			fprintf(stderr, "%s: %s%s\n", log_ident, log_word(priority), line);
	}
	va_end(ap);
	errno = saved_errno;
}
