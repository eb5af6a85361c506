/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Upload throttling for all volumes together: one token bucket (bytes)
 * that every object put draws from.  The cap is 512 Kbit/s .. 1023 Mbit/s
 * or unlimited, with separate caps for working and non-working hours
 * (work days and hours in local time, see docs/CONFIG.md).  Thread-safe:
 * each put reserves its bytes under the lock and then sleeps, outside the
 * lock, for as long as the bucket is in debt, so concurrent uploads share
 * the cap and the long-run rate never exceeds it.
 */
#ifndef CBTSHIP_THROTTLE_H
#define CBTSHIP_THROTTLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"

#define THROTTLE_MIN_BPS	512000ULL		/* 512 Kbit/s */
#define THROTTLE_MAX_BPS	1023000000ULL		/* 1023 Mbit/s */
#define THROTTLE_UNLIMITED	0ULL

struct throttle_cfg {
	uint64_t work_bps;		/* bits/s in working hours; 0 = unlimited */
	uint64_t offwork_bps;		/* bits/s otherwise; 0 = unlimited */
	unsigned int work_days;		/* bit (1 << tm_wday); default Monday..Friday */
	int work_start, work_end;	/* minutes after local midnight; default 8:00-18:00 */
};

struct throttle {
	pthread_mutex_t lock;
	struct cbt_clock *clock;
	struct throttle_cfg cfg;	/* protected by lock */
	double tokens;			/* bytes; negative = debt; protected by lock */
	int64_t last_us;		/* last refill; protected by lock */
	uint64_t bytes;			/* total reserved; protected by lock */
};

void throttle_cfg_default(struct throttle_cfg *cfg);
void throttle_init(struct throttle *t, const struct throttle_cfg *cfg, struct cbt_clock *clock);
void throttle_set(struct throttle *t, const struct throttle_cfg *cfg);	/* on reload */
void throttle_destroy(struct throttle *t);

/* Is local time t in working hours? */
bool throttle_work_time(const struct throttle_cfg *cfg, time_t t);
/* The cap in force at local time t, bits/s (0 = unlimited). */
uint64_t throttle_rate_at(const struct throttle_cfg *cfg, time_t t);

/* Reserve bytes now; returns how long (us) the caller must wait before sending. */
int64_t throttle_reserve(struct throttle *t, size_t bytes);
/* Reserve and wait (on the throttle's clock). */
void throttle_take(struct throttle *t, size_t bytes);
uint64_t throttle_bytes(struct throttle *t);

/*
 * Parsers for the config file; each returns -EINVAL with a message in err.
 * Rates: "unlimited", or a number with k/kbit or m/mbit (optionally "/s"),
 * e.g. 512k, 20Mbit/s, 1023m.  Days: "Mon-Fri", "Mon,Wed,Sat", names as in
 * blackout windows.  Hours: "8:00-18:00".
 */
int throttle_parse_rate(const char *s, uint64_t *bps, char *err, size_t errlen);
int throttle_parse_days(const char *s, unsigned int *days, char *err, size_t errlen);
int throttle_parse_hours(const char *s, int *start, int *end, char *err, size_t errlen);

#endif
