// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-cbt generic netlink control plane.
 *
 * Every command names a volume by the device number of its dm device.
 * Successful FREEZE, COMMIT, ABORT, MARK_DIRTY and CLEAR_RESYNC are also
 * multicast to the "events" group, as that command with the volume's
 * attributes, and so are the ring's RING_WATERMARK and RING_OVERFLOW
 * events and the volume's VOLUME_ADDED, VOLUME_REMOVED and
 * RESYNC_REQUIRED (cbt-volume.c).
 * The family runs with parallel_ops: FREEZE waits for in-flight writes
 * and must not hold the global genl mutex meanwhile.  Volumes are
 * reference counted, so one removed during a command stays valid until
 * the command drops it.
 */

#include <linux/kernel.h>
#include <linux/kdev_t.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include <linux/dm-cbt.h>

#include "cbt-genl.h"
#include "cbt-volume.h"

#define CBT_EXTENT_SIZE		sizeof(struct cbt_extent)
#define CBT_RECORD_SIZE		sizeof(struct cbt_ring_record)

static struct genl_family cbt_genl_family;

static const struct nla_policy cbt_policy[CBT_A_MAX + 1] = {
	[CBT_A_DEV_MAJOR]	= { .type = NLA_U32 },
	[CBT_A_DEV_MINOR]	= { .type = NLA_U32 },
	[CBT_A_NAME]		= { .type = NLA_NUL_STRING, .len = DM_NAME_LEN - 1 },
	[CBT_A_BLOCK_SIZE]	= { .type = NLA_U32 },
	[CBT_A_NR_BLOCKS]	= { .type = NLA_U64 },
	[CBT_A_DIRTY_BLOCKS]	= { .type = NLA_U64 },
	[CBT_A_FROZEN_BLOCKS]	= { .type = NLA_U64 },
	[CBT_A_CYCLE]		= { .type = NLA_U64 },
	[CBT_A_FROZEN]		= { .type = NLA_U8 },
	[CBT_A_STATE]		= { .type = NLA_U32 },
	[CBT_A_EXTENTS]		= { .type = NLA_BINARY,
				    .len = CBT_MAX_EXTENTS_PER_MSG * CBT_EXTENT_SIZE },
	[CBT_A_VOLUME_ID]	= NLA_POLICY_EXACT_LEN(CBT_VOLUME_ID_LEN),
	[CBT_A_RING_SIZE]	= { .type = NLA_U32 },
	[CBT_A_RING_FILL]	= { .type = NLA_U32 },
	[CBT_A_RING_FIRST]	= { .type = NLA_U64 },
	[CBT_A_RING_NEXT]	= { .type = NLA_U64 },
	[CBT_A_RING_LOST]	= { .type = NLA_U64 },
	[CBT_A_RING_OVERFLOW]	= { .type = NLA_U8 },
	[CBT_A_EPOCH]		= { .type = NLA_U32 },
	[CBT_A_RING_START]	= { .type = NLA_U64 },
	[CBT_A_RING_RECORDS]	= { .type = NLA_BINARY,
				    .len = CBT_MAX_RECORDS_PER_MSG * CBT_RECORD_SIZE },
	[CBT_A_TAG]		= { .type = NLA_U64 },
	[CBT_A_RESYNC_REQUIRED]	= { .type = NLA_U8 },
};

/* ---- Helpers ---- */

/* Look up the volume named by CBT_A_DEV_MAJOR/MINOR; takes a reference. */
static int get_volume(struct nlattr **attrs, struct netlink_ext_ack *extack,
		      struct cbt_volume **out)
{
	u32 major, minor;

