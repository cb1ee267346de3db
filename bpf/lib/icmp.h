/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ICMP errors towards the client, at the reply path (tc egress). An error
 * about a packet the forward path DNATed (a router's "fragmentation needed"
 * or "packet too big", the node's own when the backend-side link has the
 * smaller MTU, time exceeded, ...) quotes that packet as it left the node:
 * client:cport -> backend:bport. The client's socket is connected to the
 * VIP and would ignore it. If the reversed quote (backend:bport ->
 * client:cport) is a reverse flow entry, the quote's destination goes back
 * to the entry's VIP and port, with the quoted IPv4 header checksum, the
 * quoted L4 checksum (where the quote holds it) and the ICMP checksum
 * updated incrementally (RFC 1624). The outer header does not change: the
 * ICMPv6 pseudo-header stays the same, so the same update is right there.
 *
 * Stores go without BPF_F_RECOMPUTE_CSUM: every checksum covering a changed
 * word is updated to keep its sum, so the ones' complement sum of the whole
 * ICMP message (and with it a CHECKSUM_COMPLETE skb->csum) does not change.
 *
 * Everything is read and written with bpf_skb_load_bytes/store_bytes: an
 * error may sit partly in paged data, and a helper checks its offsets at
 * run time, so the verifier only sees constant lengths.
 */
#ifndef GS_BPF_ICMP_H
#define GS_BPF_ICMP_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include "graysplit.h"
#include "lib/counters.h"
#include "lib/csum.h"
#include "lib/maps.h"
#include "lib/observe.h"
#include "lib/parse.h"

/* The error types (linux/icmp.h pulls in libc headers a BPF build lacks). */
#define GS_ICMP_DEST_UNREACH   3
#define GS_ICMP_TIME_EXCEEDED  11
#define GS_ICMP_PARAMETERPROB  12
#define GS_ICMPV6_DEST_UNREACH 1
#define GS_ICMPV6_PKT_TOOBIG   2
#define GS_ICMPV6_TIME_EXCEED  3
#define GS_ICMPV6_PARAMPROB    4
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#define GS_ICMP_HDR_LEN 8 /* type, code, checksum, 4 bytes the type defines */

/* Where the quote is and what it says; offsets are into the frame. */
struct gs_icmp_quote {
	__u32 csum_off;	 /* the ICMP checksum */
	__u32 ip_off;	 /* the quoted IP header */
	__u32 l4_off;	 /* the quoted L4 header */
	__u32 quote_end; /* end of the quote (the outer IP datagram's end) */
	__u8 is_v4;
	__u8 type; /* the error's ICMP type and code */
	__u8 code;
};

static __always_inline int gs_icmp4_is_error(__u8 type)
{
	return type == GS_ICMP_DEST_UNREACH || type == GS_ICMP_TIME_EXCEEDED ||
	       type == GS_ICMP_PARAMETERPROB;
}

static __always_inline int gs_icmp6_is_error(__u8 type)
{
	return type == GS_ICMPV6_DEST_UNREACH || type == GS_ICMPV6_PKT_TOOBIG ||
	       type == GS_ICMPV6_TIME_EXCEED || type == GS_ICMPV6_PARAMPROB;
}

/* Destination unreachable, except "fragmentation needed" (a path MTU,
 * not a dead end). */
#define GS_ICMP_FRAG_NEEDED 4
static __always_inline int gs_icmp_is_unreach(const struct gs_icmp_quote *q)
{
	if (q->is_v4)
		return q->type == GS_ICMP_DEST_UNREACH && q->code != GS_ICMP_FRAG_NEEDED;
	return q->type == GS_ICMPV6_DEST_UNREACH;
}

/* 0 and the outer layout filled if the frame is an ICMP(v6) error; else
 * -1 (not counted: everything else at egress is not ours). */
static __always_inline int gs_icmp_outer(struct __sk_buff *skb, const struct gs_pkt *pkt,
					 __u16 eth_proto, struct gs_icmp_quote *q)
{
	__u8 tc[2];

	if (eth_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr iph;

		if (bpf_skb_load_bytes(skb, pkt->l3_off, &iph, sizeof(iph)))
			return -1;
		if (iph.version != 4 || iph.ihl < 5 || iph.protocol != IPPROTO_ICMP ||
		    (iph.frag_off & bpf_htons(GS_IP_MF | GS_IP_OFFSET)))
			return -1;
		q->is_v4 = 1;
		q->csum_off = pkt->l3_off + (__u32)iph.ihl * 4 + 2;
		q->quote_end = pkt->l3_off + bpf_ntohs(iph.tot_len);
		if (q->quote_end > skb->len)
			return -1;
	} else {
		struct ipv6hdr ip6h;

		if (bpf_skb_load_bytes(skb, pkt->l3_off, &ip6h, sizeof(ip6h)))
			return -1;
		if (ip6h.version != 6 || ip6h.nexthdr != IPPROTO_ICMPV6)
			return -1;
		q->is_v4 = 0;
		q->csum_off = pkt->l3_off + sizeof(ip6h) + 2;
		q->quote_end = pkt->l3_off + sizeof(ip6h) + bpf_ntohs(ip6h.payload_len);
		if (q->quote_end > skb->len)
			return -1;
	}
	if (q->csum_off - 2 + GS_ICMP_HDR_LEN > q->quote_end)
		return -1;
	if (bpf_skb_load_bytes(skb, q->csum_off - 2, tc, sizeof(tc)))
		return -1;
	q->type = tc[0];
	q->code = tc[1];
	if (q->is_v4 ? !gs_icmp4_is_error(q->type) : !gs_icmp6_is_error(q->type))
		return -1;
	q->ip_off = q->csum_off - 2 + GS_ICMP_HDR_LEN;
	return 0;
}

