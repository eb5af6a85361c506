// SPDX-License-Identifier: GPL-2.0
/*
 * nl-malformed: send dm-cbt generic netlink messages that are wrong on
 * purpose (attribute types and lengths, missing attributes, huge values,
 * unknown commands, truncated headers, an unprivileged sender) and check
 * each is refused with the errno, and where dm-cbt gives one the extack
 * message, it should get.  Hand-built messages on a raw socket: a library
 * would refuse to build most of them.
 *
 *   nl-malformed DEVICE     (DEVICE: a dm-cbt volume without a ring, no
 *                            cycle frozen, at least 4 blocks; run as root)
 *
 * Prints one "ok"/"not ok" line per case; exits 0 only if all passed and
 * the volume's state is what the accepted commands alone made it.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/dm-cbt.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK		11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK		10
#endif

#define BUF_BYTES	(64 * 1024)
#define NOBODY		65534

struct msg {
	uint8_t buf[BUF_BYTES];
	size_t len;
};

struct reply {
	int err;			/* 0 or -errno from the ack / NLMSG_DONE */
	char extack[256];		/* NLMSGERR_ATTR_MSG, "" if none */
	uint8_t attrs[4096];		/* attributes of the first data message */
	size_t attrs_len;
	int nr_data;			/* data messages before the ack or DONE */
};

static int sock = -1;
static uint16_t family;
static uint32_t seq = 1000;
static uint32_t major_nr, minor_nr;
static int failures, cases;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "nl-malformed: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ---- message building: deliberately able to build wrong messages ---- */

static void msg_start(struct msg *m, uint16_t type, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *g = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++seq;
	g->cmd = cmd;
	g->version = CBT_GENL_VERSION;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

/* An attribute whose header says nla_len, followed by len bytes of data. */
static void msg_attr_raw(struct msg *m, uint16_t type, uint16_t nla_len, const void *data,
			 size_t len)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);

	if (m->len + NLA_HDRLEN + NLA_ALIGN(len) > sizeof(m->buf))
		die("test message too big");
	a->nla_type = type;
	a->nla_len = nla_len;
	memset(m->buf + m->len + NLA_HDRLEN, 0, NLA_ALIGN(len));
	if (len)
		memcpy(m->buf + m->len + NLA_HDRLEN, data, len);
	m->len += NLA_HDRLEN + NLA_ALIGN(len);
}

static void msg_attr(struct msg *m, uint16_t type, const void *data, size_t len)
{
	msg_attr_raw(m, type, (uint16_t)(NLA_HDRLEN + len), data, len);
}

static void msg_u32(struct msg *m, uint16_t type, uint32_t v)
{
	msg_attr(m, type, &v, sizeof(v));
}

static void msg_u64(struct msg *m, uint16_t type, uint64_t v)
{
	msg_attr(m, type, &v, sizeof(v));
}

static void msg_dev(struct msg *m)
{
	msg_u32(m, CBT_A_DEV_MAJOR, major_nr);
	msg_u32(m, CBT_A_DEV_MINOR, minor_nr);
}

static void msg_cbt(struct msg *m, uint8_t cmd, uint16_t flags)
{
	msg_start(m, family, cmd, flags);
}

/* A dm-cbt command naming the volume under test. */
static void msg_vol(struct msg *m, uint8_t cmd, uint16_t flags)
{
	msg_cbt(m, cmd, flags);
	msg_dev(m);
}

/* ---- sending and reading the answer ---- */