	if (!attrs[CBT_A_DEV_MAJOR] || !attrs[CBT_A_DEV_MINOR]) {
		NL_SET_ERR_MSG(extack,
			       "CBT_A_DEV_MAJOR and CBT_A_DEV_MINOR are required");
		return -EINVAL;
	}
	major = nla_get_u32(attrs[CBT_A_DEV_MAJOR]);
	minor = nla_get_u32(attrs[CBT_A_DEV_MINOR]);
	if (major >= (1U << (32 - MINORBITS)) || minor > MINORMASK) {
		NL_SET_ERR_MSG(extack, "device number out of range");
		return -EINVAL;
	}
	*out = cbt_volume_lookup(MKDEV(major, minor));
	if (!*out) {
		NL_SET_ERR_MSG(extack, "no active dm-cbt volume on that device");
		return -ENODEV;
	}
	return 0;
}

static int put_volume_attrs(struct sk_buff *skb, struct cbt_volume *v)
{
	struct cbt_volume_info info;

	cbt_volume_get_info(v, &info);
	if (nla_put_u32(skb, CBT_A_DEV_MAJOR, MAJOR(info.devt)) ||
	    nla_put_u32(skb, CBT_A_DEV_MINOR, MINOR(info.devt)) ||
	    nla_put_string(skb, CBT_A_NAME, info.name) ||
	    nla_put_u32(skb, CBT_A_BLOCK_SIZE, info.block_size) ||
	    nla_put_u64_64bit(skb, CBT_A_NR_BLOCKS, info.nr_blocks, CBT_A_PAD) ||
	    nla_put_u64_64bit(skb, CBT_A_DIRTY_BLOCKS, info.dirty_blocks,
			      CBT_A_PAD) ||
	    nla_put_u64_64bit(skb, CBT_A_FROZEN_BLOCKS, info.frozen_blocks,
			      CBT_A_PAD) ||
	    nla_put_u64_64bit(skb, CBT_A_CYCLE, info.cycle, CBT_A_PAD) ||
	    nla_put_u8(skb, CBT_A_FROZEN, info.frozen) ||
	    nla_put_u32(skb, CBT_A_STATE, info.state) ||
	    nla_put(skb, CBT_A_VOLUME_ID, sizeof(info.id), info.id) ||
	    nla_put_u32(skb, CBT_A_RING_SIZE, info.ring_size) ||
	    nla_put_u32(skb, CBT_A_RING_FILL, info.ring_fill) ||
	    nla_put_u64_64bit(skb, CBT_A_RING_FIRST, info.ring_first, CBT_A_PAD) ||
	    nla_put_u64_64bit(skb, CBT_A_RING_NEXT, info.ring_next, CBT_A_PAD) ||
	    nla_put_u64_64bit(skb, CBT_A_RING_LOST, info.ring_lost, CBT_A_PAD) ||
	    nla_put_u8(skb, CBT_A_RING_OVERFLOW, info.ring_overflow) ||
	    nla_put_u32(skb, CBT_A_EPOCH, info.epoch) ||
	    nla_put_u8(skb, CBT_A_RESYNC_REQUIRED, info.resync_required))
		return -EMSGSIZE;
	return 0;
}

/* Reply to @info with a message of command @cmd carrying @v's attributes. */
static int reply_volume(struct genl_info *info, struct cbt_volume *v, u8 cmd)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &cbt_genl_family, 0, cmd);
	if (!hdr || put_volume_attrs(msg, v)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* Tell CBT_GENL_MCGRP_EVENTS listeners that @cmd changed @v. */
void cbt_genl_notify(struct cbt_volume *v, u8 cmd)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &cbt_genl_family, 0, cmd);
	if (!hdr || put_volume_attrs(msg, v)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&cbt_genl_family, msg, 0, 0, GFP_KERNEL);
}

static int get_cycle_attr(struct genl_info *info, u64 *cycle)
{
	if (!info->attrs[CBT_A_CYCLE]) {
		NL_SET_ERR_MSG(info->extack,
			       "CBT_A_CYCLE is required: name the frozen cycle");
		return -EINVAL;
	}
	*cycle = nla_get_u64(info->attrs[CBT_A_CYCLE]);
	return 0;
}

