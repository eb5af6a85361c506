// SPDX-License-Identifier: GPL-2.0
/*
 * cbtship bench: the single-core speed of each data-path stage on a sample
 * of a given file (or, with --threads N, what N cores do running it at
 * once), so a replication's throughput can be judged against what the CPU
 * can do.  Each stage runs alone over the same 4 KiB blocks, as the segment
 * pipeline runs it: zero blocks skip compression, sealing covers whole 8 MiB
 * objects.  Times are the thread's CPU time, and each stage runs BENCH_REPS
 * times and the fastest counts (caches, frequency).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "codec.h"
#include "commands.h"
#include "crc32c.h"
#include "envelope.h"
#include "le.h"
#include "log.h"
#include "segment-seal.h"
#include "vstore-priv.h"

#define BENCH_BLOCK	4096u
#define BENCH_CHUNK	(1u << 20)	/* sample read in chunks spread over the file */
#define BENCH_OBJECT	(8u << 20)	/* sealing unit: one default-size segment */
#define BENCH_REPS	3		/* best of: other load on the machine only slows a run */

static void bench_usage(void)
{
	printf("usage: cbtship bench [--sample MIB] [--write-path] [--threads N] FILE\n"
	       "\n"
	       "Measure on one core the speed of each stage of the data path (crc32c,\n"
	       "zero detection, zstd-1, zstd-3, zlib-1, AES-256-GCM sealing; SHA-256, which\n"
	       "only reading version 1 manifests needs) on a\n"
	       "sample of FILE (default 256 MiB, read in 1 MiB chunks spread over the file).\n"
	       "Prints one line per stage: \"stage NAME MB/s\" (MB = 10^6 bytes of raw input\n"
	       "per second of CPU time, so other load on the machine does not lower it).\n"
	       "--write-path measures only the stages replication runs (crc32c, zero\n"
	       "detection, zstd-1, AES-256-GCM): quick enough to repeat next to each run.\n"
	       "Both end with \"stage worker\": the whole of a sealing worker's job (all of\n"
	       "those on 8 MiB segments, as replication runs them), the most one worker does.\n"
	       "--threads N runs each stage on N threads at once and prints their sum:\n"
	       "what N cores do together, which on shared cores is less than N x one.\n");
}

/*
 * This thread's CPU time, not wall time: on a machine shared with other
 * load, a stage's speed per CPU second is what the core can do.
 */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_sample(const char *path, size_t want, uint8_t **out, size_t *len)
{
	struct stat st;
	size_t chunks, got = 0;
	uint8_t *buf;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		log_err("cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size < BENCH_CHUNK) {
		log_err("%s is smaller than 1 MiB: give a larger sample file", path);
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size < want)
		want = (size_t)st.st_size / BENCH_CHUNK * BENCH_CHUNK;
	chunks = want / BENCH_CHUNK;
	buf = malloc(chunks * BENCH_CHUNK);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < chunks; i++) {
		uint64_t span = (uint64_t)st.st_size / BENCH_CHUNK;
		off_t off = (off_t)(i * span / chunks * BENCH_CHUNK);
		ssize_t n = pread(fd, buf + got, BENCH_CHUNK, off);

		if (n != (ssize_t)BENCH_CHUNK) {
			err = n < 0 ? -errno : -EIO;
			log_err("cannot read %s: %s", path, n < 0 ? strerror(errno) : "short read");
			free(buf);
			goto out;
		}
		got += BENCH_CHUNK;
	}
	*out = buf;
	*len = got;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static double bench_crc(const uint8_t *s, size_t len)
{
	volatile uint32_t sink = 0;
	double t0 = now();

	for (size_t off = 0; off < len; off += BENCH_BLOCK)
		sink ^= crc32c(0, s + off, BENCH_BLOCK);
	(void)sink;
	return now() - t0;
}

static double bench_zero(const uint8_t *s, size_t len)
{
	volatile int sink = 0;
	double t0 = now();

	for (size_t off = 0; off < len; off += BENCH_BLOCK)
		sink += all_zero(s + off, BENCH_BLOCK);
	(void)sink;
	return now() - t0;
}

