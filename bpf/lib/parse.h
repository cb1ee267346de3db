/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Bounds-checked parsing of eth / IPv4|IPv6 / TCP|UDP, shared by the XDP and
 * the tc program: both hand in their linear data and its end. Every header
 * is checked against data_end before it is read, and against the lengths the
 * packet itself claims, so nothing is rewritten that was not fully parsed.
 */
#ifndef GS_BPF_PARSE_H
#define GS_BPF_PARSE_H

#include <stddef.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "graysplit.h"
#include "lib/reasons.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#define GS_IP_MF	    0x2000
#define GS_IP_OFFSET	    0x1fff
#define GS_NEXTHDR_FRAGMENT 44

#define GS_TCP_FIN 0x01
#define GS_TCP_SYN 0x02
#define GS_TCP_RST 0x04
#define GS_TCP_ACK 0x10
/* The flags byte sits after the 12-byte ports/seq/ack and the doff nibble. */
#define GS_TCP_FLAGS_OFF 13

/* Largest header stack the parser reads: eth + IPv4 with options + TCP. */
#define GS_HDR_MAX (sizeof(struct ethhdr) + 60 + sizeof(struct tcphdr))

/* One parsed packet. Pointers are valid until the packet is changed. */
struct gs_pkt {
	struct gs_flow_key key; /* as on the wire; v4 addresses v4-mapped */
	void *l3;
	void *l4;
	__u32 l3_off;
	__u32 l4_off;
	__u32 l3_len;	   /* IP total length: what per-backend bytes count */
	__u32 payload_off; /* L4 payload: where it starts in the frame ... */
	__u32 payload_len; /* ... and how long it is (UDP: as its header says) */
	__u8 is_v4;
	__u8 tcp_flags;	   /* 0 for UDP */
	__u8 csum_partial; /* forward path: L4 checksum left to offload (nat.h) */
};

static __always_inline void gs_addr_from_v4(union gs_addr *a, __be32 v4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0x0000ffff);
	a->w[3] = v4;
}

/*
 * TCP or UDP header at l4 with l4_len bytes of IP payload behind it. The
 * TCP header must fit its own data offset and the UDP length must fit the
 * payload: otherwise the header lies about the packet.
 */
static __always_inline int gs_parse_l4(struct gs_pkt *pkt, void *l4, void *data_end, __u32 l4_len)
{
	if (pkt->key.proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end || l4_len < sizeof(*tcp))
			return GS_R_BAD_HEADER;
		if (tcp->doff < 5 || (__u32)tcp->doff * 4 > l4_len)
			return GS_R_BAD_HEADER;
		pkt->key.sport = tcp->source;
		pkt->key.dport = tcp->dest;
		pkt->tcp_flags = ((__u8 *)tcp)[GS_TCP_FLAGS_OFF];
		pkt->payload_off = pkt->l4_off + (__u32)tcp->doff * 4;
		pkt->payload_len = l4_len - (__u32)tcp->doff * 4;
	} else {
		struct udphdr *udp = l4;
		__u32 udp_len;

		if ((void *)(udp + 1) > data_end || l4_len < sizeof(*udp))
			return GS_R_BAD_HEADER;
		udp_len = bpf_ntohs(udp->len);
		if (udp_len < sizeof(*udp) || udp_len > l4_len)
			return GS_R_BAD_HEADER;
		/* A zero UDP checksum is invalid over IPv6; the stack drops it. */
		if (!pkt->is_v4 && udp->check == 0)
			return GS_R_BAD_HEADER;
		pkt->key.sport = udp->source;
		pkt->key.dport = udp->dest;
		pkt->tcp_flags = 0;
		pkt->payload_off = pkt->l4_off + sizeof(*udp);
		pkt->payload_len = udp_len - sizeof(*udp);
	}
	pkt->l4 = l4;
	return GS_OK;
}

