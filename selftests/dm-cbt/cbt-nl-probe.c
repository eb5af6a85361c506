// SPDX-License-Identifier: GPL-2.0
/*
 * cbt-nl-probe: a minimal client of the dm-cbt generic netlink family for
 * the VM selftests.  It prints the kernel's answers verbatim so tests can
 * compare them with exact expectations; errors go to stderr as
 * "cbt-nl-probe: CMD: STRERROR (-ERRNO): EXTACK MESSAGE".
 *
 * Build: cc -o cbt-nl-probe cbt-nl-probe.c -I../../uapi \
 *        $(pkg-config --cflags --libs libnl-genl-3.0)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <linux/dm-cbt.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static const char *cmd_name;
static int msgs_with_records;
static char ext_msg[256];
static int ext_err;

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int *done = arg;
	int off;

	(void)nla;
	ext_err = e->error;
	*done = 1;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)e + off),
		      nlh->nlmsg_len - NLMSG_HDRLEN - off, NULL) == 0 &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(ext_msg, sizeof(ext_msg), "%s",
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int *done = arg;

	/* A failed dump reports its error in NLMSG_DONE, then the extack. */
	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
		ext_err = *(int *)nlmsg_data(nlh);
	*done = 1;
	if (ext_err && (nlh->nlmsg_flags & NLM_F_ACK_TLVS)) {
		struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
		int off = NLMSG_ALIGN(sizeof(int));

		if (nla_parse(tb, NLMSGERR_ATTR_MAX,
			      (struct nlattr *)((char *)nlmsg_data(nlh) + off),
			      nlh->nlmsg_len - NLMSG_HDRLEN - off, NULL) == 0 &&
		    tb[NLMSGERR_ATTR_MSG])
			snprintf(ext_msg, sizeof(ext_msg), "%s",
				 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	}
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	int *done = arg;

	(void)msg;
	*done = 1;
	return NL_STOP;
}

static void print_volume(struct nlattr **tb, int list)
{
	const unsigned char *id;
	int i;

	if (list) {
		printf("%u:%u %s %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %u\n",
		       nla_get_u32(tb[CBT_A_DEV_MAJOR]), nla_get_u32(tb[CBT_A_DEV_MINOR]),
		       nla_get_string(tb[CBT_A_NAME]), nla_get_u32(tb[CBT_A_BLOCK_SIZE]),
		       (uint64_t)nla_get_u64(tb[CBT_A_NR_BLOCKS]),
		       (uint64_t)nla_get_u64(tb[CBT_A_DIRTY_BLOCKS]),
		       (uint64_t)nla_get_u64(tb[CBT_A_FROZEN_BLOCKS]),
		       (uint64_t)nla_get_u64(tb[CBT_A_CYCLE]),
		       nla_get_u8(tb[CBT_A_FROZEN]), nla_get_u32(tb[CBT_A_STATE]));
		return;
	}
	printf("dev=%u:%u\nname=%s\nblock_size=%u\nnr_blocks=%" PRIu64 "\n"
	       "dirty=%" PRIu64 "\nfrozen_blocks=%" PRIu64 "\ncycle=%" PRIu64 "\n"
	       "frozen=%u\nstate=%u\nid=",
	       nla_get_u32(tb[CBT_A_DEV_MAJOR]), nla_get_u32(tb[CBT_A_DEV_MINOR]),
	       nla_get_string(tb[CBT_A_NAME]), nla_get_u32(tb[CBT_A_BLOCK_SIZE]),
	       (uint64_t)nla_get_u64(tb[CBT_A_NR_BLOCKS]),
	       (uint64_t)nla_get_u64(tb[CBT_A_DIRTY_BLOCKS]),
	       (uint64_t)nla_get_u64(tb[CBT_A_FROZEN_BLOCKS]),
	       (uint64_t)nla_get_u64(tb[CBT_A_CYCLE]),
	       nla_get_u8(tb[CBT_A_FROZEN]), nla_get_u32(tb[CBT_A_STATE]));
	id = nla_data(tb[CBT_A_VOLUME_ID]);
	for (i = 0; i < nla_len(tb[CBT_A_VOLUME_ID]); i++)
		printf("%02x", id[i]);
	printf("\n");
	if (tb[CBT_A_RESYNC_REQUIRED])
		printf("resync_required=%u\n", nla_get_u8(tb[CBT_A_RESYNC_REQUIRED]));
	if (tb[CBT_A_MEM_BYTES])
		printf("mem_bytes=%" PRIu64 "\n", (uint64_t)nla_get_u64(tb[CBT_A_MEM_BYTES]));
	if (tb[CBT_A_RING_SIZE])
		printf("ring_size=%u\nring_fill=%u\nring_first=%" PRIu64
		       "\nring_next=%" PRIu64 "\nring_lost=%" PRIu64
		       "\nring_overflow=%u\nepoch=%u\n",
		       nla_get_u32(tb[CBT_A_RING_SIZE]),
		       nla_get_u32(tb[CBT_A_RING_FILL]),
		       (uint64_t)nla_get_u64(tb[CBT_A_RING_FIRST]),
		       (uint64_t)nla_get_u64(tb[CBT_A_RING_NEXT]),
		       (uint64_t)nla_get_u64(tb[CBT_A_RING_LOST]),
		       nla_get_u8(tb[CBT_A_RING_OVERFLOW]),
		       nla_get_u32(tb[CBT_A_EPOCH]));
}

