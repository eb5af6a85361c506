// SPDX-License-Identifier: GPL-2.0
/* The configuration file parser (config.h, docs/CONFIG.md). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azure-client.h"
#include "config.h"
#include "format.h"
#include "fs-guard.h"
#include "log.h"
#include "schedule.h"

struct cparse {
	const char *fname;
	unsigned int line;
	char *err;
	size_t errlen;
	struct cbt_config *cfg;
	struct volume_config *vol;	/* current section; NULL = [global] or grp */
	struct group_config *grp;	/* current [group] section */
	bool seen_global;
};

__attribute__((format(printf, 3, 4)))
static int cp_error(struct cparse *p, size_t col, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "%s:%u:%zu: %s", p->fname, p->line, col, msg);
	return -EINVAL;
}

int config_parse_duration(const char *s, int64_t *us)
{
	static const struct { char unit; int64_t secs; } units[] = {
		{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	int64_t total = 0, v;
	size_t u = 0, i;
	const char *p = s;

	if (!strcmp(s, "0")) {
		*us = 0;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		v = 0;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			if (v > 1000000)
				return -EINVAL;
		}
		for (i = u; i < 4 && units[i].unit != tolower((unsigned char)*p); i++)
			;
		if (i == 4)
			return -EINVAL;	/* no unit, unknown unit or out of order */
		total += v * units[i].secs;
		u = i + 1;
		p++;
	}
	if (total > 366LL * 86400)
		return -EINVAL;
	*us = total * 1000000;
	return 0;
}

static int set_string(struct cparse *p, char **field, const char *value, size_t col)
{
	if (!*value)
		return cp_error(p, col, "empty value");
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

static int parse_uint(struct cparse *p, const char *value, size_t col, unsigned long min,
		      unsigned long max, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || !isdigit((unsigned char)*value) || v < min || v > max)
		return cp_error(p, col, "expected a number from %lu to %lu", min, max);
	*out = (unsigned int)v;
	return 0;
}

static int parse_bool(struct cparse *p, const char *value, size_t col, bool *out)
{
	if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0")) {
		*out = false;
		return 0;
	}
	return cp_error(p, col, "expected yes or no");
}

/*
 * A file holding a secret (Azure account key, SAS token): it must exist,
 * be a regular file and be neither readable nor writable by group or
 * others, as key files (key.c).  Checked here too so that the mistake is
 * reported at its place in the configuration, not at the first upload.
 */