/*
 * Read the quoted IP header into key (reversed: the backend's side is the
 * source, as in rev_flows) and the old destination into *old_dst. GS_OK,
 * GS_CNT_ICMP_NOT_OURS or GS_CNT_ICMP_BAD_QUOTE (as a positive counter).
 */
static __always_inline int gs_icmp_quote_ip(struct __sk_buff *skb, struct gs_icmp_quote *q,
					    struct gs_flow_key *key)
{
	if (q->is_v4) {
		struct iphdr iph;

		if (q->ip_off + sizeof(iph) > q->quote_end ||
		    bpf_skb_load_bytes(skb, q->ip_off, &iph, sizeof(iph)))
			return GS_CNT_ICMP_BAD_QUOTE;
		if (iph.version != 4 || iph.ihl < 5)
			return GS_CNT_ICMP_BAD_QUOTE;
		if (iph.frag_off & bpf_htons(GS_IP_MF | GS_IP_OFFSET))
			return GS_CNT_ICMP_BAD_QUOTE;
		if (iph.protocol != IPPROTO_TCP && iph.protocol != IPPROTO_UDP)
			return GS_CNT_ICMP_NOT_OURS;
		key->proto = iph.protocol;
		gs_addr_from_v4(&key->src, iph.daddr);
		gs_addr_from_v4(&key->dst, iph.saddr);
		q->l4_off = q->ip_off + (__u32)iph.ihl * 4;
	} else {
		struct ipv6hdr ip6h;

		if (q->ip_off + sizeof(ip6h) > q->quote_end ||
		    bpf_skb_load_bytes(skb, q->ip_off, &ip6h, sizeof(ip6h)))
			return GS_CNT_ICMP_BAD_QUOTE;
		if (ip6h.version != 6)
			return GS_CNT_ICMP_BAD_QUOTE;
		/* Extension headers (a fragment header among them) are left
		 * alone, as the forward path leaves such packets alone. */
		if (ip6h.nexthdr != IPPROTO_TCP && ip6h.nexthdr != IPPROTO_UDP)
			return GS_CNT_ICMP_NOT_OURS;
		key->proto = ip6h.nexthdr;
		__builtin_memcpy(key->src.b, &ip6h.daddr, sizeof(key->src));
		__builtin_memcpy(key->dst.b, &ip6h.saddr, sizeof(key->dst));
		/* ::ffff:0:0/96 would look up an IPv4 flow: never ours. */
		if (gs_addr_is_v4(&key->src) || gs_addr_is_v4(&key->dst))
			return GS_CNT_ICMP_NOT_OURS;
		q->l4_off = q->ip_off + sizeof(ip6h);
	}
	/* The ports at least: RFC 792 quotes the first 8 bytes of L4. */
	if (q->l4_off + 8 > q->quote_end)
		return GS_CNT_ICMP_BAD_QUOTE;
	return GS_OK;
}

/* Store a 16-bit value; nonzero on failure. */
static __always_inline int gs_store16(struct __sk_buff *skb, __u32 off, __u16 v)
{
	return bpf_skb_store_bytes(skb, off, &v, sizeof(v), 0);
}

/*
 * Rewrite the quote of a translated error; returns the counter to count.
 * icmp_diff collects every changed 16-bit word of the ICMP message (all of
 * them sit at even offsets from its start: the quote begins 8 bytes in, and
 * IP headers are multiples of 4 long).
 */
