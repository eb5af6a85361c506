// SPDX-License-Identifier: GPL-2.0
/*
 * The freeze guard (fs-guard.h): a forked process that thaws a frozen file
 * system if cbtship cannot.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "fs-guard.h"
#include "log.h"

/* How the guard ended: its exit status. */
enum {
	GUARD_RELEASED = 0,	/* told to go: it did nothing */
	GUARD_DEADLINE = 10,	/* the maximum time passed: it thawed */
	GUARD_SIGNALLED = 20,	/* SIGTERM/SIGINT/SIGHUP: it thawed */
	GUARD_ORPHANED = 30,	/* cbtship's end closed without a word: it thawed */
	/* + 0: thawed; + 1: was not frozen (EINVAL); + 2: the thaw failed */
};

#define RECORD_PREFIX	"freeze-"

/* ---- the freeze operations ---- */

static int ioctl_freeze(int fd)
{
	return ioctl(fd, FIFREEZE, 0) < 0 ? -errno : 0;
}

static int ioctl_thaw(int fd)
{
	return ioctl(fd, FITHAW, 0) < 0 ? -errno : 0;
}

static const struct fs_guard_ops ioctl_ops = {
	.freeze = ioctl_freeze,
	.thaw = ioctl_thaw,
};

/* ---- the guard process (async-signal-safe calls only) ---- */

static volatile sig_atomic_t guard_signal;

static void guard_on_signal(int sig)
{
	guard_signal = sig;
}

/* Close fds first..last (last ~0u: all above first). */
static void guard_close_range(unsigned int first, unsigned int last)
{
	struct rlimit rl;
	unsigned int fd;

#ifdef SYS_close_range
	if (!syscall(SYS_close_range, first, last, 0))
		return;
#endif
	if (last == ~0u)
		last = getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur > 65536 ?
		       65535 : (unsigned int)rl.rlim_cur - 1;
	for (fd = first; fd <= last && fd < 65536; fd++)
		close((int)fd);
}

/* Close every fd but the n in keep[] (sorted ascending, distinct, >= 0). */
static void guard_close_fds(const int *keep, size_t n)
{
	unsigned int from = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			guard_close_range(from, (unsigned int)keep[i] - 1);
		from = (unsigned int)keep[i] + 1;
	}
	guard_close_range(from, ~0u);
}

static size_t put_str(char *buf, size_t at, size_t size, const char *s)
{
	while (*s && at + 1 < size)
		buf[at++] = *s++;
	return at;
}

/* A line on stderr, written only once the file system is thawed (it may be on it). */
static void guard_say(const char *mnt, int why, int res)
{
	char buf[PATH_MAX + 256];
	size_t at = 0;

	at = put_str(buf, at, sizeof(buf), "cbtship fsfreeze guard: ");
	if (res == 2) {
		at = put_str(buf, at, sizeof(buf), "cannot thaw the file system at ");
		at = put_str(buf, at, sizeof(buf), mnt);
		at = put_str(buf, at, sizeof(buf), "; thaw it with fsfreeze -u ");
		at = put_str(buf, at, sizeof(buf), mnt);
	} else {
		at = put_str(buf, at, sizeof(buf), "thawed the file system at ");
		at = put_str(buf, at, sizeof(buf), mnt);
		at = put_str(buf, at, sizeof(buf),
			     why == GUARD_DEADLINE ? ": it was frozen for the maximum time (fsfreeze_timeout)" :
			     why == GUARD_SIGNALLED ? ": the guard was told to stop by a signal" :
			     ": cbtship ended while it was frozen");
	}
	buf[at++] = '\n';
	if (write(STDERR_FILENO, buf, at) < 0)
		return;	/* nobody to tell */
}

