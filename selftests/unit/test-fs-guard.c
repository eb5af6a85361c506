// SPDX-License-Identifier: GPL-2.0
/*
 * The freeze guard (shipper/fs-guard.c) with a fake freeze: "frozen" is a
 * file in the mount directory, and every thaw appends the pid that made it
 * to "thaws", so each check says who thawed.  A normal freeze and thaw
 * leaves nothing behind; the guard thaws at its deadline, on SIGTERM and
 * when its freezer is killed (it is reparented to this test, a subreaper,
 * so its exit status is read); it runs in its own session and holds none
 * of the freezer's other fds; a later start thaws what a freezer and guard
 * killed together left, and leaves a live guard's freeze alone.  The real
 * FIFREEZE is tested in selftests/shipper/fsfreeze-guard.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs-guard.h"
#include "log.h"
#include "tap.h"
#include "tmpdir.h"

/* ---- the fake file system (async-signal-safe: the guard calls thaw) ---- */

static int fake_freeze(int fd)
{
	int f = openat(fd, "frozen", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (f < 0)
		return errno == EEXIST ? -EBUSY : -errno;
	close(f);
	return 0;
}

static int fake_thaw(int fd)
{
	char buf[16];
	int f, n = 0;
	pid_t pid = getpid();

	if (unlinkat(fd, "frozen", 0) < 0)
		return errno == ENOENT ? -EINVAL : -errno;
	do
		buf[sizeof(buf) - 1 - n++] = (char)('0' + pid % 10);
	while ((pid /= 10));
	f = openat(fd, "thaws", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (f >= 0) {
		if (write(f, buf + sizeof(buf) - n, (size_t)n) < 0 || write(f, "\n", 1) < 0)
			n = 0;
		close(f);
	}
	return 0;
}

static const struct fs_guard_ops fake = { .freeze = fake_freeze, .thaw = fake_thaw };

/* ---- helpers ---- */

static bool frozen(void)
{
	return access("mnt/frozen", F_OK) == 0;
}

/* The pids that thawed, in order, as "P1 P2 ..."; then the log is emptied. */
static void thaws(char *out, size_t size)
{
	FILE *f = fopen("mnt/thaws", "r");
	size_t at = 0;
	int pid;

	out[0] = '\0';
	if (!f)
		return;
	while (fscanf(f, "%d", &pid) == 1 && at < size)
		at += (size_t)snprintf(out + at, size - at, "%s%d", at ? " " : "", pid);
	fclose(f);
	unlink("mnt/thaws");
}

static void expect_thaws_by(pid_t pid, const char *what)
{
	char got[64], want[16];

	thaws(got, sizeof(got));
	snprintf(want, sizeof(want), "%d", (int)pid);
	tap_ok(!strcmp(got, want), "%s (thaws by: \"%s\", want \"%s\")", what, got, want);
}

static int records(void)
{
	char cmd[64];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls sd/" FS_GUARD_SUBDIR " 2>/dev/null | grep -c '^freeze-'");
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (30 s at most: a machine under load is slow) until the fake fs is thawed. */
static bool wait_thawed(void)
{
	for (int i = 0; i < 3000 && frozen(); i++)
		sleep_ms(10);
	return !frozen();
}

/* Reap pid within 30 s; its wait status, or -1. */
static int reap(pid_t pid)
{
	int status;

	for (int i = 0; i < 3000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void freeze_now(void)
{
	int fd = open("mnt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fake_freeze(fd);
		close(fd);
	}
}

static bool no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

/* ---- the cases ---- */

/* Does a process other than us hold the write end of p?  (p[0] is non-blocking.) */
static bool other_writer(int *p)
{
	char c;

	close(p[1]);
	return read(p[0], &c, 1) < 0 && errno == EAGAIN;
}

static void test_normal(void)
{
	struct fs_guard g;
	bool held = false, closed = false;
	int p[2], i;
	pid_t ctl;

	/* An fd the guard must not keep: not close-on-exec, like a careless caller's. */
	if (pipe(p) || fcntl(p[0], F_SETFL, O_NONBLOCK))
		return;
	tap_eq(fs_guard_freeze(&g, "mnt", 60, "sd", &fake), 0, "freeze with a guard");
	tap_ok(frozen() && g.pid > 0, "the file system is frozen and a guard runs");
	tap_eq(records(), 1, "the freeze is recorded");
	for (i = 0; i < 3000 && getsid(g.pid) != g.pid; i++)
		sleep_ms(10);
	tap_eq(getsid(g.pid), g.pid, "the guard leads its own session (not in our process group)");
	/* It closes what it inherited: once we close ours, nobody writes to p. */
	close(p[1]);
	for (i = 0; i < 3000 && !closed; i++) {
		char c;

		closed = read(p[0], &c, 1) == 0;
		if (!closed)
			sleep_ms(10);
	}
	tap_ok(closed, "the guard holds none of the freezer's other fds");
	close(p[0]);
	tap_eq(fs_guard_thaw(&g, &held), 0, "thaw");
	tap_ok(held, "the freeze held until cbtship's own thaw");
	tap_ok(!frozen(), "thawed");
	expect_thaws_by(getpid(), "cbtship thawed it, the guard did not");
	tap_eq(records(), 0, "the record is gone");
	tap_ok(no_children(), "the guard is reaped");

	/* Control: a child that keeps its fds is seen by the same check. */
	if (pipe(p) || fcntl(p[0], F_SETFL, O_NONBLOCK))
		return;
	ctl = fork();
	if (!ctl) {
		pause();
		_exit(0);
	}
	tap_ok(other_writer(p), "control: a child holding the fd is detected");
	kill(ctl, SIGKILL);
	waitpid(ctl, NULL, 0);
	close(p[0]);
}

/*
 * The guard thaws before cbtship does: after timeout seconds, or at once on
 * SIGTERM (sigterm); cbtship's own thaw is then no error but not "held".
 */
static void test_early_thaw(unsigned int timeout, bool sigterm, const char *why)
{
	struct fs_guard g;
	bool held = true;

	tap_ok(fs_guard_freeze(&g, "mnt", timeout, "sd", &fake) == 0, "freeze for at most %u s",
	       timeout);
	if (sigterm)
		kill(g.pid, SIGTERM);
	tap_ok(wait_thawed(), "%s", why);
	expect_thaws_by(g.pid, "the guard thawed it");
	tap_eq(fs_guard_thaw(&g, &held), 0, "cbtship's thaw afterwards is no error");
	tap_ok(!held, "the freeze is reported as not held (crash-consistent point)");
	tap_eq(records(), 0, "no record left");
	tap_ok(no_children(), "the guard is reaped");
}

/*
 * A freezer in a child that is killed with SIGKILL while the file system is
 * frozen; kill_guard: its guard is killed first.  The guard's pid.
 */
static pid_t killed_freezer(bool kill_guard)
{
	pid_t child, guard = 0;
	int p[2], status;

	if (pipe(p))
		return 0;
	child = fork();
	if (!child) {
		struct fs_guard g;

		close(p[0]);
		if (fs_guard_freeze(&g, "mnt", 600, "sd", &fake))
			_exit(1);
		if (write(p[1], &g.pid, sizeof(g.pid)) != sizeof(g.pid))
			_exit(1);
		pause();
		_exit(1);
	}
	close(p[1]);
	if (read(p[0], &guard, sizeof(guard)) != sizeof(guard))
		guard = 0;
	close(p[0]);
	/* A pending SIGKILL kills the guard before it can see its freezer go. */
	if (guard && kill_guard)
		kill(guard, SIGKILL);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	tap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the freezer is killed");
	if (guard && kill_guard) {
		status = reap(guard);	/* ours now: we are the subreaper */
		tap_ok(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		       "the guard is killed");
	}
	return guard;
}

static void test_freezer_killed(void)
{
	pid_t guard = killed_freezer(false);
	int status;

	tap_ok(guard > 0, "a freezer froze and told its guard's pid");
	status = reap(guard);	/* ours: we are the subreaper */
	tap_ok(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 30,
	       "the orphaned guard thawed and exited (status %#x)", (unsigned int)status);
	tap_ok(!frozen(), "thawed after the freezer was killed");
	expect_thaws_by(guard, "by the guard");
	tap_eq(records(), 0, "the guard removed the record");
	tap_eq(fs_guard_recover("sd", &fake), 0, "a start finds nothing to thaw");
}

static void test_both_killed(void)
{
	struct fs_guard live;
	pid_t guard;
	bool held;

	/* A live guard's freeze is not a start's to thaw. */
	tap_eq(fs_guard_freeze(&live, "mnt", 600, "sd", &fake), 0, "a freeze whose guard lives");
	tap_eq(fs_guard_recover("sd", &fake), 0, "a start leaves it alone");
	tap_ok(frozen() && records() == 1, "still frozen and recorded");
	tap_eq(fs_guard_thaw(&live, &held), 0, "its freezer thaws it");
	unlink("mnt/thaws");

	guard = killed_freezer(true);
	tap_ok(guard > 0 && frozen(), "freezer and guard killed: left frozen (control)");
	tap_eq(records(), 1, "its record is left");
	tap_eq(fs_guard_recover("sd", &fake), 1, "a start thaws it");
	tap_ok(!frozen(), "thawed");
	expect_thaws_by(getpid(), "by the start");
	tap_eq(records(), 0, "the record is removed");
	tap_eq(fs_guard_recover("sd", &fake), 0, "the next start finds nothing");
	tap_ok(no_children(), "no child left");
}

static void test_records(void)
{
	char body[512];
	struct stat st;

	/* A record of another file system (the path was remounted): not thawed. */
	stat("mnt", &st);
	snprintf(body, sizeof(body), "mount=%s/mnt\ndev=%u:%u\npid=1\n", test_dir,
		 major(st.st_dev), minor(st.st_dev) + 1);
	test_write_file("sd/" FS_GUARD_SUBDIR "/freeze-other", body, strlen(body), 0600);
	test_write_file("sd/" FS_GUARD_SUBDIR "/freeze-junk", "junk", 4, 0600);
	freeze_now();
	tap_eq(fs_guard_recover("sd", &fake), 0, "records of another file system and damaged ones");
	tap_ok(frozen(), "nothing was thawed");
	tap_eq(records(), 0, "both removed");
	/* The same record naming this file system does thaw it. */
	snprintf(body, sizeof(body), "mount=%s/mnt\ndev=%u:%u\npid=1\n", test_dir,
		 major(st.st_dev), minor(st.st_dev));
	test_write_file("sd/" FS_GUARD_SUBDIR "/freeze-this", body, strlen(body), 0600);
	chmod("sd/" FS_GUARD_SUBDIR, 0777);
	tap_eq(fs_guard_recover("sd", &fake), -EPERM, "records in a directory others may write: refused");
	tap_ok(frozen(), "nothing was thawed");
	chmod("sd/" FS_GUARD_SUBDIR, 0700);
	tap_eq(fs_guard_recover("sd", &fake), 1, "a record of this file system thaws it");
	tap_ok(!frozen(), "thawed");
	unlink("mnt/thaws");
	tap_eq(fs_guard_recover("nonexistent", &fake), 0, "no state directory: nothing to do");
}

static void test_freeze_fails(void)
{
	struct fs_guard g;

	freeze_now();	/* the next freeze fails with EBUSY */
	tap_eq(fs_guard_freeze(&g, "mnt", 60, "sd", &fake), -EBUSY, "a failed freeze");
	tap_eq(records(), 0, "leaves no record");
	tap_ok(no_children(), "and no guard");
	unlink("mnt/frozen");
	tap_ok(fs_guard_freeze(&g, "nonexistent", 60, "sd", &fake) < 0, "no such mount point");
	tap_ok(records() == 0 && no_children(), "nothing left");
}

int main(void)
{
	test_dir_setup("fs-guard");
	test_quiet_logs();
	/* The guard's own line about each thaw goes to fd 2. */
	if (!getenv("TEST_VERBOSE")) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0 && dup2(null, STDERR_FILENO) >= 0)
			close(null);
	}
	if (mkdir("mnt", 0700)) {
		perror("mkdir");
		return 99;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	test_normal();
	test_early_thaw(1, false, "the guard thaws it after its maximum time");
	test_early_thaw(600, true, "SIGTERM to the guard thaws at once");
	test_freezer_killed();
	test_both_killed();
	test_records();
	test_freeze_fails();
	return tap_done();
}
