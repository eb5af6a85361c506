/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-cbt generic netlink control plane (uapi/linux/dm-cbt.h).
 */
#ifndef DM_CBT_GENL_H
#define DM_CBT_GENL_H

#include <linux/types.h>

struct cbt_volume;

int cbt_genl_register(void);
/* Multicast @cmd with @v's attributes to the events group; may sleep. */
void cbt_genl_notify(struct cbt_volume *v, u8 cmd);
void cbt_genl_unregister(void);

#endif /* DM_CBT_GENL_H */
