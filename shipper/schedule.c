// SPDX-License-Identifier: GPL-2.0
/* The replication scheduler (schedule.h). */
#include <stdlib.h>

#include "schedule.h"

enum sched_kind sched_kind_of(const struct sched_volume *v)
{
	if (v->on_demand)
		return SCHED_ON_DEMAND;
	return v->initial_done ? SCHED_DELTA : SCHED_INITIAL;
}

bool sched_due(const struct sched_volume *v, int64_t now)
{
	if (v->on_demand)
		return true;
	if (now < v->retry_at)
		return false;
	if (!v->initial_done)
		return true;
	if (now < v->next_due)
		return false;
	/* Near-continuous: only when there is something to ship. */
	return v->min_interval > 0 || v->has_changes;
}

int64_t sched_next_due(bool was_initial, int64_t end, int64_t duration, int64_t min_interval)
{
	int64_t half = duration / 2;

	if (was_initial)
		return end;
	return end + (half > min_interval ? half : min_interval);
}


/* Best first: kind, under way before new, longest overdue, index. */
static int cmp_candidates(const void *a, const void *b, void *arg)
{
	const struct sched_volume *base = arg;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	const struct sched_volume *va = &base[ia], *vb = &base[ib];

	if (va->kind != vb->kind)
		return va->kind < vb->kind ? -1 : 1;
	if (va->in_progress != vb->in_progress)
		return va->in_progress ? -1 : 1;
	if (va->initial_done && vb->initial_done && va->next_due != vb->next_due)
		return va->next_due < vb->next_due ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

static size_t slots_of(const struct sched_volume *v)
{
	return v->slots ? v->slots : 1;
}

size_t sched_pick(struct sched_volume *v, size_t nr, int64_t now, unsigned int parallel,
		  size_t *start)
{
	size_t i, running = 0, nc = 0, slots, n;

	for (i = 0; i < nr; i++) {
		if (v[i].running) {
			v[i].state = SCHED_RUNNING;
			running += slots_of(&v[i]);
			continue;
		}
		v[i].kind = sched_kind_of(&v[i]);
		if (!sched_due(&v[i], now)) {
			v[i].state = SCHED_WAITING;
		} else if (v[i].in_blackout && v[i].kind != SCHED_ON_DEMAND) {
			v[i].state = SCHED_BLACKOUT;
		} else {
			v[i].state = SCHED_QUEUED;
			start[nc++] = i;
		}
	}
	qsort_r(start, nc, sizeof(*start), cmp_candidates, v);
	slots = running >= parallel ? 0 : parallel - running;
	/* In order, while the next fits: the first that does not waits at the head. */
	for (n = 0; n < nc && slots_of(&v[start[n]]) <= slots; n++) {
		slots -= slots_of(&v[start[n]]);
		v[start[n]].state = SCHED_RUNNING;
	}
	return n;
}

const char *sched_state_name(enum sched_state s)
{
	switch (s) {
	case SCHED_WAITING:
		return "waiting";
	case SCHED_QUEUED:
		return "queued";
	case SCHED_BLACKOUT:
		return "blackout";
	case SCHED_RUNNING:
		return "running";
	}
	return "?";
}

const char *sched_kind_name(enum sched_kind k)
{
	switch (k) {
	case SCHED_ON_DEMAND:
		return "on-demand";
	case SCHED_INITIAL:
		return "initial";
	case SCHED_DELTA:
		return "delta";
	}
	return "?";
}
