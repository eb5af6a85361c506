/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-cbt generic netlink control plane (uapi/linux/dm-cbt.h).
 */
#ifndef DM_CBT_GENL_H
#define DM_CBT_GENL_H

int cbt_genl_register(void);
void cbt_genl_unregister(void);

#endif /* DM_CBT_GENL_H */
