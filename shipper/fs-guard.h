/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A file system frozen for an app-consistent point (FIFREEZE) is never left
 * frozen (docs/CONSISTENCY.md "The freeze bound").  Before the freeze a
 * small guard process is forked: its own session, no fds but a socket to
 * cbtship, an fd on the mount, the lock on a record file and stderr.  It
 * thaws the file system (FITHAW) when cbtship's end of the socket closes
 * without a word (cbtship died: kill -9, OOM, a crash), when the freeze has
 * lasted the maximum time, or on SIGTERM/SIGINT/SIGHUP; the normal path
 * thaws itself and then releases the guard.  The record
 * (STATE_DIR/fsfreeze/NAME, locked by cbtship and the guard for as long as
 * either lives) lets a later start thaw a file system whose freezer and
 * guard were both killed (fs_guard_recover).
 */
#ifndef CBTSHIP_FS_GUARD_H
#define CBTSHIP_FS_GUARD_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#define FS_GUARD_TIMEOUT	15	/* seconds a freeze may last by default */
#define FS_GUARD_TIMEOUT_MAX	3600
#define FS_GUARD_SUBDIR		"fsfreeze"

/*
 * The freeze itself; tests replace it (fake file systems).  NULL: FIFREEZE
 * and FITHAW on fd, an O_RDONLY descriptor of the mount point.  0 or
 * -errno; thaw returns -EINVAL when the file system is not frozen (as
 * FITHAW does).  thaw is called in the guard, a forked child of a possibly
 * multithreaded process: async-signal-safe calls only.
 */
struct fs_guard_ops {
	int (*freeze)(int fd);
	int (*thaw)(int fd);
};

struct fs_guard {
	pid_t pid;			/* the guard; 0: none running */
	int mnt_fd;
	int sock;			/* cbtship's end of the socket to the guard */
	int rec_fd;			/* the record, locked; -1: none */
	unsigned int timeout;
	const char *mnt;
	const struct fs_guard_ops *ops;
	char record[PATH_MAX];		/* "" when there is no record */
};

/*
 * Freeze the file system mounted at mnt for at most timeout seconds (0 =
 * FS_GUARD_TIMEOUT): record it in state_dir (NULL: no record), start the
 * guard, FIFREEZE.  On failure nothing is frozen and no guard runs.
 */
int fs_guard_freeze(struct fs_guard *g, const char *mnt, unsigned int timeout,
		    const char *state_dir, const struct fs_guard_ops *ops);

/*
 * Thaw it, remove the record, release and reap the guard.  *held: the file
 * system stayed frozen from fs_guard_freeze until this thaw; false if the
 * guard thawed it first (the maximum time passed, or it was signalled) or
 * someone else did (logged with the reason).  An error only if the file
 * system could not be thawed at all (logged with what to do).
 */
int fs_guard_thaw(struct fs_guard *g, bool *held);

/*
 * At start: thaw every file system recorded in state_dir whose freezer and
 * guard are both gone (FITHAW of a file system that is not frozen fails
 * with EINVAL, which is harmless), log it and remove the record.  Records
 * of live guards are left alone.  Returns the number of file systems
 * thawed, or -errno if the records cannot be read.
 */
int fs_guard_recover(const char *state_dir, const struct fs_guard_ops *ops);

#endif
