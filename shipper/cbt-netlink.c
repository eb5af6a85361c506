// SPDX-License-Identifier: GPL-2.0
/*
 * The real kernel boundary: dm-cbt's generic netlink family (UAPI in
 * uapi/linux/dm-cbt.h) through libnl-genl-3.  One socket per opened volume,
 * the family resolved once at open, every request through cbt_nl_transact()
 * with extended ACK so the kernel's own error message reaches the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "cbt-netlink.h"
#include "cbt-source.h"
#include "log.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct cbt_nl {
	struct nl_sock *sk;
	int family;
};

struct cbt_dm_source {
	struct cbt_source src;
	struct cbt_nl nl;
	uint32_t major, minor;
	char path[4096];
};

static struct nla_policy cbt_policy[CBT_A_MAX + 1] = {
	[CBT_A_DEV_MAJOR]	= { .type = NLA_U32 },
	[CBT_A_DEV_MINOR]	= { .type = NLA_U32 },
	[CBT_A_NAME]		= { .type = NLA_STRING },
	[CBT_A_BLOCK_SIZE]	= { .type = NLA_U32 },
	[CBT_A_NR_BLOCKS]	= { .type = NLA_U64 },
	[CBT_A_DIRTY_BLOCKS]	= { .type = NLA_U64 },
	[CBT_A_FROZEN_BLOCKS]	= { .type = NLA_U64 },
	[CBT_A_CYCLE]		= { .type = NLA_U64 },
	[CBT_A_FROZEN]		= { .type = NLA_U8 },
	[CBT_A_STATE]		= { .type = NLA_U32 },
	[CBT_A_EXTENTS]		= { .type = NLA_UNSPEC },
	[CBT_A_VOLUME_ID]	= { .type = NLA_UNSPEC, .minlen = 16 },
	[CBT_A_RESYNC_REQUIRED]	= { .type = NLA_U8 },
};

static const char *const cbt_cmd_names[] = {
	[CBT_CMD_LIST] = "LIST",
	[CBT_CMD_GET] = "GET",
	[CBT_CMD_FREEZE] = "FREEZE",
	[CBT_CMD_GET_CHANGES] = "GET_CHANGES",
	[CBT_CMD_COMMIT] = "COMMIT",
	[CBT_CMD_ABORT] = "ABORT",
	[CBT_CMD_MARK_DIRTY] = "MARK_DIRTY",
	[CBT_CMD_CLEAR_RESYNC] = "CLEAR_RESYNC",
};

/* ---- socket and transactions ---- */

static int cbt_nl_open(struct cbt_nl *nl)
{
	int one = 1;
	int err;

	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		log_err("dm-cbt: out of memory allocating a netlink socket");
		return -ENOMEM;
	}
	err = genl_connect(nl->sk);
	if (err < 0) {
		log_err("dm-cbt: cannot open a generic netlink socket: %s", nl_geterror(err));
		err = -EIO;
		goto out_free;
	}
	/* Best effort: without them we only lose the kernel's error text. */
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

	nl->family = genl_ctrl_resolve(nl->sk, CBT_GENL_NAME);
	if (nl->family < 0) {
		if (nl->family == -NLE_OBJ_NOTFOUND) {
			log_err("the dm-cbt kernel module is not loaded (modprobe dm-cbt)");
			err = -ENOENT;
		} else {
			log_err("dm-cbt: cannot resolve the generic netlink family: %s",
				nl_geterror(nl->family));
			err = -EIO;
		}
		goto out_free;
	}
	return 0;

out_free:
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	return err;
}

static void cbt_nl_close(struct cbt_nl *nl)
{
	nl_socket_free(nl->sk);
	nl->sk = NULL;
}

struct cbt_nl_req {
	const char *what;		/* command name for messages */
	int (*parse)(void *arg, struct nlattr **tb);
	void *arg;
	int err;			/* first error: kernel's or parse's */
	bool done;
};

