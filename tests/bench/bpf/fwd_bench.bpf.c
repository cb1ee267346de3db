// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The forwarding-rate bench's two ends (tests/bench/fwd_bench.c).
 *
 * fb_gen runs under BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES in the
 * client's namespace: every frame leaves the client's veth (XDP_TX). It
 * writes the frame's headers from a template first, every time: the
 * kernel recycles the frames' pages, and the node's XDP program rewrites
 * headers in place (DNAT, MACs, TTL), so a recycled page would otherwise
 * go out as the node left it.
 *
 * fb_sink sits on the backend's veth (native XDP) and counts and drops the
 * bench's datagrams; everything else goes on to the stack (ARP, ND).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FB_HDR_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

/* Set by userspace before loading. */
const volatile __u8 fb_hdr[FB_HDR_LEN];
const volatile __be16 fb_port;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} fb_rx SEC(".maps");

SEC("xdp")
int fb_gen(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 i;

	if ((void *)(data + FB_HDR_LEN) > data_end)
		return XDP_ABORTED;
	/* Byte by byte through the volatile: a memcpy would let the compiler
	 * fold the (still zero) template into the program. */
	for (i = 0; i < FB_HDR_LEN; i++)
		data[i] = fb_hdr[i];
	return XDP_TX;
}

SEC("xdp")
int fb_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct udphdr *udp = (void *)(iph + 1);
	__u32 zero = 0;
	__u64 *n;

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || iph->ihl != 5 ||
	    iph->protocol != IPPROTO_UDP || udp->dest != fb_port)
		return XDP_PASS;
	n = bpf_map_lookup_elem(&fb_rx, &zero);
	if (n)
		*n += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
