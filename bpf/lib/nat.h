/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Address and port rewrites. Forward (XDP): DNAT to the backend with RFC 1624
 * incremental checksums computed here, for full checksums and for partial
 * ones alike (see gs_l4_partial). Reply (tc): SNAT back to the VIP with the
 * kernel's L4 checksum helper, which keeps skb->csum and CHECKSUM_PARTIAL
 * right itself.
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

/*
 * New destination port, and the L4 checksum over port and pseudo-header. A
 * partial checksum covers the pseudo-header only (the port is in the segment
 * the offload sums later), and is stored uncomplemented.
 */
static __always_inline int gs_dnat_l4(const struct gs_pkt *pkt, void *data_end, __be16 port,
				      __u32 diff)
{
	if (pkt->key.proto == IPPROTO_TCP) {
		struct tcphdr *tcp = pkt->l4;

		if ((void *)(tcp + 1) > data_end)
			return GS_R_BAD_HEADER;
		if (pkt->csum_partial)
			tcp->check = gs_csum_apply_partial(tcp->check, diff);
		else
			tcp->check =
				gs_csum_apply(tcp->check, gs_csum_diff16(diff, tcp->dest, port));
		tcp->dest = port;
	} else {
		struct udphdr *udp = pkt->l4;
		__u16 check;

		if ((void *)(udp + 1) > data_end)
			return GS_R_BAD_HEADER;
		/* 0 means "no checksum" (IPv4 only): it stays so; a computed 0
		 * must then be sent as its other form, 0xffff. */
		if (udp->check) {
			if (pkt->csum_partial)
				check = gs_csum_apply_partial(udp->check, diff);
			else
				check = gs_csum_apply(udp->check,
						      gs_csum_diff16(diff, udp->dest, port));
			udp->check = check ? check : 0xffff;
		}
		udp->dest = port;
	}
	return GS_OK;
}

/* Longest segment gs_frame_sum takes: a frame of an XDP program loaded
 * without fragment support is one page at most. */
#define GS_SEG_MAX   4096
#define GS_SEG_BLOCK 512 /* what bpf_csum_diff takes in one call */

/*
 * Ones' complement sum of the len bytes at off in the frame, added to seed
 * and folded; -1 when they are not all in the frame. Global, so that the
 * verifier walks its branches once rather than once per path of the caller.
 */
__noinline int gs_frame_sum(struct xdp_md *ctx, __u32 off, __u32 len, __u32 seed)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *p = (void *)(long)ctx->data;
	__u8 tail[4] = {0, 0, 0, 0};
	__u32 sum = seed, i;
	__u64 o = off;

	if (off > GS_HDR_MAX || len > GS_SEG_MAX)
		return -1;
	/* The compiler tests a copy of off and would add the unbounded
	 * original; a mask it cannot drop keeps the verifier's bound. */
	asm volatile("%[o] &= 0x7f" : [o] "+r"(o));
	p += o;
	for (i = 0; i < GS_SEG_MAX / GS_SEG_BLOCK && len >= GS_SEG_BLOCK; i++) {
		if (p + GS_SEG_BLOCK > data_end)
			return -1;
		sum = (__u32)bpf_csum_diff(0, 0, p, GS_SEG_BLOCK, sum);
		p += GS_SEG_BLOCK;
		len -= GS_SEG_BLOCK;
	}
	/* The rest in blocks of constant size, which the verifier can bound. */
#define GS_SUM_STEP(n)                                                                             \
	if (len & (n)) {                                                                           \
		if (p + (n) > data_end)                                                            \
			return -1;                                                                 \
		sum = (__u32)bpf_csum_diff(0, 0, p, (n), sum);                                     \
		p += (n);                                                                          \
	}
	GS_SUM_STEP(256)
	GS_SUM_STEP(128)
	GS_SUM_STEP(64)
	GS_SUM_STEP(32)
	GS_SUM_STEP(16)
	GS_SUM_STEP(8)
	GS_SUM_STEP(4)
