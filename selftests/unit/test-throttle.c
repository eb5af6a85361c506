// SPDX-License-Identifier: GPL-2.0
/*
 * The upload throttle over a fake clock: the long-run rate matches the cap
 * (and an unlimited bucket never waits, the negative control), the cap
 * switches with working hours, concurrent takers share one cap, and the
 * config parsers accept the documented range and refuse the rest.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "throttle.h"

#define S	USEC_PER_SEC

/* Local time (TZ=UTC in this test) as us. */
static int64_t at(int y, int mon, int d, int h, int m)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = m, .tm_isdst = -1 };

	return (int64_t)mktime(&tm) * S;
}

static void test_rate(void)
{
	struct throttle_cfg cfg;
	struct cbt_clock c;
	struct throttle t;
	int64_t t0;
	int i;

	throttle_cfg_default(&cfg);
	cfg.work_bps = cfg.offwork_bps = 8000000;	/* 1 MB/s */
	clock_fake_init(&c, at(2026, 11, 23, 12, 0));
	throttle_init(&t, &cfg, &c);
	t0 = clock_now_us(&c);
	/* 100 puts of 100 kB = 10 MB at 1 MB/s: 10 s (less the initial empty bucket: none). */
	for (i = 0; i < 100; i++)
		throttle_take(&t, 100000);
	tap_eq((clock_now_us(&c) - t0 + S / 2) / S, 10, "10 MB at 8 Mbit/s take 10 s");
	tap_eq(throttle_bytes(&t), 10000000, "bytes counted");
	/* Idle for a minute: the bucket holds one second's worth at most. */
	clock_advance_us(&c, 60 * S);
	t0 = clock_now_us(&c);
	tap_eq(throttle_reserve(&t, 1000000), 0, "after idling, a 1 s burst goes at once");
	tap_eq(throttle_reserve(&t, 1000000), S, "but the next second's worth waits 1 s");
	throttle_destroy(&t);

	/* Negative control: unlimited never waits. */
	cfg.work_bps = cfg.offwork_bps = THROTTLE_UNLIMITED;
	clock_fake_init(&c, at(2026, 11, 23, 12, 0));
	throttle_init(&t, &cfg, &c);
	t0 = clock_now_us(&c);
	for (i = 0; i < 100; i++)
		throttle_take(&t, 100000000);
	tap_eq(clock_now_us(&c) - t0, 0, "unlimited: no waiting at all");
	throttle_destroy(&t);
}

static void test_hours(void)
{
	struct throttle_cfg cfg;
	struct cbt_clock c;
	struct throttle t;
	int64_t t0;

	throttle_cfg_default(&cfg);
	cfg.work_bps = 1000000;		/* 125 kB/s in working hours */
	cfg.offwork_bps = 100000000;	/* 12.5 MB/s otherwise */
	tap_ok(throttle_work_time(&cfg, at(2026, 11, 23, 8, 0) / S), "Monday 8:00 is working time");
	tap_ok(!throttle_work_time(&cfg, at(2026, 11, 23, 18, 0) / S), "Monday 18:00 is not");
	tap_ok(!throttle_work_time(&cfg, at(2026, 11, 28, 12, 0) / S), "Saturday noon is not");
	tap_eq(throttle_rate_at(&cfg, at(2026, 11, 24, 9, 0) / S), 1000000, "Tuesday 9:00: work cap");
	tap_eq(throttle_rate_at(&cfg, at(2026, 11, 24, 23, 0) / S), 100000000, "Tuesday 23:00: off-work cap");

	clock_fake_init(&c, at(2026, 11, 24, 10, 0));
	throttle_init(&t, &cfg, &c);
	t0 = clock_now_us(&c);
	throttle_take(&t, 1250000);
	tap_eq((clock_now_us(&c) - t0) / S, 10, "working hours: 1.25 MB at 1 Mbit/s wait 10 s");
	clock_fake_init(&c, at(2026, 11, 24, 20, 0));
	throttle_destroy(&t);
	throttle_init(&t, &cfg, &c);
	t0 = clock_now_us(&c);
	throttle_take(&t, 1250000);
	tap_eq((clock_now_us(&c) - t0) / 100000, 1, "evening: the same 1.25 MB wait 0.1 s");
	throttle_destroy(&t);
}

