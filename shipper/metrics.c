// SPDX-License-Identifier: GPL-2.0
/* Prometheus, JSON and table renderings of volume status (metrics.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

/* Throughput of the running cycle, else of the last one; bytes/s stored. */
static double throughput(const struct vol_status *s, int64_t now_us)
{
	if (!strcmp(s->state, "running") && s->cycle_start_us)
		return progress_rate(s->cycle_bytes_put, now_us - s->cycle_start_us);
	return progress_rate(s->last_bytes, s->last_duration_us);
}

/* Initial-replication progress: read rate (bytes/s) and ETA (s, -1 unknown). */
static void initial_progress(const struct vol_status *s, int64_t now_us, double *rate,
			     int64_t *eta)
{
	uint64_t done = s->cycle_done_blocks * s->block_size;
	uint64_t total = s->cycle_total_blocks * s->block_size;

	*rate = progress_rate(done, now_us - s->cycle_start_us);
	*eta = progress_eta(done, total, *rate);
}

static bool running_initial(const struct vol_status *s)
{
	return !strcmp(s->state, "running") && !s->initial_done && s->cycle_total_blocks;
}

static double secs(int64_t us)
{
	return (double)us / USEC_PER_SEC;
}

/* ---- Prometheus ---- */

/* One sample per volume: value() < 0 with skip_negative leaves the sample out. */
struct prom_metric {
	const char *name, *type, *help;
	int decimals;
	bool skip_negative;
	double (*value)(const struct vol_status *s, int64_t now_us);
};

static double v_initial_done(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	return s->initial_done;
}

static double v_progress(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	if (!s->cycle_total_blocks || strcmp(s->state, "running"))
		return 0;
	return (double)s->cycle_done_blocks / (double)s->cycle_total_blocks;
}

static double v_rpo(const struct vol_status *s, int64_t now_us)
{
	return (double)progress_rpo(s, now_us);
}

static double v_last_end(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	return secs(s->last_end_us);
}

static double v_last_duration(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	return secs(s->last_duration_us);
}

static double v_last_bytes(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	return (double)s->last_bytes;
}

static double v_backlog(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	return (double)(s->backlog_blocks * s->block_size);
}

static double v_stored(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	return (double)s->bytes_total;
}

static double v_next_due(const struct vol_status *s, int64_t now_us)
{
	(void)now_us;
	return secs(s->next_due_us);
}

static const struct prom_metric prom_metrics[] = {
	{ "cbtship_initial_replication_done", "gauge",
	  "1 once a complete cycle is in the store", 0, false, v_initial_done },
	{ "cbtship_cycle_progress_ratio", "gauge",
	  "share of the running cycle's blocks read", 4, false, v_progress },
	{ "cbtship_recovery_point_age_seconds", "gauge",
	  "age of the newest complete recovery point (RPO); absent before the first",
	  0, true, v_rpo },
	{ "cbtship_last_cycle_end_timestamp_seconds", "gauge",
	  "when the last cycle completed", 3, false, v_last_end },
	{ "cbtship_last_cycle_duration_seconds", "gauge",
	  "how long the last cycle took", 3, false, v_last_duration },
	{ "cbtship_last_cycle_bytes", "gauge", "bytes the last cycle stored", 0, false,
	  v_last_bytes },
	{ "cbtship_backlog_bytes", "gauge", "changed data not shipped yet", 0, false, v_backlog },
	{ "cbtship_throughput_bytes_per_second", "gauge",
	  "store throughput of the running cycle, else of the last one", 0, false, throughput },
	{ "cbtship_stored_bytes_total", "counter", "bytes stored by the daemon", 0, false,
	  v_stored },
	{ "cbtship_next_cycle_timestamp_seconds", "gauge",
	  "when the next delta cycle is due", 3, false, v_next_due },
};