#undef GS_SUM_STEP
	/* One to three bytes left: a last word padded with zeros. */
	len &= 3;
	if (len) {
		if (p + 1 > data_end)
			return -1;
		tail[0] = *(__u8 *)p;
	}
	if (len > 1) {
		if (p + 2 > data_end)
			return -1;
		tail[1] = *(__u8 *)(p + 1);
	}
	if (len > 2) {
		if (p + 3 > data_end)
			return -1;
		tail[2] = *(__u8 *)(p + 2);
	}
	return gs_csum_fold(gs_csum_add(sum, *(__u32 *)tail));
}

/* Folded sum of the pseudo-header the frame arrived with (pkt->key). */
static __always_inline __u16 gs_pseudo_fold(const struct gs_pkt *pkt, __u32 l4_len)
{
	__u64 sum = 0;
	__u32 i;

	if (pkt->is_v4) {
		sum = (__u64)pkt->key.src.w[3] + pkt->key.dst.w[3];
		/* zero, protocol, length: one 32-bit word of the pseudo-header */
		sum += bpf_htonl(((__u32)pkt->key.proto << 16) | l4_len);
		return gs_fold64(sum);
	}
	for (i = 0; i < 4; i++)
		sum += (__u64)pkt->key.src.w[i] + pkt->key.dst.w[i];
	sum += bpf_htonl(l4_len);
	sum += bpf_htonl(pkt->key.proto);
	return gs_fold64(sum);
}

/*
 * Is the L4 checksum a partial one? A local sender on a veth hands its
 * frames over CHECKSUM_PARTIAL: the field holds the folded pseudo-header
 * sum alone, and the offload (or the kernel's skb_checksum_help on a device
 * without one) finishes it over the segment later. XDP sees no skb flag
 * saying so, so recognise the value. A full checksum has that value too,
 * by chance once in 65536 frames: then the whole segment is summed, and a
 * checksum that verifies is full. A partial one that also verifies (once in
 * 65536 of them) is updated as full, the only wrong call left; it never
 * touches a frame whose checksum was right.
 */
static __always_inline int gs_l4_partial(struct xdp_md *ctx, const struct gs_pkt *pkt,
					 void *data_end)
{
	__u32 l4_len = pkt->l3_len - (pkt->l4_off - pkt->l3_off);
	__u16 check, pseudo;
	int sum;

	if (pkt->key.proto == IPPROTO_TCP) {
		struct tcphdr *tcp = pkt->l4;

		if ((void *)(tcp + 1) > data_end)
			return 0;
		check = tcp->check;
	} else {
		struct udphdr *udp = pkt->l4;

		if ((void *)(udp + 1) > data_end)
			return 0;
		/* No checksum (IPv4), or IP padding behind the datagram, which
		 * no local sender makes: nothing to finish. */
		if (!udp->check || bpf_ntohs(udp->len) != l4_len)
			return 0;
		check = udp->check;
	}
	pseudo = gs_pseudo_fold(pkt, l4_len);
	if (!gs_csum_same(check, pseudo))
		return 0;
	sum = gs_frame_sum(ctx, pkt->l4_off, l4_len, pseudo);
	return sum >= 0 && sum != 0xffff;
}

