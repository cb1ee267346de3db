/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Address and port rewrites. Forward (XDP): DNAT to the backend with RFC 1624
 * incremental checksums computed here. Reply (tc): SNAT back to the VIP with
 * the kernel's checksum helpers, which also keep skb->csum and partial
 * checksums (CHECKSUM_PARTIAL from local senders and veths) right.
 */
#ifndef GS_BPF_NAT_H
#define GS_BPF_NAT_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "graysplit.h"
#include "lib/csum.h"
#include "lib/parse.h"
#include "lib/reasons.h"

/* One 32-bit word of an address: note it in the checksum difference, store it. */
static __always_inline __u32 gs_rewrite_word(__u32 *word, __u32 new, __u32 diff)
{
	diff = gs_csum_diff32(diff, *word, new);
	*word = new;
	return diff;
}

/* New destination IPv4 address; returns the pseudo-header difference. */
static __always_inline int lb4_dnat_l3(const struct gs_pkt *pkt, void *data_end,
				       const struct gs_backend *backend, __u32 *diff)
{
	struct iphdr *iph = pkt->l3;

	if ((void *)(iph + 1) > data_end)
		return GS_R_BAD_HEADER;
	*diff = gs_rewrite_word(&iph->daddr, backend->addr.w[3], 0);
	iph->check = gs_csum_apply(iph->check, *diff);
	return GS_OK;
}

/* IPv6 has no header checksum: only the L4 pseudo-header changes. */
static __always_inline int lb6_dnat_l3(const struct gs_pkt *pkt, void *data_end,
				       const struct gs_backend *backend, __u32 *diff)
{
	struct ipv6hdr *ip6h = pkt->l3;
	__u32 *daddr;

	if ((void *)(ip6h + 1) > data_end)
		return GS_R_BAD_HEADER;
	daddr = (__u32 *)&ip6h->daddr;
	*diff = gs_rewrite_word(&daddr[0], backend->addr.w[0], 0);
	*diff = gs_rewrite_word(&daddr[1], backend->addr.w[1], *diff);
	*diff = gs_rewrite_word(&daddr[2], backend->addr.w[2], *diff);
	*diff = gs_rewrite_word(&daddr[3], backend->addr.w[3], *diff);
	return GS_OK;
}

/* New destination port, and the L4 checksum over port and pseudo-header. */
static __always_inline int gs_dnat_l4(const struct gs_pkt *pkt, void *data_end, __be16 port,
				      __u32 diff)
{
	if (pkt->key.proto == IPPROTO_TCP) {
		struct tcphdr *tcp = pkt->l4;

		if ((void *)(tcp + 1) > data_end)
			return GS_R_BAD_HEADER;
		diff = gs_csum_diff16(diff, tcp->dest, port);
		tcp->check = gs_csum_apply(tcp->check, diff);
		tcp->dest = port;
	} else {
		struct udphdr *udp = pkt->l4;
		__u16 check;

		if ((void *)(udp + 1) > data_end)
			return GS_R_BAD_HEADER;
		/* 0 means "no checksum" (IPv4 only): it stays so; a computed 0
		 * must then be sent as its other form, 0xffff. */
		if (udp->check) {
			diff = gs_csum_diff16(diff, udp->dest, port);
			check = gs_csum_apply(udp->check, diff);
			udp->check = check ? check : 0xffff;
		}
		udp->dest = port;
	}
	return GS_OK;
}

/* Forward DNAT in XDP: the packet's destination becomes the backend. */
static __always_inline int gs_dnat_xdp(const struct gs_pkt *pkt, void *data_end,
				       const struct gs_backend *backend)
{
	__u32 diff = 0;
	int ret;

	if (pkt->is_v4 != gs_addr_is_v4(&backend->addr))
		return GS_R_FAMILY_MISMATCH;
	if (pkt->is_v4)
		ret = lb4_dnat_l3(pkt, data_end, backend, &diff);
	else
		ret = lb6_dnat_l3(pkt, data_end, backend, &diff);
	if (ret < 0)
		return ret;
	return gs_dnat_l4(pkt, data_end, backend->port, diff);
}

