/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * XDP fast path for a packet the forward path has just DNATed: ask the
 * kernel's FIB where the backend is and, when it names an egress interface
 * that takes XDP frames (tx_ports: userspace admits only devices the kernel
 * says transmit them, user/core/txports.h) and has not refused any since
 * (tx_health, written by lib/watch.h), and already knows the next hop's MAC, do
 * what IP forwarding would do (TTL or hop limit down, new MACs) and redirect
 * the frame there, past the node's stack. Everything else goes up the stack
 * exactly as before, so the kernel answers ICMP, resolves the neighbour
 * (the next packet of the flow then takes the fast path), handles options.
 * Replies are not affected: they cross the node's stack and the tc egress
 * SNAT of the client-facing interface as always.
 *
 * Redirected frames bypass the node's netfilter (a stateful forward
 * firewall sees only the replies) and its tc egress on the backend side.
 *
 * The FIB's answer for a flow's frames depends only on what the question
 * holds: the 5-tuple (the flow key and its backend), the ingress interface,
 * DSCP or IPv6 flow info, and the length (MTU). So an established flow keeps
 * the answer in its entry, which the forward path has looked up anyway, and
 * reuses it for GS_FIB_CACHE_TTL_NS: a lookup cost more than the rest of the
 * frame's way (about 260 ns of 500 here). Everything but the lookup is still
 * checked per frame: TTL, options, the checksum, the length against the
 * length the answer was given for, and the egress port in tx_ports. A route
 * or neighbour change therefore reaches established flows within the TTL.
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

/* The ECN bits of the IPv4 TOS and of the IPv6 flow info word. No route
 * decision reads them, and TCP sets them on data but not on pure ACKs, so
 * the cache leaves them out of the question. */
#define GS_IPV4_ECN_MASK 0x03
#define GS_IPV6_ECN_MASK 0x00300000

/* Keeps the compiler from moving memory accesses across it (the cache's
 * stamp against its fields). */
#define gs_barrier() asm volatile("" ::: "memory")

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

/* The part of fib's question the flow does not fix, ECN aside: the IPv4
 * TOS, or the IPv6 flow info word in network order. */
static __always_inline __u32 gs_fib_tos(const struct bpf_fib_lookup *fib)
{
	if (fib->family == GS_AF_INET)
		return fib->tos & ~GS_IPV4_ECN_MASK;
	return fib->flowinfo & ~bpf_htonl(GS_IPV6_ECN_MASK);
}

/*
 * The flow's cached answer to fib's question (ingress ifindex, tos as
 * gs_fib_tos, tot_len filled in): when fewer than ttl_ticks jiffies passed
 * since it was stamped (now is jiffies), for the same ingress interface and
 * tos, and was given for a frame at least this long, it goes into fib as
 * bpf_fib_lookup would have put it, and 1.
 *
 * Several CPUs may read and write one entry at once. The stamp is read
 * first and written last (gs_nh_put), so a reader never takes fields
 * older than the stamp it checked; what a torn read can do is mix the
 * fields of two answers for this flow, both younger than the TTL. They
 * differ only if the route or the neighbour changed within the TTL, or if
 * the flow's frames arrive on two interfaces or with two DSCP / flow
 * labels at the same instant; either answer was the FIB's for the flow.
 */
static __always_inline int gs_nh_get(const struct gs_flow *flow, struct bpf_fib_lookup *fib,
				     __u32 tos, __u64 now, __u32 ttl_ticks)
{
	__u64 stamp = *(const volatile __u64 *)&flow->fib_stamp;

	/* A stamp written after now was read looks expired: fine. */
	if (!stamp || now - stamp >= ttl_ticks)
		return 0;
	gs_barrier();
	if (flow->fib_iif != fib->ifindex || flow->fib_tos != tos || fib->tot_len > flow->fib_len)
		return 0;
	fib->ifindex = flow->fib_oif;
	__builtin_memcpy(fib->dmac, flow->fib_dmac, ETH_ALEN);
	__builtin_memcpy(fib->smac, flow->fib_smac, ETH_ALEN);
	return 1;
}

/* Keep a successful lookup's answer (fib as bpf_fib_lookup left it) for the
 * question asked from iif with tos and len, stamped now (taken before the
 * lookup). The stamp goes last: see gs_nh_get. */
