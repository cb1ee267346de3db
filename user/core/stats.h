/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Latency histograms on the userspace side: the kernel's per-CPU 32-bit
 * buckets (include/gs_hist.h) summed into 64-bit ones, and percentiles read
 * back from them.
 */
#ifndef GS_STATS_H
#define GS_STATS_H

#include <stdint.h>

#include "graysplit.h"

struct gs_hist64 {
	uint64_t bucket[GS_HIST_BUCKETS];
	uint64_t count; /* sum of bucket[] */
};

void gs_hist64_clear(struct gs_hist64 *h);
/* h += d (bucket-wise), or h -= d with sign < 0 (sliding windows). */
void gs_hist64_merge(struct gs_hist64 *h, const struct gs_hist64 *d, int sign);
/* Record one value (us) as the kernel would: for tests and simulations. */
void gs_hist64_record(struct gs_hist64 *h, uint64_t us);
/*
 * The q-quantile (0 < q < 1) in microseconds: the midpoint of the bucket that
 * holds the ceil(q * count)-th smallest sample, so within 1/(2*GS_HIST_SUB)
 * of the exact value. NaN when the histogram is empty.
 */
double gs_hist64_quantile(const struct gs_hist64 *h, double q);
/* Samples certainly above threshold_us: those in buckets starting above it. */
uint64_t gs_hist64_count_above(const struct gs_hist64 *h, double threshold_us);

#endif