/* Offset of the TCP or UDP checksum field in the frame. */
static __always_inline __u32 gs_l4_csum_off(const struct gs_pkt *pkt)
{
	if (pkt->key.proto == IPPROTO_TCP)
		return pkt->l4_off + offsetof(struct tcphdr, check);
	return pkt->l4_off + offsetof(struct udphdr, check);
}

/* UDP: leave a zero (absent) checksum alone and never produce one. */
static __always_inline __u64 gs_l4_csum_flags(const struct gs_pkt *pkt)
{
	return pkt->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

static __always_inline int lb4_snat_l3(struct __sk_buff *skb, const struct gs_pkt *pkt,
				       const struct gs_rev_flow *rev)
{
	__be32 old_addr = pkt->key.src.w[3];
	__be32 new_addr = rev->vip.w[3];
	__u64 flags = gs_l4_csum_flags(pkt) | BPF_F_PSEUDO_HDR | sizeof(new_addr);

	if (bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), old_addr, new_addr, flags))
		return GS_R_BAD_HEADER;
	if (bpf_l3_csum_replace(skb, pkt->l3_off + offsetof(struct iphdr, check), old_addr,
				new_addr, sizeof(new_addr)))
		return GS_R_BAD_HEADER;
	if (bpf_skb_store_bytes(skb, pkt->l3_off + offsetof(struct iphdr, saddr), &new_addr,
				sizeof(new_addr), 0))
		return GS_R_BAD_HEADER;
	return GS_OK;
}

static __always_inline int lb6_snat_l3(struct __sk_buff *skb, const struct gs_pkt *pkt,
				       const struct gs_rev_flow *rev)
{
	__u64 flags = gs_l4_csum_flags(pkt) | BPF_F_PSEUDO_HDR;
	union gs_addr new_addr = rev->vip;
	__s64 diff;

	diff = bpf_csum_diff((__be32 *)pkt->key.src.w, sizeof(pkt->key.src), (__be32 *)new_addr.w,
			     sizeof(new_addr), 0);
	if (diff < 0)
		return GS_R_BAD_HEADER;
	/* BPF_F_IPV6 keeps skb->csum right for CHECKSUM_COMPLETE; kernels
	 * older than 6.16 do not know it, and there the plain call is right. */
	if (bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), 0, diff, flags | BPF_F_IPV6) &&
	    bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), 0, diff, flags))
		return GS_R_BAD_HEADER;
	if (bpf_skb_store_bytes(skb, pkt->l3_off + offsetof(struct ipv6hdr, saddr), &new_addr,
				sizeof(new_addr), 0))
		return GS_R_BAD_HEADER;
	return GS_OK;
}

/* Reply SNAT in tc: the backend's address and port become the VIP's. */
static __always_inline int gs_snat_tc(struct __sk_buff *skb, const struct gs_pkt *pkt,
				      const struct gs_rev_flow *rev)
{
	__be16 old_port = pkt->key.sport;
	__be16 new_port = rev->vport;
	__u32 port_off;
	int ret;

	if (pkt->is_v4 != gs_addr_is_v4(&rev->vip))
		return GS_R_FAMILY_MISMATCH;
	/* Source port sits at offset 0 of both TCP and UDP. */
	port_off = pkt->l4_off + offsetof(struct tcphdr, source);
	ret = pkt->is_v4 ? lb4_snat_l3(skb, pkt, rev) : lb6_snat_l3(skb, pkt, rev);
	if (ret < 0)
		return ret;
	if (old_port == new_port)
		return GS_OK;
	if (bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), old_port, new_port,
				gs_l4_csum_flags(pkt) | sizeof(new_port)))
		return GS_R_BAD_HEADER;
	if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
		return GS_R_BAD_HEADER;
	return GS_OK;
}

#endif
