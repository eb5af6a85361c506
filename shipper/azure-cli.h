/* SPDX-License-Identifier: GPL-2.0 */
/* Command-line options for remote (Azure) stores and replicas, shared by commands. */
#ifndef CBTSHIP_AZURE_CLI_H
#define CBTSHIP_AZURE_CLI_H

#include <getopt.h>

#include "remote-opts.h"

#define AZURE_CLI_OPT	0x1000	/* getopt values AZURE_CLI_OPT.. are ours */

#define AZURE_CLI_LONGOPTS \
	{ "azure-key-file", required_argument, NULL, AZURE_CLI_OPT + 0 }, \
	{ "azure-sas-file", required_argument, NULL, AZURE_CLI_OPT + 1 }, \
	{ "ca-file", required_argument, NULL, AZURE_CLI_OPT + 2 }, \
	{ "endpoint", required_argument, NULL, AZURE_CLI_OPT + 3 }, \
	{ "allow-http", no_argument, NULL, AZURE_CLI_OPT + 4 }, \
	{ "streams", required_argument, NULL, AZURE_CLI_OPT + 5 }

#define AZURE_CLI_USAGE \
	"Azure Blob Storage (a store or replica URL azure://ACCOUNT/CONTAINER[/PATH] or\n" \
	"https://...; see docs/AZURE.md):\n" \
	"  --azure-key-file F   the account key (base64) in a file of mode 0600\n" \
	"  --azure-sas-file F   or a SAS token in a file of mode 0600\n" \
	"  --endpoint URL       blob endpoint (default https://ACCOUNT.blob.core.windows.net)\n" \
	"  --ca-file F          CA certificates for the endpoint (private endpoints, tests)\n" \
	"  --allow-http         allow plain http:// (tests only: no TLS)\n" \
	"  --streams N          parallel uploads per volume (default 4, at most 32)\n"

/* 1 if c was one of ours (ro updated), 0 if not, -EINVAL on a bad value (logged). */
int azure_cli_opt(int c, const char *arg, struct remote_opts *ro);

#endif
