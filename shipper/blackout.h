/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Blackout windows: weekly periods in which no new replication cycle starts
 * (running ones finish).  Syntax (docs/man/cbtship-blackout.5):
 *
 *	Monday;7:00;7h | Tuesday;8:00;1d7h | Friday;13:00;8m
 *
 * Items are separated by '|'; each is DAY;H:MM;DURATION with DAY an English
 * day name (or its first three letters, any case), H:MM a 24-hour local
 * time and DURATION one or more of Nd, Nh, Nm in that order (at most 7
 * days).  Start and end are local wall-clock times: a window from 1:00 for
 * 3h ends at 4:00 local time even on a DST switch night.
 */
#ifndef CBTSHIP_BLACKOUT_H
#define CBTSHIP_BLACKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define BLACKOUT_MAX		64
#define BLACKOUT_MAX_MINUTES	(7 * 24 * 60)

struct blackout_window {
	int wday;		/* 0 = Sunday .. 6 = Saturday (struct tm) */
	int hour, minute;
	int days, hours, minutes;	/* duration as written */
};

struct blackout {
	size_t nr;
	struct blackout_window w[BLACKOUT_MAX];
};

/*
 * Parse spec into b.  On bad syntax returns -EINVAL and writes a message
 * naming the 1-based column (byte offset + 1 in spec) into err.
 */
int blackout_parse(const char *spec, struct blackout *b, char *err, size_t errlen);

/* Is t inside a window (in the process's local time zone, TZ)? */
bool blackout_in_window(const struct blackout *b, time_t t);
/*
 * When does the blackout around t end?  t itself if t is in no window;
 * chained or overlapping windows are followed to the end of the last.
 */
time_t blackout_next_end(const struct blackout *b, time_t t);
/* The next time >= t at which a window begins; (time_t)-1 if there are none. */
time_t blackout_next_start(const struct blackout *b, time_t t);

/* Format b back into the syntax above. */
void blackout_format(const struct blackout *b, char *buf, size_t len);

#endif