struct taker {
	struct throttle *t;
	int n;
};

static void *take_thread(void *arg)
{
	struct taker *k = arg;

	for (int i = 0; i < k->n; i++)
		throttle_take(k->t, 10000);
	return NULL;
}

static void test_threads(void)
{
	struct throttle_cfg cfg;
	struct taker k;
	pthread_t th[4];
	struct cbt_clock c;
	struct throttle t;
	int64_t t0, elapsed;
	int i;

	throttle_cfg_default(&cfg);
	cfg.work_bps = cfg.offwork_bps = 800000;	/* 100 kB/s */
	clock_fake_init(&c, at(2026, 11, 23, 12, 0));
	throttle_init(&t, &cfg, &c);
	throttle_reserve(&t, 100000);
	t0 = clock_now_us(&c);
	k.t = &t;
	k.n = 100;
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, take_thread, &k);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	elapsed = clock_now_us(&c) - t0;
	tap_eq(throttle_bytes(&t), 100000 + 4 * 100 * 10000, "every byte of four threads reserved");
	/*
	 * 4 MB at 100 kB/s is 40 s of budget.  With a fake clock each sleeper
	 * advances time by its own wait, so concurrent waits add up: at least
	 * the budget must pass (the cap holds), never less.
	 */
	tap_ok(elapsed >= 40 * S - S, "four threads together kept the cap (%.1f s for 40 s of budget)",
	       (double)elapsed / S);
	throttle_destroy(&t);
}

static void test_parsers(void)
{
	char err[256];
	uint64_t bps;
	unsigned int days;
	int a, b;

	tap_ok(!throttle_parse_rate("512k", &bps, err, sizeof(err)) && bps == 512000, "512k");
	tap_ok(!throttle_parse_rate("1023Mbit/s", &bps, err, sizeof(err)) && bps == 1023000000, "1023Mbit/s");
	tap_ok(!throttle_parse_rate("20m", &bps, err, sizeof(err)) && bps == 20000000, "20m");
	tap_ok(!throttle_parse_rate("unlimited", &bps, err, sizeof(err)) && bps == 0, "unlimited");
	tap_ok(throttle_parse_rate("511k", &bps, err, sizeof(err)) == -EINVAL && strstr(err, "range"),
	       "511k is below the range: %s", err);
	tap_ok(throttle_parse_rate("1024m", &bps, err, sizeof(err)) == -EINVAL && strstr(err, "range"),
	       "1024m is above the range");
	tap_ok(throttle_parse_rate("99999999999999999999m", &bps, err, sizeof(err)) == -EINVAL,
	       "overflow refused");
	tap_ok(throttle_parse_rate("20", &bps, err, sizeof(err)) == -EINVAL, "a unit is required");
	tap_ok(throttle_parse_rate("-5m", &bps, err, sizeof(err)) == -EINVAL, "negative refused");
	tap_ok(!throttle_parse_days("Mon-Fri", &days, err, sizeof(err)) && days == 0x3e, "Mon-Fri");
	tap_ok(!throttle_parse_days("sat, Sunday", &days, err, sizeof(err)) && days == 0x41, "sat, Sunday");
	tap_ok(!throttle_parse_days("Fri-Mon", &days, err, sizeof(err)) && days == 0x63, "Fri-Mon wraps");
	tap_ok(throttle_parse_days("Mon-Fry", &days, err, sizeof(err)) == -EINVAL && strstr(err, "column 5"),
	       "bad day named with its column: %s", err);
	tap_ok(!throttle_parse_hours("8:00-18:00", &a, &b, err, sizeof(err)) && a == 480 && b == 1080,
	       "8:00-18:00");
	tap_ok(!throttle_parse_hours("0:00-24:00", &a, &b, err, sizeof(err)) && b == 1440, "all day");
	tap_ok(throttle_parse_hours("18:00-8:00", &a, &b, err, sizeof(err)) == -EINVAL, "end before start refused");
	tap_ok(throttle_parse_hours("8-18", &a, &b, err, sizeof(err)) == -EINVAL, "minutes required");
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_rate();
	test_hours();
	test_threads();
	test_parsers();
	return tap_done();
}
