// SPDX-License-Identifier: GPL-2.0
/*
 * The target's state directory: state and points files (small text files
 * replaced atomically), undo files (streamed, synced, renamed into place).
 * Every file carries a crc32c, so a damaged one is refused, never guessed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "fd-io.h"
#include "journal.h"
#include "le.h"
#include "log.h"

#define STATE_MAGIC	"cbtship-target 1\n"
#define POINTS_MAGIC	"cbtship-points 1\n"
#define UNDO_MAGIC	"CBTUNDO1"
#define UNDO_HDR_BYTES	64
#define UNDO_ENT_BYTES	24
#define UNDO_F_ZERO	1u
#define UNDO_BUF_BYTES	(1u << 20)
#define TEXT_MAX	(1u << 20)

unsigned long journal_crash_at;

void journal_step(void)
{
	if (journal_crash_at && --journal_crash_at == 0)
		_exit(99);
}

/* ---- small files ---- */

/* Write name in the state directory: temporary file, sync, rename, sync dir. */
int journal_put_file(struct journal *j, const char *name, const void *buf, size_t len)
{
	char tmp[64];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
	fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out_err;
	}
	ret = fd_write_all(fd, buf, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	journal_step();
	if (!ret && renameat(j->dirfd, tmp, j->dirfd, name) < 0)
		ret = -errno;
	if (!ret && fsync(j->dirfd) < 0)
		ret = -errno;
	journal_step();
	if (!ret)
		return 0;
out_err:
	log_err("cannot write %s/%s: %s; check the file system holding the state directory",
		j->dir, name, strerror(-ret));
	return ret;
}

/* Read a whole small file (NUL-terminated, malloc'd).  -ENOENT not logged. */
int journal_get_file(struct journal *j, const char *name, char **out)
{
	struct stat sb;
	char *buf = NULL;
	ssize_t n;
	int fd, ret;

	*out = NULL;
	fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			log_err("cannot open %s/%s: %s", j->dir, name, strerror(-ret));
		return ret;
	}
	ret = -EFBIG;
	if (fstat(fd, &sb) < 0 || sb.st_size > TEXT_MAX)
		goto out;
	ret = -ENOMEM;
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		goto out;
	n = pread(fd, buf, (size_t)sb.st_size, 0);
	ret = n == sb.st_size ? 0 : -EIO;
	if (!ret) {
		buf[n] = '\0';
		*out = buf;
		buf = NULL;
	}
out:
	free(buf);
	close(fd);
	if (ret)
		log_err("cannot read %s/%s: %s", j->dir, name, strerror(-ret));
	return ret;
}

/* Append "crc32c XXXXXXXX\n" over text[0..len) to a buffer of room bytes. */
static size_t seal_text(char *text, size_t len, size_t room)
{
	return len + (size_t)snprintf(text + len, room - len, "crc32c %08x\n",
				      crc32c(0, text, len));
}

/* Check and strip the crc line; -EBADMSG (logged) if it does not match. */
static int unseal_text(struct journal *j, const char *name, char *text)
{
	char *last = NULL, *p = text;
	unsigned int crc;

	while ((p = strstr(p, "crc32c ")))
		last = p++;
	if (!last || (last != text && last[-1] != '\n') ||
	    sscanf(last, "crc32c %8x\n", &crc) != 1 ||
	    crc != crc32c(0, text, (size_t)(last - text))) {
		log_err("%s/%s is damaged (checksum mismatch); the replica's journal cannot be trusted: restore the directory or rebuild the replica from cycle 1",
			j->dir, name);
		return -EBADMSG;
	}
	*last = '\0';
	return 0;
}

/* ---- state ---- */

const char *journal_point_kind_name(enum point_kind k)
{
	return k == POINT_APP ? "app" : k == POINT_CRASH ? "crash" : "none";
}

static enum point_kind kind_parse(const char *name)
{
	return !strcmp(name, "app") ? POINT_APP : !strcmp(name, "crash") ? POINT_CRASH : POINT_NONE;
}


