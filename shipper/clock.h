/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An injectable clock for the service parts (scheduler, blackout windows,
 * throttle, daemon): the real one reads CLOCK_REALTIME and sleeps; a fake
 * one holds a settable time and "sleeps" by advancing it, so tests cover
 * hours and days of schedule without waiting.
 */
#ifndef CBTSHIP_CLOCK_H
#define CBTSHIP_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define USEC_PER_SEC	1000000LL

struct cbt_clock {
	bool fake;
	pthread_mutex_t lock;		/* protects fake_us */
	int64_t fake_us;		/* fake wall time, microseconds since the epoch */
};

/* The process-wide real clock. */
struct cbt_clock *clock_real(void);
/* A fake clock starting at start_us (microseconds since the epoch). */
void clock_fake_init(struct cbt_clock *c, int64_t start_us);

/* Wall time in microseconds since the epoch. */
int64_t clock_now_us(struct cbt_clock *c);
/* Sleep us microseconds (a fake clock advances instead). */
void clock_sleep_us(struct cbt_clock *c, int64_t us);
/* Fake clocks only: move time forward. */
void clock_advance_us(struct cbt_clock *c, int64_t us);

#endif
