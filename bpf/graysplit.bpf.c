// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Placeholder programs: the data path is being written. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/maps.h"

SEC("xdp")
int gs_xdp_fwd(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("tc")
int gs_tc_reply(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