static void set_cycle_error(struct genl_info *info, int r)
{
	if (r == -ENOENT)
		NL_SET_ERR_MSG(info->extack, "no cycle is frozen on this volume");
	else if (r == -ESTALE)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[CBT_A_CYCLE],
				    "CBT_A_CYCLE does not name the frozen cycle");
}

/* ---- Commands ---- */

static int cbt_cmd_get(struct sk_buff *skb, struct genl_info *info)
{
	struct cbt_volume *v;
	int r;

	r = get_volume(info->attrs, info->extack, &v);
	if (r)
		return r;
	r = reply_volume(info, v, CBT_CMD_GET);
	cbt_volume_put(v);
	return r;
}

static int cbt_cmd_list(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long idx = cb->args[0];
	struct cbt_volume *v;

	while ((v = cbt_volume_get_nth(idx))) {
		void *hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
					cb->nlh->nlmsg_seq, &cbt_genl_family,
					NLM_F_MULTI, CBT_CMD_LIST);

		if (!hdr || put_volume_attrs(skb, v)) {
			if (hdr)
				genlmsg_cancel(skb, hdr);
			cbt_volume_put(v);
			break;
		}
		genlmsg_end(skb, hdr);
		cbt_volume_put(v);
		idx++;
	}
	cb->args[0] = idx;
	return skb->len;
}

static int cbt_cmd_freeze(struct sk_buff *skb, struct genl_info *info)
{
	struct cbt_volume *v;
	u64 cycle;
	int r;

	r = get_volume(info->attrs, info->extack, &v);
	if (r)
		return r;
	r = cbt_volume_freeze(v, &cycle);
	if (r == -EBUSY)
		NL_SET_ERR_MSG(info->extack,
			       "a cycle is already frozen: commit or abort it first");
	else if (r == -EINTR)
		NL_SET_ERR_MSG(info->extack,
			       "interrupted while in-flight writes drained; changes kept in the live set");
	if (!r) {
		cbt_genl_notify(v, CBT_CMD_FREEZE);
		r = reply_volume(info, v, CBT_CMD_FREEZE);
	}
	cbt_volume_put(v);
	return r;
}

/* COMMIT and ABORT: end the frozen cycle named by CBT_A_CYCLE one way or the other. */
static int end_cycle(struct genl_info *info, u8 cmd,
		     int (*end)(struct cbt_volume *v, u64 cycle, u64 *frozen))
{
	struct cbt_volume *v;
	u64 cycle, frozen;
	int r;

	r = get_cycle_attr(info, &cycle);
	if (r)
		return r;
	r = get_volume(info->attrs, info->extack, &v);
	if (r)
		return r;
	r = end(v, cycle, &frozen);
	set_cycle_error(info, r);
	if (!r)
		cbt_genl_notify(v, cmd);
	cbt_volume_put(v);
	return r;
}

static int cbt_cmd_commit(struct sk_buff *skb, struct genl_info *info)
{
	return end_cycle(info, CBT_CMD_COMMIT, cbt_volume_commit);
}

static int cbt_cmd_abort(struct sk_buff *skb, struct genl_info *info)
{
	return end_cycle(info, CBT_CMD_ABORT, cbt_volume_abort);
}

static int cbt_cmd_mark_dirty(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *attr = info->attrs[CBT_A_EXTENTS];
	struct cbt_extent *ext;
	struct cbt_volume *v;
	unsigned int len;
	int r;

	if (!attr) {
		NL_SET_ERR_MSG(info->extack, "CBT_A_EXTENTS is required");
		return -EINVAL;
	}
	len = nla_len(attr);
	if (!len || len % CBT_EXTENT_SIZE) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "CBT_A_EXTENTS must hold one or more struct cbt_extent");
		return -EINVAL;
	}
	r = get_volume(info->attrs, info->extack, &v);
	if (r)
		return r;

	/* Netlink attributes are only 4-byte aligned. */
	ext = kmemdup(nla_data(attr), len, GFP_KERNEL);
	if (!ext) {
		r = -ENOMEM;
		goto out;
	}
	r = cbt_volume_mark_dirty(v, ext, len / CBT_EXTENT_SIZE);
	if (r == -ERANGE)
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "an extent is empty or reaches past the end of the volume");
	if (!r)
		cbt_genl_notify(v, CBT_CMD_MARK_DIRTY);
	kfree(ext);
