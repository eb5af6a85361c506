// SPDX-License-Identifier: GPL-2.0
/*
 * Blackout windows: the parser (good lists, and bad ones whose error must
 * name the right column), membership and window ends across days, the week
 * wrap, chained windows and both DST switches of Europe/Berlin.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blackout.h"
#include "tap.h"

/* Local time in the current TZ. */
static time_t lt(int y, int mon, int d, int h, int m)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = m, .tm_isdst = -1 };

	return mktime(&tm);
}

static void check_bad(const char *spec, int column, const char *word)
{
	struct blackout b;
	char err[256], want[32];
	int ret = blackout_parse(spec, &b, err, sizeof(err));

	snprintf(want, sizeof(want), "column %d:", column);
	tap_ok(ret < 0 && !strncmp(err, want, strlen(want)) && strstr(err, word) && b.nr == 0,
	       "bad \"%s\" -> \"%s\" (want %s ... %s)", spec, err, want, word);
}

static void test_parse(void)
{
	struct blackout b;
	char err[256], out[512];
	int ret;

	ret = blackout_parse("Monday;7:00;7h | Tuesday;8:00;1d7h | Wednesday;16:00;1d | Thursday;18:00;5h | Friday;13:00;8m",
			     &b, err, sizeof(err));
	tap_ok(ret == 0 && b.nr == 5, "the documented example parses (%s)", err);
	tap_ok(b.w[1].wday == 2 && b.w[1].hour == 8 && b.w[1].days == 1 && b.w[1].hours == 7,
	       "Tuesday;8:00;1d7h fields");
	tap_ok(b.w[4].wday == 5 && b.w[4].hour == 13 && b.w[4].minutes == 8, "Friday;13:00;8m fields");
	blackout_format(&b, out, sizeof(out));
	tap_ok(!strcmp(out, "Monday;7:00;7h | Tuesday;8:00;1d7h | Wednesday;16:00;1d | Thursday;18:00;5h | Friday;13:00;8m"),
	       "formats back: %s", out);
	tap_ok(blackout_parse("  sun ; 23:30 ; 1h30m|SAT;0:00;2d", &b, err, sizeof(err)) == 0 &&
	       b.nr == 2 && b.w[0].wday == 0 && b.w[0].minutes == 30 && b.w[1].wday == 6,
	       "abbreviations, any case, spaces");
	tap_ok(blackout_parse("", &b, err, sizeof(err)) == 0 && b.nr == 0, "empty list: no windows");
	tap_ok(blackout_parse("Mon;0:00;7d", &b, err, sizeof(err)) == 0, "7d is the longest");

	check_bad("Moonday;7:00;7h", 1, "day of the week");
	check_bad("Monday;7:00;7h | Tuesday;8:00;1d7h | Wed;16:00;1x", 49, "unit");
	check_bad("Monday 7:00;7h", 8, "';'");
	check_bad("Monday;24:00;7h", 8, "hour");
	check_bad("Monday;7:60;7h", 10, "minutes");
	check_bad("Monday;7:5;7h", 10, "minutes");
	check_bad("Monday;7:00;", 13, "duration");
	check_bad("Monday;7:00;7h1d", 15, "order");
	check_bad("Monday;7:00;8d", 13, "at most 7d");
	check_bad("Monday;7:00;0h", 13, "more than 0");
	check_bad("Monday;7:00;7h Tuesday;8:00;1h", 16, "'|'");
	check_bad("Monday;7:00;7h |", 17, "day of the week");
	check_bad("Monday;7.00;7h", 9, "':'");
}

