/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's configuration file (docs/CONFIG.md): a [global] section,
 * one [volume NAME] section per volume and one [group NAME] section per
 * consistency group (docs/CONSISTENCY.md), "key = value" lines, '#' comments.
 * Errors name the file, line and column.
 */
#ifndef CBTSHIP_CONFIG_H
#define CBTSHIP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blackout.h"
#include "format.h"
#include "remote-opts.h"
#include "throttle.h"
#include "vstore.h"

#define CONFIG_DEFAULT_PATH	"/etc/cbtship/cbtship.conf"
#define CONFIG_DEFAULT_STATE	"/var/lib/cbtship"
#define CONFIG_MAX_BYTES	(1024 * 1024)
#define CONFIG_MAX_VOLUMES	4096
#define CONFIG_GROUP_MAX	16	/* volumes in one consistency group */

struct volume_config {
	char name[VSTORE_NAME_MAX + 1];	/* the volume's name in the store */
	char *device;			/* /dev/mapper/NAME (or a data file with fake_state) */
	char *store;
	char *key;			/* key file path */
	char *fake_state;		/* tests: fake tracking state (cbt-file.c) */
	/* Azure stores (remote-opts.h): file names only, never secrets. */
	char *azure_key_file;		/* account key, mode 0600 */
	char *azure_sas_file;		/* or a SAS token, mode 0600 */
	char *ca_file;
	char *endpoint;
	bool allow_http;
	unsigned int streams;		/* 0 = the default */
	int64_t min_interval;		/* us; 0 = near-continuous; -1 = the global one */
	bool has_blackout;		/* own windows instead of the global ones */
	struct blackout blackout;
	struct cycle_writer_opts writer;
	/* Consistent cycles (docs/CONSISTENCY.md); NULL / 0 = not configured. */
	char *snapshot_cow;		/* COW block device: consistent cycles */
	char *hook;			/* executable run as 'HOOK pre' / 'HOOK post' */
	char *fsfreeze;			/* mount point frozen around the freeze */
	unsigned int hook_timeout;	/* seconds; 0 = 60 */
	unsigned int app_interval;	/* seconds between app-consistent points */
	unsigned int fsfreeze_timeout;	/* seconds frozen at most; 0 = FS_GUARD_TIMEOUT */
	unsigned int line;		/* where the section starts, for messages */
	/* The consistency group it belongs to ([group NAME] volumes = ...); "" = none. */
	char group[FMT_GROUP_NAME_MAX + 1];
};

/*
 * A consistency group: its volumes are frozen at one instant and scheduled
 * as one (docs/CONSISTENCY.md).  Scheduling and hooks are the group's; its
 * volumes may not set their own.
 */
struct group_config {
	char name[FMT_GROUP_NAME_MAX + 1];
	char *member[CONFIG_GROUP_MAX];	/* volume names, in the order given */
	unsigned int member_col[CONFIG_GROUP_MAX];	/* where each is named, for messages */
	unsigned int member_line;
	size_t nr_member;
	int64_t min_interval;		/* us; -1 = the global one */
	bool has_blackout;
	struct blackout blackout;
	char *hook;			/* executable run as 'HOOK pre' / 'HOOK post' */
	char *fsfreeze;			/* mount point frozen around the freeze */
	unsigned int hook_timeout;	/* seconds; 0 = 60 */
	unsigned int app_interval;	/* seconds between app-consistent points */
	unsigned int fsfreeze_timeout;	/* seconds frozen at most; 0 = FS_GUARD_TIMEOUT */
	unsigned int line;
};

struct cbt_config {
	char *state_dir;
	char *metrics_file;		/* Prometheus textfile; NULL = STATE_DIR/cbtship.prom */
	unsigned int parallel;
	int64_t min_interval;		/* us */
	int64_t poll;			/* us: how often near-continuous volumes look for change */
	struct blackout blackout;
	struct throttle_cfg throttle;
	struct volume_config *vol;
	size_t nr_vol;
	struct group_config *group;
	size_t nr_group;
};

/*
 * Parse text (NUL-terminated) named fname in messages.  On error returns
 * -EINVAL with "FNAME:LINE:COLUMN: what is wrong" in err, and cfg empty.
 */
int config_parse(const char *text, const char *fname, struct cbt_config *cfg,
		 char *err, size_t errlen);
/* Read and parse a file; errors are logged.  -ENOENT, -EINVAL, -EFBIG, -ENOMEM. */
int config_load(const char *path, struct cbt_config *cfg);
void config_free(struct cbt_config *cfg);

/* The effective settings of a volume. */
int64_t config_min_interval(const struct cbt_config *cfg, const struct volume_config *v);
const struct blackout *config_blackout(const struct cbt_config *cfg,
				       const struct volume_config *v);
/* The volume's Azure options, pointing into v (valid while v is). */
void config_remote_opts(const struct volume_config *v, struct remote_opts *ro);
/* Deep copy of a volume section; -ENOMEM.  Free with config_volume_free(). */
int config_volume_copy(struct volume_config *dst, const struct volume_config *src);
void config_volume_free(struct volume_config *v);
/* Do two volume sections describe the same replication (no restart needed)? */
bool config_volume_equal(const struct volume_config *a, const struct volume_config *b);

/* The group volume v belongs to, or NULL. */
const struct group_config *config_group_of(const struct cbt_config *cfg,
					   const struct volume_config *v);
/* A group's effective interval and windows. */
int64_t config_group_min_interval(const struct cbt_config *cfg, const struct group_config *g);
const struct blackout *config_group_blackout(const struct cbt_config *cfg,
					     const struct group_config *g);
int config_group_copy(struct group_config *dst, const struct group_config *src);
void config_group_free(struct group_config *g);
/* Same members and freeze settings (hooks)?  Interval and windows may differ. */
bool config_group_equal(const struct group_config *a, const struct group_config *b);

/* "90s", "15m", "1h", "1d12h", "0" -> us; -EINVAL otherwise. */
int config_parse_duration(const char *s, int64_t *us);

#endif