static void __attribute__((noreturn)) guard_main(const struct fs_guard *g, int sock)
{
	int keep[4] = { STDERR_FILENO, sock, g->mnt_fd, g->rec_fd }, why, res, e, t;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct sigaction sa;
	struct timespec end, now, left;
	sigset_t wait_mask;
	size_t n = g->rec_fd >= 0 ? 4 : 3, i, k;
	ssize_t r;
	char c;

	/* Out of cbtship's process group and session: its group's signals are not ours. */
	setsid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/*
	 * They were blocked before the fork (one sent meanwhile is pending) and
	 * are let in only inside ppoll: none is lost between the checks.
	 */
	sigprocmask(SIG_SETMASK, NULL, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGHUP);

	for (i = 1; i < n; i++)
		for (k = i; k > 0 && keep[k - 1] > keep[k]; k--) {
			t = keep[k];
			keep[k] = keep[k - 1];
			keep[k - 1] = t;
		}
	guard_close_fds(keep, n);

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += g->timeout;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0) {
			why = GUARD_DEADLINE;
			break;
		}
		e = ppoll(&pfd, 1, &left, &wait_mask);
		if (e < 0 && errno == EINTR) {
			if (guard_signal) {
				why = GUARD_SIGNALLED;
				break;
			}
			continue;
		}
		if (!e)
			continue;	/* the deadline, checked above */
		if (e < 0) {
			why = GUARD_ORPHANED;	/* cannot wait: thaw rather than risk it */
			break;
		}
		r = read(sock, &c, 1);
		if (r == 1 && c == 'q')
			_exit(GUARD_RELEASED);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		why = GUARD_ORPHANED;
		break;
	}
	e = g->ops->thaw(g->mnt_fd);
	res = !e ? 0 : e == -EINVAL ? 1 : 2;
	if (res != 2 && g->record[0])
		unlink(g->record);	/* nothing is frozen any more */
	if (res != 1)
		guard_say(g->mnt, why, res);
	_exit(why + res);
}

/* ---- the record ---- */

/*
 * STATE_DIR/fsfreeze/freeze-XXXXXX, locked before it gets its name, so a
 * record that can be locked belongs to nobody alive.
 */