int journal_save_state(struct journal *j)
{
	const struct journal_state *s = &j->st;
	char text[512];
	size_t len = 0;

	len += (size_t)snprintf(text, sizeof(text), STATE_MAGIC "volume-id ");
	for (int i = 0; i < JOURNAL_ID_BYTES; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%02x", s->volume_id[i]);
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"\nblock-size %" PRIu32 "\nsize %" PRIu64 "\nat %" PRIu64
				"\nat-created %" PRIu64 "\npending %" PRIu64
				"\nfailed-over %" PRIu64 "\n",
				s->block_size, s->size_bytes, s->at, s->at_created, s->pending,
				s->failed_over);
	/* Since consistent cycles; a state file without it says "none". */
	len += (size_t)snprintf(text + len, sizeof(text) - len, "at-kind %s\n",
				journal_point_kind_name(s->at_kind));
	if (s->at_group[0])
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"at-group %s %" PRIu64 "\n", s->at_group, s->at_instant);
	len = seal_text(text, len, sizeof(text));
	return journal_put_file(j, "state", text, len);
}

static int parse_state(struct journal *j, char *text)
{
	struct journal_state *s = &j->st;
	char id[2 * JOURNAL_ID_BYTES + 1];
	char kind[8];
	int n = 0, m = 0;

	if (strncmp(text, STATE_MAGIC, strlen(STATE_MAGIC)) ||
	    sscanf(text + strlen(STATE_MAGIC),
		   "volume-id %32s\nblock-size %" SCNu32 "\nsize %" SCNu64 "\nat %" SCNu64
		   "\nat-created %" SCNu64 "\npending %" SCNu64 "\nfailed-over %" SCNu64 "\n%n",
		   id, &s->block_size, &s->size_bytes, &s->at, &s->at_created, &s->pending,
		   &s->failed_over, &n) != 7 || !n || strlen(id) != 2 * JOURNAL_ID_BYTES)
		goto bad;
	s->at_kind = POINT_NONE;
	s->at_group[0] = '\0';
	s->at_instant = 0;
	if (sscanf(text + strlen(STATE_MAGIC) + n, "at-kind %7s\n%n", kind, &m) == 1) {
		s->at_kind = kind_parse(kind);
		if (sscanf(text + strlen(STATE_MAGIC) + n + m, "at-group %31s %" SCNu64,
			   s->at_group, &s->at_instant) != 2)
			s->at_group[0] = '\0';
	}
	for (int i = 0; i < JOURNAL_ID_BYTES; i++) {
		unsigned int b;

		if (sscanf(id + 2 * i, "%2x", &b) != 1)
			goto bad;
		s->volume_id[i] = (uint8_t)b;
	}
	if (!s->block_size || (s->pending && s->pending < s->at))
		goto bad;
	return 0;
bad:
	log_err("%s/state is not a cbtship target state file this version understands", j->dir);
	return -EBADMSG;
}

/* ---- points ---- */

static int save_points(struct journal *j)
{
	size_t room = 64 + j->nr_points * 160, len;
	char *text = malloc(room);
	int ret;

	if (!text)
		return -ENOMEM;
	len = (size_t)snprintf(text, room, POINTS_MAGIC);
	for (size_t i = 0; i < j->nr_points; i++) {
		const struct journal_point *p = &j->points[i];

		len += (size_t)snprintf(text + len, room - len,
					"%" PRIu64 " %" PRIu64 " %" PRIu64 " %s",
					p->cycle, p->created, p->applied, journal_point_kind_name(p->kind));
		if (p->group[0])
			len += (size_t)snprintf(text + len, room - len, " %s %" PRIu64,
						p->group, p->instant);
		len += (size_t)snprintf(text + len, room - len, "\n");
	}
	len = seal_text(text, len, room);
	ret = journal_put_file(j, "points", text, len);
	free(text);
	return ret;
}

static int load_points(struct journal *j)
{
	char *text, *line, *save = NULL;
	struct journal_point *p;
	size_t cap = 0;
	int ret;

	ret = journal_get_file(j, "points", &text);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	ret = unseal_text(j, "points", text);
	if (ret)
		goto out;
	ret = -EBADMSG;
	if (strncmp(text, POINTS_MAGIC, strlen(POINTS_MAGIC)))
		goto bad;
	for (line = strtok_r(text + strlen(POINTS_MAGIC), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char kind[8];
		int n = 0;

		if (j->nr_points == cap) {
			cap = cap ? 2 * cap : 64;
			p = realloc(j->points, cap * sizeof(*p));
			if (!p) {
				ret = -ENOMEM;
				goto out;
			}
			j->points = p;
		}
		p = &j->points[j->nr_points];
		if (sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %7s%n", &p->cycle, &p->created,
			   &p->applied, kind, &n) != 4 ||
		    (j->nr_points && p->cycle <= p[-1].cycle))
			goto bad;
		p->kind = kind_parse(kind);
		/* Optional: "GROUP INSTANT" of a consistency group's point. */
		if (sscanf(line + n, " %31s %" SCNu64, p->group, &p->instant) != 2) {
			p->group[0] = '\0';
			p->instant = 0;
		}
		j->nr_points++;
	}
	ret = 0;
	goto out;
bad:
	log_err("%s/points is not a list of recovery points this version understands", j->dir);
out:
	free(text);
	return ret;
}

