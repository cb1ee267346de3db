// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Latency histograms summed in userspace, and percentiles read back from the
 * same log-linear buckets the kernel fills (include/gs_hist.h), so that a
 * value lands in the same bucket on both sides.
 */
#include <math.h>
#include <string.h>

#include "gs_hist.h"
#include "stats.h"

void gs_hist64_clear(struct gs_hist64 *h)
{
	memset(h, 0, sizeof(*h));
}

/*
 * Subtraction is for sliding windows: the interval taken out was added
 * before, so no bucket goes below zero; unsigned wrap-around would still
 * come back right once the matching addition is in.
 */
void gs_hist64_merge(struct gs_hist64 *h, const struct gs_hist64 *d, int sign)
{
	uint32_t b;

	/* Most intervals of a quiet group are empty: nothing to walk. */
	if (d->count == 0)
		return;
	if (sign < 0) {
		for (b = 0; b < GS_HIST_BUCKETS; b++)
			h->bucket[b] -= d->bucket[b];
		h->count -= d->count;
	} else {
		for (b = 0; b < GS_HIST_BUCKETS; b++)
			h->bucket[b] += d->bucket[b];
		h->count += d->count;
	}
}

void gs_hist64_record(struct gs_hist64 *h, uint64_t us)
{
	h->bucket[gs_hist_bucket(us)]++;
	h->count++;
}

/*
 * Upper end of bucket b. The last bucket also holds everything from
 * 2^GS_HIST_MAX_LOG us (67 s) up, so it has no real end: give it the width
 * of a regular bucket at its scale, low * (1 + 1/GS_HIST_SUB); quantiles past
 * 67 s therefore read as ~67 s, which is far past any fail-back threshold.
 */
static double bucket_high(uint32_t b)
{
	if (b + 1 < GS_HIST_BUCKETS)
		return (double)gs_hist_bucket_low(b + 1);
	return (double)gs_hist_bucket_low(b) * (1.0 + 1.0 / GS_HIST_SUB);
}

/*
 * The kernel records whole microseconds (truncated), so a bucket [low, high)
 * stands for real values in that whole range and its midpoint is the
 * estimate: within half a bucket width, which is low / (2 * (GS_HIST_SUB +
 * sub)) <= 1/(2 * GS_HIST_SUB) of the value from GS_HIST_SUB us up, and
 * within 0.5 us below it.
 */
double gs_hist64_quantile(const struct gs_hist64 *h, double q)
{
	uint64_t rank, seen = 0;
	uint32_t b;

	if (h->count == 0 || !(q > 0.0 && q < 1.0))
		return NAN;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (b = 0; b < GS_HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= rank)
			return ((double)gs_hist_bucket_low(b) + bucket_high(b)) / 2.0;
	}
	return NAN; /* count disagrees with the buckets */
}

/*
 * Only buckets whose low bound is at or above the threshold count: a bucket
 * straddling it may hold samples below, and counting those would bias the
 * latency test towards failing. The test is then conservative by at most the
 * one straddling bucket.
 */
uint64_t gs_hist64_count_above(const struct gs_hist64 *h, double threshold_us)
{
	uint64_t n = 0;
	uint32_t b;

	if (isnan(threshold_us))
		return 0;
	for (b = GS_HIST_BUCKETS; b-- > 0;) {
		if ((double)gs_hist_bucket_low(b) < threshold_us)
			break;
		n += h->bucket[b];
	}
	return n;
}