/* Log the kernel's extended-ACK message, if the reply carries one. */
static void cbt_nl_log_extack(const struct cbt_nl_req *req, const struct nlmsghdr *nlh,
			      size_t offset)
{
	const struct nlattr *msg;
	size_t len;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || nlh->nlmsg_len < NLMSG_HDRLEN + offset)
		return;
	len = nlh->nlmsg_len - NLMSG_HDRLEN - offset;
	msg = nla_find((const struct nlattr *)((const char *)nlmsg_data(nlh) + offset),
		       (int)len, NLMSGERR_ATTR_MSG);
	if (msg && nla_len(msg) > 0)
		log_err("dm-cbt %s: kernel says: %.*s", req->what, nla_len(msg),
			(const char *)nla_data(msg));
}

static int cbt_nl_on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct cbt_nl_req *req = arg;
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	size_t offset = sizeof(*e);

	(void)who;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		offset += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
	if (e->error)
		cbt_nl_log_extack(req, nlh, offset);
	if (!req->err)
		req->err = e->error < 0 ? e->error : -EPROTO;
	req->done = true;
	return NL_STOP;
}

static int cbt_nl_on_ack(struct nl_msg *msg, void *arg)
{
	struct cbt_nl_req *req = arg;

	(void)msg;
	req->done = true;
	return NL_STOP;
}

/* End of a dump: its payload is the dump's error code (0 on success). */
static int cbt_nl_on_finish(struct nl_msg *msg, void *arg)
{
	struct cbt_nl_req *req = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int dump_err = 0;

	if (nlmsg_datalen(nlh) >= (int)sizeof(int))
		memcpy(&dump_err, nlmsg_data(nlh), sizeof(int));
	if (dump_err < 0) {
		cbt_nl_log_extack(req, nlh, sizeof(int));
		if (!req->err)
			req->err = dump_err;
	}
	req->done = true;
	return NL_STOP;
}

static int cbt_nl_on_valid(struct nl_msg *msg, void *arg)
{
	struct cbt_nl_req *req = arg;
	struct nlattr *tb[CBT_A_MAX + 1];
	int err;

	if (req->err)
		return NL_SKIP;	/* drain the rest of a failed dump */
	err = genlmsg_parse(nlmsg_hdr(msg), 0, tb, CBT_A_MAX, cbt_policy);
	if (err < 0) {
		log_err("dm-cbt %s: malformed reply from the kernel: %s", req->what,
			nl_geterror(err));
		req->err = -EPROTO;
		return NL_SKIP;
	}
	if (req->parse) {
		err = req->parse(req->arg, tb);
		if (err)
			req->err = err;
	}
	return NL_OK;
}

/*
 * Send msg (consumed) and process replies until the ACK, the error or the
 * end of the dump.  Returns 0 or -errno.
 */
static int cbt_nl_transact(struct cbt_nl *nl, struct nl_msg *msg, const char *what,
			   int (*parse)(void *arg, struct nlattr **tb), void *arg)
{
	struct cbt_nl_req req = { .what = what, .parse = parse, .arg = arg };
	struct nl_cb *cb;
	int err;

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		err = -ENOMEM;
		goto out_msg;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, cbt_nl_on_error, &req);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, cbt_nl_on_ack, &req);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, cbt_nl_on_finish, &req);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, cbt_nl_on_valid, &req);

	err = nl_send_auto(nl->sk, msg);
	if (err < 0) {
		log_err("dm-cbt %s: cannot send the request: %s", what, nl_geterror(err));
		err = -EIO;
		goto out_cb;
	}
	while (!req.done) {
		err = nl_recvmsgs(nl->sk, cb);
		/* Our callbacks stop the loop; their verdict is in req.err. */
		if (err < 0 && !req.done) {
			log_err("dm-cbt %s: receiving the reply failed: %s", what,
				nl_geterror(err));
			req.err = -EIO;
			break;
		}
	}
	err = req.err;
out_cb:
	nl_cb_put(cb);
out_msg:
	nlmsg_free(msg);
	return err;
}

static struct nl_msg *cbt_nl_msg(const struct cbt_nl *nl, uint8_t cmd, bool dump)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
			 dump ? NLM_F_DUMP : 0, cmd, CBT_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* ---- volume attributes ---- */

struct cbt_nl_vol {
	struct cbt_volume_info info;
	uint32_t major, minor;
	bool seen;
};