static int bench_codec(const struct codec_ops *c, int level, const uint8_t *s, size_t len,
		       double *secs, size_t *out_bytes)
{
	uint8_t dst[BENCH_BLOCK];
	size_t clen, total = 0;
	void *ctx;
	double t0;
	int err;

	err = c->create(level, &ctx);
	if (err)
		return err;
	t0 = now();
	for (size_t off = 0; off < len; off += BENCH_BLOCK) {
		if (all_zero(s + off, BENCH_BLOCK))
			continue;
		err = c->compress(ctx, s + off, BENCH_BLOCK, dst, BENCH_BLOCK - 1, &clen);
		if (err == -ENOSPC) {
			clen = BENCH_BLOCK;
			err = 0;
		}
		if (err)
			break;
		total += clen;
	}
	*secs = now() - t0;
	*out_bytes = total;
	c->destroy(ctx);
	return err;
}

static int bench_seal(const uint8_t *s, size_t len, bool sha, double *secs)
{
	struct env_meta meta = { .type = ENV_SEGMENT, .codec = CODEC_NONE };
	struct cbt_key key = { 0 };
	uint8_t digest[FMT_SHA256_BYTES];
	uint8_t *obj;
	double t0;
	int err = 0;

	if (RAND_bytes(key.bytes, sizeof(key.bytes)) != 1)
		return -EIO;
	obj = malloc(envelope_size(BENCH_OBJECT));
	if (!obj)
		return -ENOMEM;
	t0 = now();
	for (size_t off = 0; off + BENCH_OBJECT <= len && !err; off += BENCH_OBJECT) {
		if (sha)
			err = vstore_sha256(s + off, BENCH_OBJECT, digest);
		else
			err = envelope_seal(&key, &meta, s + off, BENCH_OBJECT, obj);
	}
	*secs = now() - t0;
	free(obj);
	key_wipe(&key);
	return err;
}

/*
 * A seal-pool worker's whole job, as one: segments of BENCH_OBJECT bytes of
 * 4 KiB blocks built and sealed by segment_seal() (crc32c, zero markers,
 * zstd-1, AES-256-GCM, as replication does).  Its speed over the slowest
 * stage's is the most a worker can reach of that stage's ceiling.
 */
static int bench_segment(const struct codec_ops *c, int level, const uint8_t *s, size_t len,
			 double *secs, size_t *out_bytes)
{
	const uint32_t nr = BENCH_OBJECT / BENCH_BLOCK;
	struct env_meta meta = { .type = ENV_SEGMENT, .codec = (uint8_t)c->id };
	struct seg_sealer sealer = {
		.codec = c,
		.block_size = BENCH_BLOCK,
		.zero_crc = segment_zero_crc(BENCH_BLOCK),
	};
	uint64_t *blocks = malloc(nr * sizeof(*blocks));
	uint32_t *lens = malloc(nr * sizeof(*lens));
	struct env_piece *pieces = malloc((2 * (size_t)nr + 1) * sizeof(*pieces));
	uint8_t *obj = malloc(segment_obj_cap(nr, BENCH_OBJECT));
	struct cbt_key key = { 0 };
	size_t total = 0, obj_len;
	double t0;
	int err;

	err = !blocks || !lens || !pieces || !obj ? -ENOMEM : c->create(level, &sealer.cctx);
	if (!err && RAND_bytes(key.bytes, sizeof(key.bytes)) != 1)
		err = -EIO;
	for (uint32_t i = 0; i < nr && blocks && lens; i++) {
		blocks[i] = i;
		lens[i] = BENCH_BLOCK;
	}
	t0 = now();
	for (size_t off = 0; off + BENCH_OBJECT <= len && !err; off += BENCH_OBJECT) {
		struct seg_blocks in = { .raw = s + off, .blocks = blocks, .lens = lens, .nr = nr };

		meta.segment++;
		err = segment_seal(&key, &meta, &sealer, &in, obj, pieces, &obj_len);
		total += obj_len;
	}
	*secs = now() - t0;
	*out_bytes = total;
	if (sealer.cctx)
		c->destroy(sealer.cctx);
	key_wipe(&key);
	free(obj);
	free(pieces);
	free(lens);
	free(blocks);
	return err;
}