out:
	cbt_volume_put(v);
	return r;
}

static int cbt_cmd_tag(struct sk_buff *skb, struct genl_info *info)
{
	struct cbt_volume *v;
	int r;

	if (!info->attrs[CBT_A_TAG]) {
		NL_SET_ERR_MSG(info->extack, "CBT_A_TAG is required");
		return -EINVAL;
	}
	r = get_volume(info->attrs, info->extack, &v);
	if (r)
		return r;
	r = cbt_volume_tag(v, nla_get_u64(info->attrs[CBT_A_TAG]));
	if (r == -ENOSPC)
		NL_SET_ERR_MSG(info->extack,
			       "the volume has no ring: load the table with ring_size");
	cbt_volume_put(v);
	return r;
}

static int cbt_cmd_clear_resync(struct sk_buff *skb, struct genl_info *info)
{
	struct cbt_volume *v;
	int r;

	r = get_volume(info->attrs, info->extack, &v);
	if (r)
		return r;
	cbt_volume_clear_resync(v);
	cbt_genl_notify(v, CBT_CMD_CLEAR_RESYNC);
	cbt_volume_put(v);
	return 0;
}

/* ---- GET_RING dump ---- */

struct ring_dump {
	struct cbt_volume *v;	/* NULL until the first dumpit call */
	u64 seq;		/* next sequence to send */
	bool sent;
	bool done;
	struct cbt_ring_record rec[CBT_MAX_RECORDS_PER_MSG];
};

/*
 * GENL_ADMIN_PERM only asks for CAP_NET_ADMIN.  Freezing, committing,
 * marking or reading a volume's changes is storage administration, so every
 * such command also needs CAP_SYS_ADMIN.
 */
static int cbt_need_sys_admin(struct sk_buff *skb, struct netlink_ext_ack *extack)
{
	if (netlink_capable(skb, CAP_SYS_ADMIN))
		return 0;
	NL_SET_ERR_MSG(extack, "dm-cbt: this command needs CAP_SYS_ADMIN");
	return -EPERM;
}

static int cbt_pre_doit(const struct genl_ops *ops, struct sk_buff *skb,
			struct genl_info *info)
{
	if (ops->flags & GENL_ADMIN_PERM)
		return cbt_need_sys_admin(skb, info->extack);
	return 0;
}

static int cbt_ring_start(struct netlink_callback *cb)
{
	struct ring_dump *d;
	int ret;

	ret = cbt_need_sys_admin(cb->skb, cb->extack);
	if (ret)
		return ret;

	d = kvzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	cb->args[0] = (long)d;
	return 0;
}

/*
 * One message per call: the records from d->seq on that fit, copied as
 * one array under the volume lock.  The dump ends at the newest record
 * present when a call finds fewer than fit.
 */
