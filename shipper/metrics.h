/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Volume status for people and programs: the Prometheus text exposition
 * format (for node-exporter's textfile collector), JSON, and a table.
 * Each writes to a FILE the caller opened.
 */
#ifndef CBTSHIP_METRICS_H
#define CBTSHIP_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "progress.h"

void metrics_prometheus(FILE *f, const struct vol_status *s, size_t nr, int64_t now_us);
void metrics_json(FILE *f, const struct vol_status *s, size_t nr, int64_t now_us,
		  long daemon_pid);
void metrics_table(FILE *f, const struct vol_status *s, size_t nr, int64_t now_us);
/* Write the Prometheus text atomically to path (temporary file + rename). */
int metrics_write_file(const char *path, const struct vol_status *s, size_t nr, int64_t now_us);

#endif