enum bench_kind { BK_CRC, BK_ZERO, BK_CODEC, BK_SEAL, BK_SHA, BK_SEGMENT };

/* One thread's run of one stage over the whole sample. */
/* Holds a measurement's threads until all exist, so they run at once. */
struct bench_gate {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool open;
	bool cancel;		/* a thread could not be started: nobody measures */
};

struct bench_job {
	enum bench_kind kind;
	const struct codec_ops *codec;
	int level;
	const uint8_t *s;
	size_t len;
	struct bench_gate *start;
	double secs;			/* this thread's CPU time */
	size_t out_bytes;
	int err;
};

static void *bench_job_run(void *arg)
{
	struct bench_job *j = arg;

	bool cancel;

	pthread_mutex_lock(&j->start->lock);
	while (!j->start->open)
		pthread_cond_wait(&j->start->cv, &j->start->lock);
	cancel = j->start->cancel;
	pthread_mutex_unlock(&j->start->lock);
	if (cancel)
		return NULL;
	switch (j->kind) {
	case BK_CRC:
		j->secs = bench_crc(j->s, j->len);
		break;
	case BK_ZERO:
		j->secs = bench_zero(j->s, j->len);
		break;
	case BK_CODEC:
		j->err = bench_codec(j->codec, j->level, j->s, j->len, &j->secs, &j->out_bytes);
		break;
	case BK_SEAL:
	case BK_SHA:
		j->err = bench_seal(j->s, j->len, j->kind == BK_SHA, &j->secs);
		break;
	case BK_SEGMENT:
		j->err = bench_segment(j->codec, j->level, j->s, j->len, &j->secs, &j->out_bytes);
		break;
	}
	return NULL;
}

/*
 * A stage's speed, best of BENCH_REPS: MB per CPU second of one thread, or
 * with threads > 1 the sum over that many threads running it at once, each
 * on its own copy of the work.  Cores that share a physical core or a power
 * budget (the vCPUs of a cloud VM) are slower together than alone, and N
 * workers can never beat N threads doing nothing but the stage.
 */
static int bench_stage(const struct bench_job *proto, unsigned int threads, double *mbs,
		       size_t *out_bytes)
{
	struct bench_job *jobs = calloc(threads, sizeof(*jobs));
	pthread_t *tids = calloc(threads, sizeof(*tids));
	struct bench_gate start = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };
	double best = 0, sum;
	int err = 0;

	if (!jobs || !tids) {
		err = -ENOMEM;
		goto out;
	}
	for (int rep = 0; rep < BENCH_REPS && !err; rep++) {
		unsigned int started = 0;

		start.open = start.cancel = false;
		for (unsigned int i = 0; i < threads; i++) {
			jobs[i] = *proto;
			jobs[i].start = &start;
		}
		/* Thread 0 is this one; the others are started first. */
		for (unsigned int i = 1; i < threads && !err; i++) {
			err = -pthread_create(&tids[i], NULL, bench_job_run, &jobs[i]);
			if (!err)
				started++;
		}
		if (err)
			log_err("bench: cannot start a thread: %s", strerror(-err));
		pthread_mutex_lock(&start.lock);
		start.open = true;
		start.cancel = err != 0;
		pthread_cond_broadcast(&start.cv);
		pthread_mutex_unlock(&start.lock);
		if (!err)
			bench_job_run(&jobs[0]);
		for (unsigned int i = 1; i <= started; i++)
			pthread_join(tids[i], NULL);
		sum = 0;
		for (unsigned int i = 0; i < threads && !err; i++) {
			err = jobs[i].err;
			sum += jobs[i].secs > 0 ? jobs[i].len / jobs[i].secs / 1e6 : 0;
		}
		if (sum > best)
			best = sum;
	}
	*mbs = best;
	if (out_bytes)
		*out_bytes = jobs[0].out_bytes;
