/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One logging module for all of cbtship: syslog priorities, stderr in the
 * foreground, syslog when running as a daemon.  Library code logs here and
 * never prints to stdout.
 */
#ifndef CBTSHIP_LOG_H
#define CBTSHIP_LOG_H

#include <stdbool.h>
#include <syslog.h>

void log_init(const char *ident, bool use_syslog);
void log_set_level(int priority);	/* LOG_ERR .. LOG_DEBUG; default LOG_INFO */
int log_get_level(void);

__attribute__((format(printf, 2, 3)))
void log_msg(int priority, const char *fmt, ...);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