int journal_find_point(struct journal *j, uint64_t cycle)
{
	for (size_t i = 0; i < j->nr_points; i++)
		if (j->points[i].cycle == cycle)
			return (int)i;
	if (j->nr_points)
		log_err("replica has no recovery point at cycle %" PRIu64 "; it has cycles %" PRIu64 "..%" PRIu64 " (run 'cbtship points')",
			cycle, j->points[0].cycle, j->points[j->nr_points - 1].cycle);
	else
		log_err("replica has no recovery points yet (no cycle applied)");
	return -ENOENT;
}

int journal_find_instant(struct journal *j, uint64_t instant, uint64_t *cycle)
{
	for (size_t i = 0; i < j->nr_points; i++) {
		if (j->points[i].group[0] && j->points[i].instant == instant) {
			*cycle = j->points[i].cycle;
			return 0;
		}
	}
	log_err("replica has no recovery point of group instant %" PRIu64 " (run 'cbtship points'; apply first if the volume is behind its group)",
		instant);
	return -ENOENT;
}

/* Drop points after j->st.at (rolled back) and those no undo can reach. */
static void trim_points(struct journal *j)
{
	while (j->nr_points && j->points[j->nr_points - 1].cycle > j->st.at)
		j->nr_points--;
}

int journal_add_point(struct journal *j, uint64_t cycle, uint64_t created, enum point_kind kind,
		      const struct journal_retention *keep, uint64_t now)
{
	uint64_t max_age = keep && keep->max_age ? keep->max_age : JOURNAL_DEFAULT_AGE;
	uint64_t max_count = keep ? keep->max_count : 0;
	uint64_t old_first;
	size_t drop = 0;
	int ret;

	trim_points(j);
	if (!j->nr_points || j->points[j->nr_points - 1].cycle < cycle) {
		struct journal_point *p = realloc(j->points, (j->nr_points + 1) * sizeof(*p));

		if (!p)
			return -ENOMEM;
		j->points = p;
		p[j->nr_points] = (struct journal_point){
			.cycle = cycle, .created = created, .applied = now, .kind = kind,
		};
		if (cycle == j->st.at && j->st.at_group[0]) {
			memcpy(p[j->nr_points].group, j->st.at_group, sizeof(p->group));
			p[j->nr_points].instant = j->st.at_instant;
		}
		j->nr_points++;
	}
	old_first = j->points[0].cycle;
	/* A point needs every cycle after it to be contiguous back to it. */
	for (size_t i = j->nr_points - 1; i > 0; i--) {
		if (j->points[i - 1].cycle + 1 != j->points[i].cycle) {
			drop = i;
			break;
		}
	}
	while (drop + 1 < j->nr_points) {
		const struct journal_point *p = &j->points[drop];

		if (!(now > p->created && now - p->created > max_age) &&
		    !(max_count && j->nr_points - drop > max_count))
			break;
		drop++;
	}
	if (drop) {
		memmove(j->points, j->points + drop, (j->nr_points - drop) * sizeof(*j->points));
		j->nr_points -= drop;
	}
	ret = save_points(j);
	if (ret)
		return ret;
	/* The oldest point's own undo (and older) restores nothing anyone keeps. */
	for (uint64_t c = old_first; c <= j->points[0].cycle; c++) {
		ret = undo_remove(j, c);
		if (ret)
			return ret;
	}
	return 0;
}

int journal_drop_points(struct journal *j)
{
	DIR *d;
	struct dirent *de;
	int fd, ret;

	j->nr_points = 0;
	ret = save_points(j);
	if (ret)
		return ret;
	fd = dup(j->dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		log_err("cannot list %s: %s", j->dir, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "undo-", 5))
			continue;
		if (unlinkat(j->dirfd, de->d_name, 0) < 0 && errno != ENOENT) {
			ret = -errno;
			log_err("cannot remove %s/%s: %s", j->dir, de->d_name, strerror(-ret));
			break;
		}
	}
	closedir(d);
	return ret;
}

