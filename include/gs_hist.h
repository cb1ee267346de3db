/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Bucket of a latency in the log-linear histograms of include/graysplit.h,
 * shared by the BPF programs (which fill them) and the agent (which reads
 * percentiles back). Branches only: BPF has no count-leading-zeros.
 */
#ifndef GS_HIST_H
#define GS_HIST_H

#include "graysplit.h"

/* floor(log2(v)) for v >= 1, by binary search over the 64 bits. */
static inline __u32 gs_log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

static inline __u32 gs_hist_bucket(__u64 us)
{
	__u32 log, sub;

	if (us < GS_HIST_SUB)
		return (__u32)us;
	log = gs_log2_u64(us);
	if (log >= GS_HIST_MAX_LOG)
		return GS_HIST_BUCKETS - 1;
	sub = (__u32)(us >> (log - GS_HIST_SUB_BITS)) & (GS_HIST_SUB - 1);
	return GS_HIST_SUB + (log - GS_HIST_SUB_BITS) * GS_HIST_SUB + sub;
}

/* One sample of us microseconds into a kernel histogram (one CPU's copy:
 * the data path's per-CPU maps need no atomics). */
static inline void gs_hist_put(struct gs_hist *hist, __u64 us)
{
	__u32 bucket = gs_hist_bucket(us);

	if (bucket < GS_HIST_BUCKETS)
		hist->bucket[bucket] += 1;
}

/* Smallest value (us) that lands in bucket b; the bucket ends where b + 1 starts. */
static inline __u64 gs_hist_bucket_low(__u32 b)
{
	__u32 log, sub;

	if (b < GS_HIST_SUB)
		return b;
	log = (b - GS_HIST_SUB) / GS_HIST_SUB + GS_HIST_SUB_BITS;
	sub = (b - GS_HIST_SUB) % GS_HIST_SUB;
	return ((__u64)GS_HIST_SUB + sub) << (log - GS_HIST_SUB_BITS);
}

#endif /* GS_HIST_H */
