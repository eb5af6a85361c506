// SPDX-License-Identifier: GPL-2.0
/*
 * The process's seal pool: one set of threads shared by all pipelines,
 * clients served in turn, detach waits for workers inside a client and
 * drops its unserved kicks, the pool grows on demand and stops with its
 * last user.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "seal-pool.h"
#include "tap.h"

#define NR_CLIENTS	3
#define KICKS		10

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool open;
	bool waiting;		/* a worker is held at the gate */
};

static struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };

static void gate_pass(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->waiting = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->lock);
	g->waiting = false;
	pthread_mutex_unlock(&g->lock);
}

static void gate_wait_held(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	while (!g->waiting)
		pthread_cond_wait(&g->cv, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_set(struct gate *g, bool open)
{
	pthread_mutex_lock(&g->lock);
	g->open = open;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->lock);
}

struct client {
	struct seal_client sc;	/* first: work() gets its address */
	int id;
	bool hold;		/* wait at the gate on each call */
	int calls;
};

static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
static int seq[NR_CLIENTS * KICKS + 8], nr_seq;

static void work(struct seal_client *sc, unsigned int worker)
{
	struct client *c = (struct client *)sc;

	(void)worker;
	pthread_mutex_lock(&seq_lock);
	if (nr_seq < (int)(sizeof(seq) / sizeof(seq[0])))
		seq[nr_seq++] = c->id;
	c->calls++;
	pthread_mutex_unlock(&seq_lock);
	if (c->hold)
		gate_pass(&gate);
}

/* Three clients, each with KICKS batches queued at once, one worker. */
static void test_turns(void)
{
	struct client c[NR_CLIENTS] = { 0 }, first = { .id = 99, .hold = true };
	struct seal_pool_stats st;
	struct seal_pool *pool;
	bool turns = true;
	int err;

	err = seal_pool_get(1, &pool);
	tap_eq(err, 0, "a pool of one worker");
	if (err)
		return;
	/* The worker is held inside `first` while every kick is queued. */
	first.sc.work = work;
	seal_pool_attach(pool, &first.sc);
	gate_set(&gate, false);
	seal_pool_kick(pool, &first.sc);
	gate_wait_held(&gate);
	for (int i = 0; i < NR_CLIENTS; i++) {
		c[i].id = i;
		c[i].sc.work = work;
		seal_pool_attach(pool, &c[i].sc);
	}
	/* Client 0 queues all its batches before the others queue any. */
	for (int i = 0; i < NR_CLIENTS; i++)
		for (int k = 0; k < KICKS; k++)
			seal_pool_kick(pool, &c[i].sc);
	gate_set(&gate, true);
	seal_pool_detach(pool, &first.sc);
	for (int i = 0; i < NR_CLIENTS; i++) {
		/* Each detach returns only after its work; wait for all of it first. */
		while (__atomic_load_n(&c[i].calls, __ATOMIC_SEQ_CST) < KICKS)
			usleep(1000);
	}
	for (int i = 0; i < NR_CLIENTS; i++)
		seal_pool_detach(pool, &c[i].sc);
	tap_eq(nr_seq, 1 + NR_CLIENTS * KICKS, "every kick served once");
	for (int i = 1; i + 1 < nr_seq; i++)
		if (seq[i + 1] != (seq[i] + 1) % NR_CLIENTS)
			turns = false;
	tap_ok(turns && seq[1] == 0,
	       "served in turn 0 1 2 0 1 2 ... although client 0 queued its %d first", KICKS);
	seal_pool_get_stats(pool, &st);
	tap_ok(st.contended >= (uint64_t)(NR_CLIENTS * KICKS - NR_CLIENTS) && st.max_streak == 1,
	       "stats: %llu contended turns, never two in a row to one client (max %u)",
	       (unsigned long long)st.contended, st.max_streak);
	seal_pool_put(pool);
}

struct detach_arg {
	struct seal_pool *pool;
	struct client *c;
	bool done;
};

static void *detacher(void *arg)
{
	struct detach_arg *a = arg;

	seal_pool_detach(a->pool, &a->c->sc);
	__atomic_store_n(&a->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Detach waits for a worker inside the client and drops unserved kicks. */
static void test_detach(void)
{
	struct client c = { .id = 0, .hold = true };
	struct detach_arg a = { .c = &c };
	struct seal_pool *pool;
	pthread_t t;

	nr_seq = 0;
	if (seal_pool_get(1, &pool)) {
		tap_ok(0, "pool");
		return;
	}
	a.pool = pool;
	c.sc.work = work;
	seal_pool_attach(pool, &c.sc);
	gate_set(&gate, false);
	for (int k = 0; k < 5; k++)
		seal_pool_kick(pool, &c.sc);
	gate_wait_held(&gate);
	pthread_create(&t, NULL, detacher, &a);
	usleep(100 * 1000);
	tap_ok(!__atomic_load_n(&a.done, __ATOMIC_SEQ_CST),
	       "detach waits while a worker is inside the client");
	gate_set(&gate, true);
	pthread_join(t, NULL);
	tap_ok(a.done, "and returns once it left");
	usleep(50 * 1000);
	tap_eq(c.calls, 1, "the 4 kicks not yet served were dropped");
	seal_pool_put(pool);
}

static void test_sharing(void)
{
	struct seal_pool *a, *b, *c;

	tap_ok(!seal_pool_get(2, &a) && !seal_pool_get(1, &b) && a == b,
	       "two users share one pool");
	tap_eq(seal_pool_workers(a), 2, "a smaller ask keeps its threads");
	tap_ok(!seal_pool_get(4, &c) && c == a, "a third user too");
	tap_eq(seal_pool_workers(a), 4, "a larger ask grows it");
	seal_pool_put(c);
	seal_pool_put(b);
	seal_pool_put(a);
	tap_ok(!seal_pool_get(1, &a), "after the last put a new pool is made");
	tap_eq(seal_pool_workers(a), 1, "with the threads asked now");
	seal_pool_put(a);
	tap_ok(seal_pool_get(100000, &a) != 0, "more workers than supported is refused");
}

int main(void)
{
	test_turns();
	test_detach();
	test_sharing();
	return tap_done();
}
