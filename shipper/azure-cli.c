// SPDX-License-Identifier: GPL-2.0
/* Command-line options for Azure stores and replicas (see azure-cli.h). */
#include <errno.h>
#include <stdlib.h>

#include "azure-cli.h"
#include "azure-client.h"
#include "log.h"

int azure_cli_opt(int c, const char *arg, struct remote_opts *ro)
{
	char *end;
	unsigned long v;

	switch (c) {
	case AZURE_CLI_OPT + 0:
		ro->key_file = arg;
		return 1;
	case AZURE_CLI_OPT + 1:
		ro->sas_file = arg;
		return 1;
	case AZURE_CLI_OPT + 2:
		ro->ca_file = arg;
		return 1;
	case AZURE_CLI_OPT + 3:
		ro->endpoint = arg;
		return 1;
	case AZURE_CLI_OPT + 4:
		ro->allow_http = true;
		return 1;
	case AZURE_CLI_OPT + 5:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || v < 1 || v > AZURE_MAX_STREAMS) {
			log_err("invalid --streams '%s': expected 1 to %d", arg, AZURE_MAX_STREAMS);
			return -EINVAL;
		}
		ro->streams = (unsigned int)v;
		return 1;
	default:
		return 0;
	}
}