out:
	free(jobs);
	free(tids);
	return err;
}

static void print_stage(const char *name, double mbs, const char *note)
{
	printf("stage %-8s %9.1f MB/s%s\n", name, mbs, note);
}

static int bench_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ "write-path", no_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct { const struct codec_ops *c; int level; const char *name; } codecs[] = {
		{ &codec_zstd, 1, "zstd-1" },	/* first: the only one --write-path measures */
		{ &codec_zstd, 3, "zstd-3" },
		{ &codec_zlib, 1, "zlib-1" },
	};
	unsigned long mib = 256;
	bool write_path = false;
	struct bench_job proto = { 0 };
	unsigned long threads = 1;
	size_t len = 0, cbytes;
	uint8_t *s = NULL;
	char note[64];
	double mbs;
	char *end;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			mib = strtoul(optarg, &end, 10);
			if (*end || mib < 8 || mib > 65536) {
				log_err("invalid --sample '%s': give MiB from 8 to 65536", optarg);
				return 2;
			}
			break;
		case 'w':
			write_path = true;
			break;
		case 't':
			threads = strtoul(optarg, &end, 10);
			if (*end || threads < 1 || threads > 256) {
				log_err("invalid --threads '%s': give 1 to 256", optarg);
				return 2;
			}
			break;
		case 'h':
			bench_usage();
			return 0;
		default:
			bench_usage();
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_err("bench needs one FILE (see cbtship bench --help)");
		return 2;
	}
	err = read_sample(argv[optind], mib << 20, &s, &len);
	if (err)
		return 1;
	if (threads > 1)
		printf("sample %zu MiB of %s, 4 KiB blocks, %lu threads at once (summed)\n",
		       len >> 20, argv[optind], threads);
	else
		printf("sample %zu MiB of %s, 4 KiB blocks, one core\n", len >> 20, argv[optind]);
	proto.s = s;
	proto.len = len;
	proto.kind = BK_CRC;
	err = bench_stage(&proto, (unsigned int)threads, &mbs, NULL);
	if (err)
		goto out;
	print_stage("crc32c", mbs, "");
	proto.kind = BK_ZERO;
	err = bench_stage(&proto, (unsigned int)threads, &mbs, NULL);
	if (err)
		goto out;
	print_stage("zero", mbs, "");
	proto.kind = BK_CODEC;
	for (size_t i = 0; i < (write_path ? 1 : sizeof(codecs) / sizeof(codecs[0])); i++) {
		proto.codec = codecs[i].c;
		proto.level = codecs[i].level;
		err = bench_stage(&proto, (unsigned int)threads, &mbs, &cbytes);
		if (err)
			goto out;
		snprintf(note, sizeof(note), "  (output %.1f%% of input)", 100.0 * cbytes / len);
		print_stage(codecs[i].name, mbs, note);
	}
	proto.len = len / BENCH_OBJECT * BENCH_OBJECT;
	if (proto.len) {
		for (int sha = 0; sha < (write_path ? 1 : 2); sha++) {
			proto.kind = sha ? BK_SHA : BK_SEAL;
			err = bench_stage(&proto, (unsigned int)threads, &mbs, NULL);
			if (err)
				goto out;
			print_stage(sha ? "sha256" : "aes-gcm", mbs,
				    sha ? "  (reading version 1 manifests only; not on the write path)" :
					  "  (sealing 8 MiB objects: HKDF + AES-256-GCM)");
		}
		proto.kind = BK_SEGMENT;
		proto.codec = codecs[0].c;
		proto.level = codecs[0].level;
		err = bench_stage(&proto, (unsigned int)threads, &mbs, &cbytes);
		if (err)
			goto out;
		snprintf(note, sizeof(note), "  (all of a worker's job with zstd-1: %.1f%% out)",
			 100.0 * cbytes / proto.len);
		print_stage("worker", mbs, note);
	}
out:
	free(s);
	return err ? 1 : 0;
}

const struct command cmd_bench = {
	.name = "bench",
	.run = bench_run,
	.usage = bench_usage,
	.help = "measure each data-path stage's single-core speed on a file",
};