int journal_parse_age(const char *text, uint64_t *secs)
{
	static const struct { char unit; uint64_t mul; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	uint64_t mul = 1;
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || text[0] == '-')
		goto bad;
	if (*end) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].unit)
				break;
		if (i == sizeof(units) / sizeof(units[0]) || end[1])
			goto bad;
		mul = units[i].mul;
	}
	if (!v || v > JOURNAL_MAX_AGE / mul) {
		log_err("point retention %s: give a time from 1s up to 15d", text);
		return -ERANGE;
	}
	*secs = v * mul;
	return 0;
bad:
	log_err("point retention '%s' is not a time: give N followed by s, m, h or d (e.g. 36h)",
		text);
	return -EINVAL;
}

/* ---- open, lock ---- */

char *journal_dir_for(const char *spec, const char *given)
{
	struct stat sb;
	char *dir;

	if (given)
		return strdup(given);
	if (replica_spec_is_remote(spec) || (stat(spec, &sb) == 0 && !S_ISREG(sb.st_mode))) {
		log_err("replica %s is not a regular file: give its state directory with --state DIR (a directory on durable local storage, kept with the replica)",
			spec);
		return NULL;
	}
	if (asprintf(&dir, "%s.cbtship", spec) < 0)
		return NULL;
	return dir;
}

void journal_remove(struct journal *j)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(j->dirfd);

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		log_err("cannot list %s to remove it: %s; remove it by hand", j->dir, strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(j->dirfd, de->d_name, 0) < 0)
			log_err("cannot remove %s/%s: %s", j->dir, de->d_name, strerror(errno));
	}
	closedir(d);
	if (rmdir(j->dir) < 0)
		log_err("cannot remove %s: %s; remove it by hand", j->dir, strerror(errno));
}

