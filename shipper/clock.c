// SPDX-License-Identifier: GPL-2.0
/* The real and the fake clock (clock.h). */
#include <errno.h>
#include <time.h>

#include "clock.h"

static struct cbt_clock real_clock = { .fake = false, .lock = PTHREAD_MUTEX_INITIALIZER };

struct cbt_clock *clock_real(void)
{
	return &real_clock;
}

void clock_fake_init(struct cbt_clock *c, int64_t start_us)
{
	c->fake = true;
	pthread_mutex_init(&c->lock, NULL);
	c->fake_us = start_us;
}

int64_t clock_now_us(struct cbt_clock *c)
{
	struct timespec ts;
	int64_t t;

	if (c->fake) {
		pthread_mutex_lock(&c->lock);
		t = c->fake_us;
		pthread_mutex_unlock(&c->lock);
		return t;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

void clock_advance_us(struct cbt_clock *c, int64_t us)
{
	if (!c->fake || us <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	c->fake_us += us;
	pthread_mutex_unlock(&c->lock);
}

void clock_sleep_us(struct cbt_clock *c, int64_t us)
{
	struct timespec ts;

	if (us <= 0)
		return;
	if (c->fake) {
		clock_advance_us(c, us);
		return;
	}
	ts.tv_sec = (time_t)(us / USEC_PER_SEC);
	ts.tv_nsec = (long)(us % USEC_PER_SEC) * 1000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
