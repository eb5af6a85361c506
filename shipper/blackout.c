// SPDX-License-Identifier: GPL-2.0
/* Blackout window parsing and evaluation (blackout.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "blackout.h"

static const char *const day_names[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};

/* ---- parser ---- */

struct bparse {
	const char *s;
	size_t pos;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int bp_error(struct bparse *p, const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "column %zu: %s", p->pos + 1, msg);
	return -EINVAL;
}

static void bp_skip_space(struct bparse *p)
{
	while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
		p->pos++;
}

/* Digits only, at most max_digits; -1 if none. */
static long bp_number(struct bparse *p, int max_digits)
{
	long v = 0;
	int n = 0;

	while (isdigit((unsigned char)p->s[p->pos])) {
		if (++n > max_digits)
			return -2;
		v = v * 10 + (p->s[p->pos++] - '0');
	}
	return n ? v : -1;
}

static int bp_day(struct bparse *p, int *wday)
{
	size_t start = p->pos, len;
	int i;

	while (isalpha((unsigned char)p->s[p->pos]))
		p->pos++;
	len = p->pos - start;
	for (i = 0; i < 7 && len; i++) {
		if ((len == 3 || len == strlen(day_names[i])) &&
		    !strncasecmp(p->s + start, day_names[i], len)) {
			*wday = i;
			return 0;
		}
	}
	p->pos = start;
	return bp_error(p, "expected a day of the week (Monday .. Sunday, or Mon .. Sun)");
}

static int bp_expect(struct bparse *p, char c, const char *what)
{
	bp_skip_space(p);
	if (p->s[p->pos] != c)
		return bp_error(p, "expected '%c' %s", c, what);
	p->pos++;
	bp_skip_space(p);
	return 0;
}

static int bp_time(struct bparse *p, int *hour, int *minute)
{
	size_t start = p->pos;
	long h, m;

	h = bp_number(p, 2);
	if (h < 0 || h > 23) {
		p->pos = start;
		return bp_error(p, "expected a start time H:MM with the hour 0..23");
	}
	if (p->s[p->pos] != ':')
		return bp_error(p, "expected ':' between the hour and the minutes of the start time");
	p->pos++;
	start = p->pos;
	m = bp_number(p, 2);
	if (m < 0 || m > 59 || p->pos - start != 2) {
		p->pos = start;
		return bp_error(p, "expected two digits of minutes 00..59 in the start time");
	}
	*hour = (int)h;
	*minute = (int)m;
	return 0;
}

static int bp_duration(struct bparse *p, struct blackout_window *w)
{
	static const char units[] = "dhm";
	size_t start = p->pos, at;
	int last = -1, u;
	long v, total;
	const char *up;

	w->days = w->hours = w->minutes = 0;
	for (;;) {
		at = p->pos;
		v = bp_number(p, 5);
		if (v == -1)
			break;
		if (v < 0) {
			p->pos = at;
			return bp_error(p, "duration number too large");
		}
		up = p->s[p->pos] ? strchr(units, tolower((unsigned char)p->s[p->pos])) : NULL;
		if (!up)
			return bp_error(p, "expected a unit d, h or m after the number");
		u = (int)(up - units);
		if (u <= last) {
			p->pos = at;
			return bp_error(p, "duration units must appear once each, in the order d, h, m");
		}
		last = u;
		p->pos++;
		if (u == 0)
			w->days = (int)v;
		else if (u == 1)
			w->hours = (int)v;
		else
			w->minutes = (int)v;
	}
	if (last < 0) {
		p->pos = start;
		return bp_error(p, "expected a duration such as 7h, 1d7h or 30m");
	}
	total = (long)w->days * 1440 + (long)w->hours * 60 + w->minutes;
	if (total == 0 || total > BLACKOUT_MAX_MINUTES) {
		p->pos = start;
		return bp_error(p, "duration must be more than 0 and at most 7d");
	}
	return 0;
}

