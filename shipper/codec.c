// SPDX-License-Identifier: GPL-2.0
/* Codec lookup by name (command line) or id (envelope header). */
#include <string.h>

#include "codec.h"

static const struct codec_ops *const codecs[] = {
	&codec_none,
	&codec_zlib,
	&codec_zstd,
};

const struct codec_ops *codec_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (!strcmp(codecs[i]->name, name))
			return codecs[i];
	return NULL;
}

const struct codec_ops *codec_by_id(unsigned int id)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if ((unsigned int)codecs[i]->id == id)
			return codecs[i];
	return NULL;
}