/*
 * The dm name from sysfs: it is what the admin gave dmsetup, whatever the
 * kernel module reports as CBT_A_NAME.  -errno if there is none.
 */
static int dm_sysfs_name(uint32_t major, uint32_t minor, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/name", major, minor);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return buf[0] ? 0 : -EIO;
}

static int cbt_parse_volume(struct nlattr **tb, struct cbt_nl_vol *v)
{
	struct cbt_volume_info *info = &v->info;

	if (!tb[CBT_A_BLOCK_SIZE] || !tb[CBT_A_NR_BLOCKS] || !tb[CBT_A_CYCLE] ||
	    !tb[CBT_A_FROZEN]) {
		log_err("dm-cbt: the kernel's volume reply lacks required attributes (module and cbtship versions do not match?)");
		return -EPROTO;
	}
	memset(v, 0, sizeof(*v));
	if (tb[CBT_A_NAME])
		nla_strlcpy(info->name, tb[CBT_A_NAME], sizeof(info->name));
	info->block_size = nla_get_u32(tb[CBT_A_BLOCK_SIZE]);
	info->nr_blocks = nla_get_u64(tb[CBT_A_NR_BLOCKS]);
	info->cycle = nla_get_u64(tb[CBT_A_CYCLE]);
	info->frozen = nla_get_u8(tb[CBT_A_FROZEN]) != 0;
	if (tb[CBT_A_DIRTY_BLOCKS])
		info->dirty_blocks = nla_get_u64(tb[CBT_A_DIRTY_BLOCKS]);
	if (tb[CBT_A_FROZEN_BLOCKS])
		info->frozen_blocks = nla_get_u64(tb[CBT_A_FROZEN_BLOCKS]);
	if (tb[CBT_A_VOLUME_ID])
		memcpy(info->tracking_id, nla_data(tb[CBT_A_VOLUME_ID]), 16);
	/* A module without the attribute predates the flag: nothing to say. */
	if (tb[CBT_A_RESYNC_REQUIRED])
		info->resync_required = nla_get_u8(tb[CBT_A_RESYNC_REQUIRED]) != 0;
	if (tb[CBT_A_DEV_MAJOR])
		v->major = nla_get_u32(tb[CBT_A_DEV_MAJOR]);
	if (tb[CBT_A_DEV_MINOR])
		v->minor = nla_get_u32(tb[CBT_A_DEV_MINOR]);
	if ((tb[CBT_A_DEV_MAJOR] || tb[CBT_A_DEV_MINOR]) &&
	    dm_sysfs_name(v->major, v->minor, info->name, sizeof(info->name)) < 0 &&
	    tb[CBT_A_NAME])
		nla_strlcpy(info->name, tb[CBT_A_NAME], sizeof(info->name));
	if (!info->block_size || info->block_size % 512) {
		log_err("dm-cbt: the kernel reports an invalid block size %u", info->block_size);
		return -EPROTO;
	}
	v->seen = true;
	return 0;
}

static int cbt_parse_one_volume(void *arg, struct nlattr **tb)
{
	struct cbt_nl_vol *v = arg;

	if (v->seen) {
		log_err("dm-cbt: the kernel sent two volume replies to one request");
		return -EPROTO;
	}
	return cbt_parse_volume(tb, v);
}

/* ---- the cbt_source ops ---- */

static struct cbt_dm_source *to_dm(struct cbt_source *src)
{
	return (struct cbt_dm_source *)src;
}

