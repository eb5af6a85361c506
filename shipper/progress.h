/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the daemon knows about each volume, as written to (and read back
 * from) its status file STATE_DIR/service/NAME.state ("key value" lines),
 * plus the arithmetic of progress: rate, ETA, recovery point age and a
 * text progress bar for a terminal.
 */
#ifndef CBTSHIP_PROGRESS_H
#define CBTSHIP_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STATUS_SUBDIR	"service"

struct vol_status {
	char name[128];
	char state[16];		/* waiting, queued, blackout, running, error, stopped */
	char kind[16];		/* the running or next cycle: on-demand, initial, delta */
	bool initial_done;	/* a complete cycle is in the store */
	int64_t updated_us;	/* when this record was written */
	/* The running cycle (state running): */
	int64_t cycle_start_us;
	uint64_t cycle_done_blocks;
	uint64_t cycle_total_blocks;
	uint64_t cycle_bytes_put;
	/* The last completed cycle: */
	uint64_t last_cycle;	/* store cycle number */
	int64_t last_start_us;	/* also the recovery point: data as of the freeze */
	int64_t last_end_us;
	int64_t last_duration_us;
	uint64_t last_bytes;	/* stored (compressed, encrypted) */
	uint64_t last_blocks;
	/* Totals and outlook: */
	uint32_t block_size;	/* 0 until known */
	uint64_t backlog_blocks;	/* changed and not yet shipped */
	uint64_t bytes_total;	/* stored by this daemon since the volume was added */
	uint64_t cycles_ok, cycles_failed;
	int64_t next_due_us;
	int last_error;		/* -errno of the last failed cycle, 0 after a success */
	/* The store's volume state (vol-state.h) as the last cycle read it; "" unknown. */
	char store_state[32];
	/* Its consistency group ([group NAME] in the configuration); "" = none. */
	char group[32];
};

/*
 * Write path atomically: fill writes the content to a temporary file
 * (path.tmp) that is then renamed over path.  0 or -errno (not logged).
 */
int write_file_atomic(const char *path, void (*fill)(FILE *f, const void *arg), const void *arg);
/* Write atomically as DIR/NAME.state. */
int status_write(const char *dir, const struct vol_status *s);
/* Read one status file; -ENOENT, -EINVAL (not a status file). */
int status_read(const char *path, struct vol_status *s);

/* Bytes per second over elapsed_us; 0 if nothing elapsed. */
double progress_rate(uint64_t done, int64_t elapsed_us);
/* Seconds left at rate for (total - done); -1 if unknown. */
int64_t progress_eta(uint64_t done, uint64_t total, double rate);
/* The recovery point's age in seconds at now_us; -1 if there is none. */
int64_t progress_rpo(const struct vol_status *s, int64_t now_us);

/*
 * "[#####.....]  42.0%  12.3 MiB/s  ETA 0:01:05" into buf, the bar width
 * columns wide.  Returns buf.
 */
char *progress_bar(char *buf, size_t len, uint64_t done, uint64_t total, double rate_bytes,
		   int64_t eta_s, unsigned int width);

/* A TTY progress bar for a foreground cycle: pass as replicate hooks' progress. */
struct progress_tty {
	int fd;
	int64_t start_us;
	int64_t last_draw_us;
};

void progress_tty_update(void *arg, uint64_t done, uint64_t total, uint32_t block_size);
void progress_tty_finish(struct progress_tty *p);

#endif
