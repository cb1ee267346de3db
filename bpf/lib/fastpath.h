/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * XDP fast path for a packet the forward path has just DNATed: ask the
 * kernel's FIB where the backend is and, when it names an egress interface
 * that takes XDP frames (tx_ports) and already knows the next hop's MAC, do
 * what IP forwarding would do (TTL or hop limit down, new MACs) and redirect
 * the frame there, past the node's stack. Everything else goes up the stack
 * exactly as before, so the kernel answers ICMP, resolves the neighbour
 * (the next packet of the flow then takes the fast path), handles options.
 * Replies are not affected: they cross the node's stack and the tc egress
 * SNAT of the client-facing interface as always.
 *
 * Redirected frames bypass the node's netfilter (a stateful forward
 * firewall sees only the replies) and its tc egress on the backend side.
 */
#ifndef GS_BPF_FASTPATH_H
#define GS_BPF_FASTPATH_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "graysplit.h"
#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/csum.h"
#include "lib/parse.h"

#define GS_AF_INET  2
#define GS_AF_INET6 10

/* Traffic class and flow label: what an IPv6 route lookup may match on. */
#define GS_IPV6_FLOWINFO_MASK 0x0fffffff

/* Leave the frame to the kernel, counting why. */
static __always_inline int gs_fast_pass(__u32 counter)
{
	gs_count(counter);
	return XDP_PASS;
}

/* IPv4 half of the FIB question; 0, or the counter to pass the frame under. */
static __always_inline __u32 gs_fib_v4(struct bpf_fib_lookup *fib, struct iphdr *iph,
				       void *data_end)
{
	if ((void *)(iph + 1) > data_end)
		return GS_CNT_FAST_KERNEL;
	/* Options are the kernel's to process; a TTL about to expire needs
	 * its ICMP time-exceeded. */
	if (iph->ihl != 5 || iph->ttl <= 1)
		return GS_CNT_FAST_KERNEL;
	fib->family = GS_AF_INET;
	fib->tos = iph->tos;
	fib->ipv4_src = iph->saddr;
	fib->ipv4_dst = iph->daddr;
	return 0;
}

static __always_inline __u32 gs_fib_v6(struct bpf_fib_lookup *fib, struct ipv6hdr *ip6h,
				       void *data_end)
{
	if ((void *)(ip6h + 1) > data_end)
		return GS_CNT_FAST_KERNEL;
	if (ip6h->hop_limit <= 1)
		return GS_CNT_FAST_KERNEL;
	fib->family = GS_AF_INET6;
	fib->flowinfo = *(__be32 *)ip6h & bpf_htonl(GS_IPV6_FLOWINFO_MASK);
	__builtin_memcpy(fib->ipv6_src, &ip6h->saddr, sizeof(fib->ipv6_src));
	__builtin_memcpy(fib->ipv6_dst, &ip6h->daddr, sizeof(fib->ipv6_dst));
	return 0;
}

/* What the kernel's ip_forward / ip6_forward would do to the header. */
static __always_inline void gs_hop_down(void *l3, int is_v4)
{
	if (is_v4) {
		struct iphdr *iph = l3;
		/* TTL and protocol share one checksummed 16-bit word. */
		__u16 *word = (__u16 *)&iph->ttl;
		__u16 old = *word;

		iph->ttl--;
		iph->check = gs_csum_apply(iph->check, gs_csum_diff16(0, old, *word));
	} else {
		struct ipv6hdr *ip6h = l3;

		ip6h->hop_limit--;
	}
}

/*
 * The verdict for a frame gs_lb_forward has DNATed: XDP_REDIRECT with the
 * frame made ready for the next hop, or XDP_PASS with it untouched. Each
 * outcome moves exactly one GS_CNT_FAST_* counter.
 */
static __always_inline int gs_fast_path(struct xdp_md *ctx, const struct gs_pkt *pkt)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib;
	__u32 l4_off = pkt->l4_off;
	__be16 *ports;
	void *l3;
	__u32 why;
	long rc;

	if (gs_switched_off(GS_CFG_NO_FAST_PATH))
		return gs_fast_pass(GS_CNT_FAST_OFF);
	/* The parser only makes offsets within its header stack; the bound
	 * is for the verifier. */
	if ((void *)(eth + 1) > data_end || l4_off > GS_HDR_MAX)
		return gs_fast_pass(GS_CNT_FAST_KERNEL);
	ports = data + l4_off;
	if ((void *)(ports + 2) > data_end)
		return gs_fast_pass(GS_CNT_FAST_KERNEL);

	l3 = eth + 1;
	/* Redirected, the frame would leave without the skb that says its
	 * checksum is still to be finished: the backend would drop it. */
	if (pkt->csum_partial)
		return gs_fast_pass(GS_CNT_FAST_PARTIAL);
	__builtin_memset(&fib, 0, sizeof(fib));
	why = pkt->is_v4 ? gs_fib_v4(&fib, l3, data_end) : gs_fib_v6(&fib, l3, data_end);
	if (why)
		return gs_fast_pass(why);
	fib.l4_protocol = pkt->key.proto;
	fib.sport = ports[0];
	fib.dport = ports[1];
	/* Checked against the egress MTU: too big is the kernel's (ICMP). */
	fib.tot_len = pkt->l3_len;
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return gs_fast_pass(GS_CNT_FAST_NO_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return gs_fast_pass(GS_CNT_FAST_KERNEL);
	/* An interface without an entry may not take XDP frames: pass. The
	 * redirect itself happens after the program returns, so the frame
	 * is only changed once it is certain to go. */
	if (bpf_redirect_map(&tx_ports, fib.ifindex, XDP_PASS) != XDP_REDIRECT)
		return gs_fast_pass(GS_CNT_FAST_NO_TXPORT);
	gs_hop_down(l3, pkt->is_v4);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	gs_count(GS_CNT_FAST_REDIRECT);
	return XDP_REDIRECT;
}

#endif
