/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cbtship daemon: replicates every volume of a configuration file under
 * the scheduler (schedule.h), one worker thread per volume and a main loop
 * that decides what starts when.  Uploads share one throttle.  The state
 * of each volume is kept in STATE_DIR/service/NAME.state, so a restart
 * resumes the schedule, and a Prometheus textfile is rewritten as it
 * changes.
 *
 * Requests arrive asynchronously (signal handlers): reload re-reads the
 * configuration (added volumes start, removed ones stop after their running
 * cycle, changed ones are reopened after it); stop interrupts running
 * cycles, which merge their changes back into tracking (replicate.h), and
 * makes daemon_run() return.
 */
#ifndef CBTSHIP_DAEMON_H
#define CBTSHIP_DAEMON_H

#include "clock.h"

struct daemon;

/* Load the configuration, create the state directory; errors are logged. */
int daemon_create(const char *config_path, struct cbt_clock *clock, struct daemon **out);
/* Run until daemon_request_stop(); 0 or -errno. */
int daemon_run(struct daemon *d);
void daemon_destroy(struct daemon *d);
/* STATE_DIR/service: status files, daemon.pid, on-demand triggers. */
const char *daemon_status_dir(const struct daemon *d);

/*
 * Tests: called by a volume's worker thread right before a cycle starts
 * and right after it ended, with no lock held (cycle_begin may block to
 * hold the cycle).  Set before daemon_run(); NULL hooks = none.
 */
struct daemon_test_hooks {
	void *arg;
	void (*cycle_begin)(void *arg, const char *volume);
	void (*cycle_end)(void *arg, const char *volume);
};
void daemon_set_test_hooks(struct daemon *d, const struct daemon_test_hooks *h);

/* Async-signal-safe requests. */
void daemon_request_stop(struct daemon *d);
void daemon_request_reload(struct daemon *d);

#endif
