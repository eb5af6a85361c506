/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One pool of sealing threads per process, shared by every segment
 * pipeline running in it (the daemon's volumes, a consistency group's
 * members): the CPU work of many volumes runs on as many threads as the
 * machine has cores, not on a set of threads per volume.  Workers serve
 * the clients with queued work in turn (round robin), so a volume with a
 * deep queue cannot starve one that has a single batch waiting.
 *
 * Lock order: a client's own lock may be held when calling seal_pool_kick();
 * the pool never calls back into a client with its lock held.
 */
#ifndef CBTSHIP_SEAL_POOL_H
#define CBTSHIP_SEAL_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct seal_pool;

struct seal_client {
	/*
	 * Seal one of the client's queued batches on pool thread `worker`
	 * (0 <= worker < SEG_PIPELINE_MAX_WORKERS); called once per kick,
	 * without the pool's lock.  With nothing to do (the client failed
	 * meanwhile) it just returns.
	 */
	void (*work)(struct seal_client *c, unsigned int worker);
	/* The pool's, under its lock. */
	unsigned int pending;		/* kicks not yet served */
	unsigned int busy;		/* workers inside work() */
	struct seal_client *next, *prev;
	bool attached;
};

/* What the pool saw, for tests and the debug log. */
struct seal_pool_stats {
	uint64_t served;		/* work() calls */
	uint64_t contended;		/* of them, chosen while another client also waited */
	unsigned int max_streak;	/* most contended turns in a row given to one client */
};

/*
 * The process's pool, made on first use with `workers` threads (0: one per
 * online CPU) and grown if a later caller asks for more; each get is paired
 * with a put, and the last put stops the threads.
 */
int seal_pool_get(unsigned int workers, struct seal_pool **out);
void seal_pool_put(struct seal_pool *pool);
unsigned int seal_pool_workers(struct seal_pool *pool);
/* Clients attached now (a new pipeline sizes its share of batches by it). */
unsigned int seal_pool_clients(struct seal_pool *pool);

void seal_pool_attach(struct seal_pool *pool, struct seal_client *c);
/* The client queued one batch: a worker will call c->work() once for it. */
void seal_pool_kick(struct seal_pool *pool, struct seal_client *c);
/*
 * No more work() calls for c: unserved kicks are dropped, and this returns
 * once every worker inside c->work() has left it (then c may be freed).
 */
void seal_pool_detach(struct seal_pool *pool, struct seal_client *c);

void seal_pool_get_stats(struct seal_pool *pool, struct seal_pool_stats *st);

#endif
