// SPDX-License-Identifier: GPL-2.0
/* The upload token bucket (throttle.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "throttle.h"

void throttle_cfg_default(struct throttle_cfg *cfg)
{
	cfg->work_bps = THROTTLE_UNLIMITED;
	cfg->offwork_bps = THROTTLE_UNLIMITED;
	cfg->work_days = 0x3e;		/* Monday .. Friday */
	cfg->work_start = 8 * 60;
	cfg->work_end = 18 * 60;
}

void throttle_init(struct throttle *t, const struct throttle_cfg *cfg, struct cbt_clock *clock)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->clock = clock;
	t->cfg = *cfg;
	t->last_us = clock_now_us(clock);
}

void throttle_set(struct throttle *t, const struct throttle_cfg *cfg)
{
	pthread_mutex_lock(&t->lock);
	t->cfg = *cfg;
	pthread_mutex_unlock(&t->lock);
}

void throttle_destroy(struct throttle *t)
{
	pthread_mutex_destroy(&t->lock);
}

bool throttle_work_time(const struct throttle_cfg *cfg, time_t t)
{
	struct tm tm;
	int minute;

	if (!localtime_r(&t, &tm) || !(cfg->work_days & (1u << tm.tm_wday)))
		return false;
	minute = tm.tm_hour * 60 + tm.tm_min;
	return minute >= cfg->work_start && minute < cfg->work_end;
}

uint64_t throttle_rate_at(const struct throttle_cfg *cfg, time_t t)
{
	return throttle_work_time(cfg, t) ? cfg->work_bps : cfg->offwork_bps;
}

int64_t throttle_reserve(struct throttle *t, size_t bytes)
{
	int64_t now, wait = 0;
	double rate, burst;
	uint64_t bps;

	pthread_mutex_lock(&t->lock);
	now = clock_now_us(t->clock);
	t->bytes += bytes;
	bps = throttle_rate_at(&t->cfg, (time_t)(now / USEC_PER_SEC));
	if (bps == THROTTLE_UNLIMITED) {
		t->tokens = 0;
		t->last_us = now;
		goto out;
	}
	rate = (double)bps / 8 / USEC_PER_SEC;		/* bytes per us */
	burst = (double)bps / 8;			/* one second's worth */
	if (now > t->last_us)
		t->tokens += (double)(now - t->last_us) * rate;
	if (t->tokens > burst)
		t->tokens = burst;
	t->last_us = now;
	t->tokens -= (double)bytes;
	if (t->tokens < 0)
		wait = (int64_t)(-t->tokens / rate + 0.5);
out:
	pthread_mutex_unlock(&t->lock);
	return wait;
}

void throttle_take(struct throttle *t, size_t bytes)
{
	clock_sleep_us(t->clock, throttle_reserve(t, bytes));
}

uint64_t throttle_bytes(struct throttle *t)
{
	uint64_t b;

	pthread_mutex_lock(&t->lock);
	b = t->bytes;
	pthread_mutex_unlock(&t->lock);
	return b;
}

/* ---- parsers ---- */

int throttle_parse_rate(const char *s, uint64_t *bps, char *err, size_t errlen)
{
	unsigned long long v;
	uint64_t mult;
	char *end;

	if (!strcasecmp(s, "unlimited")) {
		*bps = THROTTLE_UNLIMITED;
		return 0;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || !isdigit((unsigned char)*s))
		goto bad;
	if (!strncasecmp(end, "mbit", 4)) {
		mult = 1000000;
		end += 4;
	} else if (!strncasecmp(end, "kbit", 4)) {
		mult = 1000;
		end += 4;
	} else if (tolower((unsigned char)*end) == 'm') {
		mult = 1000000;
		end++;
	} else if (tolower((unsigned char)*end) == 'k') {
		mult = 1000;
		end++;
	} else {
		goto bad;
	}
	if (!strcmp(end, "/s"))
		end += 2;
	if (*end)
		goto bad;
	if (v > THROTTLE_MAX_BPS / mult || v * mult < THROTTLE_MIN_BPS ||
	    v * mult > THROTTLE_MAX_BPS) {
		snprintf(err, errlen, "rate '%s' is out of range: use 512k .. 1023m (bits/s) or unlimited", s);
		return -EINVAL;
	}
	*bps = v * mult;
	return 0;
bad:
	snprintf(err, errlen, "invalid rate '%s': use e.g. 512k, 20mbit, 1023m (bits/s) or unlimited", s);
	return -EINVAL;
}

static int day_index(const char *s, size_t len)
{
	static const char *const names[7] = {
		"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
	};
	int i;

	for (i = 0; i < 7; i++)
		if ((len == 3 || len == strlen(names[i])) && !strncasecmp(s, names[i], len))
			return i;
	return -1;
}

int throttle_parse_days(const char *s, unsigned int *days, char *err, size_t errlen)
{
	const char *p = s, *w = s;
	unsigned int set = 0;
	int a, b, i;

	for (;;) {
		while (*p == ' ')
			p++;
		w = p;
		while (isalpha((unsigned char)*p))
			p++;
		a = day_index(w, (size_t)(p - w));
		if (a < 0)
			goto bad;
		b = a;
		if (*p == '-') {
			w = ++p;
			while (isalpha((unsigned char)*p))
				p++;
			b = day_index(w, (size_t)(p - w));
			if (b < 0)
				goto bad;
		}
		for (i = a;; i = (i + 1) % 7) {	/* Fri-Mon wraps the week */
			set |= 1u << i;
			if (i == b)
				break;
		}
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p++ != ',')
			goto bad;
	}
	*days = set;
	return 0;
bad:
	snprintf(err, errlen, "invalid day list '%s' at column %zu: use e.g. Mon-Fri or Mon,Wed,Sat",
		 s, (size_t)(w - s) + 1);
	return -EINVAL;
}

static int parse_hm(const char **pp)
{
	const char *p = *pp;
	int h = 0, m, n = 0;

	while (isdigit((unsigned char)*p) && n < 2) {
		h = h * 10 + (*p++ - '0');
		n++;
	}
	if (!n || *p != ':' || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
		return -1;
	m = (p[1] - '0') * 10 + (p[2] - '0');
	*pp = p + 3;
	if (m > 59 || h > 24 || (h == 24 && m))
		return -1;
	return h * 60 + m;
}

int throttle_parse_hours(const char *s, int *start, int *end, char *err, size_t errlen)
{
	const char *p = s;
	int a, b;

	a = parse_hm(&p);
	if (a < 0 || *p++ != '-')
		goto bad;
	b = parse_hm(&p);
	if (b < 0 || *p || b <= a)
		goto bad;
	*start = a;
	*end = b;
	return 0;
bad:
	snprintf(err, errlen, "invalid working hours '%s': use START-END in 24-hour local time, e.g. 8:00-18:00 (END after START, at most 24:00)", s);
	return -EINVAL;
}
