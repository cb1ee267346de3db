// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A ring of interval counts and their running sum. The sum is kept by adding
 * the new interval and subtracting the evicted one rather than re-adding the
 * ring each time: all integer counts, so it stays exact however long the
 * agent runs, and a push costs two passes over one interval, not N.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "window.h"

void gs_group_window_merge(struct gs_group_window *dst, const struct gs_group_window *src, int sign)
{
	if (sign < 0) {
		dst->new_flows -= src->new_flows;
		dst->connects -= src->connects;
		dst->conn_refused -= src->conn_refused;
		dst->conn_timeouts -= src->conn_timeouts;
		dst->resets -= src->resets;
		dst->responses -= src->responses;
		dst->http_5xx -= src->http_5xx;
		dst->dns_fail -= src->dns_fail;
	} else {
		dst->new_flows += src->new_flows;
		dst->connects += src->connects;
		dst->conn_refused += src->conn_refused;
		dst->conn_timeouts += src->conn_timeouts;
		dst->resets += src->resets;
		dst->responses += src->responses;
		dst->http_5xx += src->http_5xx;
		dst->dns_fail += src->dns_fail;
	}
	gs_hist64_merge(&dst->connect, &src->connect, sign);
	gs_hist64_merge(&dst->ttfb, &src->ttfb, sign);
}

int gs_window_init(struct gs_window *w, uint32_t slots)
{
	memset(w, 0, sizeof(*w));
	if (!slots)
		return gs_fail(EINVAL, "a window needs at least one interval");
	w->ring = calloc(slots, sizeof(*w->ring));
	w->held = calloc(slots, sizeof(*w->held));
	if (!w->ring || !w->held) {
		gs_window_free(w);
		return gs_fail(ENOMEM, "out of memory for a window of %u intervals", slots);
	}
	w->slots = slots;
	return 0;
}

void gs_window_free(struct gs_window *w)
{
	free(w->ring);
	free(w->held);
	memset(w, 0, sizeof(*w));
}

void gs_window_reset(struct gs_window *w)
{
	if (w->ring)
		memset(w->ring, 0, (size_t)w->slots * sizeof(*w->ring));
	if (w->held)
		memset(w->held, 0, (size_t)w->slots * sizeof(*w->held));
	memset(&w->sum, 0, sizeof(w->sum));
	w->next = 0;
	w->filled = 0;
}

/* No counts at all: a histogram's count is the sum of its buckets. */
static bool group_empty(const struct gs_group_window *g)
{
	return !(g->new_flows | g->connects | g->conn_refused | g->conn_timeouts | g->resets |
		 g->responses | g->http_5xx | g->dns_fail | g->connect.count | g->ttfb.count);
}

bool gs_window_push(struct gs_window *w, const struct gs_group_window *interval)
{
	uint32_t i = w->next;
	bool changed = false;

	if (!w->slots)
		return false;
	/* An idle service's intervals cost two flags, not a touch of its
	 * 6 KB slots: the ring of an idle window stays out of the cache. */
	if (w->filled == w->slots && w->held[i]) {
		gs_group_window_merge(&w->sum, &w->ring[i], -1);
		changed = true;
	} else if (w->filled < w->slots) {
		w->filled++;
	}
	if (group_empty(interval)) {
		w->held[i] = false; /* a slot not held is never read */
	} else {
		w->ring[i] = *interval;
		w->held[i] = true;
		gs_group_window_merge(&w->sum, &w->ring[i], 1);
		changed = true;
	}
	w->next = (i + 1) % w->slots;
	return changed;
}