static int secret_file(struct cparse *p, char **field, const char *value, size_t col)
{
	struct stat st;

	if (!*value)
		return cp_error(p, col, "empty value");
	if (stat(value, &st) < 0)
		return cp_error(p, col, "cannot use %s: %s", value, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cp_error(p, col, "%s is not a regular file", value);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return cp_error(p, col, "%s is %s by others (mode %04o); run: chmod 600 %s", value,
				st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "writable",
				(unsigned int)(st.st_mode & 07777), value);
	return set_string(p, field, value, col);
}

static int parse_interval(struct cparse *p, const char *value, size_t col, int64_t *out)
{
	if (!strcmp(value, "continuous")) {
		*out = 0;
		return 0;
	}
	if (config_parse_duration(value, out))
		return cp_error(p, col, "expected a duration such as 1h, 15m, 90s, or 'continuous'");
	return 0;
}

static int parse_blackout(struct cparse *p, const char *value, size_t col, struct blackout *b)
{
	char msg[256];
	unsigned long c;

	if (!strcmp(value, "none")) {
		memset(b, 0, sizeof(*b));
		return 0;
	}
	if (!blackout_parse(value, b, msg, sizeof(msg)))
		return 0;
	/* "column N: ..." is relative to the value: make it the line's. */
	if (sscanf(msg, "column %lu:", &c) == 1)
		return cp_error(p, col + c - 1, "blackout%s", strchr(msg, ':'));
	return cp_error(p, col, "blackout: %s", msg);
}

static int global_key(struct cparse *p, const char *key, const char *value, size_t col)
{
	struct cbt_config *cfg = p->cfg;
	char msg[256];

	if (!strcmp(key, "state_dir"))
		return set_string(p, &cfg->state_dir, value, col);
	if (!strcmp(key, "metrics_file"))
		return set_string(p, &cfg->metrics_file, value, col);
	if (!strcmp(key, "parallel"))
		return parse_uint(p, value, col, 1, 1024, &cfg->parallel);
	if (!strcmp(key, "min_interval"))
		return parse_interval(p, value, col, &cfg->min_interval);
	if (!strcmp(key, "poll")) {
		if (config_parse_duration(value, &cfg->poll) || cfg->poll < 1000000)
			return cp_error(p, col, "expected a duration of at least 1s, such as 10s");
		return 0;
	}
	if (!strcmp(key, "blackout"))
		return parse_blackout(p, value, col, &cfg->blackout);
	if (!strcmp(key, "throttle_work") || !strcmp(key, "throttle_offwork") ||
	    !strcmp(key, "throttle")) {
		uint64_t bps;

		if (throttle_parse_rate(value, &bps, msg, sizeof(msg)))
			return cp_error(p, col, "%s", msg);
		if (strcmp(key, "throttle_offwork"))
			cfg->throttle.work_bps = bps;
		if (strcmp(key, "throttle_work"))
			cfg->throttle.offwork_bps = bps;
		return 0;
	}
	if (!strcmp(key, "work_days")) {
		if (throttle_parse_days(value, &cfg->throttle.work_days, msg, sizeof(msg)))
			return cp_error(p, col, "%s", msg);
		return 0;
	}
	if (!strcmp(key, "work_hours")) {
		if (throttle_parse_hours(value, &cfg->throttle.work_start, &cfg->throttle.work_end,
					 msg, sizeof(msg)))
			return cp_error(p, col, "%s", msg);
		return 0;
	}
	return cp_error(p, 1, "unknown key '%s' in [global] (see docs/CONFIG.md)", key);
}

static int volume_key(struct cparse *p, const char *key, const char *value, size_t col)
{
	struct volume_config *v = p->vol;
	unsigned int n;
	int err;

	if (!strcmp(key, "device"))
		return set_string(p, &v->device, value, col);
	if (!strcmp(key, "store"))
		return set_string(p, &v->store, value, col);
	if (!strcmp(key, "key"))
		return set_string(p, &v->key, value, col);
	if (!strcmp(key, "fake_state"))
		return set_string(p, &v->fake_state, value, col);
	if (!strcmp(key, "min_interval"))
		return parse_interval(p, value, col, &v->min_interval);
	if (!strcmp(key, "blackout")) {
		v->has_blackout = true;
		return parse_blackout(p, value, col, &v->blackout);
	}
	if (!strcmp(key, "codec")) {
		if (!strcmp(value, "zstd"))
			v->writer.codec = CODEC_ZSTD;
		else if (!strcmp(value, "zlib"))
			v->writer.codec = CODEC_ZLIB;
		else if (!strcmp(value, "none"))
			v->writer.codec = CODEC_NONE;
		else
			return cp_error(p, col, "unknown codec '%s': use zstd, zlib or none", value);
		return 0;
	}
	if (!strcmp(key, "level")) {
		err = parse_uint(p, value, col, 0, 22, &n);
		v->writer.level = (int)n;
		return err;
	}
	if (!strcmp(key, "workers"))
		return parse_uint(p, value, col, 0, 256, &v->writer.workers);
	if (!strcmp(key, "azure_key_file"))
		return secret_file(p, &v->azure_key_file, value, col);
	if (!strcmp(key, "azure_sas_file"))
		return secret_file(p, &v->azure_sas_file, value, col);
	if (!strcmp(key, "ca_file"))
		return set_string(p, &v->ca_file, value, col);
	if (!strcmp(key, "endpoint"))
		return set_string(p, &v->endpoint, value, col);
	if (!strcmp(key, "snapshot_origin"))
		return cp_error(p, 1, "snapshot_origin is gone: users write to the dm-cbt device (device) itself, and each cycle slides its snapshot-origin under it; remove the origin device and this line, keep snapshot_cow (docs/CONSISTENCY.md)");
	if (!strcmp(key, "snapshot_cow"))
		return set_string(p, &v->snapshot_cow, value, col);
	if (!strcmp(key, "hook"))
		return set_string(p, &v->hook, value, col);
	if (!strcmp(key, "fsfreeze"))
		return set_string(p, &v->fsfreeze, value, col);
	if (!strcmp(key, "hook_timeout"))
		return parse_uint(p, value, col, 1, 3600, &v->hook_timeout);
	if (!strcmp(key, "app_interval"))
		return parse_uint(p, value, col, 0, 7 * 24 * 3600, &v->app_interval);
	if (!strcmp(key, "fsfreeze_timeout"))
		return parse_uint(p, value, col, 1, FS_GUARD_TIMEOUT_MAX, &v->fsfreeze_timeout);
	if (!strcmp(key, "allow_http"))
		return parse_bool(p, value, col, &v->allow_http);
	if (!strcmp(key, "streams"))
		return parse_uint(p, value, col, 1, AZURE_MAX_STREAMS, &v->streams);
	return cp_error(p, 1, "unknown key '%s' in [volume %s] (see docs/CONFIG.md)", key, v->name);
}

/* volumes = NAME NAME ...: names are checked once every section is read. */
static int group_members(struct cparse *p, char *value, size_t col)
{
	struct group_config *g = p->grp;
	char *s = value, *name;
	size_t i;

	for (i = 0; i < g->nr_member; i++)
		free(g->member[i]);
	g->nr_member = 0;
	g->member_line = p->line;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!*s)
			break;
		name = s;
		while (*s && *s != ' ' && *s != '\t' && *s != ',')
			s++;
		if (*s)
			*s++ = '\0';
		if (g->nr_member == CONFIG_GROUP_MAX)
			return cp_error(p, col + (size_t)(name - value),
					"more than %d volumes in group %s", CONFIG_GROUP_MAX, g->name);
		for (i = 0; i < g->nr_member; i++)
			if (!strcmp(g->member[i], name))
				return cp_error(p, col + (size_t)(name - value),
						"volume '%s' is named twice in group %s", name, g->name);
		g->member[g->nr_member] = strdup(name);
		if (!g->member[g->nr_member])
			return -ENOMEM;
		g->member_col[g->nr_member++] = (unsigned int)(col + (size_t)(name - value));
	}
	if (g->nr_member < 2)
		return cp_error(p, col, "a group needs at least two volumes, separated by spaces");
	return 0;
}