static int lock(struct journal *j, bool exclusive)
{
	while (flock(j->lockfd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR) {
			log_err("cannot lock %s/lock: %s", j->dir, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

void journal_unlock(struct journal *j)
{
	flock(j->lockfd, LOCK_UN);
}

int journal_relock(struct journal *j, bool exclusive)
{
	return lock(j, exclusive);
}

int journal_open(const char *dir, bool create, bool exclusive, struct journal **out)
{
	struct journal *j;
	char *text = NULL;
	int ret;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dirfd = j->lockfd = -1;
	j->dir = strdup(dir);
	if (!j->dir) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		log_err("cannot create the replica's state directory %s: %s", dir, strerror(-ret));
		goto out_free;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			log_err("replica state directory %s does not exist: has 'cbtship apply' run for this replica with this --state?",
				dir);
		else
			log_err("cannot open the replica's state directory %s: %s", dir, strerror(-ret));
		goto out_free;
	}
	j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lockfd < 0) {
		ret = -errno;
		log_err("cannot open %s/lock: %s", dir, strerror(-ret));
		goto out_free;
	}
	ret = lock(j, exclusive);
	if (ret)
		goto out_free;
	ret = journal_get_file(j, "state", &text);
	if (ret == -ENOENT) {
		if (!create) {
			log_err("replica state directory %s holds no state: no cycle has been applied with it",
				dir);
			goto out_free;
		}
		j->created = true;
		*out = j;
		return 0;
	}
	if (ret)
		goto out_free;
	ret = unseal_text(j, "state", text);
	if (!ret)
		ret = parse_state(j, text);
	if (!ret)
		ret = load_points(j);
	free(text);
	if (ret)
		goto out_free;
	*out = j;
	return 0;

out_free:
	journal_close(j);
	return ret;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->lockfd >= 0)
		close(j->lockfd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->points);
	free(j->dir);
	free(j);
}

/* ---- undo files ---- */

struct undo_writer {
	struct journal *j;
	uint64_t cycle;
	int fd;
	char name[40], tmp[48];
	uint64_t nr, off;
	uint8_t *buf;
	size_t len;
};

static void undo_name(uint64_t cycle, char *buf, size_t len)
{
	snprintf(buf, len, "undo-%020" PRIu64, cycle);
}

int undo_begin(struct journal *j, uint64_t cycle, struct undo_writer **out)
{
	struct undo_writer *w;
	int ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->j = j;
	w->cycle = cycle;
	undo_name(cycle, w->name, sizeof(w->name));
	snprintf(w->tmp, sizeof(w->tmp), ".tmp-%s", w->name);
	w->buf = malloc(UNDO_BUF_BYTES);
	if (!w->buf) {
		free(w);
		return -ENOMEM;
	}
	w->fd = openat(j->dirfd, w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		ret = -errno;
		log_err("cannot create %s/%s: %s", j->dir, w->tmp, strerror(-ret));
		free(w->buf);
		free(w);
		return ret;
	}
	w->off = UNDO_HDR_BYTES;
	*out = w;
	return 0;
}

static int undo_flush(struct undo_writer *w)
{
	size_t done = 0;

	while (done < w->len) {
		ssize_t n = pwrite(w->fd, w->buf + done, w->len - done, (off_t)(w->off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("cannot write %s/%s: %s; is the file system holding it full?",
				w->j->dir, w->tmp, strerror(errno));
			return -errno;
		}
		done += (size_t)n;
	}
	w->off += w->len;
	w->len = 0;
	journal_step();
	return 0;
}

int undo_add(struct undo_writer *w, uint64_t block, const void *data, size_t len)
{
	bool zero = all_zero(data, len);
	size_t need = UNDO_ENT_BYTES + (zero ? 0 : len);
	uint8_t *e;
	int ret;

	if (need > UNDO_BUF_BYTES)
		return -EINVAL;
	if (w->len + need > UNDO_BUF_BYTES) {
		ret = undo_flush(w);
		if (ret)
			return ret;
	}
	e = w->buf + w->len;
	put_le64(e, block);
	put_le32(e + 8, (uint32_t)len);
	put_le32(e + 12, zero ? UNDO_F_ZERO : 0);
	put_le32(e + 16, crc32c(0, data, len));
	put_le32(e + 20, 0);
	if (!zero)
		memcpy(e + UNDO_ENT_BYTES, data, len);
	w->len += need;
	w->nr++;
	return 0;
}

static void undo_header(const struct journal *j, uint64_t cycle, uint64_t nr,
			uint8_t h[UNDO_HDR_BYTES])
{
	memset(h, 0, UNDO_HDR_BYTES);
	memcpy(h, UNDO_MAGIC, 8);
	put_le32(h + 8, 1);
	put_le32(h + 12, j->st.block_size);
	memcpy(h + 16, j->st.volume_id, JOURNAL_ID_BYTES);
	put_le64(h + 32, cycle);
	put_le64(h + 40, nr);
	put_le32(h + 60, crc32c(0, h, 60));
}

void undo_abort(struct undo_writer *w)
{
	if (!w)
		return;
	close(w->fd);
	unlinkat(w->j->dirfd, w->tmp, 0);
	free(w->buf);
	free(w);
}

int undo_commit(struct undo_writer *w)
{
	struct journal *j = w->j;
	uint8_t h[UNDO_HDR_BYTES];
	int ret;

	ret = undo_flush(w);
	if (ret)
		goto out;
	undo_header(j, w->cycle, w->nr, h);
	w->off = 0;
	memcpy(w->buf, h, sizeof(h));
	w->len = sizeof(h);
	ret = undo_flush(w);
	if (ret)
		goto out;
	if (fsync(w->fd) < 0 || renameat(j->dirfd, w->tmp, j->dirfd, w->name) < 0 ||
	    fsync(j->dirfd) < 0) {
		ret = -errno;
		log_err("cannot sync %s/%s into place: %s", j->dir, w->name, strerror(-ret));
		goto out;
	}
	journal_step();
	close(w->fd);
	free(w->buf);
	free(w);
	return 0;
out:
	undo_abort(w);
	return ret;
}

int undo_save_range(struct undo_writer *w, struct replica *r, uint64_t start, uint64_t count,
		    uint8_t *buf, size_t buf_len)
{
	const struct journal_state *s = &w->j->st;
	uint64_t bs = s->block_size, per = buf_len / bs;
	int ret;

	while (count) {
		uint64_t n = count < per ? count : per;
		uint64_t off = start * bs, len = n * bs;

		if (off >= s->size_bytes)
			return -EINVAL;
		if (len > s->size_bytes - off)
			len = s->size_bytes - off;
		ret = r->ops->pread(r, buf, (size_t)len, off);
		if (ret)
			return ret;
		for (uint64_t i = 0; i < n && i * bs < len; i++) {
			uint64_t blen = len - i * bs < bs ? len - i * bs : bs;

			ret = undo_add(w, start + i, buf + i * bs, (size_t)blen);
			if (ret)
				return ret;
		}
		start += n;
		count -= n;
	}
	return 0;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EBADMSG;
		done += (size_t)n;
	}
	return 0;
}

int undo_replay(struct journal *j, uint64_t cycle, undo_sink sink, void *ctx)
{
	uint8_t h[UNDO_HDR_BYTES], e[UNDO_ENT_BYTES];
	uint64_t nr, off = UNDO_HDR_BYTES, woff = 0, prev = 0;
	uint32_t bs = j->st.block_size;
	uint8_t *buf = NULL;
	size_t wlen = 0;
	struct stat sb;
	char name[40];
	int fd, ret;

	undo_name(cycle, name, sizeof(name));
	fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot open %s/%s: %s; the recovery data of cycle %" PRIu64 " is gone",
			j->dir, name, strerror(-ret), cycle);
		return ret;
	}
	ret = -ENOMEM;
	buf = malloc(UNDO_BUF_BYTES + bs);
	if (!buf)
		goto out;
	ret = fstat(fd, &sb) < 0 ? -errno : read_exact(fd, h, sizeof(h), 0);
	if (ret)
		goto bad;
	undo_header(j, cycle, get_le64(h + 40), buf);
	if (memcmp(h, buf, UNDO_HDR_BYTES)) {
		ret = -EBADMSG;
		goto bad;
	}
	nr = get_le64(h + 40);
	for (uint64_t i = 0; i < nr; i++) {
		uint64_t block;
		uint32_t len, flags;

		ret = read_exact(fd, e, sizeof(e), off);
		if (ret)
			goto bad;
		off += sizeof(e);
		block = get_le64(e);
		len = get_le32(e + 8);
		flags = get_le32(e + 12);
		/* block * bs may wrap around: compare without multiplying. */
		if (!len || len > bs || len > j->st.size_bytes ||
		    block > (j->st.size_bytes - len) / bs || (i && block <= prev)) {
			ret = -EBADMSG;
			goto bad;
		}
		prev = block;
		if (wlen && (woff + wlen != block * bs || wlen + len > UNDO_BUF_BYTES)) {
			ret = sink(ctx, buf, wlen, woff);
			if (ret)
				goto out;
			wlen = 0;
		}
		if (!wlen)
			woff = block * bs;
		if (flags & UNDO_F_ZERO) {
			memset(buf + wlen, 0, len);
		} else {
			ret = read_exact(fd, buf + wlen, len, off);
			if (ret)
				goto bad;
			off += len;
		}
		if (crc32c(0, buf + wlen, len) != get_le32(e + 16)) {
			ret = -EBADMSG;
			goto bad;
		}
		wlen += len;
	}
	if (off != (uint64_t)sb.st_size) {
		ret = -EBADMSG;
		goto bad;
	}
	ret = wlen ? sink(ctx, buf, wlen, woff) : 0;
	goto out;
