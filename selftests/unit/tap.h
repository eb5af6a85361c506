/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal TAP output for unit tests: one "ok N - what" line per check and a
 * plan at the end; tap_done() is the process exit status.
 */
#ifndef CBTSHIP_TAP_H
#define CBTSHIP_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failed;

__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

/* Each argument is evaluated exactly once. */
#define tap_eq(a, b, what) ({ \
	long long tap_a_ = (long long)(a), tap_b_ = (long long)(b); \
	tap_ok(tap_a_ == tap_b_, "%s (got %lld, want %lld)", (what), tap_a_, tap_b_); \
})

__attribute__((unused))
static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_count);
	return tap_failed ? 1 : 0;
}

#endif