/* A request addressed to this volume (and cycle, when non-zero). */
static struct nl_msg *cbt_dm_msg(struct cbt_dm_source *s, uint8_t cmd, bool dump,
				 bool with_cycle, uint64_t cycle)
{
	struct nl_msg *msg = cbt_nl_msg(&s->nl, cmd, dump);

	if (!msg)
		return NULL;
	if (nla_put_u32(msg, CBT_A_DEV_MAJOR, s->major) < 0 ||
	    nla_put_u32(msg, CBT_A_DEV_MINOR, s->minor) < 0 ||
	    (with_cycle && nla_put_u64(msg, CBT_A_CYCLE, cycle) < 0)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Turn an errno from a volume request into a message the admin can act on. */
static int cbt_dm_fail(struct cbt_dm_source *s, uint8_t cmd, int err)
{
	const char *what = cbt_cmd_names[cmd];

	switch (err) {
	case -ENODEV:
		log_err("%s is not a dm-cbt volume (its device-mapper table has no cbt target)",
			s->path);
		break;
	case -EPERM:
	case -EACCES:
		log_err("dm-cbt %s on %s: permission denied (needs CAP_SYS_ADMIN: run as root)",
			what, s->path);
		break;
	case -EBUSY:
		log_err("dm-cbt %s on %s: a cycle is already frozen; commit or abort it first",
			what, s->path);
		break;
	default:
		log_err("dm-cbt %s on %s failed: %s", what, s->path, strerror(-err));
		break;
	}
	return err;
}

static int cbt_dm_get(struct cbt_dm_source *s, struct cbt_nl_vol *v)
{
	struct nl_msg *msg = cbt_dm_msg(s, CBT_CMD_GET, false, false, 0);
	int err;

	if (!msg)
		return -ENOMEM;
	memset(v, 0, sizeof(*v));
	err = cbt_nl_transact(&s->nl, msg, "GET", cbt_parse_one_volume, v);
	if (err)
		return cbt_dm_fail(s, CBT_CMD_GET, err);
	if (!v->seen) {
		log_err("dm-cbt GET on %s: the kernel sent no volume attributes", s->path);
		return -EPROTO;
	}
	return 0;
}

static int cbt_dev_size(const char *path, uint64_t *size)
{
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_err("cannot open %s to read its size: %s", path, strerror(errno));
		return err;
	}
	if (ioctl(fd, BLKGETSIZE64, size) < 0) {
		err = -errno;
		log_err("cannot read the size of %s (BLKGETSIZE64): %s", path, strerror(errno));
	}
	close(fd);
	return err;
}

static int cbt_dm_info(struct cbt_source *src, struct cbt_volume_info *info)
{
	struct cbt_dm_source *s = to_dm(src);
	struct cbt_nl_vol v;
	uint64_t size, want;
	int err;

	err = cbt_dm_get(s, &v);
	if (err)
		return err;
	err = cbt_dev_size(s->path, &size);
	if (err)
		return err;
	want = size / v.info.block_size + (size % v.info.block_size != 0);
	if (want != v.info.nr_blocks) {
		log_err("%s: dm-cbt reports %" PRIu64 " blocks of %u bytes but the device has %" PRIu64 " bytes; reload the table so tracking matches the device size",
			s->path, v.info.nr_blocks, v.info.block_size, size);
		return -EIO;
	}
	v.info.size_bytes = size;
	snprintf(v.info.data_path, sizeof(v.info.data_path), "%s", s->path);
	*info = v.info;
	return 0;
}

static int cbt_dm_freeze(struct cbt_source *src, uint64_t *cycle)
{
	struct cbt_dm_source *s = to_dm(src);
	struct nl_msg *msg = cbt_dm_msg(s, CBT_CMD_FREEZE, false, false, 0);
	struct cbt_nl_vol v = { .seen = false };
	int err;

	if (!msg)
		return -ENOMEM;
	err = cbt_nl_transact(&s->nl, msg, "FREEZE", cbt_parse_one_volume, &v);
	if (err)
		return cbt_dm_fail(s, CBT_CMD_FREEZE, err);
	if (!v.seen || !v.info.frozen) {
		log_err("dm-cbt FREEZE on %s: the kernel's reply does not show a frozen cycle",
			s->path);
		return -EPROTO;
	}
	*cycle = v.info.cycle;
	return 0;
}

struct cbt_changes_ctx {
	struct cbt_extent_list *out;
	uint64_t nr_blocks;
	uint64_t cycle;
	const char *path;
};

static int cbt_parse_changes(void *arg, struct nlattr **tb)
{
	struct cbt_changes_ctx *c = arg;
	struct cbt_extent e;
	const char *p;
	size_t len, i;
	int err;

	if (tb[CBT_A_CYCLE] && nla_get_u64(tb[CBT_A_CYCLE]) != c->cycle) {
		log_err("dm-cbt GET_CHANGES on %s: the kernel answered for cycle %" PRIu64 ", not %" PRIu64,
			c->path, (uint64_t)nla_get_u64(tb[CBT_A_CYCLE]), c->cycle);
		return -ESTALE;
	}
	if (!tb[CBT_A_EXTENTS])
		return 0;
	len = (size_t)nla_len(tb[CBT_A_EXTENTS]);
	if (len % sizeof(e)) {
		log_err("dm-cbt GET_CHANGES on %s: extent attribute of %zu bytes is not a whole number of extents",
			c->path, len);
		return -EPROTO;
	}
	p = nla_data(tb[CBT_A_EXTENTS]);
	for (i = 0; i < len / sizeof(e); i++) {
		memcpy(&e, p + i * sizeof(e), sizeof(e));
		if (!e.count || e.start >= c->nr_blocks || e.count > c->nr_blocks - e.start) {
			log_err("dm-cbt GET_CHANGES on %s: extent [%llu, +%llu) is empty or beyond the volume's %" PRIu64 " blocks",
				c->path, (unsigned long long)e.start,
				(unsigned long long)e.count, c->nr_blocks);
			return -EPROTO;
		}
		err = cbt_extent_list_add(c->out, e.start, e.count);
		if (err == -EINVAL) {
			log_err("dm-cbt GET_CHANGES on %s: extents are not sorted and disjoint (at block %llu)",
				c->path, (unsigned long long)e.start);
			return -EPROTO;
		}
		if (err)
			return err;
	}
	return 0;
}

static int cbt_dm_changes(struct cbt_source *src, uint64_t cycle, struct cbt_extent_list *out)
{
	struct cbt_dm_source *s = to_dm(src);
	struct cbt_changes_ctx c = { .out = out, .cycle = cycle, .path = s->path };
	struct cbt_extent_list list = { 0 };
	struct cbt_nl_vol v;
	struct nl_msg *msg;
	uint64_t got;
	int err;

	err = cbt_dm_get(s, &v);
	if (err)
		return err;
	if (!v.info.frozen || v.info.cycle != cycle) {
		log_err("%s: cycle %" PRIu64 " is not frozen (kernel: cycle %" PRIu64 ", %s)",
			s->path, cycle, v.info.cycle, v.info.frozen ? "frozen" : "not frozen");
		return -ESTALE;
	}
	c.nr_blocks = v.info.nr_blocks;
	c.out = &list;

	msg = cbt_dm_msg(s, CBT_CMD_GET_CHANGES, true, true, cycle);
	if (!msg)
		return -ENOMEM;
	err = cbt_nl_transact(&s->nl, msg, "GET_CHANGES", cbt_parse_changes, &c);
	if (err) {
		cbt_extent_list_free(&list);
		if (err != -EPROTO && err != -ESTALE)
			cbt_dm_fail(s, CBT_CMD_GET_CHANGES, err);
		return err;
	}
	got = cbt_extent_list_blocks(&list);
	if (got != v.info.frozen_blocks)
		log_warn("%s: cycle %" PRIu64 " lists %" PRIu64 " changed blocks, the kernel counted %" PRIu64 "; shipping the listed ones",
			 s->path, cycle, got, v.info.frozen_blocks);
	cbt_extent_list_free(out);
	*out = list;
	return 0;
}

static int cbt_dm_end_cycle(struct cbt_dm_source *s, uint8_t cmd, uint64_t cycle)
{
	struct nl_msg *msg = cbt_dm_msg(s, cmd, false, true, cycle);
	int err;

	if (!msg)
		return -ENOMEM;
	err = cbt_nl_transact(&s->nl, msg, cbt_cmd_names[cmd], NULL, NULL);
	if (err)
		return cbt_dm_fail(s, cmd, err);
	return 0;
}

static int cbt_dm_commit(struct cbt_source *src, uint64_t cycle)
{
	return cbt_dm_end_cycle(to_dm(src), CBT_CMD_COMMIT, cycle);
}

static int cbt_dm_abort(struct cbt_source *src, uint64_t cycle)
{
	return cbt_dm_end_cycle(to_dm(src), CBT_CMD_ABORT, cycle);
}

static int cbt_dm_mark_dirty(struct cbt_source *src, const struct cbt_extent *ext, size_t n)
{
	struct cbt_dm_source *s = to_dm(src);
	struct nl_msg *msg;
	size_t batch;
	int err;

	while (n) {
		batch = n < CBT_MAX_EXTENTS_PER_MSG ? n : CBT_MAX_EXTENTS_PER_MSG;
		msg = cbt_dm_msg(s, CBT_CMD_MARK_DIRTY, false, false, 0);
		if (!msg)
			return -ENOMEM;
		if (nla_put(msg, CBT_A_EXTENTS, (int)(batch * sizeof(*ext)), ext) < 0) {
			nlmsg_free(msg);
			return -ENOMEM;
		}
		err = cbt_nl_transact(&s->nl, msg, "MARK_DIRTY", NULL, NULL);
		if (err)
			return cbt_dm_fail(s, CBT_CMD_MARK_DIRTY, err);
		ext += batch;
		n -= batch;
	}
	return 0;
}

static int cbt_dm_clear_resync(struct cbt_source *src)
{
	struct cbt_dm_source *s = to_dm(src);
	struct nl_msg *msg = cbt_dm_msg(s, CBT_CMD_CLEAR_RESYNC, false, false, 0);
	int err;

	if (!msg)
		return -ENOMEM;
	err = cbt_nl_transact(&s->nl, msg, "CLEAR_RESYNC", NULL, NULL);
	if (err == -EOPNOTSUPP) {
		log_err("dm-cbt CLEAR_RESYNC on %s: the loaded dm-cbt module is too old for this command; load the module built with this cbtship",
			s->path);
		return err;
	}
	if (err)
		return cbt_dm_fail(s, CBT_CMD_CLEAR_RESYNC, err);
	return 0;
}

static void cbt_dm_close(struct cbt_source *src)
{
	struct cbt_dm_source *s = to_dm(src);

	cbt_nl_close(&s->nl);
	free(s);
}

static const struct cbt_source_ops cbt_dm_ops = {
	.name = "dm-cbt",
	.info = cbt_dm_info,
	.freeze = cbt_dm_freeze,
	.changes = cbt_dm_changes,
	.commit = cbt_dm_commit,
	.abort = cbt_dm_abort,
	.mark_dirty = cbt_dm_mark_dirty,
	.clear_resync = cbt_dm_clear_resync,
	.close = cbt_dm_close,
};

int cbt_source_open_dm(const char *device, struct cbt_source **out)
{
	struct cbt_dm_source *s;
	struct cbt_nl_vol v;
	struct stat st;
	int err;

	if (stat(device, &st) < 0) {
		err = -errno;
		log_err("cannot access %s: %s", device, strerror(errno));
		return err;
	}
	if (!S_ISBLK(st.st_mode)) {
		log_err("%s is not a block device; give the dm-cbt device (/dev/mapper/NAME)",
			device);
		return -ENOTBLK;
	}
	if (strlen(device) >= sizeof(s->path)) {
		log_err("device path too long: %s", device);
		return -ENAMETOOLONG;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->src.ops = &cbt_dm_ops;
	s->major = major(st.st_rdev);
	s->minor = minor(st.st_rdev);
	snprintf(s->path, sizeof(s->path), "%s", device);

	err = cbt_nl_open(&s->nl);
	if (err)
		goto out_free;
	/* Fail here, not at first use, if this is not a dm-cbt volume. */
	err = cbt_dm_get(s, &v);
	if (err)
		goto out_close;
	*out = &s->src;
	return 0;

out_close:
	cbt_nl_close(&s->nl);
out_free:
	free(s);
	return err;
}

struct cbt_list_ctx {
	int (*fn)(void *arg, const struct cbt_volume_info *info, uint32_t major, uint32_t minor);
	void *arg;
};

static int cbt_parse_list(void *arg, struct nlattr **tb)
{
	struct cbt_list_ctx *c = arg;
	struct cbt_nl_vol v;
	int err;

	err = cbt_parse_volume(tb, &v);
	if (err)
		return err;
	return c->fn(c->arg, &v.info, v.major, v.minor);
}

int cbt_netlink_list(int (*fn)(void *arg, const struct cbt_volume_info *info,
			       uint32_t major, uint32_t minor),
		     void *arg)
{
	struct cbt_list_ctx c = { .fn = fn, .arg = arg };
	struct cbt_nl nl;
	struct nl_msg *msg;
	int err;

	err = cbt_nl_open(&nl);
	if (err)
		return err;
	msg = cbt_nl_msg(&nl, CBT_CMD_LIST, true);
	if (!msg) {
		err = -ENOMEM;
		goto out_close;
	}
	err = cbt_nl_transact(&nl, msg, "LIST", cbt_parse_list, &c);
	if (err == -EPERM || err == -EACCES)
		log_err("dm-cbt LIST: permission denied (run as root)");
out_close:
	cbt_nl_close(&nl);
	return err;
}

/* ---- events group ---- */

struct cbt_events {
	struct cbt_nl nl;
	bool lost;			/* an overrun not reported yet */
	unsigned char buf[16384];	/* one datagram: the kernel sends one event each */
};

int cbt_events_open(struct cbt_events **out)
{
	struct cbt_events *ev;
	int grp, err;

	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	err = cbt_nl_open(&ev->nl);
	if (err)
		goto out_free;
	grp = genl_ctrl_resolve_grp(ev->nl.sk, CBT_GENL_NAME, CBT_GENL_MCGRP_EVENTS);
	if (grp < 0) {
		log_err("dm-cbt: no \"%s\" multicast group (%s); is the module current?",
			CBT_GENL_MCGRP_EVENTS, nl_geterror(grp));
		err = -ENOENT;
		goto out_close;
	}
	err = nl_socket_add_membership(ev->nl.sk, grp);
	if (err < 0) {
		log_err("dm-cbt: cannot join the events group: %s", nl_geterror(err));
		err = -EIO;
		goto out_close;
	}
	err = nl_socket_set_nonblocking(ev->nl.sk);
	if (err < 0) {
		log_err("dm-cbt: cannot make the events socket non-blocking: %s",
			nl_geterror(err));
		err = -EIO;
		goto out_close;
	}
	*out = ev;
	return 0;
out_close:
	cbt_nl_close(&ev->nl);
out_free:
	free(ev);
	return err;
}

int cbt_events_fd(const struct cbt_events *ev)
{
	return nl_socket_get_fd(ev->nl.sk);
}

/* Parse one datagram's messages into out; returns how many. */
static size_t cbt_events_parse(const struct cbt_events *ev, size_t len,
			       struct cbt_event *out, size_t max)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)ev->buf;
	struct nlattr *tb[CBT_A_MAX + 1];
	int rem = (int)len;
	size_t n = 0;

	for (; nlmsg_ok(nlh, rem) && n < max; nlh = nlmsg_next(nlh, &rem)) {
		if (nlh->nlmsg_type != ev->nl.family ||
		    genlmsg_parse(nlh, 0, tb, CBT_A_MAX, cbt_policy) ||
		    !tb[CBT_A_DEV_MAJOR] || !tb[CBT_A_DEV_MINOR])
			continue;	/* not ours or malformed: nothing to act on */
		out[n].cmd = ((struct genlmsghdr *)nlmsg_data(nlh))->cmd;
		out[n].major = nla_get_u32(tb[CBT_A_DEV_MAJOR]);
		out[n].minor = nla_get_u32(tb[CBT_A_DEV_MINOR]);
		n++;
	}
	return n;
}

int cbt_events_read(struct cbt_events *ev, struct cbt_event *out, size_t max)
{
	size_t n = 0;
	ssize_t len;

	if (ev->lost) {
		ev->lost = false;
		return -ENOBUFS;
	}
	while (n < max) {
		len = recv(cbt_events_fd(ev), ev->buf, sizeof(ev->buf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (!n)
				return -errno;
			/* Reported once by the socket: keep it for the next call. */
			ev->lost = errno == ENOBUFS;
			break;
		}
		n += cbt_events_parse(ev, (size_t)len, out + n, max - n);
	}
	return (int)n;
}

void cbt_events_close(struct cbt_events *ev)
{
	if (!ev)
		return;
	cbt_nl_close(&ev->nl);
	free(ev);
}