static int record_create(struct fs_guard *g, const char *state_dir, const struct stat *st)
{
	char dir[PATH_MAX], tmp[PATH_MAX], body[PATH_MAX + 128];
	int fd, err, len;
	size_t d;

	if (strchr(g->mnt, '\n'))
		return -EINVAL;
	if (snprintf(dir, sizeof(dir), "%s/" FS_GUARD_SUBDIR, state_dir) >= (int)sizeof(dir) ||
	    snprintf(tmp, sizeof(tmp), "%s/." RECORD_PREFIX "XXXXXX", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((mkdir(state_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return -errno;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(body, sizeof(body), "mount=%s\ndev=%u:%u\npid=%d\n", g->mnt,
		       major(st->st_dev), minor(st->st_dev), (int)getpid());
	errno = EIO;	/* a short write sets none */
	if (flock(fd, LOCK_EX) < 0 || len >= (int)sizeof(body) ||
	    write(fd, body, (size_t)len) != len) {
		err = -errno;
		goto out_unlink;
	}
	/* The same name without the dot. */
	d = strlen(dir) + 1;
	memcpy(g->record, tmp, d);
	strcpy(g->record + d, tmp + d + 1);
	if (rename(tmp, g->record) < 0) {
		err = -errno;
		g->record[0] = '\0';
		goto out_unlink;
	}
	g->rec_fd = fd;
	return 0;
out_unlink:
	unlink(tmp);
	close(fd);
	return err;
}

static void record_remove(struct fs_guard *g)
{
	if (g->record[0] && unlink(g->record) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s; the next start removes it", g->record,
			 strerror(errno));
	g->record[0] = '\0';
	if (g->rec_fd >= 0)
		close(g->rec_fd);
	g->rec_fd = -1;
}

/* ---- cbtship's side ---- */

static void guard_close(struct fs_guard *g)
{
	if (g->sock >= 0)
		close(g->sock);
	if (g->mnt_fd >= 0)
		close(g->mnt_fd);
	g->sock = g->mnt_fd = -1;
	g->pid = 0;
}

/* Release (say 'q' first) or orphan the guard, and reap it: its exit status. */
static int guard_stop(struct fs_guard *g, bool release)
{
	int status = -1;

	if (release && send(g->sock, "q", 1, MSG_NOSIGNAL) != 1)
		log_warn("cannot release the freeze guard of %s (%s); it thaws the file system itself",
			 g->mnt, strerror(errno));
	close(g->sock);
	g->sock = -1;
	while (waitpid(g->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_warn("cannot reap the freeze guard of %s (pid %d): %s", g->mnt,
				 (int)g->pid, strerror(errno));
			return -1;
		}
	}
	return status;
}

int fs_guard_freeze(struct fs_guard *g, const char *mnt, unsigned int timeout,
		    const char *state_dir, const struct fs_guard_ops *ops)
{
	sigset_t block, mask;
	int sv[2], err;
	struct stat st;
	pid_t pid;

	memset(g, 0, sizeof(*g));
	g->mnt_fd = g->sock = g->rec_fd = -1;
	g->timeout = timeout ? timeout : FS_GUARD_TIMEOUT;
	g->mnt = mnt;
	g->ops = ops ? ops : &ioctl_ops;
	g->mnt_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g->mnt_fd < 0 || fstat(g->mnt_fd, &st) < 0) {
		err = -errno;
		log_err("cannot open mount point %s to freeze it: %s", mnt, strerror(-err));
		goto out_close;
	}
	if (state_dir) {
		err = record_create(g, state_dir, &st);
		if (err)
			log_warn("cannot record the freeze of %s in %s/" FS_GUARD_SUBDIR " (%s): should cbtship and its guard both be killed while it is frozen, the next start cannot thaw it; check the state directory",
				 mnt, state_dir, strerror(-err));
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		log_err("cannot start the freeze guard of %s: %s; not freezing it", mnt,
			strerror(-err));
		goto out_record;
	}
	/* The guard's signals wait until it can handle them (guard_main). */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &mask);
	pid = fork();
	if (pid)
		pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0) {
		err = -errno;
		log_err("cannot start the freeze guard of %s: %s; not freezing it", mnt,
			strerror(-err));
		close(sv[0]);
		close(sv[1]);
		goto out_record;
	}
	if (!pid) {
		close(sv[0]);
		guard_main(g, sv[1]);
	}
	close(sv[1]);
	g->sock = sv[0];
	g->pid = pid;
	err = g->ops->freeze(g->mnt_fd);
	if (err) {
		log_err("cannot freeze the file system at %s: %s", mnt, strerror(-err));
		guard_stop(g, true);
		goto out_record;
	}
	log_debug("froze the file system at %s; its guard (pid %d) thaws it after %u s if cbtship does not",
		  mnt, (int)pid, g->timeout);
	return 0;
out_record:
	record_remove(g);
out_close:
	guard_close(g);
	return err;
}

int fs_guard_thaw(struct fs_guard *g, bool *held)
{
	int e = g->ops->thaw(g->mnt_fd), status, how = -1, res = 0, err = 0;
	bool ok = !e || e == -EINVAL;

	*held = !e;
	if (!ok)
		log_err("cannot thaw the file system at %s: %s; its guard tries once more",
			g->mnt, strerror(-e));
	else
		record_remove(g);
	/* Not released when our thaw failed: the guard, orphaned, tries itself. */
	status = guard_stop(g, ok);
	if (status >= 0 && WIFEXITED(status)) {
		how = WEXITSTATUS(status) / 10 * 10;
		res = WEXITSTATUS(status) % 10;
	}
	if (status >= 0 && WIFSIGNALED(status))
		log_warn("the freeze guard of %s was killed by signal %d", g->mnt, WTERMSIG(status));
	if (how == GUARD_DEADLINE && !res)
		log_warn("the file system at %s stayed frozen for %u s, the maximum (fsfreeze_timeout, --fsfreeze-timeout), and its guard thawed it: this point is crash-consistent only; find what held the freeze that long (a slow suspend or snapshot, a blocked log) or raise the maximum",
			 g->mnt, g->timeout);
	else if (how == GUARD_SIGNALLED && !res)
		log_warn("the freeze guard of %s was stopped by a signal and thawed it early: this point is crash-consistent only",
			 g->mnt);
	else if (e == -EINVAL && how == GUARD_RELEASED)
		log_warn("the file system at %s was thawed by someone else while cbtship had it frozen: this point is crash-consistent only",
			 g->mnt);
	if (!ok) {
		if (how == GUARD_ORPHANED && res != 2) {
			log_notice("its guard thawed the file system at %s", g->mnt);
			record_remove(g);
		} else {
			log_err("the file system at %s may still be frozen: thaw it with fsfreeze -u %s",
				g->mnt, g->mnt);
			err = e;
			/* The record stays for the next start; our lock goes. */
			if (g->rec_fd >= 0)
				close(g->rec_fd);
			g->rec_fd = -1;
		}
	}
	guard_close(g);
	return err;
}

/* ---- recovery at start ---- */

/* One record: 1 if it thawed a file system, 0 if not, -errno if it must stay. */
static int recover_one(int dfd, const char *name, const char *dir, const struct fs_guard_ops *ops)
{
	char body[PATH_MAX + 128], *mnt, *p;
	unsigned int maj, min;
	int fd, mfd, pid = 0, e, ret = 0;
	struct stat st;
	ssize_t n;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;	/* gone meanwhile */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 0;	/* its freezer or guard lives: theirs to thaw */
	}
	n = read(fd, body, sizeof(body) - 1);
	body[n > 0 ? n : 0] = '\0';
	mnt = strncmp(body, "mount=", 6) ? NULL : body + 6;
	p = mnt ? strchr(mnt, '\n') : NULL;
	if (p)
		*p++ = '\0';
	if (!p || sscanf(p, "dev=%u:%u\npid=%d", &maj, &min, &pid) < 2) {
		log_warn("%s/%s is not a freeze record cbtship can read; removing it", dir, name);
		goto out_remove;
	}
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0 || fstat(mfd, &st) < 0 || st.st_dev != makedev(maj, min)) {
		log_notice("cbtship (pid %d) froze the file system at %s and was killed; %s is no longer that file system, so it is not thawed",
			   pid, mnt, mnt);
		if (mfd >= 0)
			close(mfd);
		goto out_remove;
	}
	e = ops->thaw(mfd);
	close(mfd);
	if (!e) {
		log_warn("thawed the file system at %s: cbtship (pid %d) froze it and was killed, and so was its guard",
			 mnt, pid);
		ret = 1;
	} else if (e == -EINVAL) {
		log_notice("cbtship (pid %d) froze the file system at %s and was killed; it is not frozen any more",
			   pid, mnt);
	} else {
		log_err("cannot thaw the file system at %s, left frozen by cbtship (pid %d) that was killed: %s; thaw it with fsfreeze -u %s",
			mnt, pid, strerror(-e), mnt);
		close(fd);
		return e;
	}
out_remove:
	if (unlinkat(dfd, name, 0) < 0)
		log_warn("cannot remove %s/%s: %s", dir, name, strerror(errno));
	close(fd);
	return ret;
}

int fs_guard_recover(const char *state_dir, const struct fs_guard_ops *ops)
{
	char dir[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int thawed = 0, e;
	DIR *d;

	if (snprintf(dir, sizeof(dir), "%s/" FS_GUARD_SUBDIR, state_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		e = -errno;
		log_warn("cannot read %s: %s; a file system left frozen by a killed run is not thawed: check the state directory",
			 dir, strerror(-e));
		return e;
	}
	/* Its records name file systems to thaw: only ours may write there. */
	if (fstat(dirfd(d), &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		log_warn("%s is not a directory only its owner (uid %u) may write to; its freeze records are not used: fix its owner and mode (0700)",
			 dir, (unsigned int)geteuid());
		closedir(d);
		return -EPERM;
	}
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, RECORD_PREFIX, strlen(RECORD_PREFIX))) {
			e = recover_one(dirfd(d), de->d_name, dir, ops ? ops : &ioctl_ops);
			thawed += e > 0;
		}
	closedir(d);
	return thawed;
}
