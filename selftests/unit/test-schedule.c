// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler's rules, one by one, over an injected time: the delta
 * interval rule, near-continuous mode, priorities, running before new,
 * the parallel limit with the rest queued, and blackout windows.
 */
#include <string.h>

#include "schedule.h"
#include "tap.h"

#define H	(3600LL * 1000000)
#define MIN	(60LL * 1000000)

static void test_interval(void)
{
	tap_eq(sched_next_due(true, 100 * H, 5 * H, H), 100 * H,
	       "first delta right after the initial replication, however long it took");
	tap_eq(sched_next_due(false, 100 * H, 4 * H, H), 102 * H,
	       "a 4 h delta: next in 2 h (duration / 2)");
	tap_eq(sched_next_due(false, 100 * H, 10 * MIN, H), 101 * H,
	       "a 10 min delta: next in 1 h (the minimum)");
	tap_eq(sched_next_due(false, 100 * H, 2 * H, H), 101 * H, "2 h delta: exactly the minimum");
	tap_eq(sched_next_due(false, 100 * H, 10 * MIN, 15 * MIN), 100 * H + 15 * MIN,
	       "a configured 15 min minimum");
	tap_eq(sched_next_due(false, 100 * H, 6 * 1000000, 0), 100 * H + 3 * 1000000,
	       "near-continuous: half the duration");
}

static void test_due(void)
{
	struct sched_volume v = { .initial_done = true, .min_interval = H, .next_due = 10 * H };

	tap_ok(!sched_due(&v, 10 * H - 1), "delta not due before next_due");
	tap_ok(sched_due(&v, 10 * H), "delta due at next_due");
	v.on_demand = true;
	tap_ok(sched_due(&v, 0), "on-demand is due at once");
	tap_eq(sched_kind_of(&v), SCHED_ON_DEMAND, "on-demand kind wins");
	v = (struct sched_volume){ .initial_done = false };
	tap_ok(sched_due(&v, 0), "a new volume is due at once (initial)");
	v.retry_at = 5 * MIN;
	tap_ok(!sched_due(&v, 5 * MIN - 1), "a failed initial replication waits for its retry time");
	tap_ok(sched_due(&v, 5 * MIN), "and is due again then");
	v.on_demand = true;
	tap_ok(sched_due(&v, 0), "on-demand does not wait for the retry time");
	v.on_demand = false;
	v.retry_at = 0;
	tap_eq(sched_kind_of(&v), SCHED_INITIAL, "initial kind");
	v = (struct sched_volume){ .initial_done = true, .min_interval = 0, .next_due = H };
	tap_ok(!sched_due(&v, 2 * H), "near-continuous: not due without change");
	v.has_changes = true;
	tap_ok(sched_due(&v, 2 * H), "near-continuous: due as soon as there is change");
	tap_ok(!sched_due(&v, H - 1), "near-continuous: still not before next_due");
}

static void test_priorities(void)
{
	struct sched_volume v[5];
	size_t start[5], n;

	memset(v, 0, sizeof(v));
	/* 0: delta due long ago, 1: initial, 2: on-demand, 3: delta due later, 4: initial resumed. */
	v[0] = (struct sched_volume){ .initial_done = true, .min_interval = H, .next_due = 1 * H };
	v[1] = (struct sched_volume){ .initial_done = false };
	v[2] = (struct sched_volume){ .initial_done = true, .on_demand = true, .next_due = 99 * H };
	v[3] = (struct sched_volume){ .initial_done = true, .min_interval = H, .next_due = 5 * H };
	v[4] = (struct sched_volume){ .initial_done = false, .in_progress = true };
	n = sched_pick(v, 5, 10 * H, 5, start);
	tap_eq(n, 5, "all five start with 5 slots");
	tap_ok(start[0] == 2 && start[1] == 4 && start[2] == 1 && start[3] == 0 && start[4] == 3,
	       "order: on-demand, resumed initial, new initial, oldest delta, newer delta (%zu %zu %zu %zu %zu)",
	       start[0], start[1], start[2], start[3], start[4]);

	for (int i = 0; i < 5; i++)
		v[i].running = false;
	n = sched_pick(v, 5, 10 * H, 2, start);
	tap_ok(n == 2 && start[0] == 2 && start[1] == 4, "two slots: on-demand and the resumed initial");
	tap_ok(v[2].state == SCHED_RUNNING && v[4].state == SCHED_RUNNING, "picked ones are running");
	tap_ok(v[0].state == SCHED_QUEUED && v[1].state == SCHED_QUEUED && v[3].state == SCHED_QUEUED,
	       "the others are shown queued");
}