/* ring: one line per record, "SEQ OP SECTOR NR_SECTORS EPOCH TAG". */
static void print_records(struct nlattr **tb)
{
	static const char *const ops[] = {
		[CBT_REC_WRITE] = "write", [CBT_REC_DISCARD] = "discard",
		[CBT_REC_WRITE_ZEROES] = "zeroes", [CBT_REC_FLUSH] = "flush",
		[CBT_REC_FUA] = "fua", [CBT_REC_TAG] = "tag",
	};
	struct cbt_ring_record rec;
	size_t i, n;

	if (!tb[CBT_A_RING_RECORDS])
		return;
	n = nla_len(tb[CBT_A_RING_RECORDS]) / sizeof(rec);
	msgs_with_records++;
	for (i = 0; i < n; i++) {
		/* Netlink attributes are only 4-byte aligned. */
		memcpy(&rec, (char *)nla_data(tb[CBT_A_RING_RECORDS]) + i * sizeof(rec),
		       sizeof(rec));
		printf("%" PRIu64 " %s %" PRIu64 " %u %u %" PRIu64 "\n",
		       (uint64_t)rec.seq,
		       rec.op <= CBT_REC_TAG && ops[rec.op] ? ops[rec.op] : "?",
		       (uint64_t)rec.sector, rec.nr_sectors, rec.epoch,
		       (uint64_t)rec.tag);
	}
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[CBT_A_MAX + 1];
	const struct cbt_extent *ext;
	size_t i, n;

	(void)arg;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, CBT_A_MAX, NULL))
		return NL_SKIP;
	switch (gh->cmd) {
	case CBT_CMD_GET_CHANGES:
		if (!tb[CBT_A_EXTENTS])
			break;
		ext = nla_data(tb[CBT_A_EXTENTS]);
		n = nla_len(tb[CBT_A_EXTENTS]) / sizeof(*ext);
		for (i = 0; i < n; i++)
			printf("%llu %llu\n", (unsigned long long)ext[i].start,
			       (unsigned long long)ext[i].count);
		break;
	case CBT_CMD_GET_RING:
		print_records(tb);
		break;
	case CBT_CMD_TAG:
	case CBT_CMD_CLEAR_RESYNC:
		break;
	case CBT_CMD_FREEZE:
		printf("%" PRIu64 "\n", (uint64_t)nla_get_u64(tb[CBT_A_CYCLE]));
		break;
	default:
		print_volume(tb, gh->cmd == CBT_CMD_LIST);
	}
	return NL_OK;
}

/*
 * monitor: print one line per event until @count events were seen.
 * CHANGED events are only shown (and counted) with "monitor COUNT changed".
 */
static int nr_events;
static int show_changed;