int blackout_parse(const char *spec, struct blackout *b, char *err, size_t errlen)
{
	struct bparse p = { .s = spec, .err = err, .errlen = errlen };
	struct blackout_window *w;
	int ret;

	memset(b, 0, sizeof(*b));
	if (err && errlen)
		err[0] = '\0';
	bp_skip_space(&p);
	if (!spec[p.pos])
		return 0;	/* no windows */
	for (;;) {
		bp_skip_space(&p);
		if (b->nr == BLACKOUT_MAX)
			return bp_error(&p, "more than %d windows", BLACKOUT_MAX);
		w = &b->w[b->nr];
		ret = bp_day(&p, &w->wday);
		if (!ret)
			ret = bp_expect(&p, ';', "after the day");
		if (!ret)
			ret = bp_time(&p, &w->hour, &w->minute);
		if (!ret)
			ret = bp_expect(&p, ';', "after the start time");
		if (!ret)
			ret = bp_duration(&p, w);
		if (ret) {
			memset(b, 0, sizeof(*b));
			return ret;
		}
		b->nr++;
		bp_skip_space(&p);
		if (!spec[p.pos])
			return 0;
		if (spec[p.pos] != '|') {
			ret = bp_error(&p, "expected '|' between windows or the end of the list");
			memset(b, 0, sizeof(*b));
			return ret;
		}
		p.pos++;
	}
}

/* ---- evaluation in local time ---- */

/*
 * A window's start on day (base's local date + day_offset) and its end: the
 * duration added to the start's local wall-clock time.  A start that does
 * not exist (skipped by a DST switch) is moved forward by mktime, and the
 * end with it.
 */
static void window_span(const struct tm *base, int day_offset, const struct blackout_window *w,
			time_t *start, time_t *end)
{
	struct tm tm = *base;

	tm.tm_mday += day_offset;
	tm.tm_hour = w->hour;
	tm.tm_min = w->minute;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	*start = mktime(&tm);
	tm.tm_mday += w->days;
	tm.tm_hour += w->hours;
	tm.tm_min += w->minutes;
	tm.tm_isdst = -1;
	*end = mktime(&tm);
}

/* The end of a window containing t, or (time_t)-1 if none does. */
static time_t window_end_at(const struct blackout *b, time_t t)
{
	time_t best = (time_t)-1, start, end;
	const struct blackout_window *w;
	struct tm now;
	int back;
	size_t i;

	if (!localtime_r(&t, &now))
		return (time_t)-1;
	for (i = 0; i < b->nr; i++) {
		w = &b->w[i];
		/* A window started at most 7 days (plus the day itself) ago. */
		for (back = 0; back <= 8; back++) {
			if (((now.tm_wday - back) % 7 + 7) % 7 != w->wday)
				continue;
			window_span(&now, -back, w, &start, &end);
			if (start <= t && t < end && end > best)
				best = end;
		}
	}
	return best;
}

bool blackout_in_window(const struct blackout *b, time_t t)
{
	return window_end_at(b, t) != (time_t)-1;
}

time_t blackout_next_end(const struct blackout *b, time_t t)
{
	time_t end;
	int i;

	/* Windows can chain (one ends where the next starts): follow them. */
	for (i = 0; i < BLACKOUT_MAX + 1; i++) {
		end = window_end_at(b, t);
		if (end == (time_t)-1)
			return t;
		t = end;
	}
	return t;	/* the whole week is covered; the caller re-checks then */
}

time_t blackout_next_start(const struct blackout *b, time_t t)
{
	time_t best = (time_t)-1, start, end;
	struct tm now;
	int fwd;
	size_t i;

	if (!localtime_r(&t, &now))
		return (time_t)-1;
	for (i = 0; i < b->nr; i++) {
		for (fwd = 0; fwd <= 7; fwd++) {
			if ((now.tm_wday + fwd) % 7 != b->w[i].wday)
				continue;
			window_span(&now, fwd, &b->w[i], &start, &end);
			if (start >= t && (best == (time_t)-1 || start < best))
				best = start;
		}
	}
	return best;
}

void blackout_format(const struct blackout *b, char *buf, size_t len)
{
	const struct blackout_window *w;
	size_t i, off = 0;
	int n;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < b->nr && off < len; i++) {
		w = &b->w[i];
		n = snprintf(buf + off, len - off, "%s%s;%d:%02d;", i ? " | " : "",
			     day_names[w->wday], w->hour, w->minute);
		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
		if (w->days)
			off += (size_t)snprintf(buf + off, len - off, "%dd", w->days);
		if (w->hours && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%dh", w->hours);
		if (w->minutes && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%dm", w->minutes);
	}
}