static int group_key(struct cparse *p, const char *key, char *value, size_t col)
{
	struct group_config *g = p->grp;

	if (!strcmp(key, "volumes"))
		return group_members(p, value, col);
	if (!strcmp(key, "min_interval"))
		return parse_interval(p, value, col, &g->min_interval);
	if (!strcmp(key, "blackout")) {
		g->has_blackout = true;
		return parse_blackout(p, value, col, &g->blackout);
	}
	if (!strcmp(key, "hook"))
		return set_string(p, &g->hook, value, col);
	if (!strcmp(key, "fsfreeze"))
		return set_string(p, &g->fsfreeze, value, col);
	if (!strcmp(key, "hook_timeout"))
		return parse_uint(p, value, col, 1, 3600, &g->hook_timeout);
	if (!strcmp(key, "app_interval"))
		return parse_uint(p, value, col, 0, 7 * 24 * 3600, &g->app_interval);
	if (!strcmp(key, "fsfreeze_timeout"))
		return parse_uint(p, value, col, 1, FS_GUARD_TIMEOUT_MAX, &g->fsfreeze_timeout);
	return cp_error(p, 1, "unknown key '%s' in [group %s] (see docs/CONFIG.md)", key, g->name);
}

/* A section's NAME (at column col) for a KIND of at most max bytes. */
static int section_name(struct cparse *p, const char *kind, const char *name, size_t col,
			size_t max)
{
	if (strlen(name) > max || !fmt_volume_name_ok(name))
		return cp_error(p, col,
				"invalid %s name '%s': letters, digits, '.', '_' and '-', at most %zu bytes, not starting with '.'",
				kind, name, max);
	return 0;
}