static int on_event(struct nl_msg *msg, void *arg)
{
	static const char *const names[] = {
		[CBT_CMD_FREEZE] = "freeze", [CBT_CMD_COMMIT] = "commit",
		[CBT_CMD_ABORT] = "abort", [CBT_CMD_MARK_DIRTY] = "mark",
		[CBT_CMD_RING_WATERMARK] = "watermark",
		[CBT_CMD_RING_OVERFLOW] = "overflow",
		[CBT_CMD_VOLUME_ADDED] = "added",
		[CBT_CMD_VOLUME_REMOVED] = "removed",
		[CBT_CMD_RESYNC_REQUIRED] = "resync",
		[CBT_CMD_CLEAR_RESYNC] = "clear-resync",
	};
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[CBT_A_MAX + 1];

	(void)arg;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, CBT_A_MAX, NULL))
		return NL_SKIP;
	if (gh->cmd == CBT_CMD_CHANGED) {
		/* Sent from a work item: only the volume is deterministic. */
		if (!show_changed)
			return NL_SKIP;
		printf("changed %u:%u %s\n", nla_get_u32(tb[CBT_A_DEV_MAJOR]),
		       nla_get_u32(tb[CBT_A_DEV_MINOR]), nla_get_string(tb[CBT_A_NAME]));
		fflush(stdout);
		nr_events++;
		return NL_OK;
	}
	if (gh->cmd >= sizeof(names) / sizeof(names[0]) || !names[gh->cmd])
		return NL_SKIP;
	if (gh->cmd >= CBT_CMD_VOLUME_ADDED) {
		/* Volume life cycle: say which tracking state (id) and its flag. */
		const unsigned char *id = nla_data(tb[CBT_A_VOLUME_ID]);
		int i;

		printf("%s %u:%u %s id=", names[gh->cmd],
		       nla_get_u32(tb[CBT_A_DEV_MAJOR]), nla_get_u32(tb[CBT_A_DEV_MINOR]),
		       nla_get_string(tb[CBT_A_NAME]));
		for (i = 0; i < nla_len(tb[CBT_A_VOLUME_ID]); i++)
			printf("%02x", id[i]);
		printf(" resync=%u dirty=%" PRIu64 "\n", nla_get_u8(tb[CBT_A_RESYNC_REQUIRED]),
		       (uint64_t)nla_get_u64(tb[CBT_A_DIRTY_BLOCKS]));
		fflush(stdout);
		nr_events++;
		return NL_OK;
	}
	if (gh->cmd >= CBT_CMD_RING_WATERMARK) {
		printf("%s %u:%u fill=%u/%u lost=%" PRIu64 " overflow=%u\n",
		       names[gh->cmd], nla_get_u32(tb[CBT_A_DEV_MAJOR]),
		       nla_get_u32(tb[CBT_A_DEV_MINOR]),
		       nla_get_u32(tb[CBT_A_RING_FILL]),
		       nla_get_u32(tb[CBT_A_RING_SIZE]),
		       (uint64_t)nla_get_u64(tb[CBT_A_RING_LOST]),
		       nla_get_u8(tb[CBT_A_RING_OVERFLOW]));
		fflush(stdout);
		nr_events++;
		return NL_OK;
	}
	printf("%s %u:%u cycle=%" PRIu64 " frozen=%u dirty=%" PRIu64 "\n",
	       names[gh->cmd], nla_get_u32(tb[CBT_A_DEV_MAJOR]),
	       nla_get_u32(tb[CBT_A_DEV_MINOR]),
	       (uint64_t)nla_get_u64(tb[CBT_A_CYCLE]), nla_get_u8(tb[CBT_A_FROZEN]),
	       (uint64_t)nla_get_u64(tb[CBT_A_DIRTY_BLOCKS]));
	fflush(stdout);
	nr_events++;
	return NL_OK;
}

static int monitor(struct nl_sock *sk, int count)
{
	int grp = genl_ctrl_resolve_grp(sk, CBT_GENL_NAME, CBT_GENL_MCGRP_EVENTS);

	if (grp < 0 || nl_socket_add_membership(sk, grp)) {
		fprintf(stderr, "cbt-nl-probe: cannot join the events group\n");
		return 1;
	}
	nl_socket_disable_seq_check(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_event, NULL);
	printf("ready\n");
	fflush(stdout);
	while (nr_events < count)
		if (nl_recvmsgs_default(sk) < 0)
			return 1;
	return 0;
}