static void test_windows(void)
{
	struct blackout b;
	char err[256];

	/* 2026-11-23 is a Monday. */
	blackout_parse("Monday;7:00;7h | Tuesday;8:00;1d7h | Sunday;22:00;4h", &b, err, sizeof(err));
	tap_ok(!blackout_in_window(&b, lt(2026, 11, 23, 6, 59)), "Mon 6:59 is outside");
	tap_ok(blackout_in_window(&b, lt(2026, 11, 23, 7, 0)), "Mon 7:00 is inside (start)");
	tap_ok(blackout_in_window(&b, lt(2026, 11, 23, 13, 59)), "Mon 13:59 is inside");
	tap_ok(!blackout_in_window(&b, lt(2026, 11, 23, 14, 0)), "Mon 14:00 is outside (end)");
	tap_eq(blackout_next_end(&b, lt(2026, 11, 23, 9, 0)), lt(2026, 11, 23, 14, 0),
	       "Mon 9:00: blackout ends 14:00");
	tap_eq(blackout_next_end(&b, lt(2026, 11, 23, 15, 0)), lt(2026, 11, 23, 15, 0),
	       "outside a window the end is now");
	/* Tuesday 8:00 + 1d7h = Wednesday 15:00: across a day. */
	tap_ok(blackout_in_window(&b, lt(2026, 11, 25, 3, 0)), "Wed 3:00 is inside Tuesday's 1d7h");
	tap_ok(blackout_in_window(&b, lt(2026, 11, 25, 14, 59)), "Wed 14:59 is inside");
	tap_ok(!blackout_in_window(&b, lt(2026, 11, 25, 15, 0)), "Wed 15:00 is outside");
	tap_ok(!blackout_in_window(&b, lt(2026, 11, 24, 7, 59)), "Tue 7:59 is outside");
	/* Sunday 22:00 + 4h wraps the week into Monday 2:00. */
	tap_ok(blackout_in_window(&b, lt(2026, 11, 29, 23, 0)), "Sun 23:00 is inside");
	tap_ok(blackout_in_window(&b, lt(2026, 11, 30, 1, 30)), "Mon 1:30 is inside (week wrap)");
	tap_eq(blackout_next_end(&b, lt(2026, 11, 30, 1, 30)), lt(2026, 11, 30, 2, 0),
	       "week wrap ends Mon 2:00");
	tap_ok(!blackout_in_window(&b, lt(2026, 11, 30, 2, 0)), "Mon 2:00 is outside");
	tap_eq(blackout_next_start(&b, lt(2026, 11, 23, 15, 0)), lt(2026, 11, 24, 8, 0),
	       "after Monday's window the next starts Tue 8:00");
	tap_eq(blackout_next_start(&b, lt(2026, 11, 30, 2, 0)), lt(2026, 11, 30, 7, 0),
	       "next start the following Monday 7:00");

	/* Chained: Friday 20:00 for 4h, Saturday 0:00 for 1d: one blackout to Sunday 0:00. */
	blackout_parse("Fri;20:00;4h | Sat;0:00;1d", &b, err, sizeof(err));
	tap_eq(blackout_next_end(&b, lt(2026, 11, 27, 21, 0)), lt(2026, 11, 29, 0, 0),
	       "chained windows end at the last one's end");
	tap_eq(blackout_next_start(&b, lt(2026, 11, 23, 0, 0)), lt(2026, 11, 27, 20, 0),
	       "no window Monday: the next start is Friday");

	blackout_parse("", &b, err, sizeof(err));
	tap_ok(!blackout_in_window(&b, lt(2026, 11, 23, 7, 0)), "no windows: never inside");
	tap_eq(blackout_next_start(&b, lt(2026, 11, 23, 7, 0)), -1, "no windows: no next start");
}

static void test_dst(void)
{
	struct blackout b;
	char err[256];
	time_t s, e;

	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	/* 2027-03-28 (Sunday): 2:00 CET -> 3:00 CEST.  Window 1:00 for 3h = 1:00..4:00 local, 2 real hours. */
	blackout_parse("Sunday;1:00;3h", &b, err, sizeof(err));
	s = lt(2027, 3, 28, 1, 0);
	e = blackout_next_end(&b, s + 60);
	tap_eq(e - s, 2 * 3600, "spring forward: 1:00..4:00 local lasts 2 real hours");
	tap_ok(blackout_in_window(&b, s + 2 * 3600 - 1), "spring forward: inside until 3:59:59 CEST");
	tap_ok(!blackout_in_window(&b, s + 2 * 3600), "spring forward: outside at 4:00 CEST");
	/* 2:30 does not exist that night; mktime moves it to 3:30 CEST, ending 4:30. */
	blackout_parse("Sunday;2:30;1h", &b, err, sizeof(err));
	tap_ok(!blackout_in_window(&b, lt(2027, 3, 28, 1, 59)), "spring forward: nonexistent 2:30 not early");
	tap_ok(blackout_in_window(&b, lt(2027, 3, 28, 3, 45)), "spring forward: nonexistent 2:30 starts 3:30");
	tap_ok(blackout_in_window(&b, lt(2027, 3, 28, 4, 29)) && !blackout_in_window(&b, lt(2027, 3, 28, 4, 30)),
	       "spring forward: a moved start keeps its duration (ends 4:30)");
	/* A normal Sunday a week earlier: 1:00..4:00 = 3 hours. */
	blackout_parse("Sunday;1:00;3h", &b, err, sizeof(err));
	s = lt(2027, 3, 21, 1, 0);
	tap_eq(blackout_next_end(&b, s) - s, 3 * 3600, "normal Sunday: 3 real hours");

	/* 2026-10-25 (Sunday): 3:00 CEST -> 2:00 CET.  1:00..4:00 local = 4 real hours. */
	s = lt(2026, 10, 25, 1, 0);
	e = blackout_next_end(&b, s);
	tap_eq(e - s, 4 * 3600, "fall back: 1:00..4:00 local lasts 4 real hours");
	tap_ok(blackout_in_window(&b, s + 3 * 3600 + 1800), "fall back: inside at 3:30 CET");
	tap_ok(!blackout_in_window(&b, e), "fall back: outside at 4:00 CET");
	/* Days across the switch: Saturday 12:00 for 1d ends Sunday 12:00 local (25 real hours). */
	blackout_parse("Sat;12:00;1d", &b, err, sizeof(err));
	s = lt(2026, 10, 24, 12, 0);
	tap_eq(blackout_next_end(&b, s) - s, 25 * 3600, "fall back: Sat 12:00 +1d = Sun 12:00 local");
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_parse();
	test_windows();
	setenv("TZ", "America/New_York", 1);
	tzset();
	test_windows();		/* the same local rules in another zone */
	test_dst();
	return tap_done();
}
