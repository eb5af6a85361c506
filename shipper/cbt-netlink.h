/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-cbt generic netlink calls that are not about one opened volume (the
 * per-volume ones are the cbt_source ops of cbt_source_open_dm()).
 */
#ifndef CBTSHIP_CBT_NETLINK_H
#define CBTSHIP_CBT_NETLINK_H

#include <stdint.h>

#include "cbt-source.h"

/*
 * Call fn for every dm-cbt volume the kernel knows.  info->data_path and
 * info->size_bytes are not filled.  A non-zero return from fn stops the
 * walk and is returned.
 */
int cbt_netlink_list(int (*fn)(void *arg, const struct cbt_volume_info *info,
			       uint32_t major, uint32_t minor),
		     void *arg);

#endif