static int parse_dev(const char *s, unsigned int *maj, unsigned int *min)
{
	struct stat st;

	if (sscanf(s, "%u:%u", maj, min) == 2)
		return 0;
	if (stat(s, &st) || !S_ISBLK(st.st_mode)) {
		fprintf(stderr, "cbt-nl-probe: %s is not a block device\n", s);
		return -1;
	}
	*maj = major(st.st_rdev);
	*min = minor(st.st_rdev);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: cbt-nl-probe list\n"
		"       cbt-nl-probe get|freeze DEV\n"
		"       cbt-nl-probe changes DEV [CYCLE]\n"
		"       cbt-nl-probe commit|abort DEV [CYCLE]\n"
		"       cbt-nl-probe mark DEV START COUNT [START COUNT]...\n"
		"       cbt-nl-probe ring DEV [START]\n"
		"       cbt-nl-probe tag DEV VALUE\n"
		"       cbt-nl-probe clear-resync DEV\n"
		"       cbt-nl-probe monitor COUNT [changed]\n"
		"DEV is /dev/mapper/NAME or MAJOR:MINOR.\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; int cmd; int dump; } cmds[] = {
		{ "list", CBT_CMD_LIST, 1 },	{ "get", CBT_CMD_GET, 0 },
		{ "freeze", CBT_CMD_FREEZE, 0 },
		{ "changes", CBT_CMD_GET_CHANGES, 1 },
		{ "commit", CBT_CMD_COMMIT, 0 }, { "abort", CBT_CMD_ABORT, 0 },
		{ "mark", CBT_CMD_MARK_DIRTY, 0 },
		{ "ring", CBT_CMD_GET_RING, 1 }, { "tag", CBT_CMD_TAG, 0 },
		{ "clear-resync", CBT_CMD_CLEAR_RESYNC, 0 },
	};
	struct cbt_extent ext[64];
	struct nl_sock *sk;
	struct nl_msg *msg;
	struct nl_cb *cb;
	unsigned int maj, min, i;
	int family, ci = -1, done = 0, one = 1, err, n = 0;

	if (argc < 2)
		return usage();
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			ci = i;
	if (strcmp(argv[1], "monitor") &&
	    (ci < 0 || (cmds[ci].cmd != CBT_CMD_LIST && argc < 3)))
		return usage();
	cmd_name = argv[1];

	sk = nl_socket_alloc();
	if (!sk || genl_connect(sk))
		return fprintf(stderr, "cbt-nl-probe: cannot open netlink\n"), 1;
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	nl_socket_set_msg_buf_size(sk, 65536);
	family = genl_ctrl_resolve(sk, CBT_GENL_NAME);
	if (family < 0)
		return fprintf(stderr, "cbt-nl-probe: family %s not found\n", CBT_GENL_NAME), 1;

	if (!strcmp(argv[1], "monitor")) {
		if (argc < 3)
			return usage();
		show_changed = argc > 3 && !strcmp(argv[3], "changed");
		return monitor(sk, atoi(argv[2]));
	}

	msg = nlmsg_alloc();
	genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0,
		    cmds[ci].dump ? NLM_F_DUMP : NLM_F_ACK, cmds[ci].cmd,
		    CBT_GENL_VERSION);
	if (cmds[ci].cmd != CBT_CMD_LIST) {
		if (parse_dev(argv[2], &maj, &min))
			return 1;
		nla_put_u32(msg, CBT_A_DEV_MAJOR, maj);
		nla_put_u32(msg, CBT_A_DEV_MINOR, min);
	}
	if (cmds[ci].cmd == CBT_CMD_MARK_DIRTY) {
		for (i = 3; i + 1 < (unsigned int)argc && n < 64; i += 2, n++) {
			ext[n].start = strtoull(argv[i], NULL, 0);
			ext[n].count = strtoull(argv[i + 1], NULL, 0);
		}
		if (n)
			nla_put(msg, CBT_A_EXTENTS, n * sizeof(ext[0]), ext);
		else if (argc > 3)	/* a raw byte count, to test validation */
			nla_put(msg, CBT_A_EXTENTS, atoi(argv[3]), ext);
	} else if (cmds[ci].cmd == CBT_CMD_GET_RING) {
		if (argc > 3)
			nla_put_u64(msg, CBT_A_RING_START, strtoull(argv[3], NULL, 0));
	} else if (cmds[ci].cmd == CBT_CMD_TAG) {
		if (argc > 3)
			nla_put_u64(msg, CBT_A_TAG, strtoull(argv[3], NULL, 0));
	} else if (argc > 3) {
		nla_put_u64(msg, CBT_A_CYCLE, strtoull(argv[3], NULL, 0));
	}

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, NULL);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &done);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &done);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &done);
	if (nl_send_auto(sk, msg) < 0)
		return fprintf(stderr, "cbt-nl-probe: send failed\n"), 1;
	/* Doit replies come before the ACK; dumps end with NLMSG_DONE. */
	while (!done) {
		err = nl_recvmsgs(sk, cb);
		if (err < 0 && !ext_err) {
			fprintf(stderr, "cbt-nl-probe: %s: %s\n", cmd_name, nl_geterror(err));
			return 1;
		}
	}
	if (ext_err) {
		fprintf(stderr, "cbt-nl-probe: %s: %s (%d): %s\n", cmd_name,
			strerror(-ext_err), ext_err, ext_msg);
		return 1;
	}
	/* How many messages carried records (tests check batching). */
	if (cmds[ci].cmd == CBT_CMD_GET_RING && getenv("CBT_PROBE_MSGS"))
		fprintf(stderr, "messages=%d\n", msgs_with_records);
	nlmsg_free(msg);
	nl_cb_put(cb);
	nl_socket_free(sk);
	return 0;
}