static int group_section(struct cparse *p, const char *s, const char *name, size_t col)
{
	struct cbt_config *cfg = p->cfg;
	struct group_config *g, *ng;
	size_t i;

	if (section_name(p, "group", name, col + (size_t)(name - s), FMT_GROUP_NAME_MAX))
		return -EINVAL;
	for (i = 0; i < cfg->nr_group; i++)
		if (!strcmp(cfg->group[i].name, name))
			return cp_error(p, col + (size_t)(name - s),
					"group '%s' is already defined at line %u", name,
					cfg->group[i].line);
	if (cfg->nr_group == CONFIG_MAX_VOLUMES)
		return cp_error(p, col, "more than %d groups", CONFIG_MAX_VOLUMES);
	ng = realloc(cfg->group, (cfg->nr_group + 1) * sizeof(*ng));
	if (!ng)
		return -ENOMEM;
	cfg->group = ng;
	g = &cfg->group[cfg->nr_group++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->min_interval = -1;
	g->line = p->line;
	p->grp = g;
	p->vol = NULL;
	return 0;
}

static int section(struct cparse *p, char *s, size_t col)
{
	struct cbt_config *cfg = p->cfg;
	struct volume_config *v, *nv;
	char *end = strchr(s, ']'), *name;
	size_t i;

	if (!end)
		return cp_error(p, col + strlen(s), "expected ']' to close the section header");
	if (end[1])
		return cp_error(p, col + (size_t)(end - s) + 1, "unexpected text after ']'");
	*end = '\0';
	if (!strcmp(s + 1, "global")) {
		if (p->seen_global || cfg->nr_vol || cfg->nr_group)
			return cp_error(p, col, "[global] must come first and only once");
		p->seen_global = true;
		p->vol = NULL;
		return 0;
	}
	if (!strncmp(s + 1, "group ", 6)) {
		name = s + 7;
		while (*name == ' ')
			name++;
		return group_section(p, s, name, col);
	}
	if (strncmp(s + 1, "volume ", 7))
		return cp_error(p, col + 1, "expected [global], [volume NAME] or [group NAME]");
	name = s + 8;
	while (*name == ' ')
		name++;
	if (section_name(p, "volume", name, col + (size_t)(name - s), VSTORE_NAME_MAX))
		return -EINVAL;
	for (i = 0; i < cfg->nr_vol; i++)
		if (!strcmp(cfg->vol[i].name, name))
			return cp_error(p, col + (size_t)(name - s),
					"volume '%s' is already defined at line %u", name,
					cfg->vol[i].line);
	if (cfg->nr_vol == CONFIG_MAX_VOLUMES)
		return cp_error(p, col, "more than %d volumes", CONFIG_MAX_VOLUMES);
	nv = realloc(cfg->vol, (cfg->nr_vol + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	cfg->vol = nv;
	v = &cfg->vol[cfg->nr_vol++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->min_interval = -1;
	v->writer.codec = CODEC_ZSTD;
	v->line = p->line;
	p->vol = v;
	p->grp = NULL;
	return 0;
}

static char *trim_right(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int parse_line(struct cparse *p, char *line)
{
	char *s = line, *eq, *key, *value;
	size_t col;

	while (*s == ' ' || *s == '\t')
		s++;
	trim_right(s);
	if (!*s || *s == '#' || *s == ';')
		return 0;
	col = (size_t)(s - line) + 1;
	if (*s == '[')
		return section(p, s, col);
	eq = strchr(s, '=');
	if (!eq)
		return cp_error(p, col, "expected 'key = value', a [section] or a # comment");
	key = s;
	*eq = '\0';
	trim_right(key);
	if (!*key)
		return cp_error(p, col, "missing key before '='");
	for (char *k = key; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return cp_error(p, col + (size_t)(k - key), "invalid character in key");
	value = eq + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (!p->vol && !p->grp && !p->seen_global && !p->cfg->nr_vol)
		p->seen_global = true;	/* keys before any section are global */
	col = (size_t)(value - line) + 1;
	if (p->grp)
		return group_key(p, key, value, col);
	return p->vol ? volume_key(p, key, value, col) : global_key(p, key, value, col);
}

static int check_volumes(struct cparse *p)
{
	struct volume_config *v;
	size_t i;

	for (i = 0; i < p->cfg->nr_vol; i++) {
		v = &p->cfg->vol[i];
		p->line = v->line;
		if (!v->device || !v->store || !v->key)
			return cp_error(p, 1, "[volume %s] needs device, store and key", v->name);
		if (v->azure_key_file && v->azure_sas_file)
			return cp_error(p, 1, "[volume %s] has both azure_key_file and azure_sas_file: keep one",
					v->name);
		if (v->writer.codec == CODEC_ZSTD && !v->writer.level)
			v->writer.level = 1;
	}
	return 0;
}

static struct volume_config *volume_named(struct cbt_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nr_vol; i++)
		if (!strcmp(cfg->vol[i].name, name))
			return &cfg->vol[i];
	return NULL;
}

/* A member's own setting that only its group may have. */
static const char *member_own_setting(const struct volume_config *v)
{
	if (v->min_interval >= 0)
		return "min_interval";
	if (v->has_blackout)
		return "blackout";
	if (v->hook)
		return "hook";
	if (v->fsfreeze)
		return "fsfreeze";
	if (v->hook_timeout)
		return "hook_timeout";
	if (v->app_interval)
		return "app_interval";
	if (v->fsfreeze_timeout)
		return "fsfreeze_timeout";
	return NULL;
}

/* After every section: resolve the groups' volumes and check that they can work together. */
static int check_groups(struct cparse *p)
{
	struct cbt_config *cfg = p->cfg;
	struct volume_config *v;
	struct group_config *g;
	const char *own;
	size_t i, j;

	for (i = 0; i < cfg->nr_group; i++) {
		g = &cfg->group[i];
		p->line = g->line;
		if (!g->nr_member)
			return cp_error(p, 1, "[group %s] needs volumes = NAME NAME ...", g->name);
		p->line = g->member_line;
		if (g->nr_member > cfg->parallel)
			return cp_error(p, g->member_col[0],
					"group %s has %zu volumes but parallel is %u: a group's volumes run at once, so raise parallel",
					g->name, g->nr_member, cfg->parallel);
		for (j = 0; j < g->nr_member; j++) {
			p->line = g->member_line;
			v = volume_named(cfg, g->member[j]);
			if (!v)
				return cp_error(p, g->member_col[j],
						"group %s names volume '%s', which has no [volume %s] section",
						g->name, g->member[j], g->member[j]);
			if (v->group[0])
				return cp_error(p, g->member_col[j],
						"volume '%s' is already in group %s: a volume can be in one group only",
						v->name, v->group);
			snprintf(v->group, sizeof(v->group), "%s", g->name);
			p->line = v->line;
			own = member_own_setting(v);
			if (own)
				return cp_error(p, 1, "[volume %s] is in group %s, which is scheduled and frozen as one: set %s in [group %s], not in the volume",
						v->name, g->name, own, g->name);
			/* Fake sources (tests) take a plain group freeze. */
			if (!v->snapshot_cow && !v->fake_state)
				return cp_error(p, 1, "[volume %s] is in group %s but has no snapshot_cow: a group's volumes are read from snapshots taken at one instant (docs/CONSISTENCY.md)",
						v->name, g->name);
		}
	}
	return 0;
}

int config_parse(const char *text, const char *fname, struct cbt_config *cfg,
		 char *err, size_t errlen)
{
	struct cparse p = { .fname = fname, .err = err, .errlen = errlen, .cfg = cfg };
	const char *s = text, *nl;
	char *line;
	size_t len;
	int ret = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen)
		err[0] = '\0';
	cfg->parallel = SCHED_DEFAULT_PARALLEL;
	cfg->min_interval = SCHED_DEFAULT_MIN_INTERVAL;
	cfg->poll = 10 * 1000000LL;
	throttle_cfg_default(&cfg->throttle);
	while (*s && !ret) {
		p.line++;
		nl = strchr(s, '\n');
		len = nl ? (size_t)(nl - s) : strlen(s);
		line = strndup(s, len);
		if (!line) {
			ret = -ENOMEM;
			break;
		}
		if (strlen(line) != len)
			ret = cp_error(&p, strlen(line) + 1, "NUL byte in the file");
		else
			ret = parse_line(&p, line);
		free(line);
		s = nl ? nl + 1 : s + len;
	}
	if (!ret)
		ret = check_volumes(&p);
	if (!ret)
		ret = check_groups(&p);
	if (!ret && !cfg->state_dir) {
		cfg->state_dir = strdup(CONFIG_DEFAULT_STATE);
		if (!cfg->state_dir)
			ret = -ENOMEM;
	}
	if (ret) {
		if (ret == -ENOMEM && err && errlen)
			snprintf(err, errlen, "%s: out of memory", fname);
		config_free(cfg);
	}
	return ret;
}

int config_load(const char *path, struct cbt_config *cfg)
{
	char err[512], *buf = NULL;
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot open config file %s: %s; give another with --config (format: docs/CONFIG.md)",
			path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		log_err("%s: not a regular file of at most %d bytes", path, CONFIG_MAX_BYTES);
		ret = -EFBIG;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out_close;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		ret = -errno;
		log_err("cannot read %s: %s", path, strerror(-ret));
		goto out_free;
	}
	buf[n] = '\0';
	ret = config_parse(buf, path, cfg, err, sizeof(err));
	if (ret)
		log_err("%s; fix the configuration (see docs/CONFIG.md)", err);
out_free:
	free(buf);
out_close:
	close(fd);
	return ret;
}

void config_volume_free(struct volume_config *v)
{
	free(v->device);
	free(v->store);
	free(v->key);
	free(v->fake_state);
	free(v->azure_key_file);
	free(v->azure_sas_file);
	free(v->ca_file);
	free(v->endpoint);
	free(v->snapshot_cow);
	free(v->hook);
	free(v->fsfreeze);
	memset(v, 0, sizeof(*v));
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int config_volume_copy(struct volume_config *dst, const struct volume_config *src)
{
	int err = 0;

	*dst = *src;
	err |= dup_opt(&dst->device, src->device);
	err |= dup_opt(&dst->store, src->store);
	err |= dup_opt(&dst->key, src->key);
	err |= dup_opt(&dst->fake_state, src->fake_state);
	err |= dup_opt(&dst->azure_key_file, src->azure_key_file);
	err |= dup_opt(&dst->azure_sas_file, src->azure_sas_file);
	err |= dup_opt(&dst->ca_file, src->ca_file);
	err |= dup_opt(&dst->endpoint, src->endpoint);
	err |= dup_opt(&dst->snapshot_cow, src->snapshot_cow);
	err |= dup_opt(&dst->hook, src->hook);
	err |= dup_opt(&dst->fsfreeze, src->fsfreeze);
	if (err) {
		config_volume_free(dst);
		return -ENOMEM;
	}
	return 0;
}

void config_remote_opts(const struct volume_config *v, struct remote_opts *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->key_file = v->azure_key_file;
	ro->sas_file = v->azure_sas_file;
	ro->ca_file = v->ca_file;
	ro->endpoint = v->endpoint;
	ro->allow_http = v->allow_http;
	ro->streams = v->streams;
}

void config_group_free(struct group_config *g)
{
	for (size_t i = 0; i < g->nr_member; i++)
		free(g->member[i]);
	free(g->hook);
	free(g->fsfreeze);
	memset(g, 0, sizeof(*g));
}

int config_group_copy(struct group_config *dst, const struct group_config *src)
{
	int err = 0;

	*dst = *src;
	for (size_t i = 0; i < src->nr_member; i++)
		err |= dup_opt(&dst->member[i], src->member[i]);
	err |= dup_opt(&dst->hook, src->hook);
	err |= dup_opt(&dst->fsfreeze, src->fsfreeze);
	if (err) {
		config_group_free(dst);
		return -ENOMEM;
	}
	return 0;
}

void config_free(struct cbt_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nr_vol; i++)
		config_volume_free(&cfg->vol[i]);
	free(cfg->vol);
	for (i = 0; i < cfg->nr_group; i++)
		config_group_free(&cfg->group[i]);
	free(cfg->group);
	free(cfg->state_dir);
	free(cfg->metrics_file);
	memset(cfg, 0, sizeof(*cfg));
}

int64_t config_min_interval(const struct cbt_config *cfg, const struct volume_config *v)
{
	return v->min_interval >= 0 ? v->min_interval : cfg->min_interval;
}

const struct blackout *config_blackout(const struct cbt_config *cfg, const struct volume_config *v)
{
	return v->has_blackout ? &v->blackout : &cfg->blackout;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

const struct group_config *config_group_of(const struct cbt_config *cfg,
					   const struct volume_config *v)
{
	for (size_t i = 0; v->group[0] && i < cfg->nr_group; i++)
		if (!strcmp(cfg->group[i].name, v->group))
			return &cfg->group[i];
	return NULL;
}

int64_t config_group_min_interval(const struct cbt_config *cfg, const struct group_config *g)
{
	return g->min_interval >= 0 ? g->min_interval : cfg->min_interval;
}

const struct blackout *config_group_blackout(const struct cbt_config *cfg,
					     const struct group_config *g)
{
	return g->has_blackout ? &g->blackout : &cfg->blackout;
}

bool config_group_equal(const struct group_config *a, const struct group_config *b)
{
	size_t i;

	if (strcmp(a->name, b->name) || a->nr_member != b->nr_member ||
	    !str_eq(a->hook, b->hook) || !str_eq(a->fsfreeze, b->fsfreeze) ||
	    a->hook_timeout != b->hook_timeout || a->app_interval != b->app_interval ||
	    a->fsfreeze_timeout != b->fsfreeze_timeout)
		return false;
	for (i = 0; i < a->nr_member; i++)
		if (strcmp(a->member[i], b->member[i]))
			return false;
	return true;
}

bool config_volume_equal(const struct volume_config *a, const struct volume_config *b)
{
	return !strcmp(a->name, b->name) && str_eq(a->device, b->device) &&
	       str_eq(a->store, b->store) && str_eq(a->key, b->key) &&
	       str_eq(a->fake_state, b->fake_state) && a->writer.codec == b->writer.codec &&
	       a->writer.level == b->writer.level && a->writer.workers == b->writer.workers &&
	       str_eq(a->azure_key_file, b->azure_key_file) &&
	       str_eq(a->azure_sas_file, b->azure_sas_file) && str_eq(a->ca_file, b->ca_file) &&
	       str_eq(a->endpoint, b->endpoint) && a->allow_http == b->allow_http &&
	       a->streams == b->streams &&
	       str_eq(a->snapshot_cow, b->snapshot_cow) && str_eq(a->hook, b->hook) &&
	       str_eq(a->fsfreeze, b->fsfreeze) && a->hook_timeout == b->hook_timeout &&
	       a->app_interval == b->app_interval && a->fsfreeze_timeout == b->fsfreeze_timeout &&
	       !strcmp(a->group, b->group);
}