static __always_inline int gs_parse_v4(struct gs_pkt *pkt, void *l3, void *data_end, __u32 l3_room)
{
	struct iphdr *iph = l3;
	__u32 hdr_len, tot_len;

	if ((void *)(iph + 1) > data_end)
		return GS_R_BAD_HEADER;
	if (iph->version != 4 || iph->ihl < 5)
		return GS_R_BAD_HEADER;
	hdr_len = (__u32)iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	/* The frame may carry Ethernet padding after tot_len, never less. */
	if (tot_len < hdr_len || tot_len > l3_room)
		return GS_R_BAD_HEADER;
	if (iph->frag_off & bpf_htons(GS_IP_MF | GS_IP_OFFSET))
		return GS_R_FRAGMENT;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return GS_R_NOT_L4;

	pkt->is_v4 = 1;
	pkt->key.proto = iph->protocol;
	gs_addr_from_v4(&pkt->key.src, iph->saddr);
	gs_addr_from_v4(&pkt->key.dst, iph->daddr);
	pkt->l3_len = tot_len;
	pkt->l4_off = pkt->l3_off + hdr_len;
	return gs_parse_l4(pkt, l3 + hdr_len, data_end, tot_len - hdr_len);
}

/* Only TCP or UDP directly after the fixed header; any extension header
 * (fragment, hop-by-hop, routing, ...) is left to the kernel. */
static __always_inline int gs_parse_v6(struct gs_pkt *pkt, void *l3, void *data_end, __u32 l3_room)
{
	struct ipv6hdr *ip6h = l3;
	__u32 payload_len;

	if ((void *)(ip6h + 1) > data_end)
		return GS_R_BAD_HEADER;
	if (ip6h->version != 6)
		return GS_R_BAD_HEADER;
	payload_len = bpf_ntohs(ip6h->payload_len);
	if (payload_len > l3_room - sizeof(*ip6h))
		return GS_R_BAD_HEADER;
	if (ip6h->nexthdr == GS_NEXTHDR_FRAGMENT)
		return GS_R_FRAGMENT;
	if (ip6h->nexthdr != IPPROTO_TCP && ip6h->nexthdr != IPPROTO_UDP)
		return GS_R_NOT_L4;

	pkt->is_v4 = 0;
	pkt->key.proto = ip6h->nexthdr;
	__builtin_memcpy(pkt->key.src.b, &ip6h->saddr, sizeof(pkt->key.src));
	__builtin_memcpy(pkt->key.dst.b, &ip6h->daddr, sizeof(pkt->key.dst));
	/* ::ffff:0:0/96 never appears on the wire (the kernel drops it as a
	 * source), and its key would be an IPv4 flow's: must not touch it. */
	if (gs_addr_is_v4(&pkt->key.src) || gs_addr_is_v4(&pkt->key.dst))
		return GS_R_BAD_HEADER;
	pkt->l3_len = sizeof(*ip6h) + payload_len;
	pkt->l4_off = pkt->l3_off + sizeof(*ip6h);
	return gs_parse_l4(pkt, ip6h + 1, data_end, payload_len);
}

/*
 * Fill pkt from the frame at data; GS_OK or the reason it is left alone.
 * Headers must lie in [data, data_end); lengths the packet claims are
 * checked against frame_len, the whole frame, which for a tc skb may be
 * longer than its linear part.
 */
static __always_inline int gs_parse(struct gs_pkt *pkt, void *data, void *data_end, __u32 frame_len)
{
	struct ethhdr *eth = data;
	__be16 proto;

	/* The key is hashed and used as a map key whole: padding must be 0. */
	__builtin_memset(pkt, 0, sizeof(*pkt));
	if ((void *)(eth + 1) > data_end || frame_len < sizeof(*eth))
		return GS_R_BAD_HEADER;
	proto = eth->h_proto;
	pkt->l3 = eth + 1;
	pkt->l3_off = sizeof(*eth);
	if (proto == bpf_htons(ETH_P_IP))
		return gs_parse_v4(pkt, eth + 1, data_end, frame_len - sizeof(*eth));
	if (proto == bpf_htons(ETH_P_IPV6))
		return gs_parse_v6(pkt, eth + 1, data_end, frame_len - sizeof(*eth));
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return GS_R_VLAN;
	return GS_R_NOT_IP;
}

/*
 * A tc program's packet. Its headers may sit partly in paged data (GSO,
 * veth): when the linear part is too short, pull at most the largest
 * header stack into it and parse again.
 */
static __always_inline int gs_parse_skb(struct gs_pkt *pkt, struct __sk_buff *skb)
{
	int ret;

	ret = gs_parse(pkt, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len);
	if (ret == GS_R_BAD_HEADER &&
	    !bpf_skb_pull_data(skb, skb->len < GS_HDR_MAX ? skb->len : GS_HDR_MAX))
		ret = gs_parse(pkt, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len);
	return ret;
}

#endif