static void parse_extack(const struct nlmsghdr *nlh, size_t hdr_skip, struct reply *r)
{
	const uint8_t *p = (const uint8_t *)nlh + NLMSG_HDRLEN + hdr_skip;
	const uint8_t *end = (const uint8_t *)nlh + nlh->nlmsg_len;

	while (p + NLA_HDRLEN <= end) {
		const struct nlattr *a = (const struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
			snprintf(r->extack, sizeof(r->extack), "%.*s",
				 (int)(a->nla_len - NLA_HDRLEN), (const char *)(a + 1));
		p += NLA_ALIGN(a->nla_len);
	}
}

/* Send `sendlen` bytes of m (its nlmsg_len is set to m->len first unless keep_len). */
static void send_msg(struct msg *m, size_t sendlen, bool keep_len)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (!keep_len)
		((struct nlmsghdr *)m->buf)->nlmsg_len = (uint32_t)m->len;
	if (sendto(sock, m->buf, sendlen, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("sendto: %s", strerror(errno));
}

/* Read until the ack (doit) or NLMSG_DONE / an error (dump) of sequence `want`. */
static void recv_reply(uint32_t want, struct reply *r)
{
	static uint8_t buf[BUF_BYTES];

	memset(r, 0, sizeof(*r));
	for (;;) {
		ssize_t n = recv(sock, buf, sizeof(buf), 0);
		struct nlmsghdr *nlh;

		if (n < 0)
			die("recv: %s", strerror(errno));
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (size_t)n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != want) {
				/* An answer to a message that should have had none. */
				fprintf(stderr, "# unexpected reply (type %u) to sequence %u\n",
					nlh->nlmsg_type, nlh->nlmsg_seq);
				failures++;
				continue;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nlh);

				r->err = e->error;
				if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
					parse_extack(nlh, sizeof(*e), r);
				return;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				const int *e = NLMSG_DATA(nlh);

				r->err = nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? *e : 0;
				if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
					parse_extack(nlh, sizeof(int), r);
				return;
			}
			if (!r->nr_data++) {
				size_t alen = nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

				if (alen > sizeof(r->attrs))
					alen = sizeof(r->attrs);
				memcpy(r->attrs, (uint8_t *)NLMSG_DATA(nlh) + GENL_HDRLEN, alen);
				r->attrs_len = alen;
			}
		}
	}
}

static void transact(struct msg *m, struct reply *r)
{
	send_msg(m, m->len, false);
	recv_reply(((struct nlmsghdr *)m->buf)->nlmsg_seq, r);
}

static const char *errname(int err)
{
	static char b[64];

	snprintf(b, sizeof(b), "%d (%s)", err, err ? strerror(-err) : "success");
	return b;
}

/* One case: the answer must be `err`, and the extack contain `msg` if msg. */
static void expect(const char *name, const struct reply *r, int err, const char *msg)
{
	bool ok = r->err == err && (!msg || strstr(r->extack, msg));

	cases++;
	if (!ok)
		failures++;
	printf("%sok %d - %s: got %s \"%s\"", ok ? "" : "not ", cases, name, errname(r->err),
	       r->extack);
	if (!ok)
		printf(", want %s \"%s\"", errname(err), msg ? msg : "");
	printf("\n");
	fflush(stdout);
}

static void run(const char *name, struct msg *m, int err, const char *msg)
{
	struct reply r;

	transact(m, &r);
	expect(name, &r, err, msg);
}

/* ---- setup ---- */