static __always_inline int gs_icmp_rewrite(struct __sk_buff *skb, const struct gs_icmp_quote *q,
					   const struct gs_flow_key *key,
					   const struct gs_rev_flow *rev)
{
	__u32 addr_diff = 0, icmp_diff, l4_csum_off;
	__u16 old_port, new_port = rev->vport, l4_check, icmp_check;
	__u8 l4[8];
	int i;

	if (q->is_v4 != gs_addr_is_v4(&rev->vip))
		return GS_CNT_ICMP_NOT_OURS;
	if (bpf_skb_load_bytes(skb, q->l4_off, l4, sizeof(l4)))
		return GS_CNT_ICMP_BAD_QUOTE;
	old_port = *(__u16 *)&l4[2];

	/* The quoted destination address: key->dst is the quote's source,
	 * key->src its destination. */
	if (q->is_v4) {
		__u32 old_addr = key->src.w[3], new_addr = rev->vip.w[3];
		__u16 ip_check, new_ip_check;

		if (bpf_skb_load_bytes(skb, q->ip_off + offsetof(struct iphdr, check), &ip_check,
				       sizeof(ip_check)))
			return GS_CNT_ICMP_BAD_QUOTE;
		addr_diff = gs_csum_diff32(0, old_addr, new_addr);
		new_ip_check = gs_csum_apply(ip_check, addr_diff);
		if (bpf_skb_store_bytes(skb, q->ip_off + offsetof(struct iphdr, daddr), &new_addr,
					sizeof(new_addr), 0) ||
		    gs_store16(skb, q->ip_off + offsetof(struct iphdr, check), new_ip_check))
			return GS_CNT_ICMP_BAD_QUOTE;
		icmp_diff = gs_csum_diff16(addr_diff, ip_check, new_ip_check);
	} else {
		for (i = 0; i < 4; i++)
			addr_diff = gs_csum_diff32(addr_diff, key->src.w[i], rev->vip.w[i]);
		if (bpf_skb_store_bytes(skb, q->ip_off + offsetof(struct ipv6hdr, daddr),
					rev->vip.b, sizeof(rev->vip), 0))
			return GS_CNT_ICMP_BAD_QUOTE;
		icmp_diff = addr_diff;
	}

	/* The quoted destination port. */
	if (old_port != new_port) {
		if (gs_store16(skb, q->l4_off + 2, new_port))
			return GS_CNT_ICMP_BAD_QUOTE;
		icmp_diff = gs_csum_diff16(icmp_diff, old_port, new_port);
	}

	/* The quoted L4 checksum, if the quote holds it: pseudo-header
	 * address and port change. A UDP checksum of 0 (none) stays 0. */
	l4_csum_off = q->l4_off + (key->proto == IPPROTO_TCP ? 16 : 6);
	if (l4_csum_off + 2 <= q->quote_end) {
		__u16 new_check;

		if (key->proto == IPPROTO_TCP) {
			if (bpf_skb_load_bytes(skb, l4_csum_off, &l4_check, sizeof(l4_check)))
				return GS_CNT_ICMP_BAD_QUOTE;
		} else {
			l4_check = *(__u16 *)&l4[6];
		}
		if (key->proto == IPPROTO_TCP || l4_check) {
			new_check = gs_csum_apply(l4_check,
						  gs_csum_diff16(addr_diff, old_port, new_port));
			if (key->proto == IPPROTO_UDP && !new_check)
				new_check = 0xffff;
			if (gs_store16(skb, l4_csum_off, new_check))
				return GS_CNT_ICMP_BAD_QUOTE;
			icmp_diff = gs_csum_diff16(icmp_diff, l4_check, new_check);
		}
	}

	if (bpf_skb_load_bytes(skb, q->csum_off, &icmp_check, sizeof(icmp_check)) ||
	    gs_store16(skb, q->csum_off, gs_csum_apply(icmp_check, icmp_diff)))
		return GS_CNT_ICMP_BAD_QUOTE;
	return GS_CNT_ICMP_TRANSLATED;
}

/*
 * An IPv4 or IPv6 frame at tc egress the parser found no TCP/UDP in: if it
 * is an ICMP error about a DNATed packet, put the VIP back in its quote.
 */
static __always_inline void gs_icmp_reply(struct __sk_buff *skb, const struct gs_pkt *pkt,
					  __u16 eth_proto)
{
	struct gs_icmp_quote q = {};
	struct gs_flow_key key;
	struct gs_rev_flow *rev;
	__u8 l4[4];
	int ret;

	if (gs_icmp_outer(skb, pkt, eth_proto, &q))
		return;
	__builtin_memset(&key, 0, sizeof(key));
	ret = gs_icmp_quote_ip(skb, &q, &key);
	if (ret == GS_OK) {
		if (bpf_skb_load_bytes(skb, q.l4_off, l4, sizeof(l4)))
			ret = GS_CNT_ICMP_BAD_QUOTE;
	}
	if (ret == GS_OK) {
		key.sport = *(__u16 *)&l4[2];
		key.dport = *(__u16 *)&l4[0];
		rev = bpf_map_lookup_elem(&rev_flows, &key);
		ret = rev ? gs_icmp_rewrite(skb, &q, &key, rev) : GS_CNT_ICMP_NOT_OURS;
		/* The backend's side says a UDP flow's destination cannot be
		 * reached: the UDP analogue of a refused connect. */
		if (ret == GS_CNT_ICMP_TRANSLATED && key.proto == IPPROTO_UDP &&
		    gs_icmp_is_unreach(&q))
			gs_observe_udp_unreach(rev);
	}
	gs_count(ret);
}

#endif
