// SPDX-License-Identifier: GPL-2.0
/*
 * The process's pool of sealing threads (seal-pool.h).  Clients with kicks
 * pending form a ring; each worker takes the next client after the one last
 * served, so clients are served in turn whatever their queue depth.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "seal-pool.h"
#include "seg-pipeline.h"

struct seal_pool {
	pthread_mutex_t lock;
	pthread_cond_t work_cv;		/* a kick, or stopping */
	pthread_cond_t idle_cv;		/* a client's busy count fell to 0 */
	struct seal_client ring;	/* list head of attached clients */
	struct seal_client *last;	/* served last: the turn goes on from it */
	unsigned int nr_clients;
	bool stopping;
	pthread_t threads[SEG_PIPELINE_MAX_WORKERS];
	unsigned int nr_threads;
	unsigned int refs;		/* under pool_lock */
	struct seal_pool_stats stats;
	unsigned int streak;
};

/* The one pool, and the lock that makes and unmakes it. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seal_pool *the_pool;

struct worker_arg {
	struct seal_pool *pool;
	unsigned int index;
};

/* The next attached client after pool->last with a kick pending, or NULL. */
static struct seal_client *pick(struct seal_pool *pool)
{
	struct seal_client *start = pool->last && pool->last->attached ? pool->last : &pool->ring;
	struct seal_client *c = start->next, *chosen = NULL;
	bool others = false;

	for (unsigned int n = 0; n <= pool->nr_clients; n++, c = c->next) {
		if (c == &pool->ring || !c->pending)
			continue;
		if (!chosen)
			chosen = c;
		else
			others = true;
	}
	if (!chosen)
		return NULL;
	pool->stats.served++;
	if (others) {
		pool->stats.contended++;
		pool->streak = chosen == pool->last ? pool->streak + 1 : 1;
		if (pool->streak > pool->stats.max_streak)
			pool->stats.max_streak = pool->streak;
	} else {
		pool->streak = 0;
	}
	pool->last = chosen;
	return chosen;
}

static void *worker_main(void *arg)
{
	struct worker_arg wa = *(struct worker_arg *)arg;
	struct seal_pool *pool = wa.pool;
	struct seal_client *c;

	free(arg);
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (!pool->stopping && !(c = pick(pool)))
			pthread_cond_wait(&pool->work_cv, &pool->lock);
		if (pool->stopping)
			break;
		c->pending--;
		c->busy++;
		pthread_mutex_unlock(&pool->lock);
		c->work(c, wa.index);
		pthread_mutex_lock(&pool->lock);
		if (!--c->busy)
			pthread_cond_broadcast(&pool->idle_cv);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Start threads up to `workers`; called with pool_lock held. */
static int grow(struct seal_pool *pool, unsigned int workers)
{
	sigset_t all, old;
	int err = 0;

	/* Signals (SIGINT, SIGTERM) stay with the caller's thread, which checks the stop flag. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (pool->nr_threads < workers) {
		struct worker_arg *wa = malloc(sizeof(*wa));

		if (!wa) {
			err = -ENOMEM;
			break;
		}
		wa->pool = pool;
		wa->index = pool->nr_threads;
		err = -pthread_create(&pool->threads[pool->nr_threads], NULL, worker_main, wa);
		if (err) {
			free(wa);
			break;
		}
		pool->nr_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		log_err("cannot start the sealing threads (%u of %u running): %s",
			pool->nr_threads, workers, strerror(-err));
	return err;
}

static void pool_free(struct seal_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work_cv);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned int i = 0; i < pool->nr_threads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->idle_cv);
	pthread_cond_destroy(&pool->work_cv);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

int seal_pool_get(unsigned int workers, struct seal_pool **out)
{
	struct seal_pool *pool;
	int err;

	if (!workers)
		workers = seg_pipeline_default_workers();
	if (workers > SEG_PIPELINE_MAX_WORKERS) {
		log_err("%u worker threads asked; at most %d are supported",
			workers, SEG_PIPELINE_MAX_WORKERS);
		return -EINVAL;
	}
	pthread_mutex_lock(&pool_lock);
	pool = the_pool;
	if (!pool) {
		pool = calloc(1, sizeof(*pool));
		if (!pool) {
			pthread_mutex_unlock(&pool_lock);
			return -ENOMEM;
		}
		pthread_mutex_init(&pool->lock, NULL);
		pthread_cond_init(&pool->work_cv, NULL);
		pthread_cond_init(&pool->idle_cv, NULL);
		pool->ring.next = pool->ring.prev = &pool->ring;
	}
	err = grow(pool, workers);
	if (err && !pool->nr_threads) {
		if (pool != the_pool)
			pool_free(pool);
		pthread_mutex_unlock(&pool_lock);
		return err;
	}
	/* Fewer threads than asked still seal everything, only slower. */
	the_pool = pool;
	pool->refs++;
	pthread_mutex_unlock(&pool_lock);
	*out = pool;
	return 0;
}

void seal_pool_put(struct seal_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool_lock);
	if (--pool->refs) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	the_pool = NULL;
	pthread_mutex_unlock(&pool_lock);
	pool_free(pool);
}

unsigned int seal_pool_workers(struct seal_pool *pool)
{
	unsigned int n;

	pthread_mutex_lock(&pool_lock);
	n = pool->nr_threads;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

unsigned int seal_pool_clients(struct seal_pool *pool)
{
	unsigned int n;

	pthread_mutex_lock(&pool->lock);
	n = pool->nr_clients;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void seal_pool_attach(struct seal_pool *pool, struct seal_client *c)
{
	pthread_mutex_lock(&pool->lock);
	c->pending = c->busy = 0;
	c->prev = pool->ring.prev;
	c->next = &pool->ring;
	pool->ring.prev->next = c;
	pool->ring.prev = c;
	c->attached = true;
	pool->nr_clients++;
	pthread_mutex_unlock(&pool->lock);
}

void seal_pool_kick(struct seal_pool *pool, struct seal_client *c)
{
	pthread_mutex_lock(&pool->lock);
	if (c->attached) {
		c->pending++;
		pthread_cond_signal(&pool->work_cv);
	}
	pthread_mutex_unlock(&pool->lock);
}

void seal_pool_detach(struct seal_pool *pool, struct seal_client *c)
{
	pthread_mutex_lock(&pool->lock);
	if (c->attached) {
		c->prev->next = c->next;
		c->next->prev = c->prev;
		c->attached = false;
		c->pending = 0;
		pool->nr_clients--;
		if (pool->last == c)
			pool->last = NULL;
	}
	while (c->busy)
		pthread_cond_wait(&pool->idle_cv, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
}

void seal_pool_get_stats(struct seal_pool *pool, struct seal_pool_stats *st)
{
	pthread_mutex_lock(&pool->lock);
	*st = pool->stats;
	pthread_mutex_unlock(&pool->lock);
}
