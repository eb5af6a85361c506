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

/*
 * dm-cbt's events multicast group: a non-blocking socket whose fd can be
 * polled, and a reader returning the pending events one volume each.
 * Anyone may listen (the events carry no data).
 */
struct cbt_events;

struct cbt_event {
	uint8_t cmd;			/* CBT_CMD_* (e.g. CBT_CMD_CHANGED) */
	uint32_t major, minor;		/* the dm device */
};

/* Join the events group; -ENOENT when dm-cbt is not loaded. */
int cbt_events_open(struct cbt_events **out);
int cbt_events_fd(const struct cbt_events *ev);
/*
 * Read up to max pending events into out; returns how many (0: none
 * pending) or -errno.  -ENOBUFS: events were lost (the socket overran),
 * so any volume may have changed; the next call reads on.
 */
int cbt_events_read(struct cbt_events *ev, struct cbt_event *out, size_t max);
void cbt_events_close(struct cbt_events *ev);

#endif
