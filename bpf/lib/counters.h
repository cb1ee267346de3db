/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Counter updates. Both maps are per-CPU and a program runs to completion on
 * one CPU (softirq for XDP, BH disabled for tc egress), so a plain add never
 * races and needs no atomic instruction.
 */
#ifndef GS_BPF_COUNTERS_H
#define GS_BPF_COUNTERS_H

#include "lib/maps.h"

static __always_inline void gs_count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &counter);

	if (value)
		*value += 1;
}

/* Forward traffic of one backend; new_flow when this packet selected it. */
static __always_inline void gs_count_backend_fwd(__u32 backend_id, __u32 bytes, int new_flow)
{
	struct gs_backend_stats *bs = bpf_map_lookup_elem(&backend_stats, &backend_id);

	if (!bs)
		return;
	bs->packets += 1;
	bs->bytes += bytes;
	if (new_flow)
		bs->new_flows += 1;
}

/* Reply traffic of one backend; returns its counters for the observations. */
static __always_inline struct gs_backend_stats *gs_count_backend_reply(__u32 backend_id,
								       __u32 bytes)
{
	struct gs_backend_stats *bs = bpf_map_lookup_elem(&backend_stats, &backend_id);

	if (!bs)
		return 0;
	bs->rx_packets += 1;
	bs->rx_bytes += bytes;
	return bs;
}

#endif