static int cbt_ring_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct ring_dump *d = (struct ring_dump *)cb->args[0];
	struct cbt_volume_info info;
	unsigned int max;
	void *hdr;
	u64 seq;
	u32 n;
	int r;

	if (d->done)
		return 0;
	if (!d->v) {
		struct nlattr **attrs = genl_dumpit_info(cb)->attrs;

		r = get_volume(attrs, cb->extack, &d->v);
		if (r)
			return r;
		if (attrs[CBT_A_RING_START])
			d->seq = nla_get_u64(attrs[CBT_A_RING_START]);
	}

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &cbt_genl_family, NLM_F_MULTI, CBT_CMD_GET_RING);
	if (!hdr)
		return -EMSGSIZE;
	/* Counters first: records newer than RING_NEXT are not in this message. */
	cbt_volume_get_info(d->v, &info);
	if (nla_put_u32(skb, CBT_A_DEV_MAJOR, MAJOR(info.devt)) ||
	    nla_put_u32(skb, CBT_A_DEV_MINOR, MINOR(info.devt)) ||
	    nla_put_u32(skb, CBT_A_RING_SIZE, info.ring_size) ||
	    nla_put_u64_64bit(skb, CBT_A_RING_LOST, info.ring_lost, CBT_A_PAD) ||
	    nla_put_u8(skb, CBT_A_RING_OVERFLOW, info.ring_overflow))
		goto too_small;

	max = skb_tailroom(skb) > nla_total_size(0) ?
	      (skb_tailroom(skb) - nla_total_size(0)) / CBT_RECORD_SIZE : 0;
	max = min_t(unsigned int, max, CBT_MAX_RECORDS_PER_MSG);
	if (!max)
		goto too_small;

	seq = d->seq;
	n = cbt_volume_get_ring(d->v, &seq, d->rec, max);
	if (!n && d->sent) {
		genlmsg_cancel(skb, hdr);
		return 0;
	}
	if (n && nla_put(skb, CBT_A_RING_RECORDS, n * CBT_RECORD_SIZE, d->rec))
		goto too_small;
	genlmsg_end(skb, hdr);
	d->seq = seq;
	d->sent = true;
	d->done = n < max;
	return skb->len;

too_small:
	genlmsg_cancel(skb, hdr);
	return skb->len ? skb->len : -EMSGSIZE;
}

static int cbt_ring_done(struct netlink_callback *cb)
{
	struct ring_dump *d = (struct ring_dump *)cb->args[0];

	if (d->v)
		cbt_volume_put(d->v);
	kvfree(d);
	return 0;
}

/* ---- GET_CHANGES dump ---- */

struct changes_dump {
	struct cbt_volume *v;	/* NULL until the first dumpit call */
	u64 cycle;
	u64 pos;		/* next block to look at */
	bool sent;		/* at least one message went out */
	bool done;
	struct cbt_extent ext[CBT_MAX_EXTENTS_PER_MSG];
};

static int cbt_changes_start(struct netlink_callback *cb)
{
	struct changes_dump *d;
	int ret;

	ret = cbt_need_sys_admin(cb->skb, cb->extack);
	if (ret)
		return ret;

	d = kvzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	cb->args[0] = (long)d;
	return 0;
}

/*
 * Find the volume and check its frozen cycle.  Done in the first dumpit
 * call, not in start: only there can 6.1 report an extack message (it
 * comes with the error in NLMSG_DONE).
 */
static int changes_open(struct changes_dump *d, struct netlink_callback *cb)
{
	struct nlattr **attrs = genl_dumpit_info(cb)->attrs;
	struct cbt_volume_info info;
	struct cbt_volume *v;
	int r;

	r = get_volume(attrs, cb->extack, &v);
	if (r)
		return r;

	cbt_volume_get_info(v, &info);
	if (!info.frozen) {
		NL_SET_ERR_MSG(cb->extack, "no cycle is frozen on this volume: freeze first");
		r = -ENOENT;
		goto bad;
	}
	if (attrs[CBT_A_CYCLE] && nla_get_u64(attrs[CBT_A_CYCLE]) != info.cycle) {
		NL_SET_ERR_MSG_ATTR(cb->extack, attrs[CBT_A_CYCLE],
				    "CBT_A_CYCLE does not name the frozen cycle");
		r = -ESTALE;
		goto bad;
	}
	d->v = v;
	d->cycle = info.cycle;
	return 0;

bad:
	cbt_volume_put(v);
	return r;
}