static __always_inline void gs_nh_put(struct gs_flow *flow, const struct bpf_fib_lookup *fib,
				      __u32 iif, __u32 tos, __u16 len, __u64 now)
{
	flow->fib_oif = fib->ifindex;
	flow->fib_iif = iif;
	flow->fib_tos = tos;
	flow->fib_len = len;
	__builtin_memcpy(flow->fib_dmac, fib->dmac, ETH_ALEN);
	__builtin_memcpy(flow->fib_smac, fib->smac, ETH_ALEN);
	gs_barrier();
	*(volatile __u64 *)&flow->fib_stamp = now;
}

/* Whether netfilter dropped replies of our flows since attach last looked
 * (lib/watch.h): a ruleset that tracks connections came in. */
static __always_inline int gs_nf_dropping(const struct gs_config *cfg)
{
	__u32 slot = GS_TX_SLOT_NETNS;
	struct gs_tx_health *h = bpf_map_lookup_elem(&tx_health, &slot);

	return h && h->nf_dropped != cfg->nf_dropped_ack;
}

/* Whether the device behind ifindex refused redirected frames (lib/watch.h). */
static __always_inline int gs_port_failing(__u32 ifindex)
{
	__u32 slot = gs_tx_slot(ifindex);
	struct gs_tx_health *h = bpf_map_lookup_elem(&tx_health, &slot);

	return h && h->refused;
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
 * outcome moves exactly one GS_CNT_FAST_* counter; a redirect whose next
 * hop came from the cache moves GS_CNT_FAST_CACHED as well. flow is the
 * flow's entry, the cache's home: the map's, or for a new flow the one
 * gs_xdp_fwd inserts after this returns; NULL if there is none.
 */
static __always_inline int gs_fast_path(struct xdp_md *ctx, const struct gs_pkt *pkt,
					struct gs_flow *flow)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib;
	__u32 l4_off = pkt->l4_off;
	int cached = 0;
	__be16 *ports;
	__u64 now = 0;
	struct gs_config *cfg;
	__u32 cfg_key = 0;
	__u32 tos;
	void *l3;
	__u32 why;
	long rc;

	cfg = bpf_map_lookup_elem(&config, &cfg_key);
	if (!cfg)
		return gs_fast_pass(GS_CNT_FAST_KERNEL);
	if (cfg->flags & GS_CFG_NO_FAST_PATH)
		return gs_fast_pass(GS_CNT_FAST_OFF);
	if ((cfg->flags & GS_CFG_CONNTRACK) || gs_nf_dropping(cfg))
		return gs_fast_pass(GS_CNT_FAST_CONNTRACK);
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
	tos = gs_fib_tos(&fib);

	if (flow) {
		/* Ticks: see GS_FIB_CACHE_TTL_NS. */
		now = bpf_jiffies64();
		cached = gs_nh_get(flow, &fib, tos, now, cfg->fib_ttl_ticks);
	}
	if (!cached) {
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
		if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
			return gs_fast_pass(GS_CNT_FAST_NO_NEIGH);
		if (rc != BPF_FIB_LKUP_RET_SUCCESS)
			return gs_fast_pass(GS_CNT_FAST_KERNEL);
	}
	/* A port whose device refused frames since it was admitted: pass
	 * (the cache's answers too: they name the port). */
	if (gs_port_failing(fib.ifindex))
		return gs_fast_pass(GS_CNT_FAST_PORT_FAILING);
	/* An interface without an entry may not take XDP frames: pass. The
	 * redirect itself happens after the program returns, so the frame
	 * is only changed once it is certain to go. */
	if (bpf_redirect_map(&tx_ports, fib.ifindex, XDP_PASS) != XDP_REDIRECT)
		return gs_fast_pass(GS_CNT_FAST_NO_TXPORT);
	if (flow && !cached)
		gs_nh_put(flow, &fib, ctx->ingress_ifindex, tos, (__u16)pkt->l3_len, now);
	gs_hop_down(l3, pkt->is_v4);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	gs_count(GS_CNT_FAST_REDIRECT);
	if (cached)
		gs_count(GS_CNT_FAST_CACHED);
	return XDP_REDIRECT;
}

#endif
