// SPDX-License-Identifier: GPL-2.0
/* Volume status files and progress arithmetic (progress.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "progress.h"

/* ---- status files ---- */

#define U64_FIELDS(X) \
	X(cycle_done_blocks) X(cycle_total_blocks) X(cycle_bytes_put) X(last_cycle) \
	X(last_bytes) X(last_blocks) X(backlog_blocks) X(bytes_total) X(cycles_ok) \
	X(cycles_failed)
#define I64_FIELDS(X) \
	X(updated_us) X(cycle_start_us) X(last_start_us) X(last_end_us) \
	X(last_duration_us) X(next_due_us)

int write_file_atomic(const char *path, void (*fill)(FILE *f, const void *arg), const void *arg)
{
	char tmp[4200];
	FILE *f;
	int fd, err = 0;

	/* ".tmp": node-exporter's textfile collector only reads names ending in .prom. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto out_unlink;
	}
	fill(f, arg);
	if (fflush(f) || ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (!err)
		return 0;
out_unlink:
	unlink(tmp);
	return err;
}

static void status_fill(FILE *f, const void *arg)
{
	const struct vol_status *s = arg;

	fprintf(f, "cbtship-volume-status 1\nname %s\nstate %s\nkind %s\ninitial_done %d\n"
		"block_size %" PRIu32 "\nlast_error %d\n",
		s->name, s->state, s->kind, s->initial_done, s->block_size, s->last_error);
#define W_U64(f_) fprintf(f, #f_ " %" PRIu64 "\n", s->f_);
#define W_I64(f_) fprintf(f, #f_ " %" PRId64 "\n", s->f_);
	U64_FIELDS(W_U64)
	I64_FIELDS(W_I64)
	if (s->store_state[0])
		fprintf(f, "store_state %s\n", s->store_state);
	if (s->group[0])
		fprintf(f, "group %s\n", s->group);
}

int status_write(const char *dir, const struct vol_status *s)
{
	char path[4096];
	int err;

	snprintf(path, sizeof(path), "%s/%s.state", dir, s->name);
	err = write_file_atomic(path, status_fill, s);
	if (err)
		log_err("cannot write status file %s: %s; check the state directory", path,
			strerror(-err));
	return err;
}

static void copy_word(char *dst, size_t len, const char *v)
{
	snprintf(dst, len, "%s", v);
}

int status_read(const char *path, struct vol_status *s)
{
	char line[512], *key, *val, *nl;
	bool magic = false;
	FILE *f;

	memset(s, 0, sizeof(*s));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		key = line;
		val = strchr(line, ' ');
		if (!val)
			continue;
		*val++ = '\0';
		if (!strcmp(key, "cbtship-volume-status"))
			magic = true;
		else if (!strcmp(key, "name"))
			copy_word(s->name, sizeof(s->name), val);
		else if (!strcmp(key, "state"))
			copy_word(s->state, sizeof(s->state), val);
		else if (!strcmp(key, "kind"))
			copy_word(s->kind, sizeof(s->kind), val);
		else if (!strcmp(key, "initial_done"))
			s->initial_done = atoi(val) != 0;
		else if (!strcmp(key, "block_size"))
			s->block_size = (uint32_t)strtoul(val, NULL, 10);
		else if (!strcmp(key, "last_error"))
			s->last_error = atoi(val);
		else if (!strcmp(key, "store_state"))
			copy_word(s->store_state, sizeof(s->store_state), val);
		else if (!strcmp(key, "group"))
			copy_word(s->group, sizeof(s->group), val);
#define R_U64(f_) else if (!strcmp(key, #f_)) s->f_ = strtoull(val, NULL, 10);
#define R_I64(f_) else if (!strcmp(key, #f_)) s->f_ = strtoll(val, NULL, 10);
		U64_FIELDS(R_U64)
		I64_FIELDS(R_I64)
	}
	fclose(f);
	return magic && s->name[0] ? 0 : -EINVAL;
}

/* ---- arithmetic ---- */

double progress_rate(uint64_t done, int64_t elapsed_us)
{
	if (elapsed_us <= 0)
		return 0;
	return (double)done * USEC_PER_SEC / (double)elapsed_us;
}

int64_t progress_eta(uint64_t done, uint64_t total, double rate)
{
	if (done >= total)
		return 0;
	if (rate <= 0)
		return -1;
	return (int64_t)((double)(total - done) / rate + 0.5);
}

int64_t progress_rpo(const struct vol_status *s, int64_t now_us)
{
	if (!s->initial_done || !s->last_start_us)
		return -1;
	return now_us > s->last_start_us ? (now_us - s->last_start_us) / USEC_PER_SEC : 0;
}

char *progress_bar(char *buf, size_t len, uint64_t done, uint64_t total, double rate_bytes,
		   int64_t eta_s, unsigned int width)
{
	char bar[256], eta[32];
	double frac = total ? (double)done / (double)total : 0;
	unsigned int i, fill;

	if (frac > 1)
		frac = 1;
	if (width > sizeof(bar) - 1)
		width = sizeof(bar) - 1;
	fill = (unsigned int)(frac * width);
	for (i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	if (eta_s < 0)
		snprintf(eta, sizeof(eta), "--:--:--");
	else
		snprintf(eta, sizeof(eta), "%" PRId64 ":%02d:%02d", eta_s / 3600,
			 (int)(eta_s / 60 % 60), (int)(eta_s % 60));
	snprintf(buf, len, "[%s] %5.1f%%  %.1f MiB/s  ETA %s", bar, frac * 100,
		 rate_bytes / 1048576.0, eta);
	return buf;
}

void progress_tty_update(void *arg, uint64_t done, uint64_t total, uint32_t block_size)
{
	struct progress_tty *p = arg;
	int64_t now = clock_now_us(clock_real());
	char line[400], out[420];
	uint64_t bytes, all;
	double rate;
	int n;

	if (!p->start_us)
		p->start_us = now;
	/* At most 4 redraws a second, and always the last one. */
	if (done < total && now - p->last_draw_us < USEC_PER_SEC / 4)
		return;
	p->last_draw_us = now;
	bytes = done * block_size;
	all = total * block_size;
	rate = progress_rate(bytes, now - p->start_us);
	progress_bar(line, sizeof(line), bytes, all, rate, progress_eta(bytes, all, rate), 30);
	n = snprintf(out, sizeof(out), "\r%s", line);
	if (n > 0 && write(p->fd, out, (size_t)n) < 0)
		return;	/* a progress bar is best effort */
}

void progress_tty_finish(struct progress_tty *p)
{
	if (p->start_us && write(p->fd, "\n", 1) < 0)
		return;
}