static void test_parallel_limit(void)
{
	struct sched_volume v[60];
	size_t start[60], n, i, queued = 0;

	memset(v, 0, sizeof(v));
	n = sched_pick(v, 60, 0, SCHED_DEFAULT_PARALLEL, start);
	tap_eq(n, 52, "60 new volumes, default limit: 52 start");
	for (i = 0; i < n; i++)
		v[start[i]].running = true;
	for (i = 0; i < 60; i++)
		queued += v[i].state == SCHED_QUEUED;
	tap_eq(queued, 8, "8 queued");
	n = sched_pick(v, 60, 0, SCHED_DEFAULT_PARALLEL, start);
	tap_eq(n, 0, "no slot while 52 run");
	/* Running work is never preempted, even by on-demand. */
	v[59].on_demand = true;
	n = sched_pick(v, 60, 0, SCHED_DEFAULT_PARALLEL, start);
	tap_ok(n == 0 && v[59].state == SCHED_QUEUED, "on-demand queues behind running cycles");
	v[0].running = false;
	v[0].initial_done = true;
	v[0].next_due = H;
	v[0].min_interval = H;
	n = sched_pick(v, 60, 0, SCHED_DEFAULT_PARALLEL, start);
	tap_ok(n == 1 && start[0] == 59, "a freed slot goes to the on-demand cycle first");
	tap_eq(v[0].state, SCHED_WAITING, "the finished volume waits for its next due time");
	v[59].running = true;
	v[2].running = false;
	n = sched_pick(v, 60, 0, 0, start);
	tap_eq(n, 0, "limit 0: nothing starts");
}

/* A group is one entry taking one slot per volume; it is not starved. */
static void test_group_slots(void)
{
	struct sched_volume v[4];
	size_t start[4], n;

	memset(v, 0, sizeof(v));
	v[0].slots = 3;		/* a group of three, initial replication like the rest */
	n = sched_pick(v, 4, 0, 4, start);
	tap_ok(n == 2 && start[0] == 0 && start[1] == 1, "limit 4: the group (3) and one volume start");
	tap_ok(v[0].state == SCHED_RUNNING && v[2].state == SCHED_QUEUED, "the rest queue");
	v[0].running = v[1].running = true;
	n = sched_pick(v, 4, 0, 4, start);
	tap_eq(n, 0, "a running group holds its three slots");
	/* The group is due again while one volume runs: 3 slots free, it fits. */
	memset(v, 0, sizeof(v));
	v[0].slots = 3;
	v[1].running = true;
	n = sched_pick(v, 4, 0, 4, start);
	tap_ok(n == 1 && start[0] == 0, "the group starts in the three free slots");
	/* Two free slots: the group waits at the head, and the single volumes behind it too. */
	memset(v, 0, sizeof(v));
	v[0].slots = 3;
	v[1].running = v[2].running = true;
	n = sched_pick(v, 4, 0, 4, start);
	tap_ok(n == 0 && v[0].state == SCHED_QUEUED && v[3].state == SCHED_QUEUED,
	       "a group that does not fit holds the queue: nothing overtakes it");
	/* An on-demand volume ahead of the group goes first, then the group when it fits. */
	v[3].on_demand = true;
	v[2].running = false;
	n = sched_pick(v, 4, 0, 4, start);
	tap_ok(n == 1 && start[0] == 3, "on-demand first; the group still needs three slots");
}

static void test_blackout(void)
{
	struct sched_volume v[3];
	size_t start[3], n;

	memset(v, 0, sizeof(v));
	v[0] = (struct sched_volume){ .initial_done = true, .min_interval = H, .in_blackout = true };
	v[1] = (struct sched_volume){ .in_blackout = true };
	v[2] = (struct sched_volume){ .initial_done = true, .running = true, .in_blackout = true };
	n = sched_pick(v, 3, H, 52, start);
	tap_eq(n, 0, "no new cycle inside a blackout window");
	tap_ok(v[0].state == SCHED_BLACKOUT && v[1].state == SCHED_BLACKOUT, "due volumes shown as blackout");
	tap_eq(v[2].state, SCHED_RUNNING, "a running cycle keeps running through the window");
	v[0].on_demand = true;
	n = sched_pick(v, 3, H, 52, start);
	tap_ok(n == 1 && start[0] == 0, "an on-demand cycle starts despite the window");
	v[1].in_blackout = false;
	v[0].running = true;
	n = sched_pick(v, 3, H, 52, start);
	tap_ok(n == 1 && start[0] == 1, "after the window the initial replication starts");
}

int main(void)
{
	test_interval();
	test_due();
	test_priorities();
	test_parallel_limit();
	test_blackout();
	test_group_slots();
	return tap_done();
}
