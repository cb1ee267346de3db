/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Sliding windows of per-group counts: the agent adds one interval's
 * differences of the kernel counters at a time and reads back the sum of the
 * last N intervals, the window the policy decides on.
 */
#ifndef GS_WINDOW_H
#define GS_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

struct gs_window {
	uint32_t slots;		      /* intervals in the window */
	uint32_t next;		      /* slot the next interval goes into */
	uint32_t filled;	      /* intervals recorded so far, <= slots */
	struct gs_group_window *ring; /* slots entries */
	bool *held;		      /* per slot: it holds counts (else all zero) */
	struct gs_group_window sum;   /* sum of the ring */
};

/* dst += src, or dst -= src with sign < 0: every count and both histograms. */
void gs_group_window_merge(struct gs_group_window *dst, const struct gs_group_window *src,
			   int sign);

int gs_window_init(struct gs_window *w, uint32_t slots);
void gs_window_free(struct gs_window *w);
void gs_window_reset(struct gs_window *w);
/* Push one interval (evicting the oldest once full); sum stays exact.
 * Returns whether the sum changed (false: an empty interval in, an empty
 * one out). */
bool gs_window_push(struct gs_window *w, const struct gs_group_window *interval);

#endif