/* Forward DNAT in XDP: the packet's destination becomes the backend. */
static __always_inline int gs_dnat_xdp(struct xdp_md *ctx, struct gs_pkt *pkt, void *data_end,
				       const struct gs_backend *backend)
{
	__u32 diff = 0;
	int ret;

	if (pkt->is_v4 != gs_addr_is_v4(&backend->addr))
		return GS_R_FAMILY_MISMATCH;
	pkt->csum_partial = gs_l4_partial(ctx, pkt, data_end);
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

/*
 * Reply SNAT in tc: the backend's address and port become the VIP's, the
 * destination and port of the flow's forward key fwd. Three helper calls
 * (each is a chain of kernel calls: about 40 ns apiece here), where a call
 * per field and checksum took five:
 *
 *  1. the L4 checksum over the pseudo-header's change (BPF_F_PSEUDO_HDR):
 *     the kernel knows the skb's checksum state and keeps it right, a
 *     CHECKSUM_PARTIAL seed and a CHECKSUM_COMPLETE skb->csum included;
 *  2. the L4 checksum over the port's change, when it changes (nothing
 *     under CHECKSUM_PARTIAL: the port is in the segment the offload
 *     sums);
 *  3. one store of everything from the IPv4 header checksum (IPv6: the
 *     source address) to the L4 source port: the new header checksum,
 *     computed here (the IP header's is never left to offload), the VIP,
 *     the client's address as it was, the VIP's port. Without
 *     BPF_F_RECOMPUTE_CSUM: for CHECKSUM_COMPLETE the sum of the stored
 *     bytes moves only by the port's change, which the L4 checksum's
 *     change (2) cancels, as the header checksum cancels the address's.
 *
 * IPv4 with options, whose source port is not next to the addresses,
 * stores the port apart.
 */
static __always_inline int gs_snat_tc(struct __sk_buff *skb, const struct gs_pkt *pkt,
				      const struct gs_flow_key *fwd)
{
	void *data_end = (void *)(long)skb->data_end;
	__u64 flags = gs_l4_csum_flags(pkt);
	__be16 new_port = fwd->dport;
	__be16 old_port = pkt->key.sport;
	__u16 buf[17];
	__u32 len, i;

	if (pkt->is_v4 != gs_addr_is_v4(&fwd->dst))
		return GS_R_FAMILY_MISMATCH;
	if (pkt->is_v4) {
		struct iphdr *iph = pkt->l3;
		__be32 old_addr = pkt->key.src.w[3];
		__be32 new_addr = fwd->dst.w[3];
		__be32 client = pkt->key.dst.w[3];

		if ((void *)(iph + 1) > data_end)
			return GS_R_BAD_HEADER;
		/* Read before any helper call moves the packet. */
		buf[0] = gs_csum_apply(iph->check, gs_csum_diff32(0, old_addr, new_addr));
		buf[1] = ((__u16 *)&new_addr)[0];
		buf[2] = ((__u16 *)&new_addr)[1];
		buf[3] = ((__u16 *)&client)[0];
		buf[4] = ((__u16 *)&client)[1];
		buf[5] = new_port;
		if (bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), old_addr, new_addr,
					flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)))
			return GS_R_BAD_HEADER;
	} else {
		__u32 diff = 0;

		/* The pseudo-header's change, as bpf_csum_diff would give it. */
		for (i = 0; i < 4; i++)
			diff = gs_csum_diff32(diff, pkt->key.src.w[i], fwd->dst.w[i]);
		for (i = 0; i < 8; i++) {
			buf[i] = ((const __u16 *)fwd->dst.w)[i];
			buf[8 + i] = ((const __u16 *)pkt->key.dst.w)[i];
		}
		buf[16] = new_port;
		/* BPF_F_IPV6 keeps skb->csum right for CHECKSUM_COMPLETE;
		 * kernels older than 6.16 do not know it, and there the plain
		 * call is right. */
		if (bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), 0, diff,
					flags | BPF_F_PSEUDO_HDR | BPF_F_IPV6) &&
		    bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), 0, diff,
					flags | BPF_F_PSEUDO_HDR))
			return GS_R_BAD_HEADER;
	}
	if (old_port != new_port && bpf_l4_csum_replace(skb, gs_l4_csum_off(pkt), old_port,
							new_port, flags | sizeof(new_port)))
		return GS_R_BAD_HEADER;
	if (pkt->is_v4) {
		/* check, saddr, daddr, and the port right behind them. */
		len = pkt->l4_off == pkt->l3_off + sizeof(struct iphdr) ? 12 : 6;
		if (bpf_skb_store_bytes(skb, pkt->l3_off + offsetof(struct iphdr, check), buf, len,
					0))
			return GS_R_BAD_HEADER;
		if (len == 12 || old_port == new_port)
			return GS_OK;
		/* Source port sits at offset 0 of both TCP and UDP. */
		if (bpf_skb_store_bytes(skb, pkt->l4_off, &new_port, sizeof(new_port), 0))
			return GS_R_BAD_HEADER;
		return GS_OK;
	}
	/* saddr, daddr, and the port: the parser takes no extension header. */
	if (bpf_skb_store_bytes(skb, pkt->l3_off + offsetof(struct ipv6hdr, saddr), buf,
				sizeof(buf), 0))
		return GS_R_BAD_HEADER;
	return GS_OK;
}

#endif