static void open_socket(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;

	sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (sock < 0)
		die("socket(NETLINK_GENERIC): %s", strerror(errno));
	if (bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind: %s", strerror(errno));
	setsockopt(sock, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(sock, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
}

static void resolve_family(void)
{
	static const char name[] = CBT_GENL_NAME;
	struct msg *m = calloc(1, sizeof(*m));
	struct reply r;
	size_t off = 0;

	if (!m)
		die("out of memory");
	msg_start(m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	((struct genlmsghdr *)(m->buf + NLMSG_HDRLEN))->version = 1;
	msg_attr(m, CTRL_ATTR_FAMILY_NAME, name, sizeof(name));
	send_msg(m, m->len, false);
	/* The family comes as a data message before the ack. */
	recv_reply(((struct nlmsghdr *)m->buf)->nlmsg_seq, &r);
	if (r.err || !r.nr_data)
		die("generic netlink family %s not found (%s): is dm-cbt loaded?", name,
		    errname(r.err));
	while (off + NLA_HDRLEN <= r.attrs_len) {
		struct nlattr *a = (struct nlattr *)(r.attrs + off);

		if (a->nla_len < NLA_HDRLEN)
			break;
		if (a->nla_type == CTRL_ATTR_FAMILY_ID)
			memcpy(&family, a + 1, sizeof(family));
		off += NLA_ALIGN(a->nla_len);
	}
	if (!family)
		die("no family id in the answer for %s", name);
	free(m);
}

/* The volume's attributes from a well-formed GET (its state, to compare). */
static void get_state(struct msg *m, struct reply *r)
{
	msg_vol(m, CBT_CMD_GET, 0);
	transact(m, r);
	if (r->err || !r->nr_data)
		die("a well-formed GET failed: %s \"%s\"", errname(r->err), r->extack);
}

/* An attribute of a GET answer (u64 or smaller), or die. */
static uint64_t state_field(const struct reply *r, uint16_t type)
{
	size_t off = 0;

	while (off + NLA_HDRLEN <= r->attrs_len) {
		const struct nlattr *a = (const struct nlattr *)(r->attrs + off);
		uint64_t v = 0;

		if (a->nla_len < NLA_HDRLEN)
			break;
		if (a->nla_type == type) {
			size_t n = a->nla_len - NLA_HDRLEN;

			memcpy(&v, a + 1, n > sizeof(v) ? sizeof(v) : n);
			return v;
		}
		off += NLA_ALIGN(a->nla_len);
	}
	die("attribute %u missing in the GET answer", type);
	return 0;
}

/* ---- the cases ---- */

static void malformed_attrs(struct msg *m)
{
	static char longname[300];
	uint16_t u16v = 1;
	uint64_t u64v = major_nr;
	uint8_t id[15] = { 0 };

	/* Missing attributes. */
	msg_cbt(m, CBT_CMD_GET, 0);
	run("GET without attributes", m,
	    -EINVAL, "CBT_A_DEV_MAJOR and CBT_A_DEV_MINOR are required");
	msg_cbt(m, CBT_CMD_GET, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, major_nr);
	run("GET without CBT_A_DEV_MINOR", m, -EINVAL, "are required");

	/* Wrong lengths for the attribute's type. */
	msg_cbt(m, CBT_CMD_GET, 0);
	msg_attr(m, CBT_A_DEV_MAJOR, &u16v, sizeof(u16v));
	msg_u32(m, CBT_A_DEV_MINOR, minor_nr);
	run("GET with a 2-byte u32", m, -EINVAL, NULL);
	msg_cbt(m, CBT_CMD_GET, 0);
	msg_attr(m, CBT_A_DEV_MAJOR, &u64v, sizeof(u64v));
	msg_u32(m, CBT_A_DEV_MINOR, minor_nr);
	run("GET with an 8-byte u32", m, -EINVAL, NULL);
	msg_vol(m, CBT_CMD_GET, 0);
	msg_attr(m, CBT_A_VOLUME_ID, id, sizeof(id));
	run("GET with a 15-byte volume id", m, -ERANGE, NULL);

	/* Wrong types: nested flag, unknown, unspecified, padding. */
	msg_cbt(m, CBT_CMD_GET, 0);
	msg_u32(m, CBT_A_DEV_MAJOR | NLA_F_NESTED, major_nr);
	msg_u32(m, CBT_A_DEV_MINOR, minor_nr);
	run("GET with NLA_F_NESTED on a u32", m, -EINVAL, NULL);
	msg_vol(m, CBT_CMD_GET, 0);
	msg_u32(m, CBT_A_MAX + 1, 7);
	run("GET with an unknown attribute", m, -EINVAL, NULL);
	msg_vol(m, CBT_CMD_GET, 0);
	msg_u32(m, 0x3fff, 7);
	run("GET with attribute type 0x3fff", m, -EINVAL, NULL);
	msg_vol(m, CBT_CMD_GET, 0);
	msg_u32(m, CBT_A_UNSPEC, 7);
	run("GET with attribute type 0", m, -EINVAL, NULL);

	/* Strings: unterminated, too long for a dm name. */
	msg_vol(m, CBT_CMD_GET, 0);
	msg_attr(m, CBT_A_NAME, "abcd", 4);
	run("GET with an unterminated name", m, -EINVAL, NULL);
	memset(longname, 'a', sizeof(longname) - 1);
	msg_vol(m, CBT_CMD_GET, 0);
	msg_attr(m, CBT_A_NAME, longname, sizeof(longname));
	run("GET with a 299-byte name", m, -EINVAL, NULL);

	/* Attribute headers that lie about their length. */
	msg_vol(m, CBT_CMD_GET, 0);
	msg_attr_raw(m, CBT_A_TAG, 200, &u64v, sizeof(u64v));
	run("GET with an attribute longer than the message", m, -EINVAL, NULL);
	msg_vol(m, CBT_CMD_GET, 0);
	msg_attr_raw(m, CBT_A_TAG, 2, &u64v, sizeof(u64v));
	run("GET with an attribute shorter than its header", m, -EINVAL, NULL);
	msg_vol(m, CBT_CMD_GET, 0);
	m->buf[m->len] = 0xff;
	m->buf[m->len + 1] = 0xff;
	m->len += 2;
	run("GET with 2 bytes of junk after the attributes", m, -EINVAL, NULL);

	/* Huge or impossible values. */
	msg_cbt(m, CBT_CMD_GET, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, 0xffffffff);
	msg_u32(m, CBT_A_DEV_MINOR, minor_nr);
	run("GET with major 0xffffffff", m, -EINVAL, "device number out of range");
	msg_cbt(m, CBT_CMD_GET, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, major_nr);
	msg_u32(m, CBT_A_DEV_MINOR, 0x100000);
	run("GET with minor 2^20", m, -EINVAL, "device number out of range");
	msg_cbt(m, CBT_CMD_GET, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, major_nr);
	msg_u32(m, CBT_A_DEV_MINOR, 0xfffff);
	run("GET of a device that is not a volume", m, -ENODEV, "no active dm-cbt volume");
}

/* MARK_DIRTY of `len` bytes of extents. */
static void run_mark(struct msg *m, const char *name, const void *ext, size_t len, int err,
		     const char *msg)
{
	msg_vol(m, CBT_CMD_MARK_DIRTY, 0);
	msg_attr(m, CBT_A_EXTENTS, ext, len);
	run(name, m, err, msg);
}

static void malformed_mutations(struct msg *m, uint64_t nr_blocks)
{
	struct cbt_extent ext[2];
	uint8_t odd[15] = { 0 };
	static struct cbt_extent many[CBT_MAX_EXTENTS_PER_MSG + 1];
	uint32_t u32v = 1;

	msg_vol(m, CBT_CMD_MARK_DIRTY, 0);
	run("MARK_DIRTY without extents", m, -EINVAL, "CBT_A_EXTENTS is required");
	run_mark(m, "MARK_DIRTY with 15 bytes of extents", odd, sizeof(odd),
		 -EINVAL, "one or more struct cbt_extent");
	run_mark(m, "MARK_DIRTY with an empty extent list", NULL, 0,
		 -EINVAL, "one or more struct cbt_extent");
	for (size_t i = 0; i < CBT_MAX_EXTENTS_PER_MSG + 1; i++)
		many[i] = (struct cbt_extent){ .start = 0, .count = 1 };
	run_mark(m, "MARK_DIRTY with 1025 extents", many, sizeof(many), -ERANGE, NULL);

	ext[0] = (struct cbt_extent){ .start = UINT64_MAX, .count = UINT64_MAX };
	run_mark(m, "MARK_DIRTY of [2^64-1, +2^64-1)", ext, sizeof(ext[0]),
		 -ERANGE, "reaches past the end of the volume");
	ext[0] = (struct cbt_extent){ .start = 1, .count = UINT64_MAX };
	run_mark(m, "MARK_DIRTY whose end wraps around 2^64", ext, sizeof(ext[0]),
		 -ERANGE, "reaches past the end");
	ext[0] = (struct cbt_extent){ .start = 0, .count = 0 };
	run_mark(m, "MARK_DIRTY of an empty extent", ext, sizeof(ext[0]),
		 -ERANGE, "an extent is empty");
	ext[0] = (struct cbt_extent){ .start = nr_blocks, .count = 1 };
	run_mark(m, "MARK_DIRTY of the block after the last", ext, sizeof(ext[0]),
		 -ERANGE, "past the end");
	/* A good extent then a bad one: all or nothing (the state check catches a half). */
	ext[0] = (struct cbt_extent){ .start = 1, .count = 1 };
	ext[1] = (struct cbt_extent){ .start = nr_blocks - 1, .count = 2 };
	run_mark(m, "MARK_DIRTY with one good and one bad extent", ext, sizeof(ext),
		 -ERANGE, "past the end");

	msg_vol(m, CBT_CMD_COMMIT, 0);
	run("COMMIT without a cycle", m, -EINVAL, "CBT_A_CYCLE is required");
	msg_vol(m, CBT_CMD_COMMIT, 0);
	msg_attr(m, CBT_A_CYCLE, &u32v, sizeof(u32v));
	run("COMMIT with a 4-byte cycle", m, -EINVAL, NULL);
	msg_vol(m, CBT_CMD_COMMIT, 0);
	msg_u64(m, CBT_A_CYCLE, UINT64_MAX);
	run("COMMIT of cycle 2^64-1, none frozen", m, -ENOENT, "no cycle is frozen");
	msg_vol(m, CBT_CMD_ABORT, 0);
	msg_u64(m, CBT_A_CYCLE, UINT64_MAX);
	run("ABORT of cycle 2^64-1, none frozen", m, -ENOENT, "no cycle is frozen");
	msg_cbt(m, CBT_CMD_ABORT, 0);
	msg_u64(m, CBT_A_CYCLE, 1);
	run("ABORT without a device", m, -EINVAL, "are required");
	msg_vol(m, CBT_CMD_TAG, 0);
	run("TAG without a tag", m, -EINVAL, "CBT_A_TAG is required");
	msg_vol(m, CBT_CMD_TAG, 0);
	msg_u64(m, CBT_A_TAG, UINT64_MAX);
	run("TAG on a volume without a ring", m, -ENOSPC, "the volume has no ring");
	msg_cbt(m, CBT_CMD_FREEZE, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, major_nr);
	run("FREEZE without a minor", m, -EINVAL, "are required");
	msg_cbt(m, CBT_CMD_CLEAR_RESYNC, 0);
	run("CLEAR_RESYNC without a device", m, -EINVAL, "are required");
	msg_cbt(m, CBT_CMD_CLEAR_RESYNC, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, major_nr);
	msg_attr(m, CBT_A_DEV_MINOR, &u32v, 2);
	run("CLEAR_RESYNC with a 2-byte minor", m, -EINVAL, NULL);
	msg_cbt(m, CBT_CMD_CLEAR_RESYNC, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, 0xffffffff);
	msg_u32(m, CBT_A_DEV_MINOR, 0xffffffff);
	run("CLEAR_RESYNC of device 0xffffffff:0xffffffff", m, -EINVAL,
	    "device number out of range");
	msg_cbt(m, CBT_CMD_CLEAR_RESYNC, 0);
	msg_u32(m, CBT_A_DEV_MAJOR, major_nr);
	msg_u32(m, CBT_A_DEV_MINOR, 0xfffff);
	run("CLEAR_RESYNC of a device that is not a volume", m, -ENODEV,
	    "no active dm-cbt volume");
	msg_vol(m, CBT_CMD_CLEAR_RESYNC, NLM_F_DUMP);
	run("CLEAR_RESYNC as a dump (it has no dumpit)", m, -EOPNOTSUPP, NULL);

	/* Dumps: errors come in NLMSG_DONE. */
	msg_vol(m, CBT_CMD_GET_CHANGES, NLM_F_DUMP);
	run("GET_CHANGES with nothing frozen", m, -ENOENT, "freeze first");
	msg_cbt(m, CBT_CMD_GET_CHANGES, NLM_F_DUMP);
	run("GET_CHANGES without a device", m, -EINVAL, "are required");
	msg_cbt(m, CBT_CMD_GET_RING, NLM_F_DUMP);
	msg_u32(m, CBT_A_DEV_MAJOR, 0xffffffff);
	msg_u32(m, CBT_A_DEV_MINOR, 0xffffffff);
	run("GET_RING of device 0xffffffff:0xffffffff", m, -EINVAL, "device number out of range");
	msg_vol(m, CBT_CMD_GET_CHANGES, NLM_F_DUMP);
	msg_attr(m, CBT_A_CYCLE, &u32v, sizeof(u32v));
	run("GET_CHANGES with a 4-byte cycle", m, -EINVAL, NULL);
}

/* FREEZE twice, wrong cycles, then ABORT: the blocks come back. */
static void cycle_misuse(struct msg *m)
{
	struct reply r;
	uint64_t cycle, dirty;

	get_state(m, &r);
	dirty = state_field(&r, CBT_A_DIRTY_BLOCKS);
	msg_vol(m, CBT_CMD_FREEZE, 0);
	transact(m, &r);
	expect("FREEZE (well-formed)", &r, 0, NULL);
	cycle = state_field(&r, CBT_A_CYCLE);
	msg_vol(m, CBT_CMD_FREEZE, 0);
	run("FREEZE with a cycle frozen", m, -EBUSY, "already frozen");
	msg_vol(m, CBT_CMD_COMMIT, 0);
	msg_u64(m, CBT_A_CYCLE, cycle + 1);
	run("COMMIT of the wrong cycle", m, -ESTALE, "does not name the frozen cycle");
	msg_vol(m, CBT_CMD_ABORT, 0);
	msg_u64(m, CBT_A_CYCLE, cycle - 1);
	run("ABORT of the wrong cycle", m, -ESTALE, "does not name the frozen cycle");
	msg_vol(m, CBT_CMD_GET_CHANGES, NLM_F_DUMP);
	msg_u64(m, CBT_A_CYCLE, UINT64_MAX);
	run("GET_CHANGES of the wrong cycle", m, -ESTALE, "does not name the frozen cycle");
	msg_vol(m, CBT_CMD_ABORT, 0);
	msg_u64(m, CBT_A_CYCLE, cycle);
	run("ABORT of the frozen cycle (well-formed)", m, 0, NULL);
	get_state(m, &r);
	cases++;
	if (state_field(&r, CBT_A_DIRTY_BLOCKS) != dirty || state_field(&r, CBT_A_FROZEN)) {
		failures++;
		printf("not ok %d - after ABORT: %llu dirty blocks (want %llu), frozen %llu\n",
		       cases, (unsigned long long)state_field(&r, CBT_A_DIRTY_BLOCKS),
		       (unsigned long long)dirty,
		       (unsigned long long)state_field(&r, CBT_A_FROZEN));
	} else {
		printf("ok %d - after ABORT the %llu dirty blocks are back\n", cases,
		       (unsigned long long)dirty);
	}
}

static void bad_commands_and_headers(struct msg *m)
{
	static const uint8_t unknown[] = { CBT_CMD_UNSPEC, CBT_CMD_RING_WATERMARK,
					   CBT_CMD_RING_OVERFLOW, CBT_CMD_VOLUME_ADDED,
					   CBT_CMD_VOLUME_REMOVED, CBT_CMD_RESYNC_REQUIRED,
					   CBT_CMD_CHANGED, CBT_CMD_MAX + 1, 255 };
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
	char name[64];
	struct reply r;

	for (size_t i = 0; i < sizeof(unknown); i++) {
		msg_vol(m, unknown[i], 0);
		snprintf(name, sizeof(name), "command %u (no handler)", unknown[i]);
		run(name, m, -EOPNOTSUPP, NULL);
	}
	msg_vol(m, CBT_CMD_GET, NLM_F_DUMP);
	run("GET as a dump (GET has no dumpit)", m, -EOPNOTSUPP, NULL);
	msg_vol(m, CBT_CMD_GET_CHANGES, 0);
	run("GET_CHANGES not as a dump", m, -EOPNOTSUPP, NULL);

	/* Generic netlink header cut short: 2 bytes of it. */
	msg_cbt(m, CBT_CMD_GET, 0);
	m->len = NLMSG_HDRLEN + 2;
	run("a genl header of 2 bytes", m, -EINVAL, NULL);
	/* Only the netlink header. */
	msg_cbt(m, CBT_CMD_GET, 0);
	m->len = NLMSG_HDRLEN;
	run("no genl header at all", m, -EINVAL, NULL);

	/*
	 * nlmsg_len beyond what was sent, or below a netlink header: the
	 * kernel drops these without an answer.  A well-formed GET right
	 * after must get the first answer (recv_reply counts strays).
	 */
	msg_vol(m, CBT_CMD_GET, 0);
	nlh->nlmsg_len = (uint32_t)m->len + 64;
	send_msg(m, m->len, true);
	msg_vol(m, CBT_CMD_GET, 0);
	nlh->nlmsg_len = 8;
	send_msg(m, m->len, true);
	msg_vol(m, CBT_CMD_GET, 0);
	transact(m, &r);
	expect("truncated messages dropped; the next GET answered", &r, 0, NULL);
	cases++;
	if (r.nr_data != 1) {
		failures++;
		printf("not ok %d - the GET after them got %d answers\n", cases, r.nr_data);
	} else {
		printf("ok %d - one answer, to the GET\n", cases);
	}
}

/* As nobody: every mutating or change-reading command is refused, malformed or not. */
static int unprivileged(void)
{
	static struct msg m;
	static const struct {
		uint8_t cmd;
		uint16_t flags;
		bool cycle;
	} ops[] = {
		{ CBT_CMD_FREEZE, 0, false },
		{ CBT_CMD_COMMIT, 0, true },
		{ CBT_CMD_ABORT, 0, true },
		{ CBT_CMD_MARK_DIRTY, 0, false },
		{ CBT_CMD_TAG, 0, false },
		{ CBT_CMD_GET_CHANGES, NLM_F_DUMP, false },
		{ CBT_CMD_GET_RING, NLM_F_DUMP, false },
		{ CBT_CMD_CLEAR_RESYNC, 0, false },
	};
	struct cbt_extent ext = { .start = 0, .count = 1 };
	char name[96];

	failures = 0;
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		die("cannot become nobody: %s", strerror(errno));
	open_socket();
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		/* Well-formed. */
		msg_vol(&m, ops[i].cmd, ops[i].flags);
		if (ops[i].cycle)
			msg_u64(&m, CBT_A_CYCLE, 1);
		if (ops[i].cmd == CBT_CMD_MARK_DIRTY)
			msg_attr(&m, CBT_A_EXTENTS, &ext, sizeof(ext));
		if (ops[i].cmd == CBT_CMD_TAG)
			msg_u64(&m, CBT_A_TAG, 1);
		snprintf(name, sizeof(name), "as nobody: command %u", ops[i].cmd);
		run(name, &m, -EPERM, NULL);
		/* Malformed: the permission check comes before any parsing. */
		msg_cbt(&m, ops[i].cmd, ops[i].flags);
		msg_attr_raw(&m, CBT_A_DEV_MAJOR, 300, &ext, 2);
		snprintf(name, sizeof(name), "as nobody: malformed command %u", ops[i].cmd);
		run(name, &m, -EPERM, NULL);
	}
	/* Reading is allowed: the same socket works. */
	msg_vol(&m, CBT_CMD_GET, 0);
	run("as nobody: GET", &m, 0, NULL);
	return failures;
}

int main(int argc, char **argv)
{
	static struct msg m;
	struct reply before, after;
	struct cbt_extent ext = { .start = 0, .count = 1 };
	uint64_t nr_blocks;
	struct stat st;
	int counts[2], child[2], status = 0;
	pid_t pid;

	if (argc != 2)
		die("usage: nl-malformed DEVICE");
	if (stat(argv[1], &st) < 0 || !S_ISBLK(st.st_mode))
		die("%s is not a block device", argv[1]);
	major_nr = major(st.st_rdev);
	minor_nr = minor(st.st_rdev);
	open_socket();
	resolve_family();

	/* Well-formed controls first: the harness itself works. */
	get_state(&m, &before);
	nr_blocks = state_field(&before, CBT_A_NR_BLOCKS);
	if (nr_blocks < 4 || state_field(&before, CBT_A_FROZEN) ||
	    state_field(&before, CBT_A_RING_SIZE))
		die("%s must have 4 blocks or more, no ring and no frozen cycle", argv[1]);
	msg_vol(&m, CBT_CMD_MARK_DIRTY, 0);
	msg_attr(&m, CBT_A_EXTENTS, &ext, sizeof(ext));
	run("MARK_DIRTY of block 0 (well-formed)", &m, 0, NULL);
	/* A new volume needs a resync; clearing it is the one change CLEAR_RESYNC makes. */
	msg_vol(&m, CBT_CMD_CLEAR_RESYNC, 0);
	run("CLEAR_RESYNC (well-formed)", &m, 0, NULL);
	get_state(&m, &before);
	cases++;
	if (state_field(&before, CBT_A_RESYNC_REQUIRED)) {
		failures++;
		printf("not ok %d - resync_required still set after CLEAR_RESYNC\n", cases);
	} else {
		printf("ok %d - resync_required is 0 after CLEAR_RESYNC\n", cases);
	}

	cycle_misuse(&m);
	get_state(&m, &before);
	malformed_attrs(&m);
	malformed_mutations(&m, nr_blocks);
	bad_commands_and_headers(&m);

	/* The unprivileged cases in a child; it reports its counts through a pipe. */
	fflush(stdout);
	if (pipe(counts) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int c[2];

		c[1] = unprivileged();
		c[0] = cases;
		fflush(stdout);
		_exit(write(counts[1], c, sizeof(c)) == sizeof(c) ? 0 : 3);
	}
	close(counts[1]);
	if (read(counts[0], child, sizeof(child)) != sizeof(child) ||
	    waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("not ok - the unprivileged cases did not finish (status %d)\n", status);
		failures++;
	} else {
		cases = child[0];
		failures += child[1];
	}

	/* Nothing refused changed the volume. */
	get_state(&m, &after);
	cases++;
	if (after.attrs_len != before.attrs_len ||
	    memcmp(after.attrs, before.attrs, after.attrs_len)) {
		failures++;
		printf("not ok %d - the refused messages changed the volume's state\n", cases);
	} else {
		printf("ok %d - the volume's state is what it was before the refused messages\n",
		       cases);
	}
	printf("# %d cases, %d failed\n", cases, failures);
	return failures ? 1 : 0;
}