static void prom_help(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_prometheus(FILE *f, const struct vol_status *s, size_t nr, int64_t now_us)
{
	static const char *const states[] = {
		"waiting", "queued", "blackout", "running", "error", "stopped",
	};
	const struct prom_metric *m;
	size_t i, j;
	double v;

	prom_help(f, "cbtship_volume_state", "gauge", "1 for the volume's current state");
	for (i = 0; i < nr; i++)
		for (j = 0; j < sizeof(states) / sizeof(states[0]); j++)
			fprintf(f, "cbtship_volume_state{volume=\"%s\",state=\"%s\"} %d\n",
				s[i].name, states[j], !strcmp(s[i].state, states[j]));
	prom_help(f, "cbtship_volume_store_state", "gauge",
		  "1 for the volume's state in the store (vol-state.h), as last read");
	for (i = 0; i < nr; i++)
		if (s[i].store_state[0] && strcmp(s[i].store_state, "-"))
			fprintf(f, "cbtship_volume_store_state{volume=\"%s\",state=\"%s\"} 1\n",
				s[i].name, s[i].store_state);
	prom_help(f, "cbtship_volume_group", "gauge",
		  "1 for the consistency group the volume belongs to");
	for (i = 0; i < nr; i++)
		if (s[i].group[0])
			fprintf(f, "cbtship_volume_group{volume=\"%s\",group=\"%s\"} 1\n",
				s[i].name, s[i].group);
	for (j = 0; j < sizeof(prom_metrics) / sizeof(prom_metrics[0]); j++) {
		m = &prom_metrics[j];
		prom_help(f, m->name, m->type, m->help);
		for (i = 0; i < nr; i++) {
			v = m->value(&s[i], now_us);
			if (m->skip_negative && v < 0)
				continue;
			fprintf(f, "%s{volume=\"%s\"} %.*f\n", m->name, s[i].name, m->decimals, v);
		}
	}
	prom_help(f, "cbtship_cycles_total", "counter", "cycles run, by result");
	for (i = 0; i < nr; i++)
		fprintf(f, "cbtship_cycles_total{volume=\"%s\",result=\"ok\"} %" PRIu64 "\n"
			"cbtship_cycles_total{volume=\"%s\",result=\"failed\"} %" PRIu64 "\n",
			s[i].name, s[i].cycles_ok, s[i].name, s[i].cycles_failed);
}

struct prom_args {
	const struct vol_status *s;
	size_t nr;
	int64_t now_us;
};

static void prom_fill(FILE *f, const void *arg)
{
	const struct prom_args *a = arg;

	metrics_prometheus(f, a->s, a->nr, a->now_us);
}

int metrics_write_file(const char *path, const struct vol_status *s, size_t nr, int64_t now_us)
{
	struct prom_args a = { .s = s, .nr = nr, .now_us = now_us };
	int err = write_file_atomic(path, prom_fill, &a);

	if (err)
		log_err("cannot write metrics file %s: %s; check metrics_file in the configuration",
			path, strerror(-err));
	return err;
}

/* ---- JSON ---- */

static void json_string(FILE *f, const char *str)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void metrics_json(FILE *f, const struct vol_status *s, size_t nr, int64_t now_us,
		  long daemon_pid)
{
	const struct vol_status *v;
	double rate;
	int64_t eta;
	size_t i;

	fprintf(f, "{\"time\":%.3f,\"daemon_pid\":%ld,\"volumes\":[", secs(now_us), daemon_pid);
	for (i = 0; i < nr; i++) {
		v = &s[i];
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_string(f, v->name);
		fputs(",\"state\":", f);
		json_string(f, v->state);
		fputs(",\"kind\":", f);
		json_string(f, v->kind);
		fprintf(f, ",\"initial_done\":%s", v->initial_done ? "true" : "false");
		fputs(",\"store_state\":", f);
		if (v->store_state[0])
			json_string(f, v->store_state);
		else
			fputs("null", f);
		fputs(",\"group\":", f);
		if (v->group[0])
			json_string(f, v->group);
		else
			fputs("null", f);
		if (running_initial(v)) {
			initial_progress(v, now_us, &rate, &eta);
			fprintf(f, ",\"initial\":{\"done_bytes\":%" PRIu64 ",\"total_bytes\":%" PRIu64
				",\"rate_bytes_per_second\":%.0f,\"eta_seconds\":%" PRId64 "}",
				v->cycle_done_blocks * v->block_size,
				v->cycle_total_blocks * v->block_size, rate, eta);
		}
		if (v->last_end_us)
			fprintf(f, ",\"last_cycle\":{\"cycle\":%" PRIu64 ",\"start\":%.3f,\"end\":%.3f"
				",\"duration_seconds\":%.3f,\"bytes\":%" PRIu64 ",\"blocks\":%" PRIu64 "}",
				v->last_cycle, secs(v->last_start_us), secs(v->last_end_us),
				secs(v->last_duration_us), v->last_bytes, v->last_blocks);
		fprintf(f, ",\"backlog_bytes\":%" PRIu64 ",\"rpo_seconds\":%" PRId64
			",\"throughput_bytes_per_second\":%.0f,\"stored_bytes_total\":%" PRIu64
			",\"cycles_ok\":%" PRIu64 ",\"cycles_failed\":%" PRIu64
			",\"next_due\":%.3f,\"last_error\":%d,\"updated\":%.3f}",
			v->backlog_blocks * v->block_size, progress_rpo(v, now_us),
			throughput(v, now_us), v->bytes_total, v->cycles_ok, v->cycles_failed,
			secs(v->next_due_us), v->last_error, secs(v->updated_us));
	}
	fputs("]}\n", f);
}

/* ---- table ---- */

static void fmt_age(char *buf, size_t len, int64_t s)
{
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s < 120)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 7200)
		snprintf(buf, len, "%" PRId64 "m", s / 60);
	else
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
}

void metrics_table(FILE *f, const struct vol_status *s, size_t nr, int64_t now_us)
{
	char rpo[32], last[64], prog[128], when[32];
	const struct vol_status *v;
	struct tm tm;
	time_t t;
	double rate;
	int64_t eta;
	size_t i;

	fprintf(f, "%-20s %-9s %-9s %7s %-36s %10s %10s  %-26s %-12s %s\n", "VOLUME", "STATE",
		"KIND", "RPO", "LAST CYCLE", "BACKLOG", "MiB/s", "STORE STATE", "GROUP", "PROGRESS");
	for (i = 0; i < nr; i++) {
		v = &s[i];
		fmt_age(rpo, sizeof(rpo), progress_rpo(v, now_us));
		if (v->last_end_us) {
			t = (time_t)(v->last_end_us / USEC_PER_SEC);
			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%m-%d %H:%M:%S", &tm);
			snprintf(last, sizeof(last), "#%" PRIu64 " %s %.1fs %.1fMiB", v->last_cycle,
				 when, secs(v->last_duration_us), v->last_bytes / 1048576.0);
		} else {
			snprintf(last, sizeof(last), "-");
		}
		prog[0] = '\0';
		if (running_initial(v)) {
			initial_progress(v, now_us, &rate, &eta);
			progress_bar(prog, sizeof(prog), v->cycle_done_blocks, v->cycle_total_blocks,
				     rate, eta, 20);
		}
		fprintf(f, "%-20s %-9s %-9s %7s %-36s %9.1fM %10.1f  %-26s %-12s %s\n", v->name,
			v->state, v->kind, rpo, last,
			(double)(v->backlog_blocks * v->block_size) / 1048576.0,
			throughput(v, now_us) / 1048576.0,
			v->store_state[0] ? v->store_state : "-", v->group[0] ? v->group : "-", prog);
	}
}