bad:
	log_err("%s/%s is damaged (%s); the recovery data of cycle %" PRIu64 " cannot be used",
		j->dir, name, strerror(-ret), cycle);
out:
	free(buf);
	close(fd);
	return ret;
}

int undo_remove(struct journal *j, uint64_t cycle)
{
	char name[40];

	undo_name(cycle, name, sizeof(name));
	if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT) {
		log_err("cannot remove %s/%s: %s", j->dir, name, strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- recovery ---- */

static int replica_sink(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct replica *r = ctx;
	int ret = r->ops->pwrite(r, buf, len, off);

	journal_step();
	return ret;
}

int journal_recover(struct journal *j, struct replica *r)
{
	uint64_t cycle = j->st.pending;
	uint64_t at = cycle == j->st.at ? cycle - 1 : j->st.at;
	int ret;

	if (!cycle)
		return undo_remove(j, j->st.at + 1);	/* residue of an attempt */
	/*
	 * At cycle 0 the replica holds no point to go back to (a first cycle,
	 * or a jump to a full cycle): the full cycle rewrites every block.
	 */
	if (j->st.at) {
		if (cycle != j->st.at)
			log_notice("replica %s: cycle %" PRIu64 " was interrupted; rolling back to cycle %" PRIu64,
				   r->spec, cycle, at);
		ret = undo_replay(j, cycle, replica_sink, r);
		if (ret)
			return ret;
		ret = r->ops->sync(r);
		if (ret)
			return ret;
	}
	j->st.at = at;
	j->st.at_created = 0;
	trim_points(j);
	if (j->nr_points && j->points[j->nr_points - 1].cycle == j->st.at)
		j->st.at_created = j->points[j->nr_points - 1].created;
	j->st.pending = 0;
	ret = journal_save_state(j);
	if (ret)
		return ret;
	ret = save_points(j);
	if (ret)
		return ret;
	return undo_remove(j, cycle);
}