static int cbt_changes_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct changes_dump *d = (struct changes_dump *)cb->args[0];
	unsigned int max;
	void *hdr;
	u64 pos;
	int n;

	if (d->done)
		return 0;
	if (!d->v) {
		n = changes_open(d, cb);
		if (n)
			return n;
	}
	pos = d->pos;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &cbt_genl_family, NLM_F_MULTI, CBT_CMD_GET_CHANGES);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, CBT_A_DEV_MAJOR, MAJOR(cbt_volume_devt(d->v))) ||
	    nla_put_u32(skb, CBT_A_DEV_MINOR, MINOR(cbt_volume_devt(d->v))) ||
	    nla_put_u64_64bit(skb, CBT_A_CYCLE, d->cycle, CBT_A_PAD))
		goto too_small;

	/* As many extents as this buffer holds, up to the UAPI limit. */
	max = skb_tailroom(skb) > nla_total_size(0) ?
	      (skb_tailroom(skb) - nla_total_size(0)) / CBT_EXTENT_SIZE : 0;
	max = min_t(unsigned int, max, CBT_MAX_EXTENTS_PER_MSG);
	if (!max)
		goto too_small;

	n = cbt_volume_get_changes(d->v, d->cycle, &pos, d->ext, max);
	if (n < 0) {
		genlmsg_cancel(skb, hdr);
		if (n == -ESTALE || n == -ENOENT)
			NL_SET_ERR_MSG(cb->extack,
				       "the cycle was committed or aborted during the dump");
		return n;
	}
	if (!n && d->sent) {
		genlmsg_cancel(skb, hdr);
		return 0;
	}
	if (n && nla_put(skb, CBT_A_EXTENTS, n * CBT_EXTENT_SIZE, d->ext))
		goto too_small;

	genlmsg_end(skb, hdr);
	d->pos = pos;
	d->sent = true;
	d->done = n < max;
	return skb->len;

too_small:
	genlmsg_cancel(skb, hdr);
	return skb->len ? skb->len : -EMSGSIZE;
}

static int cbt_changes_done(struct netlink_callback *cb)
{
	struct changes_dump *d = (struct changes_dump *)cb->args[0];

	if (d->v)
		cbt_volume_put(d->v);
	kvfree(d);
	return 0;
}

/* ---- Family ---- */

static const struct genl_ops cbt_genl_ops[] = {
	{
		.cmd = CBT_CMD_LIST,
		.dumpit = cbt_cmd_list,
	},
	{
		.cmd = CBT_CMD_GET,
		.doit = cbt_cmd_get,
	},
	{
		.cmd = CBT_CMD_FREEZE,
		.doit = cbt_cmd_freeze,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = CBT_CMD_GET_CHANGES,
		.start = cbt_changes_start,
		.dumpit = cbt_changes_dump,
		.done = cbt_changes_done,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = CBT_CMD_COMMIT,
		.doit = cbt_cmd_commit,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = CBT_CMD_ABORT,
		.doit = cbt_cmd_abort,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = CBT_CMD_MARK_DIRTY,
		.doit = cbt_cmd_mark_dirty,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = CBT_CMD_GET_RING,
		.start = cbt_ring_start,
		.dumpit = cbt_ring_dump,
		.done = cbt_ring_done,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = CBT_CMD_TAG,
		.doit = cbt_cmd_tag,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = CBT_CMD_CLEAR_RESYNC,
		.doit = cbt_cmd_clear_resync,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group cbt_genl_mcgrps[] = {
	{ .name = CBT_GENL_MCGRP_EVENTS },
};

static struct genl_family cbt_genl_family __ro_after_init = {
	.name = CBT_GENL_NAME,
	.version = CBT_GENL_VERSION,
	.maxattr = CBT_A_MAX,
	.policy = cbt_policy,
	.pre_doit = cbt_pre_doit,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = cbt_genl_ops,
	.n_ops = ARRAY_SIZE(cbt_genl_ops),
	.mcgrps = cbt_genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(cbt_genl_mcgrps),
	.resv_start_op = CBT_CMD_MAX + 1,
};

int cbt_genl_register(void)
{
	return genl_register_family(&cbt_genl_family);
}

void cbt_genl_unregister(void)
{
	genl_unregister_family(&cbt_genl_family);
}
