// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the daemon's configuration file.  Accepted input must
 * give complete volume sections and groups of known volumes; refused input
 * must say where (file:line:column) and leave nothing allocated
 * (LeakSanitizer checks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbt_config cfg;
	char *s, err[512];
	size_t i;

	if (size > 65536)
		return 0;
	log_set_level(LOG_EMERG);
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (config_parse(s, "fuzz.conf", &cfg, err, sizeof(err)) == 0) {
		for (i = 0; i < cfg.nr_vol; i++)
			if (!cfg.vol[i].device || !cfg.vol[i].store || !cfg.vol[i].key)
				abort();
		if (!cfg.state_dir || !cfg.parallel)
			abort();
		/* Accepted groups: 2.. members, each a volume that names the group. */
		for (i = 0; i < cfg.nr_group; i++) {
			const struct group_config *g = &cfg.group[i];

			if (g->nr_member < 2 || g->nr_member > CONFIG_GROUP_MAX ||
			    g->nr_member > cfg.parallel)
				abort();
			for (size_t j = 0; j < g->nr_member; j++) {
				size_t k;

				for (k = 0; k < cfg.nr_vol && strcmp(cfg.vol[k].name, g->member[j]); k++)
					;
				if (k == cfg.nr_vol || strcmp(cfg.vol[k].group, g->name))
					abort();
			}
		}
		config_free(&cfg);
	} else if (strncmp(err, "fuzz.conf:", 10)) {
		abort();
	}
	free(s);
	return 0;
}
